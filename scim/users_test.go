package scim_test

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"gatehouse/app/apptest"
	"gatehouse/store/storetest"
)

// scimFilter lists users matching a filter and returns their userNames, sorted.
func (e *testEnv) scimFilter(tok, filter string) []string {
	e.T.Helper()
	r := e.Call("GET", "/scim/v2/Users?count=1000&filter="+url.QueryEscape(filter), tok, nil)
	if r.Status != 200 {
		e.T.Fatalf("filter %q: %d %s", filter, r.Status, r.Raw)
	}
	var out []string
	for _, u := range get(r.Body, "Resources").([]any) {
		out = append(out, str(u, "userName"))
	}
	sort.Strings(out)
	if int(get(r.Body, "totalResults").(float64)) != len(out) {
		e.T.Fatalf("filter %q: totalResults %v for %d resources", filter, get(r.Body, "totalResults"), len(out))
	}
	return out
}

func TestSCIMUsersCRUD(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		r := e.Call("POST", "/scim/v2/Users", tok, map[string]any{
			"schemas":      []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
			"userName":     "Barbara.Jensen@example.com",
			"externalId":   "00u1abc",
			"name":         map[string]any{"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen"},
			"emails":       []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}},
			"phoneNumbers": []any{map[string]any{"value": "555-555-8377", "type": "work"}},
			"password":     "t1meMa$heen",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "701984", "department": "Tour Operations",
				"manager": map[string]any{"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}},
		}).Must(t, 201)
		id := str(r.Body, "id")
		if r.Header.Get("Content-Type") != "application/scim+json" || r.Header.Get("Location") != e.URL+"/scim/v2/Users/"+id ||
			r.Header.Get("ETag") != `W/"1"` || str(r.Body, "meta", "version") != `W/"1"` || str(r.Body, "meta", "location") != r.Header.Get("Location") {
			t.Fatalf("create headers/meta: %v %s", r.Header, r.Raw)
		}
		if strings.Contains(r.Raw, "t1meMa") || get(r.Body, "active") != true || str(r.Body, "phoneNumbers", 0, "value") != "555-555-8377" ||
			str(r.Body, "name", "formatted") != "Ms. Barbara J Jensen" ||
			str(r.Body, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "manager", "value") != "26118915-6090-4610-87e4-49d8ca9f808d" ||
			str(r.Body, "meta", "created") == "" || str(r.Body, "meta", "lastModified") == "" {
			t.Fatalf("create body: %s", r.Raw)
		}
		// The same person in GraphQL.
		d := e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { email firstName lastName externalId active userName } }`, map[string]any{"u": id})
		if str(d, "userAccount", "email") != "bjensen@example.com" || str(d, "userAccount", "firstName") != "Barbara" || str(d, "userAccount", "externalId") != "00u1abc" {
			t.Fatalf("graphql view: %v", d)
		}

		// Case-different duplicate userName → 409 uniqueness; nothing created.
		r = e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "barbara.JENSEN@example.com"}).Must(t, 409)
		if str(r.Body, "scimType") != "uniqueness" || str(r.Body, "status") != "409" {
			t.Fatalf("dup: %s", r.Raw)
		}
		// Two users cannot share an email: the second is refused, naming the email.
		r = e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "other", "emails": []any{map[string]any{"value": "BJensen@example.com"}}}).Must(t, 409)
		if !strings.Contains(str(r.Body, "detail"), "email") {
			t.Fatalf("shared email: %s", r.Raw)
		}
		for name, body := range map[string]string{
			"no userName": `{"name":{"givenName":"x"}}`,
			"bad email":   `{"userName":"x","emails":[{"value":"not an email"}]}`,
			"bad active":  `{"userName":"x","active":"maybe"}`,
			"bad JSON":    `{"userName":`,
			"wrong type":  `{"userName":["x"]}`,
			"trailing":    `{"userName":"x"} {}`,
		} {
			r := e.Call("POST", "/scim/v2/Users", tok, body)
			if r.Status != 400 || str(r.Body, "scimType") == "" {
				t.Errorf("%s: %d %s", name, r.Status, r.Raw)
			}
		}

		// GET, If-Match, PUT.
		r = e.Call("GET", "/scim/v2/Users/"+id, tok, nil).Must(t, 200)
		if r.Header.Get("ETag") != `W/"1"` {
			t.Fatalf("etag %q", r.Header.Get("ETag"))
		}
		put := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "barbara.jensen@example.com",
			"name": map[string]any{"givenName": "Babs"}, "active": false, "emails": []any{map[string]any{"value": "babs@example.com", "primary": true}}}
		e.Call("PUT", "/scim/v2/Users/"+id, tok, put, "If-Match", `W/"7"`).Must(t, 412)
		r = e.Call("PUT", "/scim/v2/Users/"+id, tok, put, "If-Match", `W/"1"`).Must(t, 200)
		if r.Header.Get("ETag") != `W/"2"` || get(r.Body, "active") != false || get(r.Body, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User") != nil ||
			str(r.Body, "name", "givenName") != "Babs" || get(r.Body, "name", "familyName") != nil || get(r.Body, "phoneNumbers") != nil {
			t.Fatalf("put: %s", r.Raw)
		}
		e.Call("PATCH", "/scim/v2/Users/"+id, tok, `{"Operations":[{"op":"replace","path":"title","value":"x"}]}`, "If-Match", `W/"1"`).Must(t, 412)
		// Deactivated users stay readable and findable.
		if got := e.scimFilter(tok, `userName eq "BARBARA.jensen@example.com"`); len(got) != 1 {
			t.Fatalf("deactivated user not found: %v", got)
		}
		e.Call("GET", "/scim/v2/Users/0190c7e5-0000-7000-8000-000000000000", tok, nil).Must(t, 404)
		e.Call("GET", "/scim/v2/Users/not-a-uuid", tok, nil).Must(t, 404)
		e.Call("PUT", "/scim/v2/Users/0190c7e5-0000-7000-8000-000000000000", tok, put).Must(t, 404)

		// DELETE: 204, then 404; the account is gone from GraphQL too.
		e.Call("DELETE", "/scim/v2/Users/"+id, tok, nil, "If-Match", `W/"1"`).Must(t, 412)
		e.Call("DELETE", "/scim/v2/Users/"+id, tok, nil).Must(t, 204)
		e.Call("GET", "/scim/v2/Users/"+id, tok, nil).Must(t, 404)
		e.Call("DELETE", "/scim/v2/Users/"+id, tok, nil).Must(t, 404)
		if d := e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { email } }`, map[string]any{"u": id}); get(d, "userAccount") != nil {
			t.Fatalf("deleted user still in GraphQL: %v", d)
		}

		// Activity: one row per change, one per failure. The failures above, by HTTP status:
		// 409: duplicate userName, shared email; 400: the six invalid bodies; 412: the stale
		// PUT, PATCH and DELETE; 404: GET of an unknown id and of "not-a-uuid", PUT of an
		// unknown id, GET and DELETE after the delete.
		r = e.Call("GET", "/api/v1/scim/activities?pageSize=100", admin, nil).Must(t, 200)
		ok, failed := 0, map[float64]int{}
		for _, a := range get(r.Body, "activities").([]any) {
			if str(a, "status") == "success" {
				ok++
				continue
			}
			failed[get(a, "details", "httpStatus").(float64)]++
			if str(a, "errorMessage") == "" {
				t.Errorf("failure without message: %v", a)
			}
		}
		if want := map[float64]int{409: 2, 400: 6, 412: 3, 404: 5}; ok != 3 || !maps.Equal(failed, want) { // create, put, delete
			t.Fatalf("activities: %d ok, failures by status %v, want 3 ok and %v: %s", ok, failed, want, r.Raw)
		}
		if get(r.Body, "total") != 19.0 {
			t.Fatalf("activities total: %v", get(r.Body, "total"))
		}
		r = e.Call("GET", "/api/v1/scim/activities?operation=delete&resourceType=user&status=success", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 1.0 || str(r.Body, "activities", 0, "resourceId") != id {
			t.Fatalf("delete activity: %s", r.Raw)
		}
		r = e.Call("GET", "/api/v1/scim/activities?startDate=2000-01-01&endDate=2000-01-02", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 0.0 {
			t.Fatalf("date range: %s", r.Raw)
		}
		e.Call("GET", "/api/v1/scim/activities?startDate=yesterday", admin, nil).Must(t, 400)
		e.Call("GET", "/api/v1/scim/activities?operation=explode", admin, nil).Must(t, 400)
		r = e.Call("GET", "/api/v1/scim/statistics", admin, nil).Must(t, 200)
		if get(r.Body, "usersAdded24h") != 1.0 || get(r.Body, "usersRemoved24h") != 1.0 || get(r.Body, "totalUsers") != 0.0 || get(r.Body, "errorCount24h") != 16.0 {
			t.Fatalf("statistics: %s", r.Raw)
		}
	})
}

