package sso_test

import "testing"

// A connection that requires verified emails (oidcConfig.requireVerifiedEmail) takes the IdP's
// email only when the IdP says email_verified true: an email without the claim (what
// zitadel/oidc-based OPs send for an unverified one) links no account and is no identifier,
// and a JIT account gets the derived address. Without the setting, such an email links, as
// before. Set and read through GraphQL and REST.
func TestSignInRequireVerifiedEmail(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		signIn := func(claims map[string]any) map[string]any { t.Helper(); return w.claimsAs(t, claims) }
		setting := func(on bool) {
			t.Helper()
			d := e.MustGQL(w.tok, `mutation($id: ID!, $on: Boolean) { updateConnection(input: {id: $id, oidcConfig: {requireVerifiedEmail: $on}}) {
				connection { oidcConfig { requireVerifiedEmail } } errors { label message } } }`, map[string]any{"id": w.conn, "on": on})
			if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 || get(d, "updateConnection", "connection", "oidcConfig", "requireVerifiedEmail") != on {
				t.Fatalf("updateConnection: %v", d)
			}
			if r := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200); get(r.Body, "connection", "oidcConfig", "requireVerifiedEmail") != on {
				t.Fatalf("REST: %s", r.Raw)
			}
		}
		e.CreateUser(w.tok, "ann@example.com")
		ben := e.CreateUser(w.tok, "ben@example.com")
		e.CreateUser(w.tok, "cat@example.com")

		// The default: no email_verified claim is no denial (Entra ID sends none).
		if c := signIn(map[string]any{"sub": "okta-ann", "email": "ann@example.com"}); c["sign_in"] != "linked_by_email" || c["email_verified"] != true {
			t.Fatalf("default, no claim: %v", c)
		}

		setting(true)
		// No claim: the email is not taken, so it links nobody; the person is provisioned with
		// the derived address, which nobody verified.
		c := signIn(map[string]any{"sub": "okta-ben", "email": "ben@example.com", "given_name": "Ben"})
		if c["sign_in"] != "provisioned" || c["email"] != "okta-ben@example.com" || c["email_verified"] != false || len(w.credentialsOf(t, ben)) != 0 {
			t.Fatalf("required, no claim: %v", c)
		}
		// "true" (a string, as some IdPs send) and true are a yes.
		if c := signIn(map[string]any{"sub": "okta-cat", "email": "cat@example.com", "email_verified": "true"}); c["sign_in"] != "linked_by_email" || c["email_verified"] != true {
			t.Fatalf("required, \"true\": %v", c)
		}
		// Entra ID's xms_edov (its optional claim: the email's domain is verified by the
		// user's tenant) says the same where email_verified is absent; email_verified wins.
		fay := e.CreateUser(w.tok, "fay@example.com")
		if c := signIn(map[string]any{"sub": "entra-fay", "email": "fay@example.com", "xms_edov": false}); c["sign_in"] != "provisioned" || len(w.credentialsOf(t, fay)) != 0 {
			t.Fatalf("required, xms_edov false: %v", c)
		}
		if c := signIn(map[string]any{"sub": "entra-fay2", "email": "fay@example.com", "email_verified": false, "xms_edov": true}); c["sign_in"] != "provisioned" {
			t.Fatalf("required, email_verified false and xms_edov true: %v", c)
		}
		if c := signIn(map[string]any{"sub": "entra-fay3", "email": "fay@example.com", "xms_edov": true}); c["sign_in"] != "linked_by_email" || c["email_verified"] != true {
			t.Fatalf("required, xms_edov true: %v", c)
		}
		// An email identifier not marked verified identifies nobody: the sign-in fails.
		d := e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, oidcConfig: {identifierClaim: "email"}}) { errors { message } } }`,
			map[string]any{"id": w.conn})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
			t.Fatalf("identifierClaim: %v", errs)
		}
		idp.as(map[string]any{"sub": "okta-dan", "email": "dan@example.com"})
		r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" {
			t.Fatalf("required, email identifier without the claim: %+v", r)
		}
		if c := signIn(map[string]any{"sub": "okta-dan", "email": "dan@example.com", "email_verified": true}); c["sign_in"] != "provisioned" || c["email"] != "dan@example.com" {
			t.Fatalf("required, email identifier verified: %v", c)
		}

		// Back to the default through REST: the claim's absence links again.
		if r := e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"oidcConfig": {"requireVerifiedEmail": false}}`).Must(t, 200); get(r.Body, "connection", "oidcConfig", "requireVerifiedEmail") != false {
			t.Fatalf("REST PUT: %s", r.Raw)
		}
		e.CreateUser(w.tok, "eve@example.com")
		d = e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, oidcConfig: {identifierClaim: "sub"}}) { errors { message } } }`,
			map[string]any{"id": w.conn})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
			t.Fatalf("identifierClaim back to sub: %v", errs)
		}
		if c := signIn(map[string]any{"sub": "okta-eve", "email": "eve@example.com"}); c["sign_in"] != "linked_by_email" {
			t.Fatalf("default again: %v", c)
		}
	})
}
