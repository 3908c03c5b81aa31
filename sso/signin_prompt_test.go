package sso_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"golang.org/x/oauth2"

	"gatehouse/sso/samltest"
)

// What an application asks of the person's interaction (prompt, max_age, login_hint) reaches
// an OIDC identity provider, and the id_token's auth_time is when the IdP says the person
// authenticated (provision/prompt.go).
func TestOIDCSignInPromptAndMaxAge(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		b := newBrowser(t, w.redirect)
		defer idp.set(func(p *testIdP) { p.authorizeError = "" })
		authenticated := time.Now().Add(-time.Hour).Truncate(time.Second)
		jane := map[string]any{"sub": "okta-jane", "email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"}

		t.Run("max_age, login_hint and acr_values reach the IdP; auth_time, acr and amr are the IdP's", func(t *testing.T) {
			person := map[string]any{"auth_time": authenticated.Unix(), "acr": "urn:okta:loa:2fa:any",
				"amr": []any{"pwd", "mfa", strings.Repeat("x", 257), "otp"}}
			for k, v := range jane {
				person[k] = v
			}
			idp.as(person)
			res, verifier := w.signIn(t, b, w.app, "login_hint", " jane@example.com ", "max_age", "7200",
				"acr_values", "urn:okta:loa:2fa:any  urn:okta:loa:1fa:any")
			if res.query.Get("code") == "" {
				t.Fatalf("no code: %+v", res)
			}
			if seen := idp.seen; seen.Has("prompt") || seen.Get("max_age") != "7200" || seen.Get("login_hint") != "jane@example.com" ||
				seen.Get("acr_values") != "urn:okta:loa:2fa:any urn:okta:loa:1fa:any" {
				t.Fatalf("the IdP was sent %v", seen)
			}
			claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if at, _ := claims["auth_time"].(float64); int64(at) != authenticated.Unix() {
				t.Fatalf("auth_time %v, want the IdP's %d", claims["auth_time"], authenticated.Unix())
			}
			// An amr value over 256 bytes is dropped, not cut.
			if amr, _ := json.Marshal(claims["amr"]); claims["acr"] != "urn:okta:loa:2fa:any" || string(amr) != `["pwd","mfa","otp"]` {
				t.Fatalf("acr %v, amr %s", claims["acr"], amr)
			}
		})

		t.Run("an authentication older than max_age or than a prompt=login sign-in is refused", func(t *testing.T) {
			withAuthTime := func(at any) {
				person := map[string]any{}
				for k, v := range jane {
					person[k] = v
				}
				if at != nil {
					person["auth_time"] = at
				}
				idp.as(person)
			}
			defer idp.as(jane)
			for _, c := range []struct {
				name     string
				authTime any
				params   []string
				want     string // "": a code
			}{
				{"max_age met", time.Now().Add(-30 * time.Second).Unix(), []string{"max_age", "60"}, ""},
				{"max_age exceeded", authenticated.Unix(), []string{"max_age", "60"}, "access_denied"},
				{"max_age without auth_time", nil, []string{"max_age", "600"}, "access_denied"},
				{"max_age exceeded, prompt=none", authenticated.Unix(), []string{"max_age", "60", "prompt", "none"}, "login_required"},
				{"prompt=login honoured", time.Now().Unix(), []string{"prompt", "login"}, ""},
				{"prompt=login without auth_time", nil, []string{"prompt", "login"}, ""},
				{"prompt=login ignored by the IdP", authenticated.Unix(), []string{"prompt", "login"}, "access_denied"},
				{"max_age with an auth_time in the future", time.Now().Add(time.Hour).Unix(), []string{"max_age", "600"}, "access_denied"},
			} {
				withAuthTime(c.authTime)
				res, _ := w.signIn(t, b, w.app, append([]string{"connection", w.slug}, c.params...)...)
				switch {
				case c.want == "" && res.query.Get("code") == "":
					t.Errorf("%s: no code: %+v", c.name, res)
				case c.want != "" && (res.query.Get("error") != c.want || res.query.Get("code") != "" ||
					res.query.Get("error_description") != "The identity provider did not confirm a sign-in as recent as the application asked for."):
					t.Errorf("%s: %+v, want %s", c.name, res, c.want)
				}
				if want := paramValue(c.params, "prompt"); idp.seen.Get("prompt") != want || idp.seen.Get("max_age") != paramValue(c.params, "max_age") {
					t.Errorf("%s: the IdP was sent prompt=%q max_age=%q", c.name, idp.seen.Get("prompt"), idp.seen.Get("max_age"))
				}
			}
		})

		t.Run("unknown prompt values are ignored; without prompt, max_age or login_hint the IdP gets none", func(t *testing.T) {
			idp.as(jane)
			start := time.Now().Add(-time.Second)
			res, _ := w.signIn(t, b, w.app, "connection", w.slug, "prompt", "login create")
			if res.query.Get("code") == "" || idp.seen.Get("prompt") != "login" {
				t.Fatalf("prompt=login create: %+v, IdP sent %v", res, idp.seen)
			}
			res, verifier := w.signIn(t, b, w.app, "connection", w.slug)
			if res.query.Get("code") == "" {
				t.Fatalf("no code: %+v", res)
			}
			for _, k := range []string{"prompt", "max_age", "login_hint", "acr_values"} {
				if idp.seen.Has(k) {
					t.Errorf("the IdP was sent %s=%q", k, idp.seen.Get(k))
				}
			}
			// The IdP said nothing of when or how: auth_time is the sign-in's, no acr or amr.
			claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if _, ok := claims["acr"]; ok || claims["amr"] != nil {
				t.Fatalf("acr %v, amr %v from an IdP that sent neither", claims["acr"], claims["amr"])
			}
			if at, _ := claims["auth_time"].(float64); int64(at) < start.Unix() || int64(at) > time.Now().Unix()+1 {
				t.Fatalf("auth_time %v, want about now", claims["auth_time"])
			}
		})

		t.Run("an auth_time in the future is now", func(t *testing.T) {
			person := map[string]any{"auth_time": time.Now().Add(time.Hour).Unix()}
			for k, v := range jane {
				person[k] = v
			}
			idp.as(person)
			res, verifier := w.signIn(t, b, w.app, "connection", w.slug)
			claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if at, _ := claims["auth_time"].(float64); int64(at) > time.Now().Unix()+1 {
				t.Fatalf("auth_time %v is in the future", claims["auth_time"])
			}
		})

		t.Run("prompt=none: no page, and the IdP's login_required reaches the application", func(t *testing.T) {
			idp.as(jane)
			// Routing would show the email page: login_required instead.
			res, _ := w.signIn(t, b, w.app, "prompt", "none")
			if res.status != http.StatusFound || res.query.Get("error") != "login_required" || res.query.Get("state") != "app-state" {
				t.Fatalf("prompt=none without a hint: %+v", res)
			}
			// An address no connection owns would show the page again: login_required.
			res, _ = w.signIn(t, b, w.app, "prompt", "none", "login_hint", "joe@nowhere.example")
			if res.query.Get("error") != "login_required" || strings.Contains(res.query.Get("error_description"), "nowhere") {
				t.Fatalf("prompt=none, unknown domain: %+v", res)
			}
			// The IdP signs in silently when it can.
			res, _ = w.signIn(t, b, w.app, "prompt", "none", "login_hint", "jane@example.com")
			if res.query.Get("code") == "" || idp.seen.Get("prompt") != "none" {
				t.Fatalf("silent sign-in: %+v, IdP sent %v", res, idp.seen)
			}
			// And says so when it cannot.
			for _, code := range []string{"login_required", "interaction_required", "consent_required", "account_selection_required"} {
				idp.set(func(p *testIdP) { p.authorizeError = code })
				res, _ = w.signIn(t, b, w.app, "prompt", "none", "connection", w.slug)
				if res.query.Get("error") != code || res.query.Get("state") != "app-state" || res.query.Get("code") != "" {
					t.Fatalf("IdP answered %s: %+v", code, res)
				}
			}
			// Without prompt=none the same answer is a failed sign-in, as any other IdP error.
			idp.set(func(p *testIdP) { p.authorizeError = "login_required" })
			res, _ = w.signIn(t, b, w.app, "connection", w.slug)
			if res.query.Get("error") != "access_denied" {
				t.Fatalf("login_required without prompt=none: %+v", res)
			}
			// Nor does prompt=none pass on an error that is not OIDC Core's answer to it.
			idp.set(func(p *testIdP) { p.authorizeError = "temporarily_unavailable" })
			res, _ = w.signIn(t, b, w.app, "connection", w.slug, "prompt", "none")
			if res.query.Get("error") != "access_denied" {
				t.Fatalf("temporarily_unavailable with prompt=none: %+v", res)
			}
			idp.set(func(p *testIdP) { p.authorizeError = "" })
		})

		t.Run("malformed interaction parameters and request objects redirect an error", func(t *testing.T) {
			for _, c := range []struct {
				params []string
				want   string
			}{
				{[]string{"prompt", "none login"}, "invalid_request"},
				{[]string{"prompt", "none create"}, "invalid_request"},
				{[]string{"max_age", "-1"}, "invalid_request"},
				{[]string{"max_age", "soon"}, "invalid_request"},
				{[]string{"max_age", "99999999999"}, "invalid_request"},
				{[]string{"acr_values", strings.Repeat("a", 257)}, "invalid_request"},
				{[]string{"request", "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"},
				{[]string{"request_uri", "https://app.example/request.jwt"}, "request_uri_not_supported"},
			} {
				res, _ := w.signIn(t, b, w.app, append([]string{"connection", w.slug}, c.params...)...)
				if res.query.Get("error") != c.want || res.query.Get("state") != "app-state" {
					t.Errorf("%v: %+v, want %s", c.params, res, c.want)
				}
			}
		})

		t.Run("a request object is refused before the checks of what it would carry", func(t *testing.T) {
			// A public application without PKCE in the query: it may be inside the object.
			res := b.get(t, w.pub.AuthCodeURL("app-state", oauth2.SetAuthURLParam("request", "eyJhbGciOiJub25lIn0.e30.")))
			if res.query.Get("error") != "request_not_supported" {
				t.Fatalf("request object without PKCE in the query: %+v", res)
			}
		})

		t.Run("the email page keeps prompt, max_age and acr_values", func(t *testing.T) {
			res, _ := w.signIn(t, b, w.app, "prompt", "login", "max_age", "600", "acr_values", "urn:mfa")
			if res.status != http.StatusOK || !strings.Contains(res.body, `name="prompt" value="login"`) ||
				!strings.Contains(res.body, `name="max_age" value="600"`) || !strings.Contains(res.body, `name="acr_values" value="urn:mfa"`) {
				t.Fatalf("email page: %d %s", res.status, res.body)
			}
		})

		t.Run("discovery says request objects are not supported", func(t *testing.T) {
			d := discoveryOf(t, e)
			for _, k := range []string{"request_parameter_supported", "request_uri_parameter_supported", "claims_parameter_supported"} {
				if v, ok := d[k]; !ok || v != false {
					t.Errorf("%s = %v, want false", k, v)
				}
			}
		})
	})
}