func TestSCIMFilters(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		mk := func(userName, given, email, ext string, active bool, title string) {
			b := map[string]any{"userName": userName, "active": active, "name": map[string]any{"givenName": given, "familyName": "Test"}}
			if email != "" {
				b["emails"] = []any{map[string]any{"value": email, "type": "work", "primary": true}}
			}
			if ext != "" {
				b["externalId"] = ext
			}
			if title != "" {
				b["title"] = title
			}
			e.SCIMUser(tok, b)
		}
		mk("alice", "Alice", "alice@example.com", "ext-A", true, "Engineer")
		mk("bob", "Bob", "bob@corp.example", "ext-B", false, "")
		mk("carol", "Carol", "", "", true, "Engineering Manager")
		mk("Dave_100%", "Dave", "dave@example.com", "ext-d", true, "")
		// A person created through GraphQL (e.g. bound ahead of time) is found by the IdP.
		e.CreateUser(admin, "erin@example.com")

		cases := []struct{ filter, want string }{
			{`userName eq "ALICE"`, "alice"},
			{`USERNAME EQ "alice"`, "alice"},
			{`userName ne "alice"`, "Dave_100%,bob,carol,erin@example.com"},
			{`userName co "AR"`, "carol"},
			{`userName sw "b"`, "bob"},
			{`userName ew "OL"`, "carol"},
			{`userName co "100%"`, "Dave_100%"},
			{`userName co "_"`, "Dave_100%"},
			{`userName gt "carol"`, "Dave_100%,erin@example.com"},
			{`userName ge "carol"`, "Dave_100%,carol,erin@example.com"},
			{`userName lt "bob"`, "alice"},
			{`userName le "bob"`, "alice,bob"},
			{`title pr`, "alice,carol"},
			{`externalId pr`, "Dave_100%,alice,bob"},
			{`externalId eq "ext-A"`, "alice"},
			{`externalId eq "EXT-A"`, ""},
			{`externalId eq "5f2b2c94-9cd4-4ee5-a1a6-3b1b0a0b1e71"`, ""},
			{`emails eq "BOB@corp.example"`, "bob"},
			{`emails.value sw "alice@"`, "alice"},
			{`emails[value ew "example.com"]`, "Dave_100%,alice,erin@example.com"},
			{`emails[type eq "work"]`, "Dave_100%,alice,bob,erin@example.com"}, // erin's email, set outside SCIM, shows as "work"
			{`emails[type eq "work"].value eq "erin@example.com"`, "erin@example.com"},
			{`emails[type eq "WORK" and value co "corp"]`, "bob"},
			{`emails[primary eq true]`, "Dave_100%,alice,bob,erin@example.com"},
			{`emails.type eq "home"`, ""},
			{`userName eq "erin@example.com"`, "erin@example.com"},
			{`active eq false`, "bob"},
			{`active ne false`, "Dave_100%,alice,carol,erin@example.com"},
			{`name.givenName eq "carol"`, "carol"},
			{`title co "engineer"`, "alice,carol"},
			{`userName eq "alice" or userName eq "bob"`, "alice,bob"},
			{`title pr and active eq true`, "alice,carol"},
			{`not (userName eq "alice")`, "Dave_100%,bob,carol,erin@example.com"},
			{`(userName eq "alice" or userName eq "bob") and active eq true`, "alice"},
			{`userName eq "alice" or userName eq "bob" and active eq true`, "alice"},
			{`meta.created gt "2000-01-01T00:00:00Z"`, "Dave_100%,alice,bob,carol,erin@example.com"},
			{`meta.lastModified lt "2000-01-01T00:00:00Z"`, ""},
			{`id eq "not-an-id"`, ""},
			{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob"`, "bob"},
			{`userName eq "a\"b"`, ""},
		}
		for _, c := range cases {
			got := strings.Join(e.scimFilter(tok, c.filter), ",")
			if got != c.want {
				t.Errorf("filter %s: got %q, want %q", c.filter, got, c.want)
			}
		}
		for _, bad := range []string{`userName`, `userName eq`, `userName xx "a"`, `password eq "x"`,
			`active eq "yes"`, `meta.created gt "yesterday"`, `(userName eq "a"`, `urn:example:foo:bar eq "x"`, `userName eq "a" and`} {
			r := e.Call("GET", "/scim/v2/Users?filter="+url.QueryEscape(bad), tok, nil)
			if r.Status != 400 || str(r.Body, "scimType") != "invalidFilter" {
				t.Errorf("filter %s: %d %s", bad, r.Status, r.Raw)
			}
			// The detail speaks to the IdP's administrator, not of the parser's internals.
			if d := str(r.Body, "detail"); strings.Contains(d, "func") || strings.Contains(d, "op.") || strings.ContainsRune(d, utf8.RuneError) {
				t.Errorf("filter %s: detail %q", bad, d)
			}
		}
		r := e.Call("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "a" and`), tok, nil).Must(t, 400)
		if want := `the parser gave up at character 16: " and"`; !strings.Contains(str(r.Body, "detail"), want) {
			t.Errorf("detail %q does not say %s", str(r.Body, "detail"), want)
		}

		// Pagination: stable order, itemsPerPage = returned, edges.
		var seen []string
		for start := 1; start <= 5; start += 2 {
			r := e.Call("GET", fmt.Sprintf("/scim/v2/Users?startIndex=%d&count=2", start), tok, nil).Must(t, 200)
			if get(r.Body, "totalResults") != 5.0 || get(r.Body, "startIndex") != float64(start) ||
				get(r.Body, "itemsPerPage") != float64(len(get(r.Body, "Resources").([]any))) {
				t.Fatalf("page %d: %s", start, r.Raw)
			}
			for _, u := range get(r.Body, "Resources").([]any) {
				seen = append(seen, str(u, "id"))
			}
		}
		if len(seen) != 5 || !sort.StringsAreSorted(seen) {
			t.Fatalf("pages not stable: %v", seen)
		}
		for q, want := range map[string][3]float64{ // totalResults, itemsPerPage, startIndex
			"count=0":                    {5, 0, 1},
			"startIndex=6":               {5, 0, 6},
			"startIndex=99&count=10":     {5, 0, 99},
			"startIndex=0":               {5, 5, 1},
			"startIndex=-4&count=1":      {5, 1, 1},
			"count=-3":                   {5, 0, 1},
			"count=100000":               {5, 5, 1},
			"filter=userName+eq+%22x%22": {0, 0, 1},
		} {
			r := e.Call("GET", "/scim/v2/Users?"+q, tok, nil).Must(t, 200)
			if get(r.Body, "totalResults") != want[0] || get(r.Body, "itemsPerPage") != want[1] || get(r.Body, "startIndex") != want[2] {
				t.Errorf("%s: %s", q, r.Raw)
			}
			if res, ok := get(r.Body, "Resources").([]any); !ok || float64(len(res)) != want[1] {
				t.Errorf("%s: Resources %s", q, r.Raw)
			}
		}
		e.Call("GET", "/scim/v2/Users?count=ten", tok, nil).Must(t, 400)
		e.Call("GET", "/scim/v2/Users?startIndex=x", tok, nil).Must(t, 400)

		// attributes / excludedAttributes.
		r = e.Call("GET", "/scim/v2/Users?filter=userName+eq+%22alice%22&attributes=userName,name.givenName,emails.value", tok, nil).Must(t, 200)
		u := get(r.Body, "Resources", 0).(map[string]any)
		if u["id"] == nil || u["schemas"] == nil || u["meta"] != nil || u["active"] != nil || str(u, "name", "givenName") != "Alice" ||
			get(u, "name", "familyName") != nil || str(u, "emails", 0, "value") != "alice@example.com" || get(u, "emails", 0, "type") != nil {
			t.Fatalf("attributes: %v", u)
		}
		r = e.Call("GET", "/scim/v2/Users?filter=userName+eq+%22alice%22&excludedAttributes=emails,name.familyName,groups", tok, nil).Must(t, 200)
		u = get(r.Body, "Resources", 0).(map[string]any)
		if u["emails"] != nil || u["groups"] != nil || get(u, "name", "familyName") != nil || str(u, "name", "givenName") != "Alice" || u["meta"] == nil {
			t.Fatalf("excludedAttributes: %v", u)
		}
	})
}

