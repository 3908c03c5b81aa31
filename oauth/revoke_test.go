package oauth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// oauthForm posts a form to an OAuth endpoint as a client (HTTP Basic unless id is empty) and
// decodes the JSON answer, if any.
func (e *testEnv) oauthForm(path, id, sec string, form url.Values) (int, map[string]any, http.Header) {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			e.T.Fatalf("POST %s: decode %q: %v", path, raw, err)
		}
	}
	return resp.StatusCode, body, resp.Header
}

func tokenForm(tok string) url.Values { return url.Values{"token": {tok}} }

// TestTokenIntrospectionAndRevocation covers RFC 7662 and RFC 7009: who may introspect and
// revoke which tokens, the error answers, and that a revoked token is refused by GraphQL and
// REST on every replica within seconds.
func TestTokenIntrospectionAndRevocation(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		home := str(e.MustGQL(admin, `{ viewer { workspaceId } }`, nil), "viewer", "workspaceId")
		aliceID, aliceSecret := e.CreateClient(admin, []string{"graphql", "admin"}, "") // scripts with REST access
		bobID, bobSecret := e.CreateClient(admin, []string{"graphql:read"}, "")
		homeAdminID, homeAdminSecret := e.CreateClient(admin, []string{"admin"}, "")
		d := e.MustGQL(admin, `mutation { createWorkspace(input: {name: "Fabrikam"}) { workspace { id } errors { message } } }`, nil)
		fab := str(d, "createWorkspace", "workspace", "id")
		fabAdminID, fabAdminSecret := e.CreateClient(admin, []string{"admin", "graphql"}, fab)

		t.Run("introspection answers", func(t *testing.T) {
			tok := e.Token(bobID, bobSecret)
			status, body, _ := e.oauthForm("/oauth/introspect", bobID, bobSecret, tokenForm(tok))
			if status != 200 || body["active"] != true || body["client_id"] != bobID || body["sub"] != bobID ||
				body["scope"] != "graphql:read" || body["token_type"] != "Bearer" || body["iss"] != e.URL ||
				body["workspace_id"] != home || body["jti"] == "" {
				t.Fatalf("own token: %d %v", status, body)
			}
			if exp, iat := body["exp"].(float64), body["iat"].(float64); exp-iat != 3600 || time.Unix(int64(exp), 0).Before(time.Now()) {
				t.Fatalf("exp/iat: %v", body)
			}
			// Client authentication in the form works as well as HTTP Basic.
			f := tokenForm(tok)
			f.Set("client_id", bobID)
			f.Set("client_secret", bobSecret)
			if status, body, _ := e.oauthForm("/oauth/introspect", "", "", f); status != 200 || body["active"] != true {
				t.Fatalf("client_secret_post: %d %v", status, body)
			}

			cases := []struct {
				name, id, sec, token string
				active               bool
			}{
				{"garbage", bobID, bobSecret, "not.a.jwt", false},
				{"a token with a forged signature", bobID, bobSecret, tok[:len(tok)-4] + "AAAA", false},
				{"another client's token, not an admin", bobID, bobSecret, e.Token(aliceID, aliceSecret), false},
				{"an admin client, a token of its workspace", homeAdminID, homeAdminSecret, tok, true},
				{"an admin client of another workspace", fabAdminID, fabAdminSecret, tok, false},
				{"the platform admin, a token of another workspace", testAdminID, testAdminSecret, e.Token(fabAdminID, fabAdminSecret), true},
			}
			for _, c := range cases {
				status, body, _ := e.oauthForm("/oauth/introspect", c.id, c.sec, tokenForm(c.token))
				if status != 200 || body["active"] != c.active {
					t.Errorf("%s: %d %v", c.name, status, body)
				}
				if !c.active && len(body) != 1 {
					t.Errorf("%s: an inactive answer says more than active=false: %v", c.name, body)
				}
			}
		})

		t.Run("client authentication and request errors", func(t *testing.T) {
			tok := e.Token(bobID, bobSecret)
			for _, path := range []string{"/oauth/introspect", "/oauth/revoke"} {
				status, body, h := e.oauthForm(path, "", "", tokenForm(tok))
				if status != 401 || body["error"] != "invalid_client" || h.Get("WWW-Authenticate") == "" {
					t.Errorf("%s without client authentication: %d %v", path, status, body)
				}
				if status, body, _ := e.oauthForm(path, bobID, "wrong", tokenForm(tok)); status != 401 || body["error"] != "invalid_client" {
					t.Errorf("%s with a wrong secret: %d %v", path, status, body)
				}
				if status, body, _ := e.oauthForm(path, bobID, bobSecret, url.Values{}); status != 400 || body["error"] != "invalid_request" {
					t.Errorf("%s without token: %d %v", path, status, body)
				}
				resp, err := http.Get(e.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 405 || resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("GET %s: %d", path, resp.StatusCode)
				}
			}
			// Nothing was revoked by the refused requests.
			e.MustGQL(tok, `{ viewer { clientId } }`, nil)

			// An application (a brand's OpenID Provider client) with its valid credentials is
			// no invalid client at introspection, which serves integration clients: it is told
			// so, and the guard counts no failed authentication against its client id.
			d := e.MustGQL(admin, `mutation($b: ID!) { createApplication(input: {brandId: $b, name: "Portal", redirectUris: ["https://portal.example/cb"]}) {
				application { clientId } clientSecret } }`, map[string]any{"b": e.CreateBrand(admin, "Brand")})
			appID, appSecret := str(d, "createApplication", "application", "clientId"), str(d, "createApplication", "clientSecret")
			status, body, h := e.oauthForm("/oauth/introspect", appID, appSecret, tokenForm(tok))
			if status != 400 || body["error"] != "unauthorized_client" || h.Get("WWW-Authenticate") != "" {
				t.Errorf("an application introspecting: %d %v", status, body)
			}
			if status, body, _ := e.oauthForm("/oauth/introspect", appID, "ghas_wrong", tokenForm(tok)); status != 401 || body["error"] != "invalid_client" {
				t.Errorf("an application with a wrong secret: %d %v", status, body)
			}
		})

		t.Run("a client revokes its own token everywhere within seconds", func(t *testing.T) {
			tok := e.Token(aliceID, aliceSecret)
			other := e.Token(aliceID, aliceSecret)
			replica := e.Replica()
			// The replica has seen the token accepted, so its cache holds "not revoked".
			if r := e.GQLAt(replica, tok, `{ viewer { clientId } }`); r.Status != 200 {
				t.Fatalf("replica refused a valid token: %s", r.Raw)
			}
			status, body, _ := e.oauthForm("/oauth/revoke", aliceID, aliceSecret, url.Values{"token": {tok}, "token_type_hint": {"access_token"}})
			if status != 200 || body != nil {
				t.Fatalf("revoke: %d %v", status, body)
			}
			revokedAt := time.Now()
			if r := e.GQL(tok, `{ viewer { clientId } }`, nil); r.Status != 401 || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
				t.Fatalf("GraphQL on the revoking replica: %s", r.Raw)
			}
			if r := e.Call("GET", "/api/v1/scim/tokens", tok, nil); r.Status != 401 {
				t.Fatalf("REST with a revoked token: %d %s", r.Status, r.Raw)
			}
			for {
				r := e.GQLAt(replica, tok, `{ viewer { clientId } }`)
				if r.Status == 401 {
					t.Logf("revocation took effect on the replica after %v", time.Since(revokedAt))
					break
				}
				if time.Since(revokedAt) > 5*time.Second {
					t.Fatalf("revoked token still accepted by the replica after 5 s: %s", r.Raw)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if _, body, _ := e.oauthForm("/oauth/introspect", aliceID, aliceSecret, tokenForm(tok)); body["active"] != false {
				t.Fatalf("introspection of a revoked token: %v", body)
			}
			// Only that token: the client and its other tokens keep working.
			e.MustGQL(other, `{ viewer { clientId } }`, nil)
			if r := e.Call("GET", "/api/v1/scim/tokens", other, nil); r.Status != 200 {
				t.Fatalf("REST with another token of the client: %d %s", r.Status, r.Raw)
			}
			// Revoking again, or revoking what is no token, is not an error (RFC 7009 §2.2).
			for _, again := range []string{tok, "not.a.jwt"} {
				if status, _, _ := e.oauthForm("/oauth/revoke", aliceID, aliceSecret, tokenForm(again)); status != 200 {
					t.Fatalf("revoke %q again: %d", again, status)
				}
			}
			// The revocation is in the audit log, once: revoking again changed nothing.
			found := 0
			for _, ev := range get(e.MustGQL(admin, `{ auditEvents(first: 100) { action actorId } }`, nil), "auditEvents").([]any) {
				if str(ev, "action") == "access_token.revoke" && str(ev, "actorId") == aliceID {
					found++
				}
			}
			if found != 1 {
				t.Fatalf("%d access_token.revoke audit events, want 1", found)
			}
		})

		t.Run("a revoked client's tokens are inactive", func(t *testing.T) {
			id, sec := e.CreateClient(admin, []string{"graphql:read"}, "")
			tok := e.Token(id, sec)
			if _, body, _ := e.oauthForm("/oauth/introspect", testAdminID, testAdminSecret, tokenForm(tok)); body["active"] != true {
				t.Fatalf("before: %v", body)
			}
			e.MustGQL(admin, `mutation($id: String!) { revokeIntegrationClient(input: {clientId: $id}) { errors { code } } }`, map[string]any{"id": id})
			if _, body, _ := e.oauthForm("/oauth/introspect", testAdminID, testAdminSecret, tokenForm(tok)); body["active"] != false {
				t.Fatalf("after: %v", body)
			}
			// The revoked client itself can no longer call the endpoints.
			if status, _, _ := e.oauthForm("/oauth/revoke", id, sec, tokenForm(tok)); status != 401 {
				t.Fatalf("revoked client revoking: %d", status)
			}
		})

		t.Run("who may revoke whose tokens", func(t *testing.T) {
			cases := []struct {
				name, id, sec string
				allowed       bool
			}{
				{"another client, not an admin", bobID, bobSecret, false},
				{"an admin client of another workspace", fabAdminID, fabAdminSecret, false},
				{"an admin client of the token's workspace", homeAdminID, homeAdminSecret, true},
				{"the platform admin", testAdminID, testAdminSecret, true},
			}
			for _, c := range cases {
				tok := e.Token(aliceID, aliceSecret)
				status, body, _ := e.oauthForm("/oauth/revoke", c.id, c.sec, tokenForm(tok))
				refused := e.GQL(tok, `{ viewer { clientId } }`, nil).Status == 401
				switch {
				case c.allowed && (status != 200 || !refused):
					t.Errorf("%s: %d %v, token refused afterwards: %v", c.name, status, body, refused)
				case !c.allowed && (status != 400 || body["error"] != "unauthorized_client" || !strings.HasPrefix(str(body, "error_description"), "this client may not revoke this token: a client revokes the tokens issued to it") || refused):
					t.Errorf("%s: %d %v, token refused afterwards: %v", c.name, status, body, refused)
				}
			}
			// The platform admin's tokens are out of reach of the admins of its workspace, as
			// the client itself is.
			for _, c := range [][2]string{{homeAdminID, homeAdminSecret}, {fabAdminID, fabAdminSecret}} {
				// The refusal states the rule, not that the token is the platform admin's.
				if status, body, _ := e.oauthForm("/oauth/revoke", c[0], c[1], tokenForm(admin)); status != 400 || strings.Contains(str(body, "error_description"), "platform admin's token") ||
					!strings.HasPrefix(str(body, "error_description"), "this client may not revoke this token:") {
					t.Fatalf("%s revoking the platform admin's token: %d %v", c[0], status, body)
				}
				if _, body, _ := e.oauthForm("/oauth/introspect", c[0], c[1], tokenForm(admin)); body["active"] != false {
					t.Fatalf("%s introspecting the platform admin's token: %v", c[0], body)
				}
			}
			e.MustGQL(admin, `{ viewer { clientId } }`, nil)
		})
	})
}
