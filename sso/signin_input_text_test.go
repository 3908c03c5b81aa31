package sso_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// The OpenID Provider's endpoints (and the test sign-in page) answer text that no client_id,
// slug, domain, state, nonce or token can hold (NUL, invalid UTF-8, control characters: the
// input text rule, models/text.go) as the client's mistake it is, on either database. PostgreSQL cannot even compare such a value
// (SQLSTATE 22021), and each of these requests, made by anyone, answered 500 or server_error
// there and logged an ERROR, while SQLite took a NUL in a state or nonce and issued a code.
func TestOpenIDProviderRefusesUnstorableText(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-text", "email": "text@example.com", "given_name": "Tex", "family_name": "T"})
		page := func(r result, status int, says string) bool {
			return r.status == status && strings.Contains(r.body, says)
		}
		for _, bad := range []struct{ name, v string }{{"NUL", "\x00"}, {"invalid UTF-8", "\xff"}, {"control", "\x1b"}} {
			t.Run(bad.name, func(t *testing.T) {
				clientID := "gha_" + bad.v + "x"
				t.Run("client_id at the token endpoint: invalid_client", func(t *testing.T) {
					st, body := postToken(t, e, "", "", url.Values{"grant_type": {"authorization_code"}, "code": {"c"},
						"redirect_uri": {w.redirect}, "client_id": {clientID}})
					if st != http.StatusUnauthorized || body["error"] != "invalid_client" {
						t.Fatalf("%d %v", st, body)
					}
				})
				t.Run("client_id at the revocation endpoint: invalid_client", func(t *testing.T) {
					form := url.Values{"token": {"t"}, "client_id": {clientID}}
					resp, err := http.Post(e.URL+"/oauth/revoke", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
					if err != nil {
						t.Fatal(err)
					}
					if r := resultOf(resp); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "invalid_client") {
						t.Fatalf("%d %s", r.status, r.body)
					}
				})
				t.Run("client_id at authorize and logout: an unknown application", func(t *testing.T) {
					q := url.Values{"client_id": {clientID}, "redirect_uri": {w.redirect}, "response_type": {"code"}, "scope": {"openid"}}
					if r := newBrowser(t, w.redirect).get(t, e.URL+"/oauth/authorize?"+q.Encode()); !page(r, http.StatusBadRequest, "is not registered") {
						t.Fatalf("authorize: %d %s", r.status, r.body)
					}
					q = url.Values{"client_id": {clientID}}
					if r := newBrowser(t, w.redirect).get(t, e.URL+"/oauth/logout?"+q.Encode()); !page(r, http.StatusBadRequest, "is not registered") {
						t.Fatalf("logout: %d %s", r.status, r.body)
					}
				})
				authorize := func(state string, extra ...string) result {
					opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}
					for i := 0; i+1 < len(extra); i += 2 {
						opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
					}
					return newBrowser(t, w.redirect).get(t, w.app.AuthCodeURL(state, opts...))
				}
				t.Run("state and nonce: invalid_request, the state not echoed", func(t *testing.T) {
					for _, r := range []result{authorize("s"+bad.v, "connection", w.slug), authorize("s", "connection", w.slug, "nonce", "n"+bad.v)} {
						if r.status != http.StatusFound || r.query.Get("error") != "invalid_request" || r.query.Get("code") != "" || r.query.Has("state") && r.query.Get("state") != "s" {
							t.Fatalf("%d %s %s", r.status, r.location, r.body)
						}
					}
				})
				t.Run("connection: an unknown connection", func(t *testing.T) {
					if r := authorize("s", "connection", w.slug+bad.v); r.query.Get("error") != "access_denied" || r.query.Get("state") != "s" {
						t.Fatalf("%d %s %s", r.status, r.location, r.body)
					}
				})
				t.Run("a test sign-in URL: not found", func(t *testing.T) {
					if r := newBrowser(t, w.redirect).get(t, e.URL+"/sso/test-sign-in/"+url.PathEscape("t"+bad.v)); !page(r, http.StatusNotFound, "unknown") {
						t.Fatalf("%d %s", r.status, r.body)
					}
				})
				t.Run("domain_hint and login_hint: the email page", func(t *testing.T) {
					for _, r := range []result{authorize("s", "domain_hint", "exa"+bad.v+"mple.com"), authorize("s", "login_hint", "text@exa"+bad.v+"mple.com")} {
						if !page(r, http.StatusOK, `type="email"`) {
							t.Fatalf("%d %s %s", r.status, r.location, r.body)
						}
					}
				})
			})
		}
	})
}
