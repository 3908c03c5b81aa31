package scim_test

import "testing"

// A replacement that leaves active out keeps the user's state (both databases): a PUT of the
// profile, or a PATCH that removes active, never reactivates a user the IdP deactivated (who
// would sign in again); only active: true does, and a new user without active is active.
func TestSCIMReplacementWithoutActiveKeepsTheState(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		r := e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "ada@example.com", "name": map[string]any{"givenName": "Ada"}})
		if r.Status != 201 || get(r.Body, "active") != true {
			t.Fatalf("created without active: %d %s", r.Status, r.Raw)
		}
		id := str(r.Body, "id")
		active := func(step string, r *apiResponse, want bool) {
			t.Helper()
			if r.Status != 200 || get(r.Body, "active") != want {
				t.Fatalf("%s: %d %s, want active %v", step, r.Status, r.Raw, want)
			}
			if g := e.Call("GET", "/scim/v2/Users/"+id, tok, nil); get(g.Body, "active") != want {
				t.Fatalf("%s, read again: %s, want active %v", step, g.Raw, want)
			}
		}
		active("deactivated", e.Call("PATCH", "/scim/v2/Users/"+id, tok,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`), false)
		active("a PUT of the profile without active", e.Call("PUT", "/scim/v2/Users/"+id, tok,
			map[string]any{"userName": "ada@example.com", "name": map[string]any{"givenName": "Augusta Ada"}}), false)
		active("a PATCH removing active", e.Call("PATCH", "/scim/v2/Users/"+id, tok,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"active"}]}`), false)
		active("a PUT with active true", e.Call("PUT", "/scim/v2/Users/"+id, tok,
			map[string]any{"userName": "ada@example.com", "active": true}), true)
		active("a PUT of the profile without active, the user active", e.Call("PUT", "/scim/v2/Users/"+id, tok,
			map[string]any{"userName": "ada@example.com", "name": map[string]any{"givenName": "Ada"}}), true)
	})
}
