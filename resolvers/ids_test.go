package resolvers_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
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
