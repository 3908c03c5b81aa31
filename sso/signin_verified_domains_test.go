package sso_test

import (
	"strings"
	"testing"
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