// TestSCIMFilterFoldsEveryLetter: the case-insensitive attributes (name.givenName, title, …)
// compare lower-cased text on both databases alike. SQLite's lower() folds ASCII only, so there
// a person named "ÉMILE" was not even found by name.givenName eq "ÉMILE": the value is
// lower-cased to "émile", the column stayed "ÉMILE". So does PostgreSQL's on a database created
// with LC_CTYPE C, the third case here.
func TestSCIMFilterFoldsEveryLetter(t *testing.T) {
	check := func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		id := e.SCIMUser(tok, map[string]any{"userName": "emile@example.com", "title": "Ingénieur Général",
			"name": map[string]any{"givenName": "ÉMILE", "familyName": "Zola"}})
		e.SCIMUser(tok, map[string]any{"userName": "emma@example.com", "name": map[string]any{"givenName": "Emma", "familyName": "Zola"}})
		for _, c := range []struct {
			filter string
			match  bool
		}{
			{`name.givenName eq "ÉMILE"`, true}, {`name.givenName eq "émile"`, true}, {`name.givenName sw "é"`, true},
			{`name.givenName ew "ILE"`, true}, {`title co "GÉNÉRAL"`, true}, {`title eq "ingénieur général"`, true},
			{`name.givenName ne "Émile" and name.familyName eq "Zola"`, false},
		} {
			r := e.Call("GET", "/scim/v2/Users?filter="+urlq(c.filter), tok, nil).Must(t, 200)
			found := false
			for _, u := range get(r.Body, "Resources").([]any) {
				found = found || str(u, "id") == id
			}
			if found != c.match {
				t.Errorf("%s: finds ÉMILE %v, want %v: %s", c.filter, found, c.match, r.Raw)
			}
		}
	}
	eachDB(t, check)
	t.Run("postgres, LC_CTYPE C", func(t *testing.T) {
		check(t, &testEnv{apptest.New(t, storetest.PostgresURLWith(t, "TEMPLATE template0 LC_CTYPE 'C' LC_COLLATE 'C'"))})
	})
}

// TestSCIMFilterCaseExactSubstrings, on both databases: externalId is case-exact (RFC 7643
// §3.1), so co, sw and ew on it compare case too, as eq does. SQLite's LIKE ignores ASCII case,
// so there "ABC-123" was found by externalId co "abc" where PostgreSQL found nothing.
func TestSCIMFilterCaseExactSubstrings(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		id := e.SCIMUser(tok, map[string]any{"userName": "ext@example.com", "externalId": "ABC-123_x%"})
		for filter, match := range map[string]bool{
			`externalId co "C-1"`: true, `externalId co "c-1"`: false, `externalId sw "ABC"`: true, `externalId sw "abc"`: false,
			`externalId ew "_x%"`: true, `externalId ew "_X%"`: false, `externalId co "_"`: true, `externalId co "%"`: true,
			`externalId co "ABC-123_x%"`: true, `externalId co ""`: true, `externalId ew "23"`: false, `externalId sw "BC"`: false,
		} {
			r := e.Call("GET", "/scim/v2/Users?filter="+urlq(filter), tok, nil).Must(t, 200)
			found := false
			for _, u := range get(r.Body, "Resources").([]any) {
				found = found || str(u, "id") == id
			}
			if found != match {
				t.Errorf("%s: found %v, want %v", filter, found, match)
			}
		}
	})
}

