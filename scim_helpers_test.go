package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/secret"
)

// apiResponse is a decoded JSON answer of the REST or SCIM surface.
type apiResponse struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// call sends a JSON request with a bearer token and decodes the answer.
func (e *testEnv) call(method, path, token string, body any, headers ...string) *apiResponse {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.URL+path, rd)
	if body != nil {
		ct := "application/json"
		if len(path) > 5 && path[:5] == "/scim" {
			ct = "application/scim+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &apiResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return out
}

// must fails the test unless the response has the wanted status.
func (r *apiResponse) must(t *testing.T, status int) *apiResponse {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// scimToken creates a SCIM token through REST and returns its plain value and id.
func (e *testEnv) scimToken(admin string, body map[string]any) (plain, id string) {
	e.t.Helper()
	r := e.call("POST", "/api/v1/scim/tokens", admin, body).must(e.t, 201)
	return str(r.Body, "plainValue"), str(r.Body, "token", "id")
}

// otherWorkspaceAdmin creates another workspace and returns an access token of an admin
// client of it.
func (e *testEnv) otherWorkspaceAdmin(admin, name string) string {
	e.t.Helper()
	d := e.mustGQL(admin, `mutation($n: String!) { createWorkspace(input: {name: $n}) { workspace { id } errors { code } } }`,
		map[string]any{"n": name})
	ws := str(d, "createWorkspace", "workspace", "id")
	if ws == "" {
		e.t.Fatalf("createWorkspace: %v", d)
	}
	return e.token(e.createClient(admin, []string{"admin", "graphql"}, ws))
}

// mustLackScope fails the test unless r is a SCIM 403 error naming the missing scope.
func (r *apiResponse) mustLackScope(t *testing.T, scope string) {
	t.Helper()
	r.must(t, 403)
	if str(r.Body, "schemas", 0) != "urn:ietf:params:scim:api:messages:2.0:Error" || str(r.Body, "status") != "403" ||
		!strings.Contains(str(r.Body, "detail"), scope) {
		t.Fatalf("403 without the SCIM error naming %s: %s", scope, r.Raw)
	}
}

// allScopes is a SCIM token body with every scope.
func allScopes(name string) map[string]any {
	return map[string]any{"name": name, "scopes": []string{"users:read", "users:write", "groups:read", "groups:write"}}
}

func hashHex(s string) string { return secret.Hash(s) }

func urlq(s string) string { return url.QueryEscape(s) }