// A SAML identity provider gets ForceAuthn for prompt=login or max_age, IsPassive for
// prompt=none (whose NoPassive answer is login_required), and the id_token's auth_time is the
// assertion's AuthnInstant.
func TestSAMLSignInPromptAndMaxAge(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		lastRequest := func(t *testing.T) (force, passive string) {
			t.Helper()
			reqs := w.idp.Requests()
			return authnRequestAttrs(t, reqs[len(reqs)-1].URL)
		}

		authenticated := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
		const (
			classRef = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
			password = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
			mfa      = "http://schemas.microsoft.com/claims/multipleauthn"
		)
		w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
			for i := range req.Assertion.AuthnStatements {
				req.Assertion.AuthnStatements[i].AuthnInstant = authenticated
				req.Assertion.AuthnStatements[i].AuthnContext.AuthnContextClassRef = &saml.AuthnContextClassRef{Value: classRef}
			}
			// Entra ID's list of the methods used.
			req.Assertion.AttributeStatements[0].Attributes = append(req.Assertion.AttributeStatements[0].Attributes,
				saml.Attribute{Name: "http://schemas.microsoft.com/claims/authnmethodsreferences", Values: []saml.AttributeValue{
					{Type: "xs:string", Value: password}, {Type: "xs:string", Value: mfa}}})
		})
		defer w.idp.Tamper(nil)
		b := w.browser()
		// max_age asks for a fresh authentication (ForceAuthn); an AuthnInstant within it passes.
		page, verifier := w.toIdP(t, b, "max_age", "10800")
		if force, passive := lastRequest(t); force != "true" || passive != "" {
			t.Fatalf("max_age: ForceAuthn %q, IsPassive %q", force, passive)
		}
		resp, body := w.post(t, b, e.URL, page)
		claims := w.exchange(t, w.appResult(t, resp, body).Get("code"), verifier)
		if at, _ := claims["auth_time"].(float64); int64(at) != authenticated.Unix() {
			t.Fatalf("auth_time %v, want the AuthnInstant %d", claims["auth_time"], authenticated.Unix())
		}
		if amr, _ := json.Marshal(claims["amr"]); claims["acr"] != classRef || string(amr) != `["`+password+`","`+mfa+`"]` {
			t.Fatalf("acr %v, amr %s; want the AuthnContextClassRef and the authnmethodsreferences", claims["acr"], amr)
		}
		// An IdP that ignored ForceAuthn: its AuthnInstant is older than max_age, or than the
		// sign-in that asked for prompt=login.
		for _, params := range [][]string{{"max_age", "300"}, {"prompt", "login"}} {
			b = w.browser()
			page, _ = w.toIdP(t, b, params...)
			if force, passive := lastRequest(t); force != "true" || passive != "" {
				t.Fatalf("%v: ForceAuthn %q, IsPassive %q", params, force, passive)
			}
			resp, body = w.post(t, b, e.URL, page)
			if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" || q.Get("code") != "" {
				t.Fatalf("%v with an AuthnInstant of two hours ago: %v", params, q)
			}
		}
		w.idp.Tamper(nil)
		b = w.browser()
		page, _ = w.toIdP(t, b, "prompt", "login")
		resp, body = w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, body); q.Get("code") == "" {
			t.Fatalf("prompt=login with a fresh AuthnInstant: %v", q)
		}
		w.toIdP(t, w.browser())
		if force, passive := lastRequest(t); force != "" || passive != "" {
			t.Fatalf("no prompt: ForceAuthn %q, IsPassive %q", force, passive)
		}

		// prompt=none: IsPassive, and the IdP's NoPassive is login_required.
		w.idp.FailWithStatus(saml.StatusResponder, "urn:oasis:names:tc:SAML:2.0:status:NoPassive")
		defer w.idp.FailWith("")
		b = w.browser()
		page, _ = w.toIdP(t, b, "prompt", "none")
		if force, passive := lastRequest(t); force != "" || passive != "true" {
			t.Fatalf("prompt=none: ForceAuthn %q, IsPassive %q", force, passive)
		}
		resp, body = w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, body); q.Get("error") != "login_required" || q.Get("state") != "app-state" {
			t.Fatalf("NoPassive with prompt=none: %v", q)
		}
		// An IdP that answers NoPassive unasked: a failed sign-in like any other status.
		b = w.browser()
		page, _ = w.toIdP(t, b)
		resp, body = w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" {
			t.Fatalf("NoPassive without prompt=none: %v", q)
		}
	})
}

