package scim_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// replayFixture is a documented IdP flow (scim/testdata/README.md).
type replayFixture struct {
	Source      string `json:"source"`
	Description string `json:"description"`
	Setup       struct {
		GraphQLUserEmail string `json:"graphqlUserEmail"`
	} `json:"setup"`
	Headers map[string]string `json:"headers"` // sent with every step; "" sends none
	Steps   []struct {
		Section string            `json:"section"` // the document section replayed, or why a step is not in it
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"` // over the file's; "" sends none
		Body    json.RawMessage   `json:"body"`
		RawBody string            `json:"rawBody"` // a body that is not JSON, sent as written
		Status  int               `json:"status"`
		Expect  map[string]any    `json:"expect"`
		Save    map[string]string `json:"save"`
	} `json:"steps"`
}

// TestSCIMReplay replays the requests Okta and Entra ID document sending, on both databases.
func TestSCIMReplay(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.json")
	if len(files) < 8 {
		t.Fatalf("replay fixtures missing: %v", files)
	}
	sort.Strings(files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fx replayFixture
		if err := json.Unmarshal(raw, &fx); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Faithfulness: every file names its document, every step the section it replays (or
		// says it is a setup step or a check of Gatehouse's own).
		if !strings.HasPrefix(fx.Source, "https://") {
			t.Fatalf("%s: source must start with the document's URL", f)
		}
		for i, st := range fx.Steps {
			if st.Section == "" {
				t.Fatalf("%s: step %d names no section", f, i)
			}
		}
		name := strings.TrimSuffix(strings.TrimPrefix(f, "testdata/"), ".json")
		t.Run(name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, e *testEnv) {
				admin := e.AdminToken()
				tok, _ := e.SCIMToken(admin, allScopes(name))
				if fx.Setup.GraphQLUserEmail != "" {
					e.CreateUser(admin, fx.Setup.GraphQLUserEmail)
				}
				vars := map[string]string{"base": e.URL}
				subst := func(s string) string {
					for k, v := range vars {
						s = strings.ReplaceAll(s, "{{"+k+"}}", v)
					}
					return s
				}
				for i, st := range fx.Steps {
					var body any
					if len(st.Body) > 0 {
						body = subst(string(st.Body))
					} else if st.RawBody != "" {
						body = st.RawBody
					}
					var headers []string
					for k, v := range fx.Headers {
						if _, over := st.Headers[k]; !over {
							headers = append(headers, k, v)
						}
					}
					for k, v := range st.Headers {
						headers = append(headers, k, v)
					}
					r := e.Call(st.Method, encodePath(subst(st.Path)), tok, body, headers...)
					if r.Status != st.Status {
						t.Fatalf("step %d (%s) %s %s: status %d, want %d: %s", i, st.Section, st.Method, st.Path, r.Status, st.Status, r.Raw)
					}
					if r.Status != 204 && r.Header.Get("Content-Type") != "application/scim+json" {
						t.Errorf("step %d: Content-Type %q", i, r.Header.Get("Content-Type"))
					}
					for p, want := range st.Expect {
						got, present := jsonPath(r.Body, p)
						if want == "<absent>" {
							if present {
								t.Errorf("step %d %s %s: %s present (%v), want absent", i, st.Method, st.Path, p, got)
							}
							continue
						}
						if s, ok := want.(string); ok {
							want = subst(s)
						}
						if !reflect.DeepEqual(got, want) {
							t.Errorf("step %d (%s) %s %s: %s = %#v, want %#v\n%s", i, st.Section, st.Method, st.Path, p, got, want, r.Raw)
						}
					}
					for k, p := range st.Save {
						v, _ := jsonPath(r.Body, p)
						s, ok := v.(string)
						if !ok || s == "" {
							t.Fatalf("step %d: cannot save %s from %s: %s", i, k, p, r.Raw)
						}
						vars[k] = s
					}
				}
			})
		})
	}
}

// encodePath percent-encodes raw query values as an IdP's HTTP client would.
func encodePath(p string) string {
	path, query, ok := strings.Cut(p, "?")
	if !ok {
		return p
	}
	parts := strings.Split(query, "&")
	for i, kv := range parts {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.Contains(v, "%") {
			v = url.QueryEscape(v)
		}
		parts[i] = k + "=" + v
	}
	return path + "?" + strings.Join(parts, "&")
}

// jsonPath walks "a.b.0.c"; a leading schema URN (urn:…:User) is one key.
func jsonPath(v any, p string) (any, bool) {
	var keys []string
	if strings.HasPrefix(p, "urn:") {
		for _, sep := range []string{":User.", ":Group."} {
			if i := strings.Index(p, sep); i >= 0 {
				keys = append(keys, p[:i+len(sep)-1])
				p = p[i+len(sep):]
				break
			}
		}
	}
	keys = append(keys, strings.Split(p, ".")...)
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			n, err := strconv.Atoi(k)
			if err != nil || n >= len(x) {
				return nil, false
			}
			v = x[n]
		default:
			return nil, false
		}
	}
	return v, true
}
