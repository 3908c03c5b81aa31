package sso_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestApplications(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()
		brand := e.CreateBrand(tok, "Portal Brand")
		create := `mutation($b: ID!, $n: String!, $r: [String!]!, $t: ApplicationType) { createApplication(input: {brandId: $b, name: $n, redirectUris: $r, type: $t}) {
			application { id clientId name type redirectUris brand { id } createdAt } clientSecret errors { label message value code } } }`

		t.Run("create: confidential by default with a secret shown once; public without", func(t *testing.T) {
			uris := []string{"https://b.example.com/cb", "https://a.example.com/cb", "http://localhost:3000/cb", "http://127.0.0.1/cb", "http://LocalHost/cb"}
			d := e.MustGQL(tok, create, map[string]any{"b": brand, "n": " Portal ", "r": uris})
			a := get(d, "createApplication", "application")
			sec := str(d, "createApplication", "clientSecret")
			if str(a, "name") != "Portal" || str(a, "type") != "CONFIDENTIAL" || !strings.HasPrefix(sec, "ghas_") || str(a, "brand", "id") != brand ||
				fmt.Sprint(get(a, "redirectUris")) != fmt.Sprint(uris) {
				t.Fatalf("createApplication: %v", d)
			}
			var hash string
			if err := e.App.Store().RawScan(t.Context(), &hash, "SELECT secret_hash FROM applications WHERE client_id = ?", str(a, "clientId")); err != nil {
				t.Fatal(err)
			}
			if hash == "" || strings.Contains(hash, sec) {
				t.Fatalf("the secret must be stored hashed: %q", hash)
			}
			d = e.MustGQL(tok, create, map[string]any{"b": brand, "n": "SPA", "r": uris[:1], "t": "PUBLIC"})
			if get(d, "createApplication", "clientSecret") != nil || str(d, "createApplication", "application", "type") != "PUBLIC" {
				t.Fatalf("public: %v", d)
			}
			d = e.MustGQL(tok, `mutation($id: ID!) { rotateApplicationSecret(input: {id: $id}) { clientSecret errors { code } } }`,
				map[string]any{"id": str(d, "createApplication", "application", "id")})
			if str(d, "rotateApplicationSecret", "errors", 0, "code") != "INVALID_STATE" {
				t.Fatalf("a public application has no secret to rotate: %v", d)
			}
		})

		t.Run("redirect URIs are validated", func(t *testing.T) {
			many := make([]string, 21)
			for i := range many {
				many[i] = fmt.Sprintf("https://app.example.com/cb%d", i)
			}
			for name, uris := range map[string][]string{
				"none":               {},
				"relative":           {"/callback"},
				"fragment":           {"https://app.example.com/cb#x"},
				"plain http":         {"http://app.example.com/cb"},
				"custom scheme":      {"javascript:alert(1)"},
				"user info":          {"https://u:p@app.example.com/cb"},
				"more than 20":       many,
				"one bad of many":    {"https://app.example.com/ok", "ftp://app.example.com/cb"},
				"a state of its own": {"https://app.example.com/cb?tenant=a&state=x"},
				"a trailing space":   {"https://app.example.com/cb "},
				"a wildcard host":    {"https://*.example.com/cb"},
				"no such port":       {"https://app.example.com:99999/cb"},
			} {
				d := e.MustGQL(tok, create, map[string]any{"b": brand, "n": "Bad", "r": uris})
				errs := payloadErrors(t, d, "createApplication")
				if len(errs) != 1 || str(errs[0], "label") != "redirectUris" || str(errs[0], "code") != "INVALID" || get(d, "createApplication", "application") != nil {
					t.Errorf("%s: %v", name, d)
				}
			}
			d := e.MustGQL(tok, create, map[string]any{"b": "0190a0b0-0000-7000-8000-000000000000", "n": "X", "r": []string{"https://x.example.com"}})
			if errs := payloadErrors(t, d, "createApplication"); len(errs) != 1 || str(errs[0], "label") != "brandId" || str(errs[0], "code") != "NOT_FOUND" {
				t.Fatalf("unknown brand: %v", d)
			}
		})

		t.Run("post-logout redirect URIs: none by default, validated like redirect URIs, replaced or cleared", func(t *testing.T) {
			withLogout := `mutation($b: ID!, $p: [String!]) { createApplication(input: {brandId: $b, name: "Logout", redirectUris: ["https://l.example.com/cb"], postLogoutRedirectUris: $p}) {
				application { id postLogoutRedirectUris } errors { label code } } }`
			d := e.MustGQL(tok, withLogout, map[string]any{"b": brand})
			if fmt.Sprint(get(d, "createApplication", "application", "postLogoutRedirectUris")) != "[]" {
				t.Fatalf("default: %v", d)
			}
			e.MustGQL(tok, `mutation($id: ID!) { deleteApplication(input: {id: $id}) { deletedId } }`,
				map[string]any{"id": str(d, "createApplication", "application", "id")})
			d = e.MustGQL(tok, withLogout, map[string]any{"b": brand, "p": []string{"https://l.example.com/bye", "http://localhost:3000/"}})
			id := str(d, "createApplication", "application", "id")
			if fmt.Sprint(get(d, "createApplication", "application", "postLogoutRedirectUris")) != "[https://l.example.com/bye http://localhost:3000/]" {
				t.Fatalf("create: %v", d)
			}
			d = e.MustGQL(tok, withLogout, map[string]any{"b": brand, "p": []string{"http://l.example.com/bye"}})
			if errs := payloadErrors(t, d, "createApplication"); len(errs) != 1 || str(errs[0], "label") != "postLogoutRedirectUris" || str(errs[0], "code") != "INVALID" {
				t.Fatalf("plain http: %v", d)
			}
			update := `mutation($id: ID!, $p: [String!]) { updateApplication(input: {id: $id, postLogoutRedirectUris: $p}) { application { postLogoutRedirectUris redirectUris } errors { label } } }`
			d = e.MustGQL(tok, update, map[string]any{"id": id, "p": []string{"https://l.example.com/later"}})
			if fmt.Sprint(get(d, "updateApplication", "application", "postLogoutRedirectUris")) != "[https://l.example.com/later]" ||
				fmt.Sprint(get(d, "updateApplication", "application", "redirectUris")) != "[https://l.example.com/cb]" {
				t.Fatalf("replace: %v", d)
			}
			d = e.MustGQL(tok, update, map[string]any{"id": id, "p": []string{}})
			if fmt.Sprint(get(d, "updateApplication", "application", "postLogoutRedirectUris")) != "[]" {
				t.Fatalf("clear: %v", d)
			}
			d = e.MustGQL(tok, `mutation($id: ID!) { updateApplication(input: {id: $id, name: "Renamed"}) { application { postLogoutRedirectUris } } }`, map[string]any{"id": id})
			if fmt.Sprint(get(d, "updateApplication", "application", "postLogoutRedirectUris")) != "[]" {
				t.Fatalf("an update that names no list keeps it: %v", d)
			}
			e.MustGQL(tok, `mutation($id: ID!) { deleteApplication(input: {id: $id}) { deletedId } }`, map[string]any{"id": id})
		})

		t.Run("update, rotate, read, list, delete; workspace-scoped", func(t *testing.T) {
			d := e.MustGQL(tok, create, map[string]any{"b": brand, "n": "Ops", "r": []string{"https://ops.example.com/cb"}})
			id, first := str(d, "createApplication", "application", "id"), str(d, "createApplication", "clientSecret")
			d = e.MustGQL(tok, `mutation($id: ID!) { updateApplication(input: {id: $id, name: "Ops Portal", redirectUris: ["https://ops.example.com/new"]}) {
				application { name redirectUris } errors { label } } }`, map[string]any{"id": id})
			if str(d, "updateApplication", "application", "name") != "Ops Portal" || str(d, "updateApplication", "application", "redirectUris", 0) != "https://ops.example.com/new" {
				t.Fatalf("update: %v", d)
			}
			d = e.MustGQL(tok, `mutation($id: ID!) { updateApplication(input: {id: $id, redirectUris: ["http://ops.example.com"]}) { application { id } errors { label } } }`, map[string]any{"id": id})
			if str(d, "updateApplication", "errors", 0, "label") != "redirectUris" {
				t.Fatalf("update with a bad URI: %v", d)
			}
			d = e.MustGQL(tok, `mutation($id: ID!) { rotateApplicationSecret(input: {id: $id}) { clientSecret errors { code } } }`, map[string]any{"id": id})
			if s := str(d, "rotateApplicationSecret", "clientSecret"); s == "" || s == first {
				t.Fatalf("rotate: %v", d)
			}
			d = e.MustGQL(tok, `query($id: ID!, $b: ID!) { application(id: $id) { name } applications(brandId: $b) { name } missing: application(id: "nope") { id } }`,
				map[string]any{"id": id, "b": brand})
			if str(d, "application", "name") != "Ops Portal" || len(get(d, "applications").([]any)) != 3 || d["missing"] != nil {
				t.Fatalf("queries: %v", d)
			}
			// Another workspace sees none of it and cannot change it.
			ws := e.MustGQL(tok, `mutation { createWorkspace(input: {name: "Apps Elsewhere"}) { workspace { id } } }`, nil)
			cid, csec := e.CreateClient(tok, []string{"graphql"}, str(ws, "createWorkspace", "workspace", "id"))
			other := e.Token(cid, csec)
			d = e.MustGQL(other, `query($id: ID!, $b: ID!) { application(id: $id) { id } applications(brandId: $b) { id } }`, map[string]any{"id": id, "b": brand})
			if d["application"] != nil || len(get(d, "applications").([]any)) != 0 {
				t.Fatalf("another workspace reads: %v", d)
			}
			d = e.MustGQL(other, `mutation($id: ID!) { deleteApplication(input: {id: $id}) { deletedId errors { code } } }`, map[string]any{"id": id})
			if str(d, "deleteApplication", "errors", 0, "code") != "NOT_FOUND" {
				t.Fatalf("another workspace deletes: %v", d)
			}
			// graphql:read may read, not write.
			rid, rsec := e.CreateClient(tok, []string{"graphql:read"}, "")
			if r := e.GQL(e.Token(rid, rsec), `mutation($id: ID!) { deleteApplication(input: {id: $id}) { deletedId } }`, map[string]any{"id": id}); len(r.Errors) == 0 ||
				r.Errors[0].Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("graphql:read deletes: %s", r.Raw)
			}
			d = e.MustGQL(tok, `mutation($id: ID!) { deleteApplication(input: {id: $id}) { deletedId errors { code } } }`, map[string]any{"id": id})
			if str(d, "deleteApplication", "deletedId") != id {
				t.Fatalf("delete: %v", d)
			}
			d = e.MustGQL(tok, `query($id: ID!) { application(id: $id) { id } }`, map[string]any{"id": id})
			if d["application"] != nil {
				t.Fatalf("deleted application still read: %v", d)
			}
		})
	})
}
