// Package apptest starts the real Gatehouse app (package app) behind httptest for the tests of
// every transport: on SQLite always, and on PostgreSQL too when GATEHOUSE_TEST_POSTGRES_URL is
// set, each test on a fresh database dropped at cleanup. Its helpers speak to the server over
// real HTTP only (GraphQL, REST, SCIM, the token endpoint), and every /api/v1 exchange is
// checked against rest/openapi.yaml; AbortOnce, the one exception, makes the server's database
// fail as it does under concurrent writers. It is for tests; nothing else imports it.
package apptest

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
	AdminID     = "ghc_test_admin"
	AdminSecret = "ghs_test_admin_secret_value_0123456789"
)

// Env is a running Gatehouse on a fresh database, reached through real HTTP.
type Env struct {
	T      *testing.T
	URL    string
	App    *app.App
	Config app.Config
}

// Each runs fn against a fresh server on every dialect under test; mods adjust each server's
// configuration.
func Each(t *testing.T, fn func(t *testing.T, e *Env), mods ...func(*app.Config)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, dbURL string) { fn(t, New(t, dbURL, mods...)) })
}

// New starts a server on dbURL; mods adjust its configuration first.
func New(t *testing.T, dbURL string, mods ...func(*app.Config)) *Env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + srv.Listener.Addr().String()
	cfg := app.Config{DatabaseURL: dbURL, PublicURL: publicURL, EncryptionKey: secret.NewKey(),
		BootstrapClientID: AdminID, BootstrapClientSecret: AdminSecret, AllowPrivateNetworks: true}
	for _, mod := range mods {
		mod(&cfg)
	}
	e := &Env{T: t, URL: publicURL, Config: cfg}
	e.App = e.start()
	srv.Config.Handler = CheckContract(t, e.App.Handler()) // every /api/v1 exchange is checked against the OpenAPI document
	srv.Start()
	t.Cleanup(srv.Close)
	return e
}

