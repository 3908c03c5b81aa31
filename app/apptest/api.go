package apptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// Response is a decoded JSON answer of the REST or SCIM surface.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// Call sends a JSON request (body: nil, a string sent as is, or a value to encode) with a
// bearer token and headers given as name, value pairs, and decodes the answer. A header given
// with an empty value is not sent: a body without Content-Type, as some IdPs send it.
func (e *Env) Call(method, path, token string, body any, headers ...string) *Response {
	e.T.Helper()
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
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.T.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return out
}

// Must fails the test unless the response has the wanted status.
func (r *Response) Must(t *testing.T, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// SCIMToken creates a SCIM token through REST and returns its plain value and id.
func (e *Env) SCIMToken(admin string, body map[string]any) (plain, id string) {
	e.T.Helper()
	r := e.Call("POST", "/api/v1/scim/tokens", admin, body).Must(e.T, 201)
	return Str(r.Body, "plainValue"), Str(r.Body, "token", "id")
}

// OtherWorkspaceAdmin creates another workspace and returns an access token of an admin
// client of it.
func (e *Env) OtherWorkspaceAdmin(admin, name string) string {
	e.T.Helper()
	d := e.MustGQL(admin, `mutation($n: String!) { createWorkspace(input: {name: $n}) { workspace { id } errors { code } } }`,
		map[string]any{"n": name})
	ws := Str(d, "createWorkspace", "workspace", "id")
	if ws == "" {
		e.T.Fatalf("createWorkspace: %v", d)
	}
	return e.Token(e.CreateClient(admin, []string{"admin", "graphql"}, ws))
}

// MustLackScope fails the test unless r is a SCIM 403 error naming the missing scope.
func (r *Response) MustLackScope(t *testing.T, scope string) {
	t.Helper()
	r.Must(t, 403)
	if Str(r.Body, "schemas", 0) != "urn:ietf:params:scim:api:messages:2.0:Error" || Str(r.Body, "status") != "403" ||
		!strings.Contains(Str(r.Body, "detail"), scope) {
		t.Fatalf("403 without the SCIM error naming %s: %s", scope, r.Raw)
	}
}

// AllScopes is a SCIM token body with every scope.
func AllScopes(name string) map[string]any {
	return map[string]any{"name": name, "scopes": []string{"users:read", "users:write", "groups:read", "groups:write"}}
}

// SCIMUser posts a user and returns its id.
func (e *Env) SCIMUser(tok string, body map[string]any) string {
	e.T.Helper()
	return Str(e.Call("POST", "/scim/v2/Users", tok, body).Must(e.T, 201).Body, "id")
}

// DeleteUsersDuring creates n SCIM users with tok, then runs act on each at the same time as
// a SCIM DELETE of that user, and does it all rounds times: a race of act against deletions.
// Every deletion must answer 204.
func (e *Env) DeleteUsersDuring(tok string, rounds, n int, act func(round, i int, user string)) {
	e.T.Helper()
	for round := range rounds {
		users := make([]string, n)
		for i := range users {
			users[i] = e.SCIMUser(tok, map[string]any{"userName": fmt.Sprintf("doomed-%d-%d@contoso.com", round, i)})
		}
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Add(2)
			go func() {
				defer wg.Done()
				act(round, i, u)
			}()
			go func() {
				defer wg.Done()
				if r := e.Call("DELETE", "/scim/v2/Users/"+u, tok, nil); r.Status != 204 {
					e.T.Errorf("DELETE user: %d %s", r.Status, r.Raw)
				}
			}()
		}
		wg.Wait()
	}
}
