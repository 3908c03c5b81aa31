package scim_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSCIMIfNoneMatch: a GET of a User or Group with If-None-Match naming the current ETag
// answers 304 without a body (RFC 7644 §3.14); any other tag gets the resource.
func TestSCIMIfNoneMatch(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		user := e.SCIMUser(tok, map[string]any{"userName": "ada@example.com"})
		group := str(e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Engineers"}).Must(t, 201).Body, "id")
		for _, res := range []struct{ path, patch string }{
			{"/scim/v2/Users/" + user, "displayName"},
			{"/scim/v2/Groups/" + group, "displayName"},
		} {
			t.Run(res.path[9:14], func(t *testing.T) {
				tag := e.Call("GET", res.path, tok, nil).Must(t, 200).Header.Get("ETag")
				if tag != `W/"1"` {
					t.Fatalf("ETag %q", tag)
				}
				for _, inm := range []string{tag, `"1"`, `W/"7", ` + tag, "*"} {
					r := e.Call("GET", res.path, tok, nil, "If-None-Match", inm).Must(t, 304)
					if r.Raw != "" || r.Header.Get("ETag") != tag {
						t.Fatalf("If-None-Match %s: body %q, ETag %q", inm, r.Raw, r.Header.Get("ETag"))
					}
				}
				r := e.Call("GET", res.path, tok, nil, "If-None-Match", `W/"2"`).Must(t, 200)
				if str(r.Body, "id") == "" {
					t.Fatalf("non-matching tag: %s", r.Raw)
				}
				// A change makes the old tag stale: the client gets the new version.
				e.Call("PATCH", res.path, tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
					"Operations": []any{map[string]any{"op": "replace", "path": res.patch, "value": "Changed"}}}).Must(t, 200)
				r = e.Call("GET", res.path, tok, nil, "If-None-Match", tag).Must(t, 200)
				if r.Header.Get("ETag") != `W/"2"` || str(r.Body, "displayName") != "Changed" {
					t.Fatalf("after a change: ETag %q: %s", r.Header.Get("ETag"), r.Raw)
				}
				e.Call("GET", res.path, tok, nil, "If-None-Match", `W/"2"`).Must(t, 304)
			})
		}
		// A missing resource is 404 whatever the tag, even "*".
		e.Call("GET", "/scim/v2/Users/00000000-0000-0000-0000-000000000000", tok, nil, "If-None-Match", "*").Must(t, 404)
	})
}

// TestSCIMGroupETagAfterMemberDeleted: deleting a member user changes the group's members,
// so the group's version moves: a client that cached the group and asks with If-None-Match
// gets the group without the member and a new ETag, not 304 Not Modified. A group the user
// was not in keeps its version.
func TestSCIMGroupETagAfterMemberDeleted(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		ada := e.SCIMUser(tok, map[string]any{"userName": "ada@example.com"})
		bob := e.SCIMUser(tok, map[string]any{"userName": "bob@example.com"})
		members := func(ids ...string) []any {
			var ms []any
			for _, id := range ids {
				ms = append(ms, map[string]any{"value": id})
			}
			return ms
		}
		both := "/scim/v2/Groups/" + str(e.Call("POST", "/scim/v2/Groups", tok,
			map[string]any{"displayName": "Engineers", "members": members(ada, bob)}).Must(t, 201).Body, "id")
		other := "/scim/v2/Groups/" + str(e.Call("POST", "/scim/v2/Groups", tok,
			map[string]any{"displayName": "Others", "members": members(bob)}).Must(t, 201).Body, "id")
		tag := e.Call("GET", both, tok, nil).Must(t, 200).Header.Get("ETag")
		otherTag := e.Call("GET", other, tok, nil).Must(t, 200).Header.Get("ETag")

		e.Call("DELETE", "/scim/v2/Users/"+ada, tok, nil).Must(t, 204)
		r := e.Call("GET", both, tok, nil, "If-None-Match", tag).Must(t, 200)
		ms, _ := get(r.Body, "members").([]any)
		if len(ms) != 1 || str(ms[0], "value") != bob || r.Header.Get("ETag") == tag || str(get(r.Body, "meta"), "version") != r.Header.Get("ETag") {
			t.Fatalf("after deleting a member (ETag was %s): ETag %s: %s", tag, r.Header.Get("ETag"), r.Raw)
		}
		e.Call("GET", both, tok, nil, "If-None-Match", r.Header.Get("ETag")).Must(t, 304)
		e.Call("GET", other, tok, nil, "If-None-Match", otherTag).Must(t, 304)
		// An If-Match of the group's old version no longer passes.
		e.Call("PATCH", both, tok, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "displayName", "value": "Changed"}}}, "If-Match", tag).Must(t, 412)

		e.Call("DELETE", "/scim/v2/Users/"+bob, tok, nil).Must(t, 204)
		for path, old := range map[string]string{both: r.Header.Get("ETag"), other: otherTag} {
			r := e.Call("GET", path, tok, nil, "If-None-Match", old).Must(t, 200)
			if ms, _ := get(r.Body, "members").([]any); len(ms) != 0 || r.Header.Get("ETag") == old {
				t.Fatalf("%s after deleting its last member (ETag was %s): ETag %s: %s", path, old, r.Header.Get("ETag"), r.Raw)
			}
		}
	})
}