// authnRequestAttrs reads the ForceAuthn and IsPassive attributes of the AuthnRequest an
// HTTP-Redirect binding URL carries ("": absent).
func authnRequestAttrs(t *testing.T, u *url.URL) (force, passive string) {
	t.Helper()
	req, err := samltest.AuthnRequestOf(&http.Request{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	flag := func(b *bool) string {
		if b == nil {
			return ""
		}
		return strconv.FormatBool(*b)
	}
	return flag(req.ForceAuthn), flag(req.IsPassive)
}

// An id_token_hint routes a silent renewal (prompt=none, nothing else to route by) to the
// connection the person signed in through, names them to the IdP, and refuses a sign-in that
// ends with someone else.
func TestOIDCSignInIDTokenHint(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		b := newBrowser(t, w.redirect)
		jane := map[string]any{"sub": "okta-jane", "email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"}
		idp.as(jane)
		res, verifier := w.signIn(t, b, w.app, "connection", w.slug)
		first, tok := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
		hint, _ := tok.Extra("id_token").(string)

		t.Run("prompt=none with the hint alone signs the same person in silently", func(t *testing.T) {
			res, verifier := w.signIn(t, b, w.app, "prompt", "none", "id_token_hint", hint)
			if res.query.Get("code") == "" {
				t.Fatalf("no code: %+v", res)
			}
			if seen := idp.seen; seen.Get("prompt") != "none" || seen.Get("login_hint") != "jane@example.com" {
				t.Fatalf("the IdP was sent %v", seen)
			}
			again, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if again["sub"] != first["sub"] || again["sign_in"] != "existing_identity" {
				t.Fatalf("renewed %v, first %v", again, first)
			}
		})

		t.Run("another person at the IdP: login_required, nothing of the decision written", func(t *testing.T) {
			count := func(q string, args ...any) int {
				var n int
				if err := e.App.Store().RawScan(context.Background(), &n, q, args...); err != nil {
					t.Fatal(err)
				}
				return n
			}
			idp.as(map[string]any{"sub": "okta-bob", "email": "bob@example.com", "given_name": "Bob", "family_name": "Roe"})
			defer idp.as(jane)
			audits := count("SELECT count(*) FROM audit_events")
			res, _ := w.signIn(t, b, w.app, "prompt", "none", "id_token_hint", hint)
			if res.query.Get("error") != "login_required" || res.query.Get("code") != "" || res.query.Get("state") != "app-state" ||
				res.query.Get("error_description") != "Another person is signed in at the identity provider than the id_token_hint names." {
				t.Fatalf("another person: %+v", res)
			}
			if n := count("SELECT count(*) FROM user_accounts WHERE email_key = ?", "bob@example.com"); n != 0 {
				t.Fatalf("bob was provisioned: %d", n)
			}
			if n := count("SELECT count(*) FROM audit_events"); n != audits {
				t.Fatalf("%d audit events written", n-audits)
			}
			if n := count("SELECT count(*) FROM sign_in_events WHERE outcome = 'failed' AND cause LIKE '%id_token_hint%'"); n != 1 {
				t.Fatalf("%d failed sign-in events for the mismatch", n)
			}
			// Without the hint the same person signs in (and is provisioned).
			res, verifier := w.signIn(t, b, w.app, "prompt", "none", "connection", w.slug)
			if res.query.Get("code") == "" {
				t.Fatalf("without the hint: %+v", res)
			}
			bob, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			// A refused other person is the hint's mismatch too, not the engine's refusal of them.
			e.MustGQL(w.tok, `mutation($u: ID!) { deactivateUserAccount(input: {uuid: $u}) { errors { code } } }`, map[string]any{"u": bob["sub"]})
			audits = count("SELECT count(*) FROM audit_events")
			res, _ = w.signIn(t, b, w.app, "id_token_hint", hint)
			if res.query.Get("error") != "login_required" || count("SELECT count(*) FROM audit_events") != audits {
				t.Fatalf("a deactivated other person: %+v", res)
			}
			// The hinted person deactivated is the engine's refusal of them, with its audit event.
			idp.as(jane)
			e.MustGQL(w.tok, `mutation($u: ID!) { deactivateUserAccount(input: {uuid: $u}) { errors { code } } }`, map[string]any{"u": first["sub"]})
			defer e.MustGQL(w.tok, `mutation($u: ID!) { reactivateUserAccount(input: {uuid: $u}) { errors { code } } }`, map[string]any{"u": first["sub"]})
			audits = count("SELECT count(*) FROM audit_events")
			res, _ = w.signIn(t, b, w.app, "id_token_hint", hint)
			if res.query.Get("error") != "access_denied" || !strings.Contains(res.query.Get("error_description"), "deactivated") ||
				count("SELECT count(*) FROM audit_events") != audits+1 {
				t.Fatalf("the hinted person deactivated: %+v", res)
			}
		})

		t.Run("a hint that is not an id_token Gatehouse issued to this application is invalid_request", func(t *testing.T) {
			parts := strings.Split(hint, ".")
			sig := []byte(parts[2])
			sig[5] ^= 1
			tampered := parts[0] + "." + parts[1] + "." + string(sig)
			other, pubVerifier := w.signIn(t, b, w.pub, "connection", w.slug)
			_, pubTok := w.claimsOf(t, w.pub, other.query.Get("code"), pubVerifier)
			pubHint, _ := pubTok.Extra("id_token").(string)
			const notOurs, notYours = "id_token_hint is not an id_token Gatehouse issued", "id_token_hint was not issued to this application"
			for name, c := range map[string]struct{ hint, want string }{"tampered": {tampered, notOurs}, "garbage": {"not-a-jwt", notOurs},
				"an access token": {tok.AccessToken, notOurs}, "another application's": {pubHint, notYours}} {
				res, _ := w.signIn(t, b, w.app, "prompt", "none", "id_token_hint", c.hint)
				if res.query.Get("error") != "invalid_request" || res.query.Get("state") != "app-state" || res.query.Get("error_description") != c.want {
					t.Errorf("%s hint: %+v", name, res)
				}
			}
		})

		t.Run("routing parameters win over the hint's connection", func(t *testing.T) {
			res, _ := w.signIn(t, b, w.app, "id_token_hint", hint, "connection", "no-such-connection")
			if res.query.Get("error") != "access_denied" {
				t.Fatalf("connection and hint: %+v", res)
			}
			// The email page, for an address no connection owns, keeps the hint.
			res, _ = w.signIn(t, b, w.app, "id_token_hint", hint, "login_hint", "jane@nowhere.example")
			if res.status != http.StatusOK || !strings.Contains(res.body, `name="id_token_hint" value="`+hint+`"`) {
				t.Fatalf("email page with a hint: %d %s", res.status, res.body)
			}
		})

		t.Run("the hint's connection, deactivated: the email page, or login_required with prompt=none", func(t *testing.T) {
			e.Call("POST", "/api/v1/sso/connections/"+w.conn+"/deactivate", w.tok, nil).Must(t, 200)
			res, _ := w.signIn(t, b, w.app, "id_token_hint", hint, "prompt", "none")
			if res.query.Get("error") != "login_required" || res.query.Get("state") != "app-state" {
				t.Fatalf("hinted connection inactive, prompt=none: %+v", res)
			}
			res, _ = w.signIn(t, b, w.app, "id_token_hint", hint)
			if res.status != http.StatusOK || !strings.Contains(res.body, `name="id_token_hint"`) {
				t.Fatalf("hinted connection inactive: %d %s", res.status, res.body)
			}
		})
	})
}