func TestSCIMUserPatch(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		id := e.SCIMUser(tok, map[string]any{"userName": "pat@example.com", "name": map[string]any{"givenName": "Pat", "familyName": "Doe"}})
		patch := func(ops string, status int) map[string]any {
			t.Helper()
			return e.Call("PATCH", "/scim/v2/Users/"+id, tok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`).Must(t, status).Body
		}
		ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

		// Entra: capitalised ops, booleans as strings, filtered path on an element that does not exist yet.
		u := patch(`[{"op":"Replace","path":"active","value":"False"},
			{"op":"Add","path":"emails[type eq \"work\"].value","value":"pat.work@example.com"},
			{"op":"Replace","path":"name.familyName","value":"Smith"},
			{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"0190c7e5-0000-7000-8000-00000000abcd"}]`, 200)
		if u["active"] != false || str(u, "emails", 0, "value") != "pat.work@example.com" || str(u, "emails", 0, "type") != "work" ||
			str(u, "name", "familyName") != "Smith" || str(u, ent, "manager", "value") != "0190c7e5-0000-7000-8000-00000000abcd" {
			t.Fatalf("entra patch: %v", u)
		}
		// Okta: path-less replace with a value object.
		u = patch(`[{"op":"replace","value":{"id":"`+id+`","active":true,"title":"Lead"}}]`, 200)
		if u["active"] != true || u["title"] != "Lead" {
			t.Fatalf("okta patch: %v", u)
		}
		// Path-less with dotted and schema-URN keys; manager as an object; replace an existing filtered element.
		u = patch(`[{"op":"replace","value":{"name.givenName":"Patricia","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"42","manager":{"value":"m-2"}},"displayName":"Pat S"}},
			{"op":"replace","path":"emails[type eq \"work\"].value","value":"pat@corp.example"}]`, 200)
		if str(u, "name", "givenName") != "Patricia" || str(u, ent, "department") != "Sales" || str(u, ent, "employeeNumber") != "42" ||
			str(u, ent, "manager", "value") != "m-2" || u["displayName"] != "Pat S" || len(u["emails"].([]any)) != 1 || str(u, "emails", 0, "value") != "pat@corp.example" {
			t.Fatalf("dotted/urn patch: %v", u)
		}
		// Entra clears the manager with an empty value; add appends to multi-valued attributes; remove with filter.
		u = patch(`[{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":""}},
			{"op":"add","path":"phoneNumbers","value":[{"value":"+1 555 0100","type":"mobile"},{"value":"+1 555 0101","type":"work"}]},
			{"op":"remove","path":"phoneNumbers[type eq \"mobile\"]"},
			{"op":"remove","path":"title"}]`, 200)
		if get(u, ent, "manager") != nil || len(u["phoneNumbers"].([]any)) != 1 || str(u, "phoneNumbers", 0, "type") != "work" || u["title"] != nil {
			t.Fatalf("clear/add/remove: %v", u)
		}
		// The email change reached the account (GraphQL sees it).
		d := e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { email lastName } }`, map[string]any{"u": id})
		if str(d, "userAccount", "email") != "pat@corp.example" || str(d, "userAccount", "lastName") != "Smith" {
			t.Fatalf("graphql after patch: %v", d)
		}
		// Errors, and atomicity: a failing operation leaves everything unchanged.
		before := e.Call("GET", "/scim/v2/Users/"+id, tok, nil).Must(t, 200)
		for name, c := range map[string]struct {
			ops, scimType string
		}{
			"unknown op":       {`[{"op":"merge","path":"title","value":"x"}]`, "invalidSyntax"},
			"bad path":         {`[{"op":"replace","path":"emails[type eq","value":"x"}]`, "invalidPath"},
			"unknown attr":     {`[{"op":"replace","path":"shoeSize","value":"x"}]`, "invalidPath"},
			"remove no path":   {`[{"op":"remove"}]`, "noTarget"},
			"no target":        {`[{"op":"replace","path":"emails[type eq \"home\" or type eq \"other\"].value","value":"x@example.com"}]`, "noTarget"},
			"read-only":        {`[{"op":"replace","path":"id","value":"x"}]`, "mutability"},
			"read-only group":  {`[{"op":"add","path":"groups","value":[{"value":"x"}]}]`, "mutability"},
			"atomic":           {`[{"op":"replace","path":"title","value":"Changed"},{"op":"replace","path":"active","value":"perhaps"}]`, "invalidValue"},
			"no ops":           {`[]`, "invalidSyntax"},
			"filter on single": {`[{"op":"replace","path":"title[value eq \"x\"]","value":"x"}]`, "invalidPath"},
			"remove userName":  {`[{"op":"remove","path":"userName"}]`, "invalidValue"},
		} {
			r := e.Call("PATCH", "/scim/v2/Users/"+id, tok, `{"Operations":`+c.ops+`}`)
			if r.Status != 400 || str(r.Body, "scimType") != c.scimType {
				t.Errorf("%s: %d %s", name, r.Status, r.Raw)
			}
		}
		// The attribute limit is in bytes, and says so: 600 two-byte characters are over it.
		r := e.Call("PATCH", "/scim/v2/Users/"+id, tok, `{"Operations":[{"op":"replace","path":"title","value":"`+strings.Repeat("é", 600)+`"}]}`)
		if r.Status != 400 || str(r.Body, "detail") != "attribute values must be at most 1,024 bytes (UTF-8)" {
			t.Errorf("a 1,200-byte title: %d %s", r.Status, r.Raw)
		}
		after := e.Call("GET", "/scim/v2/Users/"+id, tok, nil).Must(t, 200)
		if after.Raw != before.Raw {
			t.Fatalf("a failed PATCH changed the user:\n%s\n%s", before.Raw, after.Raw)
		}
		// userName changes keep uniqueness.
		e.SCIMUser(tok, map[string]any{"userName": "taken"})
		r = e.Call("PATCH", "/scim/v2/Users/"+id, tok, `{"Operations":[{"op":"replace","path":"userName","value":"TAKEN"}]}`).Must(t, 409)
		if str(r.Body, "scimType") != "uniqueness" {
			t.Fatalf("rename: %s", r.Raw)
		}
	})
}

// TestSCIMPatchNullElement: replacing the elements a value filter selects with null unassigns
// them (RFC 7644 §3.5.2: null and unassigned are the same state), as a remove does. It used to
// store a null element, served as "emails":[null], after which a PATCH adding an email failed
// with a bare 500 (not a SCIM error) on every try; a null element stored by then is passed over.
func TestSCIMPatchNullElement(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		id := e.SCIMUser(tok, map[string]any{"userName": "nell@example.com",
			"emails":       []any{map[string]any{"value": "nell@example.com", "type": "work"}},
			"phoneNumbers": []any{map[string]any{"value": "+1 555 0100", "type": "work"}, map[string]any{"value": "+1 555 0101", "type": "mobile"}}})
		patch := func(ops string) *apiResponse {
			t.Helper()
			return e.Call("PATCH", "/scim/v2/Users/"+id, tok, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":`+ops+`}`)
		}
		r := patch(`[{"op":"replace","path":"emails[type eq \"work\"]","value":null},
			{"op":"replace","path":"phoneNumbers[type eq \"mobile\"]","value":null}]`).Must(t, 200)
		if get(r.Body, "emails") != nil || len(get(r.Body, "phoneNumbers").([]any)) != 1 || str(r.Body, "phoneNumbers", 0, "type") != "work" {
			t.Fatalf("replace with null: %s", r.Raw)
		}
		r = patch(`[{"op":"add","path":"emails","value":[{"value":"nell@corp.example"}]}]`).Must(t, 200)
		if str(r.Body, "emails", 0, "value") != "nell@corp.example" {
			t.Fatalf("add after the replace: %s", r.Raw)
		}
		// A null element stored before: the user is still read and changed.
		var ids []string
		if err := e.App.Store().RawScan(t.Context(), &ids, `UPDATE user_accounts SET scim_data = ? WHERE id = ? RETURNING id`,
			`{"emails":[null,{"value":"nell@corp.example"}]}`, id); err != nil || len(ids) != 1 {
			t.Fatalf("store a null element: %v %v", err, ids)
		}
		e.Call("GET", "/scim/v2/Users/"+id, tok, nil).Must(t, 200)
		r = patch(`[{"op":"add","path":"emails","value":[{"value":"nell@home.example","type":"home"}]}]`)
		if r.Status != 200 || str(r.Body, "emails", 1, "value") != "nell@corp.example" {
			t.Fatalf("a PATCH of a user with a stored null element: %d %s", r.Status, r.Raw)
		}
	})
}

// TestSCIMNumbersForStrings: an IdP that maps a numeric profile attribute to a string one
// (an employee number, a phone number) sends a JSON number; the string kept is the number as
// written, never Go's exponent form ("1.234567e+06"), on create and PATCH, and filters find it.
func TestSCIMNumbersForStrings(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		ent := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
		r := e.Call("POST", "/scim/v2/Users", tok, `{"userName":"num@example.com","phoneNumbers":[{"value":15550100,"type":"work"}],
			"`+ent+`":{"employeeNumber":1234567,"costCenter":12.5}}`).Must(t, 201)
		id := str(r.Body, "id")
		if str(r.Body, ent, "employeeNumber") != "1234567" || str(r.Body, ent, "costCenter") != "12.5" || str(r.Body, "phoneNumbers", 0, "value") != "15550100" {
			t.Fatalf("create: %s", r.Raw)
		}
		r = e.Call("PATCH", "/scim/v2/Users/"+id, tok, `{"Operations":[{"op":"replace","path":"`+ent+`:employeeNumber","value":98765432}]}`).Must(t, 200)
		if str(r.Body, ent, "employeeNumber") != "98765432" {
			t.Fatalf("patch: %s", r.Raw)
		}
		if got := e.scimFilter(tok, ent+`:employeeNumber eq "98765432"`); len(got) != 1 {
			t.Fatalf("filter by the employee number: %v", got)
		}
	})
}

