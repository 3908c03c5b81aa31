package resolvers_test

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gatehouse/app/apptest"
)

// TestIDArguments holds every id a caller gives to one rule (provision/ids.go,
// docs/input-rules.md), on every ID-taking GraphQL field (from the schema, through the
// isolation table's calls) and every REST route:
//
//   - an id that names an object: a malformed one answers exactly as a well-formed unknown one
//     does (null, a NOT_FOUND payload error, 404), so neither says more than the other;
//   - an id that narrows a list (idFilters), or a list's cursor: a malformed one is a top-level
//     INVALID error naming the argument; an unknown one matches nothing (an empty list).
func TestIDArguments(t *testing.T) {
	const malformed, unknown = "not-a-uuid", "0190aaaa-0000-7000-8000-000000000000"
	// The list arguments; their names are what the INVALID message starts with.
	idFilters := map[string]bool{"accounts": true, "applications": true, "signInEvents": true}
	idCursors := map[string]bool{"auditEvents": true} // before: a position, so no "no match" check
	// workspaceId (platform admin, ids.go's exception): malformed INVALID, another FORBIDDEN.
	workspaceScoped := map[string]bool{"integrationClients": true, "createIntegrationClient": true}
	invalidArg := regexp.MustCompile(`^(companyId|brandId|connectionId|before) is not a valid UUID$`)

	eachDB(t, func(t *testing.T, e *testEnv) {
		platform := e.AdminToken()
		adminA, _, a := e.tenant(platform, "Amark")
		_, _, b := e.tenant(platform, marker)
		bIDs := []string{b.user, b.conn, b.domain, b.brand, b.company, b.account, b.scimToken, b.audit, b.workspace, b.app}
		// with replaces B's ids in vars by id: the same call, naming nothing of A's workspace.
		with := func(vars map[string]any, id string) (map[string]any, bool) {
			out, replaced := map[string]any{}, false
			for k, v := range vars {
				if s, ok := v.(string); ok && slices.Contains(bIDs, s) {
					out[k], replaced = id, true
				} else {
					out[k] = v
				}
			}
			return out, replaced
		}
		calls := isolationCalls(a, b)
		for _, f := range e.idFields(adminA) {
			cs, ok := calls[f]
			if !ok {
				t.Errorf("GraphQL field %s takes an ID and isolationCalls has no call of it (TestTenantIsolation says so too)", f)
				continue
			}
			for i, c := range cs {
				what := fmt.Sprintf("%s #%d", f, i)
				badVars, ok := with(c.vars, malformed)
				if !ok || workspaceScoped[f] {
					continue
				}
				unknownVars, _ := with(c.vars, unknown)
				bad, none := e.GQL(adminA, c.query, badVars), e.GQL(adminA, c.query, unknownVars)
				switch {
				case idFilters[f] || idCursors[f]:
					if len(bad.Errors) != 1 || bad.Errors[0].Extensions["code"] != "INVALID" || !invalidArg.MatchString(bad.Errors[0].Message) {
						t.Errorf("%s: a malformed id in a list's argument: want one INVALID error naming the argument, got %s", what, bad.Raw)
					}
					if idFilters[f] && (len(none.Errors) > 0 || !strings.Contains(none.Raw, "[]")) {
						t.Errorf("%s: an unknown id in a list's argument: want an empty list, got %s", what, none.Raw)
					}
				default:
					if got, want := strings.ReplaceAll(bad.Raw, malformed, "ID"), strings.ReplaceAll(none.Raw, unknown, "ID"); got != want {
						t.Errorf("%s: a malformed id answers otherwise than an unknown one:\nmalformed: %s\nunknown:   %s", what, bad.Raw, none.Raw)
					}
				}
			}
		}

		// REST: every route of the isolation table (path segments and body ids), and the test
		// sign-in routes (rest/saml.go).
		rc := restCalls(a, b)
		ts := "/api/v1/sso/connections/" + b.conn + "/test-sign-in"
		rc["POST test-sign-in"] = []httpCall{{"POST", ts, nil}, {"POST", "/api/v1/sso/connections/" + a.conn + "/test-sign-in", map[string]any{"brandId": b.brand}}}
		rc["GET test-sign-in"] = []httpCall{{"GET", ts + "/" + b.conn, nil}}
		for route, cs := range rc {
			for i, c := range cs {
				swap := func(id string) (string, any) {
					p := c.path
					var body any = c.body
					for _, bid := range bIDs {
						p = strings.ReplaceAll(p, bid, id)
					}
					if m, ok := c.body.(map[string]any); ok {
						body, _ = with(m, id)
					}
					return p, body
				}
				bp, bb := swap(malformed)
				np, nb := swap(unknown)
				if bp == c.path && fmt.Sprint(bb) == fmt.Sprint(c.body) {
					continue // no id of B's
				}
				bad, none := e.Call(c.method, bp, adminA, bb), e.Call(c.method, np, adminA, nb)
				if bad.Status != none.Status || fmt.Sprint(get(bad.Body, "error", "type")) != fmt.Sprint(get(none.Body, "error", "type")) {
					t.Errorf("REST %s #%d: a malformed id answers otherwise than an unknown one:\nmalformed: %d %s\nunknown:   %d %s",
						route, i, bad.Status, bad.Raw, none.Status, none.Raw)
				}
			}
		}
	})
}

