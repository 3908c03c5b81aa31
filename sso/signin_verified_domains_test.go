package sso_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"gatehouse/sso/samltest"
)

// A connection whose identity provider authenticates people of any organisation (Google with
// an External audience, an Entra ID tenant's guests) restricts just-in-time provisioning to
// its verified domains (jitVerifiedDomainsOnly): through the browser, an outsider's sign-in
// reaches the application as access_denied with the reason and no code, and a person of the
// verified domain gets an account. Set and read through GraphQL and REST (created with it, too).
func TestSignInJITVerifiedDomainsOnly(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		outsider := map[string]any{"sub": "google-1", "email": "someone@gmail.test", "email_verified": true}

		// The default: the outsider is provisioned, as before the setting existed.
		if c := w.claimsAs(t, outsider); c["sign_in"] != "provisioned" {
			t.Fatalf("default: %v", c)
		}

		d := e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, jitVerifiedDomainsOnly: true}) {
			connection { jitVerifiedDomainsOnly status } errors { label message } } }`, map[string]any{"id": w.conn})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 || get(d, "updateConnection", "connection", "jitVerifiedDomainsOnly") != true ||
			get(d, "updateConnection", "connection", "status") != "ACTIVE" {
			t.Fatalf("updateConnection: %v", d)
		}
		if r := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200); get(r.Body, "connection", "jitVerifiedDomainsOnly") != true {
			t.Fatalf("REST: %s", r.Raw)
		}

		idp.as(map[string]any{"sub": "google-2", "email": "other@gmail.test", "email_verified": true})
		r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" ||
			!strings.Contains(r.query.Get("error_description"), "only for email addresses on your organization's verified domains") {
			t.Fatalf("outsider with the setting: %+v", r)
		}
		// The event tells an administrator what the engine found; the person saw only the reason.
		ev := e.MustGQL(w.tok, `query($c: ID!) { signInEvents(connectionId: $c, outcome: REFUSED) { events { identifier reason cause } } }`,
			map[string]any{"c": w.conn})
		if evs, _ := get(ev, "signInEvents", "events").([]any); len(evs) != 1 || str(evs[0], "identifier") != "google-2" ||
			!strings.Contains(str(evs[0], "cause"), "gmail.test is not verified for it") || strings.Contains(str(evs[0], "reason"), "gmail.test") {
			t.Fatalf("the refusal's event: %v", ev)
		}
		// A read-only client (graphql:read) reads the event without the private cause.
		rid, rsec := e.CreateClient(w.tok, []string{"graphql:read"}, "")
		ev = e.MustGQL(e.Token(rid, rsec), `query($c: ID!) { signInEvents(connectionId: $c, outcome: REFUSED) { events { identifier reason cause } } }`,
			map[string]any{"c": w.conn})
		if evs, _ := get(ev, "signInEvents", "events").([]any); len(evs) != 1 || str(evs[0], "identifier") != "google-2" ||
			str(evs[0], "reason") == "" || str(evs[0], "cause") != "" {
			t.Fatalf("the refusal's event, read by a graphql:read client: %v", ev)
		}
		// A test sign-in says the same, and its event says what the engine found.
		idp.as(map[string]any{"sub": "google-4", "email": "tester@gmail.test", "email_verified": true})
		id, u := startTest(t, e, w.tok, w.conn, `{"brandId": "`+w.brand+`"}`)
		if r := newBrowser(t, w.redirect).get(t, u); !strings.Contains(r.body, "Test sign-in: succeeded") {
			t.Fatalf("test sign-in page: %d %s", r.status, r.body)
		}
		got := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
		if str(got.Body, "decision", "outcome") != "refused" || !strings.Contains(str(got.Body, "decision", "reason"), "verified domains") {
			t.Fatalf("test sign-in: %s", got.Raw)
		}
		ev = e.MustGQL(w.tok, `{ signInEvents(outcome: REFUSED, pageSize: 1) { events { identifier test cause } } }`, nil)
		if c := str(ev, "signInEvents", "events", 0, "cause"); get(ev, "signInEvents", "events", 0, "test") != true ||
			!strings.Contains(c, "a dry run, nothing was written; refused: ") || !strings.Contains(c, "gmail.test is not verified for it") {
			t.Fatalf("the test's event: %v", ev)
		}

		// The one provisioned before keeps signing in: it is bound.
		if c := w.claimsAs(t, outsider); c["sign_in"] != "existing_identity" {
			t.Fatalf("bound outsider: %v", c)
		}
		if c := w.claimsAs(t, map[string]any{"sub": "google-3", "email": "ann@" + signInDomain, "email_verified": true}); c["sign_in"] != "provisioned" {
			t.Fatalf("verified domain: %v", c)
		}

		// Off again through REST.
		if r := e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"jitVerifiedDomainsOnly": false}`).Must(t, 200); get(r.Body, "connection", "jitVerifiedDomainsOnly") != false {
			t.Fatalf("REST PUT: %s", r.Raw)
		}
		if c := w.claimsAs(t, map[string]any{"sub": "google-2", "email": "other@gmail.test", "email_verified": true}); c["sign_in"] != "provisioned" {
			t.Fatalf("off again: %v", c)
		}

		// Created with it through REST; a new connection without it does not restrict.
		r2 := e.REST(w.tok, "POST", "/api/v1/sso/connections", `{"name": "Google", "protocol": "oidc", "jitProvisioning": true, "jitVerifiedDomainsOnly": true,
			"oidcConfig": {"issuerUrl": "https://accounts.google.com", "clientId": "c", "clientSecret": "s"}}`).Must(t, 201)
		if get(r2.Body, "connection", "jitVerifiedDomainsOnly") != true {
			t.Fatalf("REST POST: %s", r2.Raw)
		}
		r2 = e.REST(w.tok, "POST", "/api/v1/sso/connections", `{"name": "Okta", "protocol": "oidc",
			"oidcConfig": {"issuerUrl": "https://okta.example.com", "clientId": "c", "clientSecret": "s"}}`).Must(t, 201)
		if get(r2.Body, "connection", "jitVerifiedDomainsOnly") != false {
			t.Fatalf("REST POST without it: %s", r2.Raw)
		}
	})
}

