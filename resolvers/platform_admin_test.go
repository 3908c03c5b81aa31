package resolvers_test

import (
	"context"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

// TestPlatformAdministration: the platform admin client lists workspaces and manages the
// integration clients of any workspace; a tenant admin sees and changes only its own.
func TestPlatformAdministration(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		home := str(e.MustGQL(admin, `{ viewer { workspaceId } }`, nil), "viewer", "workspaceId")
		d := e.MustGQL(admin, `mutation { createWorkspace(input: {name: "Fabrikam"}) { workspace { id } errors { message } } }`, nil)
		fab := str(d, "createWorkspace", "workspace", "id")
		d = e.MustGQL(admin, `mutation { createWorkspace(input: {name: "Contoso"}) { workspace { id } errors { message } } }`, nil)
		contoso := str(d, "createWorkspace", "workspace", "id")
		tenantID, tenantSecret := e.CreateClient(admin, []string{"admin"}, fab)
		tenant := e.Token(tenantID, tenantSecret)
		scriptID, scriptSecret := e.CreateClient(admin, []string{"graphql"}, fab)
		// An admin client of the platform admin's own workspace is still a tenant admin.
		homeAdminID, homeAdminSecret := e.CreateClient(admin, []string{"admin"}, "")
		homeAdmin := e.Token(homeAdminID, homeAdminSecret)

		code := func(r *gqlResponse) string {
			if len(r.Errors) != 1 {
				return ""
			}
			c, _ := r.Errors[0].Extensions["code"].(string)
			return c
		}

		t.Run("workspaces are paginated, in creation order", func(t *testing.T) {
			var names []string
			var after any
			for pages := 0; ; pages++ {
				if pages > 3 {
					t.Fatalf("pagination does not end: %v", names)
				}
				d := e.MustGQL(admin, `query($after: String) { workspaces(first: 2, after: $after) {
					nodes { id name createdAt } pageInfo { hasNextPage endCursor } } }`, map[string]any{"after": after})
				for _, n := range get(d, "workspaces", "nodes").([]any) {
					names = append(names, str(n, "name"))
				}
				if get(d, "workspaces", "pageInfo", "hasNextPage") != true {
					break
				}
				after = get(d, "workspaces", "pageInfo", "endCursor")
			}
			if len(names) != 3 || names[0] != "Default" || names[1] != "Fabrikam" || names[2] != "Contoso" {
				t.Fatalf("workspaces = %v", names)
			}
			if r := e.GQL(admin, `{ workspaces(after: "not a cursor") { nodes { id } } }`, nil); len(r.Errors) != 1 {
				t.Fatalf("bad cursor: %s", r.Raw)
			}
		})

		t.Run("only the platform admin lists workspaces", func(t *testing.T) {
			for name, tok := range map[string]string{"tenant admin": tenant, "admin of the home workspace": homeAdmin} {
				if r := e.GQL(tok, `{ workspaces { nodes { id name } } }`, nil); code(r) != "FORBIDDEN" || r.Data["workspaces"] != nil {
					t.Errorf("%s: %s", name, r.Raw)
				}
			}
			script := e.Token(scriptID, scriptSecret)
			if r := e.GQL(script, `{ workspaces { nodes { id } } }`, nil); code(r) != "FORBIDDEN" {
				t.Errorf("graphql-scoped client: %s", r.Raw)
			}
		})

		t.Run("integrationClients of another workspace", func(t *testing.T) {
			clientIDs := func(d map[string]any) map[string]string {
				out := map[string]string{}
				for _, c := range get(d, "integrationClients").([]any) {
					out[str(c, "clientId")] = str(c, "workspaceId")
				}
				return out
			}
			q := `query($ws: ID) { integrationClients(workspaceId: $ws) { clientId workspaceId } }`
			got := clientIDs(e.MustGQL(admin, q, map[string]any{"ws": fab}))
			if len(got) != 2 || got[tenantID] != fab || got[scriptID] != fab {
				t.Fatalf("platform admin, Fabrikam: %v", got)
			}
			if got := clientIDs(e.MustGQL(admin, q, map[string]any{"ws": contoso})); len(got) != 0 {
				t.Fatalf("platform admin, Contoso: %v", got)
			}
			if got := clientIDs(e.MustGQL(admin, q, nil)); len(got) != 2 || got[testAdminID] != home || got[homeAdminID] != home {
				t.Fatalf("platform admin, own workspace: %v", got)
			}
			// The tenant admin: its own workspace, by default or by name; no other.
			for _, ws := range []any{nil, fab} {
				if got := clientIDs(e.MustGQL(tenant, q, map[string]any{"ws": ws})); len(got) != 2 || got[tenantID] != fab {
					t.Fatalf("tenant admin, own workspace (%v): %v", ws, got)
				}
			}
			for _, ws := range []string{home, contoso} {
				if r := e.GQL(tenant, q, map[string]any{"ws": ws}); code(r) != "FORBIDDEN" || r.Data["integrationClients"] != nil {
					t.Fatalf("tenant admin, workspace %s: %s", ws, r.Raw)
				}
			}
			if r := e.GQL(homeAdmin, q, map[string]any{"ws": fab}); code(r) != "FORBIDDEN" {
				t.Fatalf("home admin, Fabrikam: %s", r.Raw)
			}
			// Unknown and malformed workspace ids, for the one who may name any.
			if r := e.GQL(admin, q, map[string]any{"ws": "0190c7d2-0000-7000-8000-000000000000"}); code(r) != "NOT_FOUND" {
				t.Fatalf("unknown workspace: %s", r.Raw)
			}
			if r := e.GQL(admin, q, map[string]any{"ws": "nope"}); code(r) != "INVALID" {
				t.Fatalf("malformed workspace id: %s", r.Raw)
			}
		})

		t.Run("the tenant admin cannot touch clients of other workspaces", func(t *testing.T) {
			for _, op := range []string{"rotateIntegrationClientSecret", "revokeIntegrationClient"} {
				d := e.MustGQL(tenant, `mutation($id: String!) { `+op+`(input: {clientId: $id}) { errors { code label } } }`,
					map[string]any{"id": homeAdminID})
				if str(d, op, "errors", 0, "code") != "NOT_FOUND" || str(d, op, "errors", 0, "label") != "clientId" {
					t.Fatalf("%s of another workspace's client: %v", op, d)
				}
			}
			e.Token(homeAdminID, homeAdminSecret) // unchanged
		})

		t.Run("an admin of the home workspace cannot take over the platform admin client", func(t *testing.T) {
			for _, op := range []string{"rotateIntegrationClientSecret", "revokeIntegrationClient"} {
				r := e.GQL(homeAdmin, `mutation($id: String!) { `+op+`(input: {clientId: $id}) { errors { code } } }`,
					map[string]any{"id": testAdminID})
				if code(r) != "FORBIDDEN" {
					t.Fatalf("%s of the platform admin client: %s", op, r.Raw)
				}
			}
			e.AdminToken() // the secret still works: nothing was rotated
		})

		t.Run("the platform admin rotates and revokes a client of another workspace", func(t *testing.T) {
			script := e.Token(scriptID, scriptSecret)
			d := e.MustGQL(admin, `mutation($id: String!) { rotateIntegrationClientSecret(input: {clientId: $id}) {
				integrationClient { clientId workspaceId } clientSecret errors { code } } }`, map[string]any{"id": scriptID})
			fresh := str(d, "rotateIntegrationClientSecret", "clientSecret")
			if fresh == "" || fresh == scriptSecret || str(d, "rotateIntegrationClientSecret", "integrationClient", "workspaceId") != fab {
				t.Fatalf("rotate: %v", d)
			}
			// This replica forgets the client at once (others within the cache TTL, as tested
			// in TestTokenEndpoint): the old secret and then the client's tokens are refused now.
			e.Token(scriptID, fresh)
			cc := clientcredentials.Config{ClientID: scriptID, ClientSecret: scriptSecret, TokenURL: e.URL + "/oauth/token"}
			if _, err := cc.Token(context.Background()); err == nil {
				t.Fatal("the old secret still works after rotation")
			}
			e.MustGQL(script, `{ viewer { clientId } }`, nil) // tokens survive a rotation

			d = e.MustGQL(admin, `mutation($id: String!) { revokeIntegrationClient(input: {clientId: $id}) {
				integrationClient { revoked } errors { code } } }`, map[string]any{"id": scriptID})
			if get(d, "revokeIntegrationClient", "integrationClient", "revoked") != true {
				t.Fatalf("revoke: %v", d)
			}
			if r := e.GQL(script, `{ viewer { clientId } }`, nil); r.Status != 401 {
				t.Fatalf("the revoked client's token still works: %s", r.Raw)
			}

			// Both changes are in the audit log of the client's workspace, by the platform admin,
			// and not in the platform admin's own.
			seen := map[string]string{}
			for _, ev := range get(e.MustGQL(tenant, `{ auditEvents { action actorId targetId } }`, nil), "auditEvents").([]any) {
				if str(ev, "targetId") == scriptID {
					seen[str(ev, "action")] = str(ev, "actorId")
				}
			}
			if seen["integration_client.rotate_secret"] != testAdminID || seen["integration_client.revoke"] != testAdminID {
				t.Fatalf("Fabrikam's audit log: %v", seen)
			}
			for _, ev := range get(e.MustGQL(admin, `{ auditEvents(first: 100) { action targetId } }`, nil), "auditEvents").([]any) {
				if str(ev, "targetId") == scriptID && str(ev, "action") != "integration_client.create" {
					t.Fatalf("event in the home workspace's log: %v", ev)
				}
			}
		})
	})
}