// start builds an app of e's configuration, closed at cleanup.
func (e *Env) start() *app.App {
	e.T.Helper()
	log := slog.New(slog.NewTextHandler(e.T.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(context.Background(), e.Config, log, io.Discard)
	if err != nil {
		e.T.Fatalf("app.New: %v", err)
	}
	e.T.Cleanup(func() { a.Store().Close() })
	return a
}

// Replica starts a second server on the same database and configuration, as a second
// replica behind the same public URL would be. It returns the replica's own address.
func (e *Env) Replica() string {
	e.T.Helper()
	srv := httptest.NewServer(CheckContract(e.T, e.start().Handler()))
	e.T.Cleanup(srv.Close)
	return srv.URL
}

// GQLAt is GQL against another base URL (a replica).
func (e *Env) GQLAt(base, token, query string) *GQLResponse {
	saved := e.URL
	e.URL = base
	defer func() { e.URL = saved }()
	return e.GQL(token, query, nil)
}

// Token fetches an access token with the real clientcredentials client.
func (e *Env) Token(id, sec string, scopes ...string) string {
	e.T.Helper()
	cc := clientcredentials.Config{ClientID: id, ClientSecret: sec, TokenURL: e.URL + "/oauth/token", Scopes: scopes}
	tok, err := cc.Token(context.Background())
	if err != nil {
		e.T.Fatalf("token for %s: %v", id, err)
	}
	return tok.AccessToken
}

// AdminToken is a token of the bootstrap client with all scopes.
func (e *Env) AdminToken() string { return e.Token(AdminID, AdminSecret) }

// GQLResponse is a decoded GraphQL response.
type GQLResponse struct {
	Status int
	Header http.Header
	Data   map[string]any
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	Raw string
}

// GQL posts a GraphQL operation with a bearer token and decodes the answer.
func (e *Env) GQL(token, query string, vars map[string]any) *GQLResponse {
	e.T.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &GQLResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, out); err != nil {
		e.T.Fatalf("graphql: decode %q: %v", raw, err)
	}
	return out
}

// MustGQL is GQL that fails the test on any top-level error.
func (e *Env) MustGQL(token, query string, vars map[string]any) map[string]any {
	e.T.Helper()
	r := e.GQL(token, query, vars)
	if r.Status != 200 || len(r.Errors) > 0 {
		e.T.Fatalf("graphql: status %d: %s", r.Status, r.Raw)
	}
	return r.Data
}

// Get walks a decoded JSON value: Get(v, "a", "b", 0, "c").
func Get(v any, path ...any) any {
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

// Str is Get that returns a string ("" when absent).
func Str(v any, path ...any) string {
	s, _ := Get(v, path...).(string)
	return s
}

// PayloadErrors returns a mutation payload's errors, failing on a missing list.
func PayloadErrors(t *testing.T, data map[string]any, field string) []any {
	t.Helper()
	errs, ok := Get(data, field, "errors").([]any)
	if !ok {
		t.Fatalf("%s: no errors list in %v", field, data)
	}
	return errs
}

// CreateClient creates an integration client through GraphQL and returns its credentials.
func (e *Env) CreateClient(token string, scopes []string, workspaceID string) (id, sec string) {
	e.T.Helper()
	in := map[string]any{"name": "test client " + strings.Join(scopes, ","), "scopes": scopes}
	if workspaceID != "" {
		in["workspaceId"] = workspaceID
	}
	d := e.MustGQL(token, `mutation($in: CreateIntegrationClientInput!) { createIntegrationClient(input: $in) {
		integrationClient { clientId name scopes } clientSecret errors { label message code } } }`, map[string]any{"in": in})
	if errs := PayloadErrors(e.T, d, "createIntegrationClient"); len(errs) > 0 {
		e.T.Fatalf("createIntegrationClient: %v", errs)
	}
	return Str(d, "createIntegrationClient", "integrationClient", "clientId"), Str(d, "createIntegrationClient", "clientSecret")
}

// CreateUser creates a user account and returns its UUID.
func (e *Env) CreateUser(token, email string) string {
	e.T.Helper()
	d := e.MustGQL(token, `mutation($e: String!) { createUserAccount(input: {email: $e, firstName: "Test", lastName: "User"}) {
		userAccount { uuid } errors { label message code } } }`, map[string]any{"e": email})
	if errs := PayloadErrors(e.T, d, "createUserAccount"); len(errs) > 0 {
		e.T.Fatalf("createUserAccount %s: %v", email, errs)
	}
	return Str(d, "createUserAccount", "userAccount", "uuid")
}

// CreateOIDCConnection creates an OIDC connection with the given slug and returns its id.
func (e *Env) CreateOIDCConnection(token, name, slug string) string {
	e.T.Helper()
	d := e.MustGQL(token, `mutation($n: String!, $s: String) { createConnection(input: {name: $n, slug: $s, protocol: OIDC,
		oidcConfig: {issuerUrl: "https://login.example.com/tenant/v2.0", clientId: "client", clientSecret: "secret"}}) {
		connection { id slug } errors { label message code } } }`, map[string]any{"n": name, "s": slug})
	if errs := PayloadErrors(e.T, d, "createConnection"); len(errs) > 0 {
		e.T.Fatalf("createConnection: %v", errs)
	}
	return Str(d, "createConnection", "connection", "id")
}

// CreateBrand creates a brand and returns its id.
func (e *Env) CreateBrand(token, name string) string {
	e.T.Helper()
	d := e.MustGQL(token, `mutation($n: String!) { createBrand(input: {name: $n}) { brand { id name slug } errors { label message } } }`,
		map[string]any{"n": name})
	if errs := PayloadErrors(e.T, d, "createBrand"); len(errs) > 0 {
		e.T.Fatalf("createBrand: %v", errs)
	}
	return Str(d, "createBrand", "brand", "id")
}

// CreateCompany creates a company and returns its id.
func (e *Env) CreateCompany(token, name string) string {
	e.T.Helper()
	d := e.MustGQL(token, `mutation($n: String!) { createCompany(input: {name: $n}) { company { id } errors { label message } } }`,
		map[string]any{"n": name})
	if errs := PayloadErrors(e.T, d, "createCompany"); len(errs) > 0 {
		e.T.Fatalf("createCompany: %v", errs)
	}
	return Str(d, "createCompany", "company", "id")
}

// CreateAccount creates a COMPANY account when companyID is set, else an INDIVIDUAL one.
func (e *Env) CreateAccount(token, name, companyID string) string {
	e.T.Helper()
	in := map[string]any{"name": name, "type": "INDIVIDUAL"}
	if companyID != "" {
		in["type"], in["companyId"] = "COMPANY", companyID
	}
	d := e.MustGQL(token, `mutation($in: CreateAccountInput!) { createAccount(input: $in) { account { id } errors { label message } } }`,
		map[string]any{"in": in})
	if errs := PayloadErrors(e.T, d, "createAccount"); len(errs) > 0 {
		e.T.Fatalf("createAccount: %v", errs)
	}
	return Str(d, "createAccount", "account", "id")
}