// TestSignInJITVerifiedDomainsOnlyClaims: what the identity providers send, as the browser
// brings it, at a connection restricted to its verified domains (jitVerifiedDomainsOnly). OIDC:
// an email on the verified domain that the IdP marks unverified (false, "false") is no email,
// so no account; an email userinfo alone sends, and an id_token that carries the whole identity
// (the partial identity's ErrMoreClaims path), are held to the domain alike; with
// requireVerifiedEmail, an email without email_verified is refused. SAML: an email-shaped
// NameID with no email attribute is the IdP's email (samlIdentity), held to the domain too; of
// a multi-valued email attribute the first value is the email, and the one checked. A refusal's
// sign-in event's cause and its audit event's detail name the domain; its reason does not.
func TestSignInJITVerifiedDomainsOnlyClaims(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		restrict := func(tok, conn string) {
			t.Helper()
			e.REST(tok, "PUT", "/api/v1/sso/connections/"+conn, `{"jitVerifiedDomainsOnly": true}`).Must(t, 200)
		}
		restrict(w.tok, w.conn)
		refused := func(t *testing.T, claims map[string]any) {
			t.Helper()
			idp.as(claims)
			r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" ||
				!strings.Contains(r.query.Get("error_description"), "only for email addresses on your organization's verified domains") {
				t.Fatalf("%v: %+v; want the refusal", claims, r)
			}
		}
		provisioned := func(t *testing.T, claims map[string]any) {
			t.Helper()
			if c := w.claimsAs(t, claims); c["sign_in"] != "provisioned" {
				t.Fatalf("%v: %v; want provisioned", claims, c)
			}
		}

		t.Run("OIDC: an email marked unverified is no email", func(t *testing.T) {
			refused(t, map[string]any{"sub": "o-1", "email": "ann@" + signInDomain, "email_verified": false})
			refused(t, map[string]any{"sub": "o-2", "email": "ann@" + signInDomain, "email_verified": "false"})
		})
		t.Run("OIDC: an email userinfo alone sends", func(t *testing.T) {
			defer idp.set(func(p *testIdP) { p.userinfoExtra = nil })
			inUserinfo := func(email string) {
				idp.set(func(p *testIdP) { p.userinfoExtra = map[string]any{"email": email, "email_verified": true} })
			}
			inUserinfo("eve@gmail.test")
			refused(t, map[string]any{"sub": "o-3"})
			inUserinfo("bo@" + signInDomain)
			provisioned(t, map[string]any{"sub": "o-4"})
		})
		t.Run("OIDC: an id_token that carries the identity (partial claims)", func(t *testing.T) {
			full := func(sub, email string) map[string]any {
				return map[string]any{"sub": sub, "email": email, "email_verified": true, "given_name": "G", "family_name": "F"}
			}
			refused(t, full("o-5", "eve@gmail.test"))
			provisioned(t, full("o-6", "cy@"+signInDomain))
		})
		t.Run("OIDC: requireVerifiedEmail and no email_verified", func(t *testing.T) {
			e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"oidcConfig": {"requireVerifiedEmail": true}}`).Must(t, 200)
			defer func() {
				e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"oidcConfig": {"requireVerifiedEmail": false}}`).Must(t, 200)
			}()
			refused(t, map[string]any{"sub": "o-7", "email": "di@" + signInDomain})
			provisioned(t, map[string]any{"sub": "o-8", "email": "di@" + signInDomain, "email_verified": true})
		})
		t.Run("the refusal's event and audit", func(t *testing.T) {
			refused(t, map[string]any{"sub": "o-9", "email": "mal@gmail.test", "email_verified": true})
			d := e.MustGQL(w.tok, `{ signInEvents(outcome: REFUSED, page: 1, pageSize: 1) { events { identifier reason cause } }
				auditEvents(first: 1) { action summary } }`, nil)
			ev := get(d, "signInEvents", "events").([]any)[0].(map[string]any)
			if ev["identifier"] != "o-9" || !strings.Contains(fmt.Sprint(ev["cause"]), "gmail.test is not verified for it") || strings.Contains(fmt.Sprint(ev["reason"]), "gmail.test") {
				t.Fatalf("sign-in event %v: want a cause that names the domain, and a reason that does not", ev)
			}
			au := get(d, "auditEvents").([]any)[0].(map[string]any)
			if au["action"] != "sign_in.refused" || !strings.Contains(fmt.Sprint(au["summary"]), "gmail.test is not verified for it") {
				t.Fatalf("audit event %v: want its detail to name the domain", au)
			}
		})

		t.Run("SAML", func(t *testing.T) {
			s := newSAMLWorldAt(t, e, samlWorldOptions{tok: e.OtherWorkspaceAdmin(e.AdminToken(), "Workspace B"), domain: "saml.test"})
			restrict(s.tok, s.conn)
			signIn := func(t *testing.T, u samltest.User) url.Values {
				t.Helper()
				s.idp.SignIn(u)
				b := s.browser()
				page, _ := s.toIdP(t, b)
				resp, body := s.post(t, b, e.URL, page)
				return s.appResult(t, resp, body)
			}
			refusedSAML := func(t *testing.T, u samltest.User) {
				t.Helper()
				if q := signIn(t, u); q.Get("code") != "" || !strings.Contains(q.Get("error_description"), "only for email addresses on your organization's verified domains") {
					t.Fatalf("%+v: %v; want the refusal", u, q)
				}
			}
			provisionedSAML := func(t *testing.T, u samltest.User) {
				t.Helper()
				if q := signIn(t, u); q.Get("code") == "" {
					t.Fatalf("%+v: %v; want a code", u, q)
				}
			}
			// No email attribute: a NameID that is an address is the email.
			provisionedSAML(t, samltest.User{NameID: "pat@saml.test"})
			refusedSAML(t, samltest.User{NameID: "pat@gmail.test"})
			refusedSAML(t, samltest.User{NameID: "00u-opaque"})
			// A multi-valued email attribute: the first value is the email, and the one checked.
			refusedSAML(t, samltest.User{NameID: "00u-multi-1", Attributes: map[string][]string{"email": {"eve@gmail.test", "eve@saml.test"}}})
			provisionedSAML(t, samltest.User{NameID: "00u-multi-2", Attributes: map[string][]string{"email": {"kim@saml.test", "kim@gmail.test"}}})
		})
	})
}
