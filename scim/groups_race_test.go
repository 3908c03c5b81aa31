package scim_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"gatehouse/app/apptest"
)

// A member added to a group while its user is deleted: the addition either comes first (200,
// and the deletion takes the membership with the user) or finds the user gone (400
// invalidValue), never an internal error. The users are deleted between the PATCH's check of
// its members and its insert often enough on PostgreSQL (SQLite runs one write at a time).
func TestSCIMGroupMemberAddedWhileUserDeleted(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		gid := str(e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Racers"}).Must(t, 201).Body, "id")
		var mu sync.Mutex
		counts := map[string]int{}
		e.DeleteUsersDuring(tok, 10, 8, func(round, i int, u string) {
			var what string
			var r *apiResponse
			if i%2 == 1 { // a new group with the member
				what, r = "create", e.Call("POST", "/scim/v2/Groups", tok, fmt.Sprintf(
					`{"displayName":"racers %d %d","members":[{"value":"%s"}]}`, round, i, u))
			} else {
				what, r = "patch", e.Call("PATCH", "/scim/v2/Groups/"+gid, tok,
					`{"Operations":[{"op":"add","path":"members","value":[{"value":"`+u+`"}]}]}`)
			}
			mu.Lock()
			defer mu.Unlock()
			counts[fmt.Sprint(what, " ", r.Status)]++
			if r.Status == 400 && str(r.Body, "scimType") != "invalidValue" {
				t.Errorf("%s: %s", what, r.Raw)
			}
		})
		for k, n := range counts {
			switch k {
			case "patch 200", "patch 400", "create 201", "create 400":
			default:
				t.Errorf("%d answers %q: %v", n, k, counts)
			}
		}
		// Every user is gone, and with it every membership.
		r := e.Call("GET", "/scim/v2/Groups?filter="+urlq(`displayName sw "racers"`), tok, nil).Must(t, 200)
		for _, g := range get(r.Body, "Resources").([]any) {
			if m, _ := get(g, "members").([]any); len(m) > 0 {
				t.Errorf("group %s keeps members of deleted users: %v", str(g, "displayName"), m)
			}
		}
		if r := e.Call("GET", "/scim/v2/Groups/"+gid, tok, nil).Must(t, 200); get(r.Body, "members") != nil && len(get(r.Body, "members").([]any)) > 0 {
			t.Errorf("group keeps members of deleted users: %s", r.Raw)
		}
	})
}

// Members deleted while their groups are changed: each round's users are members of two of
// four groups, and each user's SCIM DELETE races PATCHes adding it to a third group and
// removing it from one of its own. A deletion locks its groups before its user, as the PATCH
// does (the store's lock order), so on PostgreSQL nothing deadlocks (a deadlock was a 503):
// the PATCHes answer 200, or 400 invalidValue for an addition that finds the user gone, and
// the deletions 204. Afterwards no group lists a deleted user, and every group that lost one
// has a new version: If-None-Match with its version from before the round is not 304.
func TestSCIMGroupVersionsWhileMembersDeleted(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		counts := e.raceMembers(t, "DELETE", func(round, i int) any { return nil },
			func(round, k int, r *apiResponse) {
				if ms, _ := get(r.Body, "members").([]any); len(ms) > 0 {
					t.Fatalf("round %d: group %d keeps members of deleted users: %s", round, k, r.Raw)
				}
			})
		for k, c := range counts {
			switch k {
			case "DELETE 204", "add 200", "add 400", "remove 200":
			default:
				t.Errorf("%d answers %q: %v", c, k, counts)
			}
		}
	})
}

// Members renamed while their groups are changed, as members are deleted above: a new
// userName, which the groups show (members[].display), locks the groups before the user too.
// Every answer is 200, and afterwards every group shows its members' new userNames with a new
// version.
func TestSCIMGroupVersionsWhileMembersRenamed(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		renamed := func(round, i int) string { return fmt.Sprintf("renamed-%d-%d@contoso.com", round, i) }
		counts := e.raceMembers(t, "PATCH", func(round, i int) any {
			return `{"Operations":[{"op":"replace","path":"userName","value":"` + renamed(round, i) + `"}]}`
		}, func(round, k int, r *apiResponse) {
			ms, _ := get(r.Body, "members").([]any)
			for _, m := range ms {
				if d := str(m, "display"); !strings.HasPrefix(d, "renamed-") {
					t.Fatalf("round %d: group %d shows an old userName %s: %s", round, k, d, r.Raw)
				}
			}
		})
		for k, c := range counts {
			if k != "PATCH 200" && k != "add 200" && k != "remove 200" {
				t.Errorf("%d answers %q: %v", c, k, counts)
			}
		}
	})
}

