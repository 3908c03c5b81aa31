package app_test

import (
	"testing"
)

// TestTimesReadBackAsWritten: a time an answer shows when something is created is the one every
// later read shows, on both databases. PostgreSQL keeps microseconds: a create answer with the
// clock's nanoseconds (a connection's createdAt …445411033Z) read back shorter (…445411Z), and a
// client comparing the two saw a change that was none (found running the docs' requests); and
// on a host whose zone is not UTC (CI runs in America/New_York), pgx read the time back in that
// zone (…-05:00) where it was written as Z. Through REST (a connection), GraphQL (a user
// account) and SCIM (a Group's meta).
func TestTimesReadBackAsWritten(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		same := func(what string, created, read any) {
			t.Helper()
			if created == nil || created != read {
				t.Errorf("%s: %v in the create answer, %v when read", what, created, read)
			}
		}
		conn := e.Call("POST", "/api/v1/sso/connections", admin, map[string]any{"name": "Okta OIDC", "protocol": "oidc",
			"oidcConfig": map[string]any{"issuerUrl": "https://your-org.okta.com", "clientId": "0oa1", "clientSecret": "s"}}).Must(t, 201).Body
		id := str(conn, "connection", "id")
		read := e.Call("GET", "/api/v1/sso/connections/"+id, admin, nil).Must(t, 200).Body
		for _, f := range []string{"createdAt", "updatedAt"} {
			same("connection "+f, str(conn, "connection", f), str(read, "connection", f))
		}

		d := e.MustGQL(admin, `mutation { createUserAccount(input: {email: "ada@example.com"}) { userAccount { uuid createdAt updatedAt } } }`, nil)
		uuid := str(d, "createUserAccount", "userAccount", "uuid")
		r := e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { createdAt updatedAt } }`, map[string]any{"u": uuid})
		for _, f := range []string{"createdAt", "updatedAt"} {
			same("user account "+f, str(d, "createUserAccount", "userAccount", f), str(r, "userAccount", f))
		}

		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		g := e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Testers"}).Must(t, 201).Body
		gr := e.Call("GET", "/scim/v2/Groups/"+str(g, "id"), tok, nil).Must(t, 200).Body
		for _, f := range []string{"created", "lastModified"} {
			same("SCIM group meta."+f, str(g, "meta", f), str(gr, "meta", f))
		}
	})
}
