package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"gatehouse/app/apptest"
)

// TestAPIEdges: every answer under an API prefix is in that API's format, never the mux's
// HTML redirect or plain-text 404/405. The roots without their slash (GET /api/v1 answered
// 307 with an HTML body), unknown sub-paths, methods a path does not serve (405 with Allow),
// and paths not in canonical form: a SCIM client whose base URL ends in "/" sends
// /scim/v2//Users, which is served; any other such path (dot segments, doubled slashes under
// another API) is the API's own 404, never served cleaned past a proxy that filters raw paths.
// Redirects are not followed, so a 307 cannot pass for the page it points to.
func TestAPIEdges(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		admin := e.AdminToken()
		scimTok, _ := e.SCIMToken(admin, apptest.AllScopes("okta"))
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		send := func(method, path, token, body string) (*http.Response, map[string]any) {
			t.Helper()
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req, err := http.NewRequest(method, e.URL+path, rd)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque, _, _ = strings.Cut("//"+req.URL.Host+path, "?") // sent as written: dot segments and all
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			if body != "" {
				req.Header.Set("Content-Type", "application/scim+json")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("%s %s: %d %s, not JSON: %q", method, path, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
			}
			return resp, doc
		}
		// format checks that doc is an error of the API named.
		format := func(api string, doc map[string]any) bool {
			switch api {
			case "rest":
				return apptest.Str(doc, "error", "type") != "" && apptest.Str(doc, "error", "message") != ""
			case "scim":
				return apptest.Str(doc, "schemas", 0) == "urn:ietf:params:scim:api:messages:2.0:Error" && apptest.Str(doc, "detail") != ""
			case "graphql":
				return apptest.Str(doc, "errors", 0, "message") != "" && apptest.Str(doc, "errors", 0, "extensions", "code") != ""
			case "oauth":
				return apptest.Str(doc, "error") != "" && apptest.Str(doc, "error_description") != ""
			}
			return false
		}
		for _, c := range []struct {
			method, path, token string
			api                 string
			status              int
			allow               string
		}{
			{"GET", "/api/v1", admin, "rest", 404, ""},
			{"POST", "/api/v1", admin, "rest", 404, ""},
			{"GET", "/api/v1/", admin, "rest", 404, ""},
			{"GET", "/api/v1/../scim/v2/Users", admin, "rest", 404, ""},
			{"GET", "/scim/v2", scimTok, "scim", 404, ""},
			{"POST", "/scim/v2", "", "scim", 401, ""},
			{"GET", "/scim/v2/", scimTok, "scim", 404, ""},
			{"GET", "/scim/v2/nope", scimTok, "scim", 404, ""},
			{"GET", "/scim/v2/../api/v1/sso/connections", scimTok, "scim", 404, ""},
			{"GET", "/scim/v2/./Users", scimTok, "scim", 404, ""},
			{"GET", "/api/v1//sso/connections", admin, "rest", 404, ""},
			{"GET", "/api/v1/sso/./connections", admin, "rest", 404, ""},
			{"POST", "/oauth//token", "", "oauth", 404, ""},
			{"DELETE", "/scim/v2/Users", scimTok, "scim", 405, "GET, HEAD, POST"},
			{"PUT", "/graphql/v1", admin, "graphql", 405, "GET, HEAD, POST"},
			{"POST", "/graphql/v1/", admin, "graphql", 404, ""},
			{"GET", "/graphql/v1/nope", "", "graphql", 404, ""},
			{"GET", "/graphql/v1/assets", "", "graphql", 404, ""},
			{"GET", "/oauth", "", "oauth", 404, ""},
			{"GET", "/oauth/", "", "oauth", 404, ""},
			{"POST", "/oauth/nope", "", "oauth", 404, ""},
			{"GET", "/.well-known", "", "oauth", 404, ""},
			{"GET", "/.well-known/nope", "", "oauth", 404, ""},
			{"POST", "/.well-known/jwks.json", "", "oauth", 405, "GET, HEAD"},
			{"DELETE", "/.well-known/openid-configuration", "", "oauth", 405, "GET, HEAD"},
			{"PUT", "/oauth/authorize", "", "oauth", 405, "GET, HEAD, POST"},
			{"GET", "/oauth/token", "", "oauth", 405, "POST"},
		} {
			resp, doc := send(c.method, c.path, c.token, "")
			if resp.StatusCode != c.status || !format(c.api, doc) || resp.Header.Get("Allow") != c.allow {
				t.Errorf("%s %s: %d Allow %q %v, want %d Allow %q in the %s error format",
					c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), doc, c.status, c.allow, c.api)
			}
		}

		// Served as the canonical path, not redirected.
		resp, doc := send("POST", "/scim/v2//Users", scimTok, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com"}`)
		if resp.StatusCode != 201 || apptest.Str(doc, "userName") != "ada@example.com" {
			t.Fatalf("POST /scim/v2//Users: %d %v", resp.StatusCode, doc)
		}
		for _, path := range []string{"/scim/v2//Users?filter=userName%20eq%20%22ada@example.com%22", "/scim/v2///Users?startIndex=1"} {
			if resp, doc := send("GET", path, scimTok, ""); resp.StatusCode != 200 || apptest.Get(doc, "totalResults") != 1.0 {
				t.Errorf("GET %s: %d %v", path, resp.StatusCode, doc)
			}
		}
	})
}