// TestSCIMGroupETagAfterMemberChanged: a group's members show each member's userName
// (members[].display), so a member's new userName, by PATCH or PUT, moves the group's version:
// If-None-Match with the old ETag gets the new display. A change the group does not show (the
// member's deactivation, its title) leaves the group's version alone.
func TestSCIMGroupETagAfterMemberChanged(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		ada := "/scim/v2/Users/" + e.SCIMUser(tok, map[string]any{"userName": "ada@example.com"})
		group := "/scim/v2/Groups/" + str(e.Call("POST", "/scim/v2/Groups", tok,
			map[string]any{"displayName": "Engineers", "members": []any{map[string]any{"value": ada[15:]}}}).Must(t, 201).Body, "id")
		patch := func(path string, value any) map[string]any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "path": path, "value": value}}}
		}
		tag := e.Call("GET", group, tok, nil).Must(t, 200).Header.Get("ETag")
		for _, c := range []struct {
			name, method string
			body         any
			display      string // the member's display after the change; "" if unchanged
		}{
			{"deactivation", "PATCH", patch("active", false), ""},
			{"title", "PATCH", patch("title", "Engineer"), ""},
			{"userName by PATCH", "PATCH", patch("userName", "ada.lovelace@example.com"), "ada.lovelace@example.com"},
			{"userName's case", "PATCH", patch("userName", "Ada.Lovelace@example.com"), "Ada.Lovelace@example.com"},
			{"userName by PUT", "PUT", map[string]any{"userName": "countess@example.com", "active": true}, "countess@example.com"},
			{"PUT keeping the userName", "PUT", map[string]any{"userName": "countess@example.com", "title": "Countess"}, ""},
		} {
			e.Call(c.method, ada, tok, c.body).Must(t, 200)
			if c.display == "" {
				e.Call("GET", group, tok, nil, "If-None-Match", tag).Must(t, 304)
				continue
			}
			r := e.Call("GET", group, tok, nil, "If-None-Match", tag).Must(t, 200)
			ms, _ := get(r.Body, "members").([]any)
			if len(ms) != 1 || str(ms[0], "display") != c.display || r.Header.Get("ETag") == tag {
				t.Fatalf("%s (ETag was %s): ETag %s: %s", c.name, tag, r.Header.Get("ETag"), r.Raw)
			}
			tag = r.Header.Get("ETag")
		}
	})
}

// TestSCIMIfMatchNamingNoVersion: an If-Match whose tag names no version of Gatehouse's
// (W/"0", a strong tag of another server, a list of only such tags, "*" beside them) can never match, so the write is refused
// with 412 and changes nothing (RFC 7232 §3.1), as an older version is: on every write of a
// User (PUT, PATCH, the active-only PATCH, DELETE) and of a Group.
func TestSCIMIfMatchNamingNoVersion(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		user := "/scim/v2/Users/" + e.SCIMUser(tok, map[string]any{"userName": "ada@example.com"})
		group := "/scim/v2/Groups/" + str(e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Engineers"}).Must(t, 201).Body, "id")
		patch := func(path string, value any) map[string]any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "path": path, "value": value}}}
		}
		writes := []struct {
			name, method, path string
			body               any
		}{
			{"user PUT", "PUT", user, map[string]any{"userName": "ada@example.com", "title": "Changed"}},
			{"user PATCH", "PATCH", user, patch("title", "Changed")},
			{"user PATCH active", "PATCH", user, patch("active", false)},
			{"user DELETE", "DELETE", user, nil},
			{"group PUT", "PUT", group, map[string]any{"displayName": "Changed"}},
			{"group PATCH", "PATCH", group, patch("displayName", "Changed")},
			{"group DELETE", "DELETE", group, nil},
		}
		for _, w := range writes {
			// "*" means any version only alone (RFC 7232 §3.1: "*" / 1#entity-tag); beside tags,
			// or followed by more, it is not the "*" that lifts the precondition.
			for _, tag := range []string{`W/"0"`, `"abc"`, `W/"1x"`, `W/"7", W/"8"`, `W/"1`, `W/"7", *`, `*, W/"7"`, `*W/"7"`, `*abc`} {
				r := e.Call(w.method, w.path, tok, w.body, "If-Match", tag)
				if r.Status != 412 || str(r.Body, "status") != "412" {
					t.Errorf("%s with If-Match %s: %d %s", w.name, tag, r.Status, r.Raw)
				}
			}
		}
		for _, path := range []string{user, group} {
			r := e.Call("GET", path, tok, nil).Must(t, 200)
			if r.Header.Get("ETag") != `W/"1"` || r.Body["title"] != nil || str(r.Body, "displayName") == "Changed" {
				t.Fatalf("a refused write changed %s: %s", path, r.Raw)
			}
		}
	})
}