// raceMembers runs 6 rounds of a race over four groups and a fifth, Everyone. Each round's 8
// users are members of Everyone and of groups i and i+1 (i the user's index, groups modulo
// four); then, all at once, each user gets the request method with body(round, i) and PATCHes
// add it to group i+2 and remove it from group i. After each round, every group, which had
// members the requests changed, must answer If-None-Match with its version from before the
// round with 200 (Everyone, which no PATCH of the round touched, only if the user's request
// moved its version); check looks at the answer. It returns how many answers of each kind
// ("add 200") came; a 400 must be invalidValue.
func (e *testEnv) raceMembers(t *testing.T, method string, body func(round, i int) any, check func(round, k int, r *apiResponse)) map[string]int {
	tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
	const n = 4
	var groups [n + 1]string // groups[n] is Everyone
	for k := range groups {
		groups[k] = "/scim/v2/Groups/" + str(e.Call("POST", "/scim/v2/Groups", tok,
			map[string]any{"displayName": fmt.Sprintf("Team %d", k)}).Must(t, 201).Body, "id")
	}
	patch := func(k int, op, u string) *apiResponse {
		return e.Call("PATCH", groups[k%n], tok, `{"Operations":[{"op":"`+op+`","path":"members","value":[{"value":"`+u+`"}]}]}`)
	}
	var mu sync.Mutex
	counts := map[string]int{}
	count := func(what string, r *apiResponse) {
		mu.Lock()
		defer mu.Unlock()
		counts[fmt.Sprint(what, " ", r.Status)]++
		if r.Status == 400 && str(r.Body, "scimType") != "invalidValue" {
			t.Errorf("%s: %s", what, r.Raw)
		}
	}
	for round := range 6 {
		users := make([]string, 8)
		for i := range users {
			users[i] = e.SCIMUser(tok, map[string]any{"userName": fmt.Sprintf("member-%d-%d@contoso.com", round, i)})
			patch(i, "add", users[i]).Must(t, 200)
			patch(i+1, "add", users[i]).Must(t, 200)
			e.Call("PATCH", groups[n], tok, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+users[i]+`"}]}]}`).Must(t, 200)
		}
		var tags [n + 1]string
		for k, g := range groups {
			tags[k] = e.Call("GET", g, tok, nil).Must(t, 200).Header.Get("ETag")
		}
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Go(func() { count(method, e.Call(method, "/scim/v2/Users/"+u, tok, body(round, i))) })
			wg.Go(func() { count("add", patch(i+2, "add", u)) })
			wg.Go(func() { count("remove", patch(i, "remove", u)) })
		}
		wg.Wait()
		for k, g := range groups {
			r := e.Call("GET", g, tok, nil, "If-None-Match", tags[k])
			if r.Status != 200 {
				t.Fatalf("round %d: group %d, whose members changed, answers %d to If-None-Match %s", round, k, r.Status, tags[k])
			}
			check(round, k, r)
		}
	}
	t.Logf("answers %v", counts)
	return counts
}

// Group changes sent at once to a server and to another Gatehouse process on the same
// database (a replica; on SQLite, `gatehouse clients` beside a server is the same): each
// change reads the group before it writes, and on SQLite a transaction that took no write lock
// at BEGIN could not write once the other process had, and answered 503 at once instead of
// waiting its turn. Every change lands.
func TestSCIMGroupChangesFromTwoProcesses(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		servers := []*apptest.Env{e.Env, {T: t, URL: e.Replica()}}
		gid := str(e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Everyone"}).Must(t, 201).Body, "id")
		var users []string
		for i := range 48 {
			users = append(users, e.SCIMUser(tok, map[string]any{"userName": fmt.Sprintf("member%d", i)}))
		}
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Go(func() {
				r := servers[i%2].Call("PATCH", "/scim/v2/Groups/"+gid, tok,
					`{"Operations":[{"op":"add","path":"members","value":[{"value":"`+u+`"}]}]}`)
				mu.Lock()
				defer mu.Unlock()
				counts[r.Status]++
			})
		}
		wg.Wait()
		if counts[200] != len(users) {
			t.Errorf("answers %v, want %d 200s", counts, len(users))
		}
		r := e.Call("GET", "/scim/v2/Groups/"+gid, tok, nil).Must(t, 200)
		if m, _ := get(r.Body, "members").([]any); len(m) != counts[200] {
			t.Errorf("%d members after %d additions", len(m), counts[200])
		}
	})
}