// paramValue is the value of name in a list of name, value pairs ("" when absent).
func paramValue(params []string, name string) string {
	for i := 0; i+1 < len(params); i += 2 {
		if params[i] == name {
			return params[i+1]
		}
	}
	return ""
}

// RP-Initiated Logout: with an id_token_hint, the application's grants to the person end
// (userinfo refuses its access token); the browser goes back to a registered redirect URI with
// the state, or sees Gatehouse's page; anything else is a page, never a redirect.
func TestRPInitiatedLogout(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		b := newBrowser(t, w.redirect)
		idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"})
		signIn := func(app *oauth2.Config) (string, *oauth2.Token) {
			res, verifier := w.signIn(t, b, app, "connection", w.slug)
			_, tok := w.claimsOf(t, app, res.query.Get("code"), verifier)
			hint, _ := tok.Extra("id_token").(string)
			return hint, tok
		}
		userinfo := func(tok *oauth2.Token) int { return userinfoStatus(t, e, tok) }
		logout := func(params url.Values) result { return b.get(t, e.URL+"/oauth/logout?"+params.Encode()) }
		// The applications' post-logout redirect URI (the browser stops at the redirect prefix).
		signedOut := w.redirect + "/signed-out"
		for _, app := range []*oauth2.Config{w.app, w.pub} {
			var id string
			if err := e.App.Store().RawScan(context.Background(), &id, "SELECT id FROM applications WHERE client_id = ?", app.ClientID); err != nil {
				t.Fatal(err)
			}
			d := e.MustGQL(w.tok, `mutation($id: ID!, $p: [String!]) { updateApplication(input: {id: $id, postLogoutRedirectUris: $p}) { errors { message } } }`,
				map[string]any{"id": id, "p": []string{signedOut}})
			if errs := payloadErrors(t, d, "updateApplication"); len(errs) > 0 {
				t.Fatalf("register %s: %v", signedOut, errs)
			}
		}

		t.Run("discovery names the end_session_endpoint", func(t *testing.T) {
			d := discoveryOf(t, e)
			if d["end_session_endpoint"] != e.URL+"/oauth/logout" {
				t.Fatalf("end_session_endpoint = %v", d["end_session_endpoint"])
			}
		})

		t.Run("the application's tokens end; the browser goes back with the state", func(t *testing.T) {
			hint, tok := signIn(w.app)
			_, other := signIn(w.pub) // the same person at another application
			if userinfo(tok) != 200 || userinfo(other) != 200 {
				t.Fatal("userinfo before sign-out")
			}
			res := logout(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {signedOut}, "state": {"bye"}})
			if res.status != http.StatusFound || !strings.HasPrefix(res.location, signedOut+"?") || res.query.Get("state") != "bye" {
				t.Fatalf("logout: %+v", res)
			}
			if code := userinfo(tok); code != http.StatusUnauthorized {
				t.Fatalf("userinfo after sign-out: %d", code)
			}
			if code := userinfo(other); code != 200 {
				t.Fatalf("the other application's token after sign-out: %d", code)
			}
		})

		t.Run("an unredeemed code ends too; a later sign-in survives an old hint", func(t *testing.T) {
			hint, _ := signIn(w.app)
			res, verifier := w.signIn(t, b, w.app, "connection", w.slug) // a code, not redeemed yet
			if res := logout(url.Values{"id_token_hint": {hint}}); res.status != http.StatusOK || !strings.Contains(res.body, "You are signed out of") {
				t.Fatalf("logout without a redirect URI: %d %s", res.status, res.body)
			}
			if _, err := w.app.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(verifier)); err == nil {
				t.Fatal("a code of the signed-out sign-in redeemed")
			}
			time.Sleep(2100 * time.Millisecond) // past the hint's second and its leeway
			_, later := signIn(w.app)
			logout(url.Values{"id_token_hint": {hint}})
			if code := userinfo(later); code != 200 {
				t.Fatalf("a sign-in after the hint, after a replay of the hint: %d", code)
			}
			if res := logout(nil); res.status != http.StatusOK || !strings.Contains(res.body, "keeps no sign-in of its own") {
				t.Fatalf("logout with nothing: %d %s", res.status, res.body)
			}
		})

		t.Run("POST works like GET; a body that is not a form, a repeated parameter or a long state is refused", func(t *testing.T) {
			hint, tok := signIn(w.app)
			post := func(contentType, body string) *http.Response {
				c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := c.Post(e.URL+"/oauth/logout", contentType, strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			form := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {signedOut}, "state": {"s"}}
			if resp := post("application/json", `{"id_token_hint":"`+hint+`"}`); resp.StatusCode != http.StatusBadRequest || userinfo(tok) != 200 {
				t.Fatalf("a JSON body: %d", resp.StatusCode)
			}
			if resp := post("application/x-www-form-urlencoded", form.Encode()+"&state=t"); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("a repeated state: %d", resp.StatusCode)
			}
			if res := logout(url.Values{"client_id": {w.app.ClientID}, "state": {strings.Repeat("s", 2049)}}); res.status != http.StatusBadRequest {
				t.Fatalf("a long state: %d", res.status)
			}
			resp := post("application/x-www-form-urlencoded", form.Encode())
			if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "state=s") || userinfo(tok) != http.StatusUnauthorized {
				t.Fatalf("POST logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
		})

		t.Run("requests Gatehouse cannot follow get a page, never a redirect", func(t *testing.T) {
			hint, tok := signIn(w.app)
			pubHint, _ := signIn(w.pub)
			for name, c := range map[string]struct {
				params url.Values
				want   string
			}{
				"an unregistered redirect URI":      {url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example/"}}, "not registered"},
				"the sign-in redirect URI":          {url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {w.redirect}}, "not registered"},
				"a redirect URI and no application": {url.Values{"post_logout_redirect_uri": {signedOut}}, "needs the client_id"},
				"a hint of another application":     {url.Values{"id_token_hint": {pubHint}, "client_id": {w.app.ClientID}}, "not issued to this application"},
				"a forged hint":                     {url.Values{"id_token_hint": {hint + "x"}, "post_logout_redirect_uri": {signedOut}}, "not an id_token"},
				"an unknown client":                 {url.Values{"client_id": {"ghc_nobody"}, "post_logout_redirect_uri": {signedOut}}, "not registered with Gatehouse"},
				"an access token as the hint":       {url.Values{"id_token_hint": {tok.AccessToken}}, "not an id_token"},
			} {
				res := logout(c.params)
				if res.status != http.StatusBadRequest || res.location != "" || !strings.Contains(res.body, c.want) {
					t.Errorf("%s: %d %q %s", name, res.status, res.location, res.body)
				}
			}
			if code := userinfo(tok); code != 200 {
				t.Fatalf("a refused sign-out revoked the token: %d", code)
			}
			// By client_id alone, the redirect works and nothing is revoked.
			res := logout(url.Values{"client_id": {w.app.ClientID}, "post_logout_redirect_uri": {signedOut}})
			if res.status != http.StatusFound || userinfo(tok) != 200 {
				t.Fatalf("logout by client_id: %+v", res)
			}
		})
	})
}