func TestSCIMScopesAndIsolation(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		full, _ := e.SCIMToken(admin, allScopes("full"))
		readOnly, _ := e.SCIMToken(admin, map[string]any{"name": "ro", "scopes": []string{"users:read"}})
		usersOnly, _ := e.SCIMToken(admin, map[string]any{"name": "users"})
		id := e.SCIMUser(full, map[string]any{"userName": "u1"})

		e.Call("GET", "/scim/v2/Users/"+id, readOnly, nil).Must(t, 200)
		e.Call("POST", "/scim/v2/Users", readOnly, map[string]any{"userName": "u2"}).MustLackScope(t, "users:write")
		e.Call("PATCH", "/scim/v2/Users/"+id, readOnly, `{"Operations":[{"op":"replace","path":"active","value":false}]}`).MustLackScope(t, "users:write")
		e.Call("DELETE", "/scim/v2/Users/"+id, readOnly, nil).MustLackScope(t, "users:write")
		e.Call("GET", "/scim/v2/Groups", usersOnly, nil).MustLackScope(t, "groups:read")
		e.Call("GET", "/scim/v2/Groups?filter="+urlq(`displayName eq`), usersOnly, nil).MustLackScope(t, "groups:read") // the scope before the filter
		e.Call("POST", "/scim/v2/Groups", usersOnly, map[string]any{"displayName": "g"}).MustLackScope(t, "groups:write")
		e.Call("GET", "/scim/v2/Users", "", nil).Must(t, 401)
		e.Call("GET", "/scim/v2/Users", "scim_unknown_token_value", nil).Must(t, 401)
		e.Call("GET", "/scim/v2/Users", e.AdminToken(), nil).Must(t, 401) // an OAuth access token is not a SCIM token
		e.Call("GET", "/scim/v2/ServiceProviderConfig", "", nil).Must(t, 401)

		// Another workspace sees nothing of this one, and cannot change it.
		otherAdmin := e.OtherWorkspaceAdmin(admin, "Other")
		other, _ := e.SCIMToken(otherAdmin, allScopes("other"))
		e.Call("GET", "/scim/v2/Users/"+id, other, nil).Must(t, 404)
		e.Call("PATCH", "/scim/v2/Users/"+id, other, `{"Operations":[{"op":"replace","path":"active","value":false}]}`).Must(t, 404)
		e.Call("DELETE", "/scim/v2/Users/"+id, other, nil).Must(t, 404)
		if got := e.scimFilter(other, `userName eq "u1"`); len(got) != 0 {
			t.Fatalf("cross-workspace filter: %v", got)
		}
		// The same userName is free in the other workspace.
		e.SCIMUser(other, map[string]any{"userName": "U1"})
		if r := e.Call("GET", "/scim/v2/Users/"+id, full, nil).Must(t, 200); r.Body["active"] != true {
			t.Fatalf("changed by another workspace: %s", r.Raw)
		}
		// Its activity and statistics are its own.
		r := e.Call("GET", "/api/v1/scim/statistics", otherAdmin, nil).Must(t, 200)
		if get(r.Body, "totalUsers") != 1.0 || get(r.Body, "activeTokens") != 1.0 {
			t.Fatalf("other statistics: %s", r.Raw)
		}
		// The six 403s are recorded as failures of the token's workspace, the other workspace's 404s are not.
		r = e.Call("GET", "/api/v1/scim/activities?status=error", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 6.0 {
			t.Fatalf("scope failures not recorded: %s", r.Raw)
		}
	})
}

// TestSCIMGroupScopes: groups:read reads groups and nothing else; groups:write does not read.
func TestSCIMGroupScopes(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		full, _ := e.SCIMToken(admin, allScopes("full"))
		reader, _ := e.SCIMToken(admin, map[string]any{"name": "groups reader", "scopes": []string{"groups:read"}})
		writer, _ := e.SCIMToken(admin, map[string]any{"name": "groups writer", "scopes": []string{"groups:write"}})
		uid := e.SCIMUser(full, map[string]any{"userName": "member"})
		gid := str(e.Call("POST", "/scim/v2/Groups", full, map[string]any{"displayName": "Staff",
			"members": []any{map[string]any{"value": uid}}}).Must(t, 201).Body, "id")
		groups := func() string { // every group, with members, as the full token sees them
			t.Helper()
			return e.Call("GET", "/scim/v2/Groups", full, nil).Must(t, 200).Raw
		}
		before := groups()

		if r := e.Call("GET", "/scim/v2/Groups", reader, nil).Must(t, 200); get(r.Body, "totalResults") != 1.0 {
			t.Fatalf("groups:read list: %s", r.Raw)
		}
		if r := e.Call("GET", "/scim/v2/Groups/"+gid, reader, nil).Must(t, 200); str(r.Body, "members", 0, "value") != uid {
			t.Fatalf("groups:read get: %s", r.Raw)
		}
		for _, w := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/scim/v2/Groups", map[string]any{"displayName": "New"}},
			{"PATCH", "/scim/v2/Groups/" + gid, `{"Operations":[{"op":"remove","path":"members"}]}`},
			{"PUT", "/scim/v2/Groups/" + gid, map[string]any{"displayName": "Renamed"}},
			{"DELETE", "/scim/v2/Groups/" + gid, nil},
		} {
			e.Call(w.method, w.path, reader, w.body).MustLackScope(t, "groups:write")
		}
		e.Call("GET", "/scim/v2/Users", reader, nil).MustLackScope(t, "users:read")
		e.Call("GET", "/scim/v2/Users/"+uid, reader, nil).MustLackScope(t, "users:read")
		if after := groups(); after != before {
			t.Fatalf("refused writes changed the groups:\n%s\n%s", before, after)
		}

		// groups:write alone reads nothing: neither lists nor single groups.
		e.Call("GET", "/scim/v2/Groups", writer, nil).MustLackScope(t, "groups:read")
		e.Call("GET", "/scim/v2/Groups/"+gid, writer, nil).MustLackScope(t, "groups:read")
		e.Call("GET", "/scim/v2/Users", writer, nil).MustLackScope(t, "users:read")
		// Its writes succeed, and their answers carry the members as written: showing them is
		// part of the write, not a read needing groups:read.
		r := e.Call("PATCH", "/scim/v2/Groups/"+gid, writer, `{"Operations":[{"op":"replace","path":"displayName","value":"Team"}]}`).Must(t, 200)
		if str(r.Body, "displayName") != "Team" || r.Body["members"] != nil {
			t.Fatalf("groups:write PATCH: %s", r.Raw)
		}
		r = e.Call("PATCH", "/scim/v2/Groups/"+gid+"?attributes=members", writer, `{"Operations":[{"op":"add","path":"members","value":[{"value":"`+uid+`"}]}]}`).Must(t, 200)
		if str(r.Body, "members", 0, "value") != uid {
			t.Fatalf("groups:write PATCH ?attributes=members: %s", r.Raw)
		}
		r = e.Call("POST", "/scim/v2/Groups", writer, map[string]any{"displayName": "New", "members": []any{map[string]any{"value": uid}}}).Must(t, 201)
		newID := str(r.Body, "id")
		if str(r.Body, "members", 0, "value") != uid || str(r.Body, "members", 0, "display") == "" {
			t.Fatalf("groups:write POST: %s", r.Raw)
		}
		r = e.Call("PUT", "/scim/v2/Groups/"+newID, writer, map[string]any{"displayName": "Newer"}).Must(t, 200)
		if m, ok := r.Body["members"].([]any); !ok || len(m) != 0 {
			t.Fatalf("groups:write PUT: %s", r.Raw)
		}
		e.Call("PUT", "/scim/v2/Groups/"+newID+"?excludedAttributes=members", writer, map[string]any{"displayName": "Newer"}).Must(t, 200)
		// None of them is also logged as a failure: the group errors are the six refusals above.
		r = e.Call("GET", "/api/v1/scim/activities?status=error&resourceType=group", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 6.0 {
			t.Fatalf("group failures logged: %s", r.Raw)
		}
		e.Call("DELETE", "/scim/v2/Groups/"+gid, writer, nil).Must(t, 204)
		r = e.Call("GET", "/scim/v2/Groups", full, nil).Must(t, 200)
		if get(r.Body, "totalResults") != 1.0 || str(r.Body, "Resources", 0, "displayName") != "Newer" || len(get(r.Body, "Resources", 0, "members").([]any)) != 0 {
			t.Fatalf("after groups:write changes: %s", r.Raw)
		}
	})
}

