package sso_test

import (
	"strings"
	"testing"
)

// The connection test's warnings reach REST and GraphQL: a SAML connection that accepts SHA-1
// signatures passes its test with a warning saying how to stop, and without the setting it
// passes with none. Both databases (the rules themselves: provision's TestConnectionTestWarnings).
func TestConnectionTestWarnsOfSHA1(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		test := func() (rest, gql []any) {
			t.Helper()
			r := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
			if get(r.Body, "success") != true {
				t.Fatalf("REST test: %s", r.Raw)
			}
			d := e.MustGQL(w.tok, `mutation($id: ID!) { testConnection(input: {id: $id}) { success warnings } }`, map[string]any{"id": w.conn})
			if get(d, "testConnection", "success") != true {
				t.Fatalf("GraphQL test: %v", d)
			}
			rest, _ = get(r.Body, "warnings").([]any)
			gql, _ = get(d, "testConnection", "warnings").([]any)
			return rest, gql
		}
		if rest, gql := test(); rest == nil || len(rest) != 0 || gql == nil || len(gql) != 0 {
			t.Fatalf("a connection refusing SHA-1: REST %v, GraphQL %v; want none", rest, gql)
		}
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"acceptSha1Signatures": true}}`).Must(t, 200)
		rest, gql := test()
		if len(rest) != 1 || len(gql) != 1 || rest[0] != gql[0] || !strings.Contains(rest[0].(string), "acceptSha1Signatures to false") {
			t.Fatalf("a connection accepting SHA-1: REST %v, GraphQL %v", rest, gql)
		}
	})
}
