package oauth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestTokenEndpoint(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		t.Run("client credentials with Basic and with form fields", func(t *testing.T) {
			for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
				cc := clientcredentials.Config{ClientID: testAdminID, ClientSecret: testAdminSecret,
					TokenURL: e.URL + "/oauth/token", AuthStyle: style}
				tok, err := cc.Token(context.Background())
				if err != nil {
					t.Fatalf("style %v: %v", style, err)
				}
				if tok.TokenType != "Bearer" || tok.AccessToken == "" || time.Until(tok.Expiry) < 50*time.Minute {
					t.Fatalf("style %v: unexpected token %+v", style, tok)
				}
				if got := tok.Extra("scope"); got != "graphql graphql:read admin" {
					t.Fatalf("scope = %v", got)
				}
			}
		})

		t.Run("token verifies against the JWKS and carries the claims", func(t *testing.T) {
			raw := e.Token(testAdminID, testAdminSecret, "graphql:read")
			keys := oidc.NewRemoteKeySet(context.Background(), e.URL+"/.well-known/jwks.json")
			payload, err := keys.VerifySignature(context.Background(), raw)
			if err != nil {
				t.Fatalf("verify with JWKS: %v", err)
			}
			var c struct {
				jwt.Claims
				Scope       string `json:"scope"`
				WorkspaceID string `json:"workspace_id"`
				ClientID    string `json:"client_id"`
			}
			if err := json.Unmarshal(payload, &c); err != nil {
				t.Fatal(err)
			}
			if c.Issuer != e.URL || c.Subject != testAdminID || c.ClientID != testAdminID || c.Scope != "graphql:read" ||
				c.WorkspaceID == "" || c.ID == "" || c.Expiry == nil || c.IssuedAt == nil || !c.Audience.Contains(e.URL) {
				t.Fatalf("claims: %+v", c)
			}
		})

		t.Run("metadata", func(t *testing.T) {
			resp, err := http.Get(e.URL + "/.well-known/oauth-authorization-server")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var m map[string]any
			json.NewDecoder(resp.Body).Decode(&m)
			if m["issuer"] != e.URL || m["token_endpoint"] != e.URL+"/oauth/token" || m["jwks_uri"] != e.URL+"/.well-known/jwks.json" ||
				m["introspection_endpoint"] != e.URL+"/oauth/introspect" || m["revocation_endpoint"] != e.URL+"/oauth/revoke" {
				t.Fatalf("metadata: %v", m)
			}
			// It describes the issuer as OpenID discovery does (a library reading either meets
			// the same provider), with what integration clients use besides.
			meta := resp.Header.Get("Cache-Control")
			resp, err = http.Get(e.URL + "/.well-known/openid-configuration")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// Cached alike: a client that caches one document keeps the other as long.
			if cc := resp.Header.Get("Cache-Control"); meta != cc || cc == "" {
				t.Errorf("Cache-Control: metadata %q, discovery %q", meta, cc)
			}
			var d map[string]any
			json.NewDecoder(resp.Body).Decode(&d)
			differ := map[string]string{
				"grant_types_supported": "[client_credentials authorization_code]",
				"scopes_supported":      "[openid email profile graphql graphql:read admin]",
			}
			for k, v := range d {
				if want, ok := differ[k]; ok {
					if fmt.Sprint(m[k]) != want {
						t.Errorf("metadata %s = %v, want %s", k, m[k], want)
					}
				} else if fmt.Sprint(m[k]) != fmt.Sprint(v) {
					t.Errorf("metadata %s = %v, discovery %v", k, m[k], v)
				}
			}
			if len(d) < 20 || fmt.Sprint(m["introspection_endpoint_auth_methods_supported"]) != "[client_secret_basic client_secret_post]" ||
				fmt.Sprint(m["revocation_endpoint_auth_methods_supported"]) != "[client_secret_basic client_secret_post none]" {
				t.Fatalf("discovery %v\nmetadata %v", d, m)
			}
		})

		t.Run("RFC 6749 errors", func(t *testing.T) {
			form := func(kv ...string) string {
				v := url.Values{}
				for i := 0; i < len(kv); i += 2 {
					v.Add(kv[i], kv[i+1])
				}
				return v.Encode()
			}
			cases := []struct {
				name       string
				method     string
				ctype      string
				basic      []string
				body       string
				status     int
				code       string
				wwwAuth    bool
				descSubstr string
			}{
				{"no grant_type", "POST", "", nil, form("client_id", testAdminID, "client_secret", testAdminSecret), 400, "invalid_request", false, "grant_type"},
				{"unsupported grant", "POST", "", nil, form("grant_type", "password", "client_id", testAdminID, "client_secret", testAdminSecret), 400, "unsupported_grant_type", false, ""},
				{"wrong secret in form", "POST", "", nil, form("grant_type", "client_credentials", "client_id", testAdminID, "client_secret", "nope"), 401, "invalid_client", false, ""},
				{"wrong secret with Basic", "POST", "", []string{testAdminID, "nope"}, form("grant_type", "client_credentials"), 401, "invalid_client", true, ""},
				{"unknown client with Basic", "POST", "", []string{"ghc_nobody", "x"}, form("grant_type", "client_credentials"), 401, "invalid_client", true, ""},
				{"no client authentication", "POST", "", nil, form("grant_type", "client_credentials"), 401, "invalid_client", true, ""},
				{"two authentication methods", "POST", "", []string{testAdminID, testAdminSecret}, form("grant_type", "client_credentials", "client_secret", testAdminSecret), 400, "invalid_request", false, "one client authentication method"},
				{"scope the client lacks", "POST", "", []string{testAdminID, testAdminSecret}, form("grant_type", "client_credentials", "scope", "graphql superuser"), 400, "invalid_scope", false, "scope superuser is not one of this client's scopes"},
				{"repeated parameter", "POST", "", []string{testAdminID, testAdminSecret}, "grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request", false, "repeated"},
				{"JSON body", "POST", "application/json", []string{testAdminID, testAdminSecret}, `{"grant_type":"client_credentials"}`, 400, "invalid_request", false, "x-www-form-urlencoded"},
				{"GET", "GET", "", []string{testAdminID, testAdminSecret}, "", 405, "invalid_request", false, "POST"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					req, _ := http.NewRequest(c.method, e.URL+"/oauth/token", strings.NewReader(c.body))
					ct := c.ctype
					if ct == "" {
						ct = "application/x-www-form-urlencoded"
					}
					req.Header.Set("Content-Type", ct)
					if c.basic != nil {
						req.SetBasicAuth(c.basic[0], c.basic[1])
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					var body struct {
						Error string `json:"error"`
						Desc  string `json:"error_description"`
					}
					json.NewDecoder(resp.Body).Decode(&body)
					if resp.StatusCode != c.status || body.Error != c.code {
						t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, body.Error, body.Desc, c.status, c.code)
					}
					if got := resp.Header.Get("WWW-Authenticate") != ""; got != c.wwwAuth {
						t.Fatalf("WWW-Authenticate present = %v, want %v", got, c.wwwAuth)
					}
					if !strings.Contains(body.Desc, c.descSubstr) {
						t.Fatalf("description %q lacks %q", body.Desc, c.descSubstr)
					}
					if resp.Header.Get("Cache-Control") != "no-store" {
						t.Fatalf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
					}
					if strings.Contains(body.Desc, testAdminSecret) {
						t.Fatal("secret echoed")
					}
				})
			}
		})

		t.Run("scope narrowing", func(t *testing.T) {
			tok := e.Token(testAdminID, testAdminSecret, "graphql:read")
			r := e.GQL(tok, `mutation { createUserAccount(input: {email: "x@example.com"}) { errors { message } } }`, nil)
			if r.Status != 200 || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("read-only token mutated: %s", r.Raw)
			}
			if d := e.MustGQL(tok, `{ userAccounts { totalCount } }`, nil); get(d, "userAccounts", "totalCount") != 0.0 {
				t.Fatalf("query with read-only token: %v", d)
			}
		})

		t.Run("revoked client's tokens stop within 5 seconds", func(t *testing.T) {
			admin := e.AdminToken()
			id, sec := e.CreateClient(admin, []string{"graphql"}, "")
			tok := e.Token(id, sec)
			e.MustGQL(tok, `{ viewer { clientId } }`, nil)
			// A second replica verifies the token with the keys it reads from the shared
			// database, and learns of the revocation only through the database.
			replica := e.Replica()
			if r := e.GQLAt(replica, tok, `{ viewer { clientId } }`); r.Status != 200 {
				t.Fatalf("replica refused a valid token: %s", r.Raw)
			}
			d := e.MustGQL(admin, `mutation($id: String!) { revokeIntegrationClient(input: {clientId: $id}) {
				integrationClient { revoked } errors { message } } }`, map[string]any{"id": id})
			if get(d, "revokeIntegrationClient", "integrationClient", "revoked") != true {
				t.Fatalf("revoke: %v", d)
			}
			revokedAt := time.Now()
			for {
				r := e.GQLAt(replica, tok, `{ viewer { clientId } }`)
				if r.Status == 401 && e.GQL(tok, `{ viewer { clientId } }`, nil).Status == 401 {
					t.Logf("revocation took effect on the replica after %v", time.Since(revokedAt))
					break
				}
				if time.Since(revokedAt) > 5*time.Second {
					t.Fatalf("token still accepted 5 s after revocation: %s", r.Raw)
				}
				time.Sleep(100 * time.Millisecond)
			}
			cc := clientcredentials.Config{ClientID: id, ClientSecret: sec, TokenURL: e.URL + "/oauth/token"}
			if _, err := cc.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "invalid_client") {
				t.Fatalf("revoked client got a token: %v", err)
			}
		})

		t.Run("rotated secret replaces the old one", func(t *testing.T) {
			admin := e.AdminToken()
			id, old := e.CreateClient(admin, []string{"graphql:read"}, "")
			d := e.MustGQL(admin, `mutation($id: String!) { rotateIntegrationClientSecret(input: {clientId: $id}) { clientSecret errors { message } } }`,
				map[string]any{"id": id})
			fresh := str(d, "rotateIntegrationClientSecret", "clientSecret")
			if fresh == "" || fresh == old {
				t.Fatalf("rotate: %v", d)
			}
			e.Token(id, fresh)
			deadline := time.Now().Add(5 * time.Second)
			for {
				cc := clientcredentials.Config{ClientID: id, ClientSecret: old, TokenURL: e.URL + "/oauth/token"}
				if _, err := cc.Token(context.Background()); err != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("old secret still works 5 s after rotation")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})

		t.Run("bad bearer tokens", func(t *testing.T) {
			tok := e.AdminToken()
			tampered := tok[:len(tok)-4] + "AAAA"
			for _, bad := range []string{"garbage", tampered, strings.Repeat("a", 5000)} {
				if r := e.GQL(bad, `{ viewer { clientId } }`, nil); r.Status != 401 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
					t.Fatalf("bad token accepted: %s", r.Raw)
				}
			}
		})
	})
}

func TestClientSecretsAreStoredHashed(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		_, sec := e.CreateClient(e.AdminToken(), []string{"graphql"}, "")
		var n int64
		db := e.App.Store()
		for _, s := range []string{sec, testAdminSecret} {
			if err := db.RawScan(context.Background(), &n, "SELECT count(*) FROM integration_clients WHERE secret_hash = ? OR scopes = ? OR name = ?", s, s, s); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatal("a client secret is stored in plain text")
			}
		}
	})
}
