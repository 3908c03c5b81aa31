package scim_test

import (
	"fmt"
	"slices"
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
	groups := e.teams(t, tok, n) // groups[n] is Everyone
	patch := func(k int, op, u string) *apiResponse {
		return e.Call("PATCH", groups[k%n], tok, `{"Operations":[{"op":"`+op+`","path":"members","value":[{"value":"`+u+`"}]}]}`)
	}
	counts, count := answerCounter(t, func(r *apiResponse) bool { return r.Status == 400 && str(r.Body, "scimType") != "invalidValue" })
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

// answerCounter counts the answers of requests sent at once by what and status ("add 200"),
// and reports each one wrong says is wrong.
func answerCounter(t *testing.T, wrong func(r *apiResponse) bool) (map[string]int, func(what string, r *apiResponse)) {
	var mu sync.Mutex
	counts := map[string]int{}
	return counts, func(what string, r *apiResponse) {
		mu.Lock()
		defer mu.Unlock()
		counts[fmt.Sprint(what, " ", r.Status)]++
		if wrong(r) {
			t.Errorf("%s: %d %s", what, r.Status, r.Raw)
		}
	}
}

// teams creates n+1 groups, "Team 0" to "Team n", and returns their paths.
func (e *testEnv) teams(t *testing.T, tok string, n int) []string {
	groups := make([]string, n+1)
	for k := range groups {
		groups[k] = "/scim/v2/Groups/" + str(e.Call("POST", "/scim/v2/Groups", tok,
			map[string]any{"displayName": fmt.Sprintf("Team %d", k)}).Must(t, 201).Body, "id")
	}
	return groups
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

// Users' versions while their groups change: a User lists its groups (groups[], with their
// displayName), so a group write moves the versions of the users whose groups it changes,
// locking them, holding the group, in id order. Each round's 8 users are members of groups i
// and i+1 (i the user's index, groups modulo four); then, all at once, three users in four get
// a write of their own (a PATCH of the title, a new userName, which locks the user's groups
// first, or the active-only PATCH, one statement), PATCHes add each user to group i+2 and
// remove it from group i,
// one PATCH adds all of them to Everyone and another renames a group, while a ninth user, a
// member of every group, is deleted. On PostgreSQL nothing deadlocks (40P01 was a 503): every
// answer is 200 (204 for the deletion). Afterwards each user answers If-None-Match with its
// ETag from before the round with 200, never 304, and lists exactly the groups that list it,
// with their current names; with its new ETag, 304.
func TestSCIMUserVersionsWhileGroupsChange(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		const n = 4
		groups := e.teams(t, tok, n) // groups[n] is Everyone
		members := func(op string, us ...string) string {
			vs := make([]string, len(us))
			for i, u := range us {
				vs[i] = `{"value":"` + u + `"}`
			}
			return `{"Operations":[{"op":"` + op + `","path":"members","value":[` + strings.Join(vs, ",") + `]}]}`
		}
		counts, count := answerCounter(t, func(r *apiResponse) bool { return r.Status >= 300 })
		for round := range 6 {
			users := make([]string, 8)
			for i := range users {
				users[i] = e.SCIMUser(tok, map[string]any{"userName": fmt.Sprintf("member-%d-%d@contoso.com", round, i)})
				e.Call("PATCH", groups[i%n], tok, members("add", users[i])).Must(t, 200)
				e.Call("PATCH", groups[(i+1)%n], tok, members("add", users[i])).Must(t, 200)
			}
			doomed := e.SCIMUser(tok, map[string]any{"userName": fmt.Sprintf("doomed-%d@contoso.com", round)})
			for _, g := range groups {
				e.Call("PATCH", g, tok, members("add", doomed)).Must(t, 200)
			}
			tags := make([]string, len(users))
			for i, u := range users {
				tags[i] = e.Call("GET", "/scim/v2/Users/"+u, tok, nil).Must(t, 200).Header.Get("ETag")
			}
			reversed := slices.Clone(users)
			slices.Reverse(reversed)
			var wg sync.WaitGroup
			for i, u := range users {
				var body string
				switch i % 4 {
				case 0:
					body = `{"Operations":[{"op":"replace","path":"title","value":"Round ` + fmt.Sprint(round) + `"}]}`
				case 1:
					body = `{"Operations":[{"op":"replace","path":"userName","value":"renamed-` + fmt.Sprint(round, "-", i) + `@contoso.com"}]}`
				case 2:
					body = `{"Operations":[{"op":"replace","value":{"active":false}}]}`
				}
				if body != "" { // the others change only through their groups
					wg.Go(func() { count("user PATCH", e.Call("PATCH", "/scim/v2/Users/"+u, tok, body)) })
				}
				wg.Go(func() { count("add", e.Call("PATCH", groups[(i+2)%n], tok, members("add", u))) })
				wg.Go(func() { count("remove", e.Call("PATCH", groups[i%n], tok, members("remove", u))) })
			}
			wg.Go(func() { count("add all", e.Call("PATCH", groups[n], tok, members("add", reversed...))) })
			wg.Go(func() {
				count("rename", e.Call("PATCH", groups[round%n], tok,
					`{"Operations":[{"op":"replace","path":"displayName","value":"Team `+fmt.Sprint(round%n, " round ", round)+`"}]}`))
			})
			wg.Go(func() { count("user DELETE", e.Call("DELETE", "/scim/v2/Users/"+doomed, tok, nil)) })
			wg.Wait()

			// Which groups list each user now, by name.
			listed := map[string][]string{}
			for _, g := range groups {
				r := e.Call("GET", g, tok, nil).Must(t, 200)
				for _, m := range get(r.Body, "members").([]any) {
					listed[str(m, "value")] = append(listed[str(m, "value")], str(r.Body, "displayName"))
				}
			}
			if len(listed[doomed]) > 0 {
				t.Fatalf("round %d: a deleted user is still listed by %v", round, listed[doomed])
			}
			for i, u := range users {
				r := e.Call("GET", "/scim/v2/Users/"+u, tok, nil, "If-None-Match", tags[i])
				if r.Status != 200 {
					t.Fatalf("round %d: user %d, whose groups changed, answers %d to If-None-Match %s", round, i, r.Status, tags[i])
				}
				var shown []string
				for _, g := range get(r.Body, "groups").([]any) {
					shown = append(shown, str(g, "display"))
				}
				slices.Sort(shown)
				slices.Sort(listed[u])
				if !slices.Equal(shown, listed[u]) {
					t.Fatalf("round %d: user %d shows groups %v, the groups list it in %v", round, i, shown, listed[u])
				}
				e.Call("GET", "/scim/v2/Users/"+u, tok, nil, "If-None-Match", r.Header.Get("ETag")).Must(t, 304)
			}
		}
		t.Logf("answers %v", counts)
	})
}