// TestSCIMIfMatchListOfTags: an If-Match listing several tags passes when any of them names
// the stored version (RFC 7232 §3.1), whatever else the list holds (another version, another
// server's tag with a comma inside its quotes): on every write of a User (PUT, PATCH, the
// active-only PATCH, DELETE) and of a Group. Before, any list was refused with 412.
func TestSCIMIfMatchListOfTags(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		n := 0
		user := func() string {
			n++
			return "/scim/v2/Users/" + e.SCIMUser(tok, map[string]any{"userName": fmt.Sprintf("u%d@example.com", n)})
		}
		group := func() string {
			n++
			return "/scim/v2/Groups/" + str(e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": fmt.Sprintf("G%d", n)}).Must(t, 201).Body, "id")
		}
		patch := func(path string, value any) map[string]any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "path": path, "value": value}}}
		}
		writes := []struct {
			name, method string
			path         func() string
			body         func(path string) any
			status       int
		}{
			{"user PUT", "PUT", user, func(p string) any { return map[string]any{"userName": "put-" + p[15:] + "@example.com"} }, 200},
			{"user PATCH", "PATCH", user, func(string) any { return patch("title", "Changed") }, 200},
			{"user PATCH active", "PATCH", user, func(string) any { return patch("active", false) }, 200},
			{"user DELETE", "DELETE", user, func(string) any { return nil }, 204},
			{"group PUT", "PUT", group, func(p string) any { return map[string]any{"displayName": "put-" + p} }, 200},
			{"group PATCH", "PATCH", group, func(p string) any { return patch("displayName", "patch-"+p) }, 200},
			{"group DELETE", "DELETE", group, func(string) any { return nil }, 204},
		}
		for _, w := range writes {
			for _, tag := range []string{`W/"7", W/"1"`, `"a,b", W/"1"`, `W/"1",W/"9"`, `*`, ` * `} {
				p := w.path()
				if r := e.Call(w.method, p, tok, w.body(p), "If-Match", tag); r.Status != w.status {
					t.Errorf("%s with If-Match %s: %d %s", w.name, tag, r.Status, r.Raw)
				}
			}
		}
	})
}

