package sso_test

import (
	"strings"
	"testing"
)

// An OIDC connection reads the person's identifier from the claim an admin chooses
// (oidcConfig.identifierClaim): with preferred_username, a person bound ahead of time to their
// user name, by an admin or by a SCIM token tied to the connection, signs in as that account
// although the IdP's sub is opaque (Okta's 00u…, Entra ID's pairwise sub). The identifier claim
// may come from userinfo only; a missing one, or an email marked unverified, signs nobody in.
func TestSignInIdentifierClaim(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		setClaim := func(claim string) map[string]any {
			t.Helper()
			return e.MustGQL(w.tok, `mutation($id: ID!, $c: String) { updateConnection(input: {id: $id, oidcConfig: {identifierClaim: $c}}) {
				connection { status oidcConfig { identifierClaim } } errors { label message code } } }`, map[string]any{"id": w.conn, "c": claim})
		}
		d := e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { oidcConfig { identifierClaim } } }`, map[string]any{"id": w.conn})
		if got := str(d, "connection", "oidcConfig", "identifierClaim"); got != "sub" {
			t.Fatalf("default identifierClaim = %q", got)
		}
		for _, bad := range []string{"pre ferred", "1abc", strings.Repeat("c", 65), "claim/x"} {
			errs := payloadErrors(t, setClaim(bad), "updateConnection")
			if len(errs) != 1 || str(errs[0], "label") != "oidcConfig.identifierClaim" {
				t.Fatalf("identifierClaim %q: %v", bad, errs)
			}
		}
		// Claims that do not tell people apart: the same for everyone at the IdP, new in every
		// token, or a display name.
		for _, same := range []string{"iss", "azp", "aud", "nonce", "jti", "iat", "name", "email_verified"} {
			errs := payloadErrors(t, setClaim(same), "updateConnection")
			if len(errs) != 1 || str(errs[0], "label") != "oidcConfig.identifierClaim" ||
				!strings.Contains(str(errs[0], "message"), "does not tell people apart") {
				t.Fatalf("identifierClaim %q: %v", same, errs)
			}
		}
		body := `{"oidcConfig": {"identifierClaim": "iss"}}`
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, body).MustError(t, 400, "validation_error", "oidcConfig.identifierClaim cannot be iss")
		d = setClaim("preferred_username")
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 ||
			str(d, "updateConnection", "connection", "oidcConfig", "identifierClaim") != "preferred_username" ||
			str(d, "updateConnection", "connection", "status") != "ACTIVE" {
			t.Fatalf("set preferred_username: %v", d)
		}
		rest := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200)
		if got := str(rest.Body, "connection", "oidcConfig", "identifierClaim"); got != "preferred_username" {
			t.Fatalf("REST identifierClaim = %q: %s", got, rest.Raw)
		}

		signIn := func(claims map[string]any) result {
			t.Helper()
			idp.as(claims)
			r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			return r
		}
		claimsOf := func(claims map[string]any) map[string]any { t.Helper(); return w.claimsAs(t, claims) }

		// Bound ahead of time by an admin, to the user name.
		jane := e.CreateUser(w.tok, "jane@"+signInDomain)
		bind := e.MustGQL(w.tok, `mutation($a: ID!, $m: String!) { updateUserAccountCredentials(input: {accountUuid: $a, authModule: $m,
			identifier: "jane.doe@example.com", secret: ""}) { errors { message } } }`, map[string]any{"a": jane, "m": w.slug})
		if errs := payloadErrors(t, bind, "updateUserAccountCredentials"); len(errs) > 0 {
			t.Fatalf("bind: %v", errs)
		}
		janeClaims := map[string]any{"sub": "00u8opaque", "preferred_username": "Jane.Doe@example.com",
			"email": "jane@" + signInDomain, "email_verified": true, "given_name": "Jane", "family_name": "Doe"}
		for range 2 { // first the plain path, then the returning fast path on the id_token alone
			if got := claimsOf(janeClaims); got["sub"] != jane || got["sign_in"] != "existing_identity" {
				t.Fatalf("Jane by preferred_username: %v", got)
			}
		}
		// The identifier claim only at userinfo: merged before the person is looked up.
		idp.set(func(p *testIdP) { p.userinfoOnly = true })
		if got := claimsOf(janeClaims); got["sub"] != jane || got["sign_in"] != "existing_identity" {
			t.Fatalf("Jane with the claim at userinfo only: %v", got)
		}
		idp.set(func(p *testIdP) { p.userinfoOnly = false })

		// Bound by a SCIM token tied to the connection: userName is the identifier.
		plain, _ := e.SCIMToken(w.tok, map[string]any{"name": "Okta", "connectionId": w.conn})
		pat := e.SCIMUser(plain, map[string]any{"userName": "pat@example.com", "active": true,
			"emails": []any{map[string]any{"value": "pat@" + signInDomain, "primary": true}}})
		if got := claimsOf(map[string]any{"sub": "00u9opaque", "preferred_username": "pat@example.com",
			"email": "pat@" + signInDomain, "email_verified": true}); got["sub"] != pat || got["sign_in"] != "existing_identity" {
			t.Fatalf("a SCIM-provisioned person: %v", got)
		}

		// No identifier claim: nobody signs in, and the event says why.
		if r := signIn(map[string]any{"sub": "00u7opaque", "email": "jane@" + signInDomain, "email_verified": true}); r.query.Get("error") != "access_denied" || r.query.Get("code") != "" {
			t.Fatalf("without the identifier claim: %+v", r)
		}
		ev := e.MustGQL(w.tok, `{ signInEvents(pageSize: 1) { events { outcome } } }`, nil)
		var cause string
		if err := e.App.Store().RawScan(t.Context(), &cause, "SELECT cause FROM sign_in_events ORDER BY created_at DESC, id DESC LIMIT 1"); err != nil {
			t.Fatal(err)
		}
		if str(ev, "signInEvents", "events", 0, "outcome") != "FAILED" || !strings.Contains(cause, "preferred_username") {
			t.Fatalf("event of the missing claim: %v, cause %q", ev, cause)
		}

		// email as the identifier: an address the IdP marks unverified is no identifier.
		setClaim("email")
		if r := signIn(map[string]any{"sub": "00u6opaque", "email": "new@" + signInDomain, "email_verified": false}); r.query.Get("error") != "access_denied" {
			t.Fatalf("unverified email as the identifier: %+v", r)
		}
		if got := claimsOf(map[string]any{"sub": "00u6opaque", "email": "New@" + signInDomain, "email_verified": true}); got["sign_in"] != "provisioned" {
			t.Fatalf("verified email as the identifier: %v", got)
		}
		// sub again (spelt out or empty): the default.
		for _, c := range []string{"sub", ""} {
			if got := str(setClaim(c), "updateConnection", "connection", "oidcConfig", "identifierClaim"); got != "sub" {
				t.Fatalf("identifierClaim %q reads %q", c, got)
			}
		}
	})
}