// TestSCIMWorkspaceIsolation: a workspace's SCIM token and admin cannot see or change another
// workspace's groups, SCIM tokens, activity or statistics.
func TestSCIMWorkspaceIsolation(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tokA, tokAID := e.SCIMToken(admin, allScopes("A"))
		userA := e.SCIMUser(tokA, map[string]any{"userName": "a-user"})
		groupA := str(e.Call("POST", "/scim/v2/Groups", tokA, map[string]any{"displayName": "Staff",
			"members": []any{map[string]any{"value": userA}}}).Must(t, 201).Body, "id")
		adminB := e.OtherWorkspaceAdmin(admin, "B")
		tokB, tokBID := e.SCIMToken(adminB, allScopes("B"))
		// Display names are unique per workspace only.
		groupB := str(e.Call("POST", "/scim/v2/Groups", tokB, map[string]any{"displayName": "Staff"}).Must(t, 201).Body, "id")
		stateA := func() string { // A's group and user, as A sees them
			t.Helper()
			return e.Call("GET", "/scim/v2/Groups/"+groupA, tokA, nil).Must(t, 200).Raw + e.Call("GET", "/scim/v2/Users/"+userA, tokA, nil).Must(t, 200).Raw
		}
		before := stateA()

		// B's token: A's group is not found, whatever the method; lists do not show it.
		for _, c := range []struct {
			method string
			body   any
		}{
			{"GET", nil},
			{"PATCH", `{"Operations":[{"op":"remove","path":"members"}]}`},
			{"PUT", map[string]any{"displayName": "Taken over"}},
			{"DELETE", nil},
		} {
			if r := e.Call(c.method, "/scim/v2/Groups/"+groupA, tokB, c.body); r.Status != 404 || str(r.Body, "status") != "404" {
				t.Errorf("%s of another workspace's group: %d %s", c.method, r.Status, r.Raw)
			}
		}
		for f, want := range map[string]string{"": groupB, `displayName eq "Staff"`: groupB,
			`members eq "` + userA + `"`: "", `id eq "` + groupA + `"`: ""} {
			r := e.Call("GET", "/scim/v2/Groups?filter="+urlq(f), tokB, nil).Must(t, 200)
			var ids []string
			for _, g := range get(r.Body, "Resources").([]any) {
				ids = append(ids, str(g, "id"))
			}
			if strings.Join(ids, ",") != want || get(r.Body, "totalResults") != float64(len(ids)) {
				t.Errorf("B lists groups %q: %s", f, r.Raw)
			}
		}
		// B cannot make A's user a member of its group, by POST, PATCH or PUT: 400 invalidValue.
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/scim/v2/Groups", map[string]any{"displayName": "Poachers", "members": []any{map[string]any{"value": userA}}}},
			{"PATCH", "/scim/v2/Groups/" + groupB, `{"Operations":[{"op":"add","path":"members","value":[{"value":"` + userA + `"}]}]}`},
			{"PUT", "/scim/v2/Groups/" + groupB, map[string]any{"displayName": "Staff", "members": []any{map[string]any{"value": userA}}}},
		} {
			if r := e.Call(c.method, c.path, tokB, c.body); r.Status != 400 || str(r.Body, "scimType") != "invalidValue" {
				t.Errorf("%s %s with another workspace's user: %d %s", c.method, c.path, r.Status, r.Raw)
			}
		}
		if r := e.Call("GET", "/scim/v2/Groups", tokB, nil).Must(t, 200); get(r.Body, "totalResults") != 1.0 ||
			len(get(r.Body, "Resources", 0, "members").([]any)) != 0 || str(r.Body, "Resources", 0, "meta", "version") != `W/"1"` {
			t.Fatalf("B's groups after the refused changes: %s", r.Raw)
		}
		if after := stateA(); after != before {
			t.Fatalf("B changed A's group or user:\n%s\n%s", before, after)
		}

		// B's admin: A's SCIM token is not found, through REST and GraphQL, and keeps working.
		e.Call("GET", "/api/v1/scim/tokens/"+tokAID, adminB, nil).Must(t, 404)
		e.Call("POST", "/api/v1/scim/tokens/"+tokAID+"/revoke", adminB, nil).Must(t, 404)
		e.Call("DELETE", "/api/v1/scim/tokens/"+tokAID, adminB, nil).Must(t, 404)
		if r := e.Call("GET", "/api/v1/scim/tokens", adminB, nil).Must(t, 200); get(r.Body, "total") != 1.0 || str(r.Body, "tokens", 0, "id") != tokBID {
			t.Fatalf("B's tokens: %s", r.Raw)
		}
		d := e.MustGQL(adminB, `mutation($id: ID!) { revokeScimToken(input: {id: $id}) { token { id } errors { code } }
			deleteScimToken(input: {id: $id}) { deletedId errors { code } } }`, map[string]any{"id": tokAID})
		if str(d, "revokeScimToken", "errors", 0, "code") != "NOT_FOUND" || str(d, "deleteScimToken", "errors", 0, "code") != "NOT_FOUND" ||
			get(d, "deleteScimToken", "deletedId") != nil {
			t.Fatalf("GraphQL revoke/delete of another workspace's token: %v", d)
		}
		if d := e.MustGQL(adminB, `query($id: ID!) { scimToken(id: $id) { id } }`, map[string]any{"id": tokAID}); get(d, "scimToken") != nil {
			t.Fatalf("GraphQL scimToken of another workspace: %v", d)
		}
		if r := e.Call("GET", "/api/v1/scim/tokens/"+tokAID, admin, nil).Must(t, 200); str(r.Body, "token", "status") != "active" {
			t.Fatalf("A's token after B's attempts: %s", r.Raw)
		}
		e.Call("GET", "/scim/v2/Groups/"+groupA, tokA, nil).Must(t, 200)

		// Activity and statistics: each workspace sees its own rows only. A: its user and group
		// created; B: its group created, 4 refusals (404) and 3 refused members (400).
		rowsByToken := func(admin string) map[string]int {
			t.Helper()
			r := e.Call("GET", "/api/v1/scim/activities?pageSize=100", admin, nil).Must(t, 200)
			out := map[string]int{}
			for _, a := range get(r.Body, "activities").([]any) {
				out[str(a, "tokenId")]++
			}
			return out
		}
		if got, want := rowsByToken(admin), map[string]int{tokAID: 2}; !maps.Equal(got, want) {
			t.Errorf("A's activity rows by token: %v, want %v", got, want)
		}
		if got, want := rowsByToken(adminB), map[string]int{tokBID: 8}; !maps.Equal(got, want) {
			t.Errorf("B's activity rows by token: %v, want %v", got, want)
		}
		stats := func(admin string) string {
			t.Helper()
			r := e.Call("GET", "/api/v1/scim/statistics", admin, nil).Must(t, 200)
			return fmt.Sprint(get(r.Body, "totalUsers"), get(r.Body, "totalGroups"), get(r.Body, "usersAdded24h"),
				get(r.Body, "groupsAdded24h"), get(r.Body, "errorCount24h"), get(r.Body, "activeTokens"))
		}
		// totalUsers totalGroups usersAdded24h groupsAdded24h errorCount24h activeTokens
		if got := stats(admin); got != "1 1 1 1 0 1" {
			t.Errorf("A's statistics: %s", got)
		}
		if got := stats(adminB); got != "0 1 0 1 7 1" {
			t.Errorf("B's statistics: %s", got)
		}
	})
}

