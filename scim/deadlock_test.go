package scim_test

import (
	"testing"

	"gatehouse/app/apptest"
	"gatehouse/store/storetest"
)

// A SCIM write PostgreSQL aborts as a deadlock's victim runs again and succeeds (7683640):
// concurrent group and user writes lock the same user rows (TestSCIMUserVersionsWhileGroupsChange
// found the cycle), and a 503 for it would make the IdP retry or report a provisioning error for
// a write that had nothing wrong. The rerun checks If-Match again: the aborted run's version
// move was rolled back with it, so the ETag the IdP holds still matches.
func TestSCIMWriteDeadlockVictimRunsAgain(t *testing.T) {
	e := &testEnv{apptest.New(t, storetest.URL(t, "postgres"))}
	tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
	user := e.SCIMUser(tok, map[string]any{"userName": "dee.lock@contoso.com"})
	group := "/scim/v2/Groups/" + str(e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Team"}).Must(t, 201).Body, "id")
	cases := []struct {
		name, op, table, method, path, body, ifMatch string
		check                                        func(t *testing.T)
	}{
		{"user PATCH (the SCIM user loop)", "UPDATE", "user_accounts", "PATCH", "/scim/v2/Users/" + user,
			`{"Operations":[{"op":"replace","path":"title","value":"Engineer"}]}`, "/scim/v2/Users/" + user, func(t *testing.T) {
				if got := str(e.Call("GET", "/scim/v2/Users/"+user, tok, nil).Must(t, 200).Body, "title"); got != "Engineer" {
					t.Errorf("title %q", got)
				}
			}},
		{"group rename (transact)", "UPDATE", "groups", "PATCH", group,
			`{"Operations":[{"op":"replace","path":"displayName","value":"Team renamed"}]}`, group, func(t *testing.T) {
				if got := str(e.Call("GET", group, tok, nil).Must(t, 200).Body, "displayName"); got != "Team renamed" {
					t.Errorf("displayName %q", got)
				}
			}},
		{"group member added (transact)", "INSERT", "group_members", "PATCH", group,
			`{"Operations":[{"op":"add","path":"members","value":[{"value":"` + user + `"}]}]}`, "", func(t *testing.T) {
				members, _ := get(e.Call("GET", group, tok, nil).Must(t, 200).Body, "members").([]any)
				if len(members) != 1 || str(members[0], "value") != user {
					t.Errorf("members %v", members)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var headers []string
			if c.ifMatch != "" {
				headers = []string{"If-Match", e.Call("GET", c.ifMatch, tok, nil).Must(t, 200).Header.Get("ETag")}
			}
			fired, drop := e.AbortOnce(t, c.op, c.table)
			defer drop()
			e.Call(c.method, c.path, tok, c.body, headers...).Must(t, 200)
			if fired() != 1 {
				t.Fatal("the injected deadlock did not fire")
			}
			c.check(t)
		})
	}
}