// TestIDSpellings: an id has one spelling, the 36-character hyphenated UUID (hex digits in
// either case; models.ParseID). uuid.Parse alone also reads {…}, urn:uuid:… and the 32 digits
// without hyphens, so one object answered under several paths and arguments, and a proxy's
// rule on one object's path missed the others. Another spelling of an existing id answers as
// a well-formed unknown id does where the id names an object (GraphQL lookup, REST path, SCIM
// path), and is malformed where it narrows a list (INVALID) or is a SCIM filter's value
// (matches nothing). The upper-case form still names the object in a GraphQL argument, which
// people type; in a path and in SCIM (case-exact, RFC 7643 §3.1) an id is spelt exactly as
// Gatehouse writes it (models.ParseExactID), and upper case is another spelling.
func TestIDSpellings(t *testing.T) {
	const unknown = "0190aaaa-0000-7000-8000-000000000000"
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin, scim, a := e.tenant(e.AdminToken(), "Spell")
		spellings := func(id string) map[string]string {
			return map[string]string{"{id}": "{" + id + "}", "urn:uuid:id": "urn:uuid:" + id,
				"unhyphenated": strings.ReplaceAll(id, "-", ""), "URN:UUID:ID": "URN:UUID:" + strings.ToUpper(id)}
		}
		upper := strings.ToUpper

		// GraphQL: a lookup, a mutation's id, a list's argument.
		const brandQ = `query($id: ID!) { brand(id: $id) { id } }`
		const updateQ = `mutation($id: ID!) { updateBrand(input: {id: $id, name: "Spell Brand 2"}) { brand { id } errors { label message code } } }`
		const appsQ = `query($id: ID!) { applications(brandId: $id) { id } }`
		if d := e.MustGQL(admin, brandQ, map[string]any{"id": upper(a.brand)}); str(d, "brand", "id") != a.brand {
			t.Errorf("brand(id: upper case): %v", d)
		}
		if d := e.MustGQL(admin, appsQ, map[string]any{"id": upper(a.brand)}); str(d, "applications", 0, "id") != a.app {
			t.Errorf("applications(brandId: upper case): %v", d)
		}
		lookupNone := e.GQL(admin, brandQ, map[string]any{"id": unknown}).Raw
		updateNone := strings.ReplaceAll(e.GQL(admin, updateQ, map[string]any{"id": unknown}).Raw, unknown, "ID")
		for name, s := range spellings(a.brand) {
			if got := e.GQL(admin, brandQ, map[string]any{"id": s}).Raw; got != lookupNone {
				t.Errorf("brand(id: %s): %s, want as an unknown id: %s", name, got, lookupNone)
			}
			if got := strings.ReplaceAll(e.GQL(admin, updateQ, map[string]any{"id": s}).Raw, s, "ID"); got != updateNone {
				t.Errorf("updateBrand(id: %s): %s, want as an unknown id: %s", name, got, updateNone)
			}
			r := e.GQL(admin, appsQ, map[string]any{"id": s})
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "INVALID" || r.Errors[0].Message != "brandId is not a valid UUID" {
				t.Errorf("applications(brandId: %s): want INVALID naming brandId, got %s", name, r.Raw)
			}
		}
		if d := e.MustGQL(admin, `{ brand(id: "`+a.brand+`") { name } }`, nil); str(d, "brand", "name") != "Spell Brand" {
			t.Errorf("the brand was renamed through another spelling of its id: %v", d)
		}

		// REST: a path segment. A path is not typed into a form: its id is spelt exactly as
		// Gatehouse writes it, and upper case or white space around it is another spelling.
		conn := "/api/v1/sso/connections/"
		if r := e.Call("GET", conn+a.conn, admin, nil); r.Status != 200 || str(r.Body, "connection", "id") != a.conn {
			t.Errorf("GET %s: %d %s", conn+a.conn, r.Status, r.Raw)
		}
		restNone := e.Call("GET", conn+unknown, admin, nil)
		restSpellings := spellings(a.conn)
		restSpellings["ID"], restSpellings["id%20"], restSpellings["%09id"] = upper(a.conn), a.conn+" ", "\t"+a.conn
		for name, s := range restSpellings {
			r := e.Call("GET", conn+url.PathEscape(s), admin, nil)
			if r.Status != restNone.Status || fmt.Sprint(get(r.Body, "error")) != fmt.Sprint(get(restNone.Body, "error")) {
				t.Errorf("GET %s%s: %d %s, want as an unknown id: %d %s", conn, name, r.Status, r.Raw, restNone.Status, restNone.Raw)
			}
		}

		// SCIM: resource paths, a filter's value, a member's value. SCIM's id is case-exact
		// (RFC 7643 §3.1): upper case is another id, in a path or id eq; a member's value is
		// not (the schema served), and takes it.
		scimSpellings := func(id string) map[string]string {
			m := spellings(id)
			m["ID"] = upper(id)
			return m
		}
		for _, c := range []struct{ path, id string }{{"/scim/v2/Users/", a.scimUser}, {"/scim/v2/Groups/", a.scimGroup}} {
			if r := e.Call("GET", c.path+c.id, scim, nil); r.Status != 200 || str(r.Body, "id") != c.id {
				t.Errorf("GET %s: %d %s", c.path+c.id, r.Status, r.Raw)
			}
			none := e.Call("GET", c.path+unknown, scim, nil)
			for name, s := range scimSpellings(c.id) {
				r := e.Call("GET", c.path+url.PathEscape(s), scim, nil)
				if r.Status != none.Status || str(r.Body, "detail") != str(none.Body, "detail") {
					t.Errorf("GET %s%s: %d %s, want as an unknown id: %d %s", c.path, name, r.Status, r.Raw, none.Status, none.Raw)
				}
			}
		}
		total := func(s string) any {
			return get(e.Call("GET", "/scim/v2/Users?filter="+urlq(`id eq "`+s+`"`), scim, nil).Must(t, 200).Body, "totalResults")
		}
		if n := total(a.scimUser); n != 1.0 {
			t.Errorf("id eq: totalResults %v", n)
		}
		for name, s := range scimSpellings(a.scimUser) {
			if n := total(s); n != 0.0 {
				t.Errorf("id eq %s: totalResults %v, want 0", name, n)
			}
		}
		patch := func(value string) *apptest.Response {
			return e.Call("PATCH", "/scim/v2/Groups/"+a.scimGroup, scim, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": value}}}}})
		}
		for name, s := range spellings(a.scimUser) {
			if r := patch(s); r.Status != 400 {
				t.Errorf("add member %s: %d %s, want 400 (no user has this id)", name, r.Status, r.Raw)
			}
		}
		patch(upper(a.scimUser)).Must(t, 200) // a member's value is not case-exact
	})
}