func TestSCIMConcurrentCreate(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				// Case differs between requests: uniqueness is case-insensitive.
				name := "Racer@Example.com"
				if i%2 == 1 {
					name = "racer@example.COM"
				}
				r := e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": name})
				mu.Lock()
				counts[r.Status]++
				mu.Unlock()
			}(i)
		}
		wg.Wait()
		if counts[201] != 1 || counts[409] != 99 {
			t.Fatalf("statuses %v, want one 201 and 99 409", counts)
		}
		if got := e.scimFilter(tok, `userName eq "racer@example.com"`); len(got) != 1 {
			t.Fatalf("users: %v", got)
		}
		// One success row (written with the user) and one error row per refused request.
		r := e.Call("GET", "/api/v1/scim/statistics", admin, nil).Must(t, 200)
		if get(r.Body, "usersAdded24h") != 1.0 || get(r.Body, "errorCount24h") != 99.0 || get(r.Body, "totalUsers") != 1.0 {
			t.Fatalf("statistics after the race: %s", r.Raw)
		}
	})
}

// Concurrent PATCHes of one user: each is saved optimistically and retried (finally under the
// row lock) when another got there first, so none is lost, none fails, and each leaves exactly
// one activity row.
func TestSCIMConcurrentPatch(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		r := e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "busy@example.com",
			"emails": []any{map[string]any{"value": "busy@example.com", "primary": true}}}).Must(t, 201)
		id := str(r.Body, "id")
		const n = 20
		var mu sync.Mutex
		counts := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				// Each request adds its own phone number: a lost update would lose one.
				r := e.Call("PATCH", "/scim/v2/Users/"+id, tok, fmt.Sprintf(
					`{"Operations":[{"op":"add","path":"phoneNumbers","value":[{"value":"+1555000%04d","type":"work"}]}]}`, i))
				mu.Lock()
				counts[r.Status]++
				mu.Unlock()
			}(i)
		}
		wg.Wait()
		if counts[200] != n {
			t.Fatalf("statuses %v, want %d 200s", counts, n)
		}
		r = e.Call("GET", "/scim/v2/Users/"+id, tok, nil).Must(t, 200)
		if phones, _ := get(r.Body, "phoneNumbers").([]any); len(phones) != n {
			t.Fatalf("%d phone numbers after %d concurrent adds: %s", len(phones), n, r.Raw)
		}
		if v := str(r.Body, "meta", "version"); v != fmt.Sprintf(`W/"%d"`, n+1) {
			t.Fatalf("version %s after %d changes", v, n)
		}
		r = e.Call("GET", "/api/v1/scim/activities?operation=update&pageSize=100", admin, nil).Must(t, 200)
		if got := get(r.Body, "total"); got != float64(n) {
			t.Fatalf("%v update activities, want %d: %.300s", got, n, r.Raw)
		}

		// The same If-Match from many clients: one wins, the others' version is gone (412).
		tag := fmt.Sprintf(`W/"%d"`, n+1)
		counts = map[int]int{}
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := e.Call("PATCH", "/scim/v2/Users/"+id, tok, fmt.Sprintf(`{"Operations":[{"op":"replace","path":"title","value":"T%d"}]}`, i),
					"If-Match", tag)
				mu.Lock()
				counts[r.Status]++
				mu.Unlock()
			}(i)
		}
		wg.Wait()
		if counts[200] != 1 || counts[412] != 9 {
			t.Fatalf("statuses %v, want one 200 and nine 412", counts)
		}
	})
}

func TestSCIMDiscovery(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), map[string]any{"name": "ro", "scopes": []string{"users:read"}})
		r := e.Call("GET", "/scim/v2/ServiceProviderConfig", tok, nil).Must(t, 200)
		if get(r.Body, "patch", "supported") != true || get(r.Body, "filter", "maxResults") != 1000.0 || get(r.Body, "etag", "supported") != true {
			t.Fatalf("spc: %s", r.Raw)
		}
		r = e.Call("GET", "/scim/v2/ResourceTypes", tok, nil).Must(t, 200)
		if get(r.Body, "totalResults") != 2.0 || str(r.Body, "Resources", 0, "endpoint") != "/Users" {
			t.Fatalf("resource types: %s", r.Raw)
		}
		e.Call("GET", "/scim/v2/ResourceTypes/Group", tok, nil).Must(t, 200)
		e.Call("GET", "/scim/v2/ResourceTypes/Printer", tok, nil).Must(t, 404)
		r = e.Call("GET", "/scim/v2/Schemas", tok, nil).Must(t, 200)
		if get(r.Body, "totalResults") != 3.0 {
			t.Fatalf("schemas: %s", r.Raw)
		}
		r = e.Call("GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", tok, nil).Must(t, 200)
		if str(r.Body, "attributes", 0, "name") != "userName" || get(r.Body, "attributes", 0, "uniqueness") != "server" {
			t.Fatalf("user schema: %s", r.Raw)
		}
		e.Call("GET", "/scim/v2/Schemas/urn:example", tok, nil).Must(t, 404)
		if r := e.Call("PATCH", "/scim/v2/Users", tok, `{}`); r.Status != 405 || str(r.Body, "status") != "405" {
			t.Fatalf("405: %d %s", r.Status, r.Raw)
		}
		e.Call("DELETE", "/scim/v2/Groups", tok, nil).Must(t, 405)
		e.Call("POST", "/scim/v2/ServiceProviderConfig", tok, `{}`).Must(t, 405)
		// A 405 on Users or Groups is a failed request of that resource, in the activity log.
		r = e.Call("GET", "/api/v1/scim/activities?status=error", e.AdminToken(), nil).Must(t, 200)
		var logged []string
		for _, a := range get(r.Body, "activities").([]any) {
			if get(a, "details", "httpStatus") == 405.0 {
				logged = append(logged, str(a, "operation")+" "+str(a, "resourceType"))
			}
		}
		if want := []string{"delete group", "update user"}; !slices.Equal(logged, want) {
			t.Fatalf("405s logged: %q, want %q", logged, want)
		}
		// Requests may be application/json too; other bodies are refused.
		w, _ := e.SCIMToken(e.AdminToken(), allScopes("w"))
		e.Call("POST", "/scim/v2/Users", w, `{"userName":"plain-json"}`, "Content-Type", "application/json; charset=utf-8").Must(t, 201)
		if r := e.Call("POST", "/scim/v2/Users", w, `userName=x`, "Content-Type", "application/x-www-form-urlencoded"); r.Status != 400 || str(r.Body, "scimType") != "invalidSyntax" {
			t.Fatalf("form body: %d %s", r.Status, r.Raw)
		}
		r = e.Call("GET", "/scim/v2/Bulk", tok, nil).Must(t, 404)
		if r.Header.Get("Content-Type") != "application/scim+json" {
			t.Fatalf("404 content type %q", r.Header.Get("Content-Type"))
		}
	})
}