// TestSCIMUserETagAfterGroupsChanged: a User's representation lists its groups (groups[], each
// with the group's displayName), so every write that changes what that list shows moves the
// user's version and lastModified: being added to a group (a group's POST with members, a
// PATCH add, a PUT, a PATCH replace), being removed from one (PATCH remove, by value filter,
// replace, PUT), a group of the user's renamed (PATCH or PUT), and a group of the user's
// deleted. If-None-Match with the old ETag then gets the new groups and a new ETag, and an
// If-Match of the old version fails (412). A user whose groups read the same keeps its
// version: a member a PUT keeps, a group's externalId, another group's changes.
func TestSCIMUserETagAfterGroupsChanged(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		ada := "/scim/v2/Users/" + e.SCIMUser(tok, map[string]any{"userName": "ada@example.com"})
		bob := "/scim/v2/Users/" + e.SCIMUser(tok, map[string]any{"userName": "bob@example.com"})
		member := func(user string) map[string]any { return map[string]any{"value": user[15:]} }
		ops := func(ops ...map[string]any) map[string]any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
		}
		op := func(op, path string, value any) map[string]any {
			return map[string]any{"op": op, "path": path, "value": value}
		}
		type state struct {
			tag      string
			modified time.Time
		}
		stateOf := func(r *apiResponse) state {
			m, err := time.Parse(time.RFC3339Nano, str(get(r.Body, "meta"), "lastModified"))
			if err != nil {
				t.Fatalf("lastModified: %v: %s", err, r.Raw)
			}
			return state{r.Header.Get("ETag"), m}
		}
		// groups reads the display of each group the user lists.
		groups := func(r *apiResponse) []string {
			var out []string
			for _, g := range get(r.Body, "groups").([]any) {
				out = append(out, str(g, "display"))
			}
			return out
		}
		other := "/scim/v2/Groups/" + str(e.Call("POST", "/scim/v2/Groups", tok,
			map[string]any{"displayName": "Others", "members": []any{member(bob)}}).Must(t, 201).Body, "id")
		var group string
		for _, c := range []struct {
			name         string
			write        func() *apiResponse
			groups       string // ada's groups' displays after the write, joined with ","
			adaUnchanged bool   // the write leaves ada's groups as they read
		}{
			{"group POST with the user", func() *apiResponse {
				r := e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Engineers", "members": []any{member(ada)}})
				group = "/scim/v2/Groups/" + str(r.Body, "id")
				return r
			}, "Engineers", false},
			{"PATCH remove by value filter", func() *apiResponse {
				return e.Call("PATCH", group, tok, ops(op("remove", `members[value eq "`+ada[15:]+`"]`, nil)))
			}, "", false},
			{"PATCH add", func() *apiResponse {
				return e.Call("PATCH", group, tok, ops(op("add", "members", []any{member(ada)})))
			}, "Engineers", false},
			{"PATCH add of a member", func() *apiResponse {
				return e.Call("PATCH", group, tok, ops(op("add", "members", []any{member(ada)})))
			}, "Engineers", true},
			{"PATCH remove", func() *apiResponse {
				return e.Call("PATCH", group, tok, ops(op("remove", "members", []any{member(ada)})))
			}, "", false},
			{"PATCH replace adding", func() *apiResponse {
				return e.Call("PATCH", group, tok, ops(op("replace", "members", []any{member(ada), member(bob)})))
			}, "Engineers", false},
			{"PATCH externalId", func() *apiResponse {
				return e.Call("PATCH", group, tok, ops(op("replace", "externalId", "eng-1")))
			}, "Engineers", true},
			{"PATCH replace removing", func() *apiResponse {
				return e.Call("PATCH", group, tok, ops(op("replace", "members", []any{member(bob)})))
			}, "", false},
			{"PUT adding", func() *apiResponse {
				return e.Call("PUT", group, tok, map[string]any{"displayName": "Engineers", "members": []any{member(ada)}})
			}, "Engineers", false},
			{"PUT keeping the member", func() *apiResponse {
				return e.Call("PUT", group, tok, map[string]any{"displayName": "Engineers", "members": []any{member(ada), member(bob)}})
			}, "Engineers", true},
			{"PATCH displayName", func() *apiResponse {
				return e.Call("PATCH", group, tok, ops(op("replace", "displayName", "Engineering")))
			}, "Engineering", false},
			{"PUT displayName", func() *apiResponse {
				return e.Call("PUT", group, tok, map[string]any{"displayName": "R&D", "members": []any{member(ada)}})
			}, "R&D", false},
			{"another group's changes", func() *apiResponse {
				return e.Call("PATCH", other, tok, ops(op("replace", "displayName", "Everyone else"), op("remove", "members", nil)))
			}, "R&D", true},
			{"PUT removing", func() *apiResponse {
				return e.Call("PUT", group, tok, map[string]any{"displayName": "R&D", "members": []any{member(bob)}})
			}, "", false},
			{"PATCH add back", func() *apiResponse {
				return e.Call("PATCH", group, tok, ops(op("add", "members", []any{member(ada)})))
			}, "R&D", false},
			{"group DELETE", func() *apiResponse { return e.Call("DELETE", group, tok, nil) }, "", false},
		} {
			was := stateOf(e.Call("GET", ada, tok, nil).Must(t, 200))
			time.Sleep(2 * time.Millisecond) // lastModified has to move visibly
			if r := c.write(); r.Status >= 300 {
				t.Fatalf("%s: %d %s", c.name, r.Status, r.Raw)
			}
			if c.adaUnchanged {
				e.Call("GET", ada, tok, nil, "If-None-Match", was.tag).Must(t, 304)
				continue
			}
			r := e.Call("GET", ada, tok, nil, "If-None-Match", was.tag)
			if r.Status != 200 {
				t.Fatalf("%s: If-None-Match with the ETag from before (%s): %d, want 200", c.name, was.tag, r.Status)
			}
			now := stateOf(r)
			if strings.Join(groups(r), ",") != c.groups || now.tag == was.tag || str(get(r.Body, "meta"), "version") != now.tag ||
				!now.modified.After(was.modified) {
				t.Fatalf("%s: was %+v, now %+v: %s", c.name, was, now, r.Raw)
			}
			// The old version is stale for a write too.
			e.Call("PATCH", ada, tok, ops(op("replace", "title", c.name)), "If-Match", was.tag).Must(t, 412)
		}
	})
}
