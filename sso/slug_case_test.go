package sso_test

import (
	"testing"
)

// TestConnectionSlugAnyCase: wherever a caller names a connection by its slug, case and
// surrounding white space do not matter (models.SlugKey): the binding mutations, the bulk
// binding, the userAccounts filter and /oauth/authorize?connection=. Answers keep the stored,
// lower-case slug.
func TestConnectionSlugAnyCase(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp) // slug acme-idp
		w.activate(w.conn, "")
		user := e.CreateUser(w.tok, "jane@example.com")
		const sel = `userAccount { credentials { authModule identifier } } errors { label message code }`
		op := func(what, q string, vars map[string]any, path ...any) any {
			t.Helper()
			d := e.MustGQL(w.tok, q, vars)
			if errs := get(d, append(path, "errors")...); errs != nil && len(errs.([]any)) > 0 {
				t.Fatalf("%s: %v", what, d)
			}
			return get(d, path...)
		}
		bound := func(what string, res any, identifier string) {
			t.Helper()
			c, _ := get(res, "userAccount", "credentials").([]any)
			switch {
			case identifier == "" && len(c) != 0:
				t.Fatalf("%s: still bound: %v", what, c)
			case identifier != "" && (len(c) != 1 || str(c[0], "authModule") != w.slug || str(c[0], "identifier") != identifier):
				t.Fatalf("%s: credentials %v, want %s at %s", what, c, identifier, w.slug)
			}
		}
		for _, slug := range []string{"Acme-IDP", " ACME-idp\u00a0", "acme-idp"} {
			vars := map[string]any{"u": user, "m": slug}
			bound("updateUserAccountCredentials "+slug, op("bind", `mutation($u: ID!, $m: String!) {
				updateUserAccountCredentials(input: {accountUuid: $u, authModule: $m, identifier: "okta-jane"}) { `+sel+` } }`,
				vars, "updateUserAccountCredentials"), "okta-jane")
			if n := op("filter", `query($m: String!) { userAccounts(filter: {authModule: $m, identifier: "OKTA-jane"}) { totalCount } }`,
				vars, "userAccounts", "totalCount"); n != float64(1) {
				t.Fatalf("userAccounts(filter: {authModule: %q}): %v accounts, want 1", slug, n)
			}
			claims := w.claimsAsVia(t, map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true}, slug)
			if claims["sign_in"] != "existing_identity" || claims["sub"] != user {
				t.Fatalf("signed in with connection=%q as %v, want the account bound (%s)", slug, claims, user)
			}
			bound("removeUserAccountCredentials "+slug, op("remove", `mutation($u: ID!, $m: String!) {
				removeUserAccountCredentials(input: {accountUuid: $u, authModule: $m}) { `+sel+` } }`,
				vars, "removeUserAccountCredentials"), "")
			bound("bulkUpdateUserAccountCredentials "+slug, get(op("bulk", `mutation($u: ID!, $m: String!) {
				bulkUpdateUserAccountCredentials(input: {items: [{accountUuid: $u, authModule: $m, identifier: "okta-jane"}]}) {
				results { `+sel+` } errors { label message code } } }`, vars, "bulkUpdateUserAccountCredentials"), "results", 0), "okta-jane")
			op("remove", `mutation($u: ID!, $m: String!) { removeUserAccountCredentials(input: {accountUuid: $u, authModule: $m}) { `+sel+` } }`,
				map[string]any{"u": user, "m": w.slug}, "removeUserAccountCredentials")
		}
	})
}

// claimsAsVia is claimsAs with the authorization request's connection=slug.
func (w *signInWorld) claimsAsVia(t *testing.T, claims map[string]any, slug string) map[string]any {
	t.Helper()
	w.idp.as(claims)
	r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", slug)
	if r.query.Get("code") == "" {
		t.Fatalf("sign-in with connection=%q: %+v", slug, r)
	}
	got, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier)
	return got
}