// TestSCIMUsersDeepPages: Okta's import pages through every user with startIndex and count.
// Each page, the deep ones included (the store reads their ids first), is the slice of the
// whole list at startIndex-1 with the same groups and totalResults, with a filter and without,
// with and without the groups shown, also when users are created and deleted between pages.
func TestSCIMUsersDeepPages(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		ids := make([]string, 60)
		for i := range ids {
			ids[i] = e.SCIMUser(tok, map[string]any{"userName": fmt.Sprintf("p%02d@example.com", i)})
		}
		var members []map[string]string
		for i := 0; i < len(ids); i += 3 {
			members = append(members, map[string]string{"value": ids[i]})
		}
		e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Thirds", "members": members}).Must(t, 201)
		// list is one page of the list as (id, userName, groups) lines, and its totalResults.
		list := func(query string) ([]string, float64) {
			r := e.Call("GET", "/scim/v2/Users?"+query, tok, nil).Must(t, 200)
			var out []string
			for _, u := range get(r.Body, "Resources").([]any) {
				var groups []string
				if gs, ok := get(u, "groups").([]any); ok {
					for _, g := range gs {
						groups = append(groups, str(g, "display"))
					}
				}
				out = append(out, str(u, "id")+" "+str(u, "userName")+" "+strings.Join(groups, ","))
			}
			return out, get(r.Body, "totalResults").(float64)
		}
		if all, _ := list("count=1000"); len(all) != 60 || !strings.HasSuffix(all[0], " Thirds") || !strings.HasSuffix(all[1], " ") {
			t.Fatalf("the list: %v", all)
		}
		for _, q := range []string{"", "&filter=" + urlq(`userName sw "p1"`), "&attributes=userName", "&filter=" + urlq(`userName gt "p07"`)} {
			for _, count := range []int{7, 1, 100} {
				for start := 1; ; start += count {
					if start == 15 && count == 7 && q == "" { // between two pages: one user before the next page goes, one comes
						e.Call("DELETE", "/scim/v2/Users/"+ids[3], tok, nil).Must(t, 204)
						ids[3] = e.SCIMUser(tok, map[string]any{"userName": "p03@example.com"})
					}
					all, total := list("count=1000" + q)
					page, pageTotal := list(fmt.Sprintf("startIndex=%d&count=%d%s", start, count, q))
					want := all[min(start-1, len(all)):min(start-1+count, len(all))]
					if pageTotal != total || !slices.Equal(page, want) {
						t.Fatalf("%s, startIndex %d, count %d: %v of %v, want %v of %v", q, start, count, page, pageTotal, want, total)
					}
					if start > len(all) {
						break
					}
				}
			}
		}
	})
}

// TestSCIMBooleansWrittenAsText: Entra writes booleans as text, "True" and "False", in values
// and in filters. One rule reads them everywhere (models.ParseSCIMBool): true or false in any
// case, spaces around ignored, and strconv.ParseBool's "1", "t", "0" and "f". A GET filter
// reads roles[primary eq "True"] as the PATCH value filter of Entra's role mapping does, and a
// value as either does; other text ("yes", "on", "") is refused in all three.
func TestSCIMBooleansWrittenAsText(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		admin := e.SCIMUser(tok, map[string]any{"userName": "admin", "active": "True",
			"emails": []any{map[string]any{"value": "admin@example.com", "primary": "TRUE"}},
			"roles": []any{map[string]any{"value": "Admin", "primary": "True"},
				map[string]any{"value": "User", "primary": " false "}}})
		e.SCIMUser(tok, map[string]any{"userName": "plain", "active": "tRuE",
			"roles": []any{map[string]any{"value": "User", "primary": "False"}}})
		e.SCIMUser(tok, map[string]any{"userName": "gone", "active": "FALSE"})

		for _, c := range []struct{ filter, want string }{
			{`roles[primary eq "True"]`, "admin"},
			{`roles[primary eq "True"].value eq "Admin"`, "admin"}, // Entra's form of a value path
			{`roles[primary eq "True" and value eq "User"]`, ""},
			{`roles[primary eq "False"]`, "admin,plain"},
			{`roles[primary ne "FALSE"]`, "admin"},
			{`roles.primary eq " true "`, "admin"},
			{`emails[primary eq "True"]`, "admin"},
			{`emails.primary eq "false"`, "gone,plain"},
			{`active eq "False"`, "gone"},
			{`active ne "False"`, "admin,plain"},
			{`not (active eq "TRUE")`, "gone"},
			{`active eq False`, "gone"}, // the grammar's literal, in any case too
		} {
			if got := strings.Join(e.scimFilter(tok, c.filter), ","); got != c.want {
				t.Errorf("filter %s: got %q, want %q", c.filter, got, c.want)
			}
		}
		for _, c := range []struct{ filter, detail string }{
			{`roles[primary eq "yes"]`, `primary takes true or false (or the text "true" or "false", in any case), not "yes"`},
			{`active eq ""`, `not ""`},
			{`active eq 0`, `not 0`},
			{`emails[primary eq "on"]`, `not "on"`},
			{`active gt "True"`, `active is a boolean: it takes eq, ne or pr, not gt`},
		} {
			r := e.Call("GET", "/scim/v2/Users?filter="+urlq(c.filter), tok, nil)
			if r.Status != 400 || str(r.Body, "scimType") != "invalidFilter" || !strings.Contains(str(r.Body, "detail"), c.detail) {
				t.Errorf("filter %s: %d %s, want 400 invalidFilter saying %s", c.filter, r.Status, r.Raw, c.detail)
			}
		}

		// The same text in a PATCH value filter selects the same role.
		r := e.Call("PATCH", "/scim/v2/Users/"+admin, tok, `{"Operations":[{"op":"Replace","path":"roles[primary eq \"tRUE\"].value","value":"Owner"}]}`).Must(t, 200)
		if roles := get(r.Body, "roles").([]any); len(roles) != 2 || str(roles[0], "value") != "Owner" || get(roles[0], "primary") != true {
			t.Errorf("PATCH roles[primary eq \"tRUE\"].value: roles %v", roles)
		}
		r = e.Call("PATCH", "/scim/v2/Users/"+admin, tok, `{"Operations":[{"op":"Replace","path":"roles[primary eq \"yes\"].value","value":"Other"}]}`)
		if r.Status != 400 || str(r.Body, "scimType") != "noTarget" {
			t.Errorf("PATCH roles[primary eq \"yes\"].value: %d %s, want 400 noTarget", r.Status, r.Raw)
		}
		// And values: the same texts are booleans, the others refused.
		for text, want := range map[string]any{"False": false, " TRUE ": true, "fAlSe": false, "1": true, "t": true, "0": false, "F": false, "yes": nil, "": nil} {
			body := `{"Operations":[{"op":"replace","path":"active","value":` + strconv.Quote(text) + `}]}`
			r := e.Call("PATCH", "/scim/v2/Users/"+admin, tok, body)
			if want == nil {
				if r.Status != 400 || str(r.Body, "scimType") != "invalidValue" {
					t.Errorf("active %q: %d %s, want 400 invalidValue", text, r.Status, r.Raw)
				}
				continue
			}
			if r.Status != 200 || get(r.Body, "active") != want {
				t.Errorf("active %q: %d %s, want active %v", text, r.Status, r.Raw, want)
			}
		}
	})
}
