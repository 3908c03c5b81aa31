package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2/clientcredentials"

	"gatehouse/app"
	"gatehouse/secret"
	"gatehouse/store/storetest"
)

// Fixed bootstrap credentials of test servers.
const (
	testAdminID     = "ghc_test_admin"
	testAdminSecret = "ghs_test_admin_secret_value_0123456789"
)

// testEnv is a running Gatehouse on a fresh database, reached through real HTTP.
type testEnv struct {
	t   *testing.T
	URL string
	app *app.App
	cfg app.Config
}

// eachDB runs fn against a fresh server on every dialect under test.
func eachDB(t *testing.T, fn func(t *testing.T, e *testEnv)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, dbURL string) { fn(t, newTestEnv(t, dbURL)) })
}

// newTestEnv starts a server; mods adjust its configuration first.
func newTestEnv(t *testing.T, dbURL string, mods ...func(*app.Config)) *testEnv {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + srv.Listener.Addr().String()
	cfg := app.Config{DatabaseURL: dbURL, PublicURL: publicURL, EncryptionKey: secret.NewKey(),
		BootstrapClientID: testAdminID, BootstrapClientSecret: testAdminSecret, AllowPrivateNetworks: true}
	for _, mod := range mods {
		mod(&cfg)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(context.Background(), cfg, log, io.Discard)
	if err != nil {
		t.Fatalf("newApp: %v", err)
	}
	srv.Config.Handler = checkContract(t, a.Handler()) // every /api/v1 exchange is checked against the OpenAPI document
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		a.Store().Close()
	})
	return &testEnv{t: t, URL: publicURL, app: a, cfg: cfg}
}

// replica starts a second server on the same database and configuration, as a second
// replica behind the same public URL would be. It returns the replica's own address.
func (e *testEnv) replica() string {
	e.t.Helper()
	log := slog.New(slog.NewTextHandler(e.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(context.Background(), e.cfg, log, io.Discard)
	if err != nil {
		e.t.Fatalf("replica: %v", err)
	}
	srv := httptest.NewServer(checkContract(e.t, a.Handler()))
	e.t.Cleanup(func() {
		srv.Close()
		a.Store().Close()
	})
	return srv.URL
}

// gqlAt is gql against another base URL (a replica).
func (e *testEnv) gqlAt(base, token, query string) *gqlResponse {
	saved := e.URL
	e.URL = base
	defer func() { e.URL = saved }()
	return e.gql(token, query, nil)
}

// token fetches an access token with the real clientcredentials client.
func (e *testEnv) token(id, sec string, scopes ...string) string {
	e.t.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: sec, TokenURL: e.URL + "/oauth/token", Scopes: scopes}
	tok, err := cc.Token(context.Background())
	if err != nil {
		e.t.Fatalf("token for %s: %v", id, err)
	}
	return tok.AccessToken
}

// adminToken is a token of the bootstrap client with all scopes.
func (e *testEnv) adminToken() string { return e.token(testAdminID, testAdminSecret) }

// gqlResponse is a decoded GraphQL response.
type gqlResponse struct {
	Status int
	Data   map[string]any
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	Raw string
}

// gql posts a GraphQL operation with a bearer token and decodes the answer.
func (e *testEnv) gql(token, query string, vars map[string]any) *gqlResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &gqlResponse{Status: resp.StatusCode, Raw: string(raw)}
	if err := json.Unmarshal(raw, out); err != nil {
		e.t.Fatalf("graphql: decode %q: %v", raw, err)
	}
	return out
}

// mustGQL is gql that fails the test on any top-level error.
func (e *testEnv) mustGQL(token, query string, vars map[string]any) map[string]any {
	e.t.Helper()
	r := e.gql(token, query, vars)
	if r.Status != 200 || len(r.Errors) > 0 {
		e.t.Fatalf("graphql: status %d: %s", r.Status, r.Raw)
	}
	return r.Data
}

// get walks a decoded JSON value: get(v, "a", "b", 0, "c").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// str is get that returns a string ("" when absent).
func str(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

// payloadErrors returns a mutation payload's errors, failing on a missing list.
func payloadErrors(t *testing.T, data map[string]any, field string) []any {
	t.Helper()
	errs, ok := get(data, field, "errors").([]any)
	if !ok {
		t.Fatalf("%s: no errors list in %v", field, data)
	}
	return errs
}

// createClient creates an integration client through GraphQL and returns its credentials.
func (e *testEnv) createClient(token string, scopes []string, workspaceID string) (id, sec string) {
	e.t.Helper()
	in := map[string]any{"name": "test client " + strings.Join(scopes, ","), "scopes": scopes}
	if workspaceID != "" {
		in["workspaceId"] = workspaceID
	}
	d := e.mustGQL(token, `mutation($in: CreateIntegrationClientInput!) { createIntegrationClient(input: $in) {
		integrationClient { clientId name scopes } clientSecret errors { label message code } } }`, map[string]any{"in": in})
	if errs := payloadErrors(e.t, d, "createIntegrationClient"); len(errs) > 0 {
		e.t.Fatalf("createIntegrationClient: %v", errs)
	}
	return str(d, "createIntegrationClient", "integrationClient", "clientId"), str(d, "createIntegrationClient", "clientSecret")
}

// createUser creates a user account and returns its UUID.
func (e *testEnv) createUser(token, email string) string {
	e.t.Helper()
	d := e.mustGQL(token, `mutation($e: String!) { createUserAccount(input: {email: $e, firstName: "Test", lastName: "User"}) {
		userAccount { uuid } errors { label message code } } }`, map[string]any{"e": email})
	if errs := payloadErrors(e.t, d, "createUserAccount"); len(errs) > 0 {
		e.t.Fatalf("createUserAccount %s: %v", email, errs)
	}
	return str(d, "createUserAccount", "userAccount", "uuid")
}

// createOIDCConnection creates an OIDC connection with the given slug and returns its id.
func (e *testEnv) createOIDCConnection(token, name, slug string) string {
	e.t.Helper()
	d := e.mustGQL(token, `mutation($n: String!, $s: String) { createConnection(input: {name: $n, slug: $s, protocol: OIDC,
		oidcConfig: {issuerUrl: "https://login.example.com/tenant/v2.0", clientId: "client", clientSecret: "secret"}}) {
		connection { id slug } errors { label message code } } }`, map[string]any{"n": name, "s": slug})
	if errs := payloadErrors(e.t, d, "createConnection"); len(errs) > 0 {
		e.t.Fatalf("createConnection: %v", errs)
	}
	return str(d, "createConnection", "connection", "id")
}
