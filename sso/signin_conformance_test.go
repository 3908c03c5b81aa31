package sso_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/clock"
)

// The OpenID Foundation's Basic OP and Config OP test plans, walked by hand where the other
// tests leave a module uncovered: what the OpenID Provider must accept without acting on it,
// what it must answer whatever the client sends, and what a relying party checks of its
// tokens and keys. Each subtest names its conformance-suite module or the requirement.
func TestOpenIDProviderConformance(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		ctx := context.Background()
		idp.as(map[string]any{"sub": "okta-conf", "email": "conf@example.com", "given_name": "Connie", "family_name": "Form"})
		// signIn runs a sign-in of the confidential application with exactly the parameters
		// given besides client_id, redirect_uri and response_type (no nonce unless given), and
		// redeems its code.
		signIn := func(t *testing.T, params ...string) (*oauth2.Token, result) {
			t.Helper()
			verifier := oauth2.GenerateVerifier()
			opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "conf@example.com")}
			for i := 0; i+1 < len(params); i += 2 {
				opts = append(opts, oauth2.SetAuthURLParam(params[i], params[i+1]))
			}
			r := newBrowser(t, w.redirect).get(t, w.app.AuthCodeURL("st", opts...))
			if r.query.Get("code") == "" {
				t.Fatalf("sign-in with %v: %+v", params, r)
			}
			tok, err := w.app.Exchange(ctx, r.query.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			return tok, r
		}
		prov, err := oidc.NewProvider(ctx, e.URL)
		if err != nil {
			t.Fatal(err)
		}
		verifyID := func(t *testing.T, tok *oauth2.Token) (*oidc.IDToken, map[string]any) {
			t.Helper()
			raw, _ := tok.Extra("id_token").(string)
			idt, err := prov.Verifier(&oidc.Config{ClientID: w.app.ClientID, SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, raw)
			if err != nil {
				t.Fatalf("verify id_token: %v", err)
			}
			claims := map[string]any{}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			return idt, claims
		}

		t.Run("oidcc-ensure-request-without-nonce-succeeds-for-code-flow: no nonce asked, none given", func(t *testing.T) {
			tok, _ := signIn(t, "scope", "openid")
			_, claims := verifyID(t, tok)
			if _, ok := claims["nonce"]; ok {
				t.Fatalf("nonce without one in the request: %v", claims)
			}
		})

		// OIDC Core §3.1.2.1: scope values not understood SHOULD be ignored; RFC 6749 §3.3: the
		// order is the client's, and §5.1: the token response names the scope granted when it
		// differs. scopes_supported lists no address or phone, so oidcc-scope-address, -phone and
		// -all are skipped by the suite; a client that asks for them still signs in.
		t.Run("oidcc-ensure-other-scope-order-succeeds, oidcc-scope-all: any order, unknown scopes ignored", func(t *testing.T) {
			for scope, granted := range map[string]string{
				"email profile openid":                       "openid email profile",
				"openid profile email address phone offline": "openid email profile",
				"email openid":                               "openid email",
			} {
				tok, _ := signIn(t, "scope", scope, "nonce", "n")
				if got, _ := tok.Extra("scope").(string); got != granted {
					t.Errorf("scope %q: granted %q, want %q", scope, got, granted)
				}
				verifyID(t, tok)
			}
		})

		// OIDC Core §3.1.2.1 (display, ui_locales, claims_locales: OPTIONAL, and an OP that does
		// not act on them signs in as without), §5.5 (claims: claims_parameter_supported is
		// false, so it is ignored and userinfo answers as always), RFC 6749 §3.1 (unknown
		// parameters MUST be ignored).
		t.Run("oidcc-display-page/popup, oidcc-ui-locales, oidcc-claims-locales, oidcc-claims-essential, unknown parameter: signed in as without them", func(t *testing.T) {
			for _, params := range [][]string{
				{"display", "page"}, {"display", "popup"}, {"ui_locales", "se"}, {"claims_locales", "se"},
				{"claims", `{"userinfo":{"name":{"essential":true}}}`}, {"extra", "foobar"},
			} {
				tok, r := signIn(t, append([]string{"scope", "openid profile", "nonce", "n"}, params...)...)
				if r.query.Get("state") != "st" || r.query.Get("iss") != e.URL {
					t.Errorf("%v: answer %v", params, r.query)
				}
				idt, _ := verifyID(t, tok)
				if info := userinfo(t, e, tok.AccessToken); info.status != 200 || info.body["sub"] != idt.Subject || info.body["name"] != "Connie Form" {
					t.Errorf("%v: userinfo %+v", params, info)
				}
			}
		})

		// The Basic OP plan runs oidcc-server once more with client_secret_post (OIDC Core §9,
		// RFC 6749 §2.3.1), which discovery lists; the other tests redeem with HTTP Basic.
		t.Run("oidcc-server-client-secret-post: the secret in the form", func(t *testing.T) {
			if methods := discoveryOf(t, e)["token_endpoint_auth_methods_supported"]; !strings.Contains(fmt.Sprint(methods), "client_secret_post") {
				t.Fatalf("token_endpoint_auth_methods_supported = %v", methods)
			}
			post := *w.app
			post.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			verifier := oauth2.GenerateVerifier()
			r := newBrowser(t, w.redirect).get(t, post.AuthCodeURL("st", oidc.Nonce("n"), oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("login_hint", "conf@example.com")))
			tok, err := post.Exchange(ctx, r.query.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange with client_secret_post: %v", err)
			}
			if _, claims := verifyID(t, tok); claims["nonce"] != "n" {
				t.Fatalf("claims: %v", claims)
			}
		})

		// RFC 6749 §3.1: a parameter sent without a value MUST be treated as omitted.
		t.Run("authorization parameters without a value are omitted", func(t *testing.T) {
			q := url.Values{"client_id": {w.app.ClientID}, "redirect_uri": {w.redirect}, "response_type": {"code"}, "scope": {"openid"},
				"login_hint": {"conf@example.com"}}
			for _, k := range []string{"state", "nonce", "prompt", "max_age", "acr_values", "id_token_hint", "request", "request_uri",
				"response_mode", "code_challenge", "code_challenge_method", "domain_hint", "connection", "display", "ui_locales"} {
				q.Set(k, "")
			}
			r := newBrowser(t, w.redirect).get(t, e.URL+"/oauth/authorize?"+q.Encode())
			if r.query.Get("code") == "" || r.query.Has("state") {
				t.Fatalf("empty parameters: %+v", r)
			}
			tok, err := w.app.Exchange(ctx, r.query.Get("code"))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			verifyID(t, tok)
		})

		// OIDC Core §3.1.2.1 makes redirect_uri REQUIRED (RFC 6749 §3.1.2.3 lets a client with one
		// registered URI leave it out; the applications here have two): without it there is no
		// URI to answer at, so the person gets a page, never a redirect.
		t.Run("oidcc-ensure-redirect-uri-in-authorization-request: no redirect_uri, a page", func(t *testing.T) {
			for _, redirect := range []string{"", "&redirect_uri="} {
				r := newBrowser(t, w.redirect).get(t, e.URL+"/oauth/authorize?response_type=code&scope=openid&state=s&login_hint=conf%40example.com&client_id="+
					w.app.ClientID+redirect)
				if r.status != 400 || r.location != "" || !strings.Contains(r.body, "redirect_uri") {
					t.Fatalf("authorize without a redirect_uri (%q): %+v", redirect, r)
				}
			}
		})

		// OIDC Core §5.3.1: the OP MUST support GET and POST at userinfo, the token as a bearer
		// token (RFC 6750 §2); §5.3.2: its sub is the id_token's, in application/json. A token in
		// a form body (RFC 6750 §2.2, a MAY) is not taken: oidcc-userinfo-post-body ends with
		// the warning the suite allows for that.
		t.Run("oidcc-userinfo-get, oidcc-userinfo-post-header, oidcc-userinfo-post-body", func(t *testing.T) {
			tok, _ := signIn(t, "scope", "openid email profile", "nonce", "n")
			idt, _ := verifyID(t, tok)
			for _, method := range []string{"GET", "POST"} {
				req, _ := http.NewRequest(method, e.URL+"/oauth/userinfo", nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var body map[string]any
				json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || body["sub"] != idt.Subject ||
					body["email"] != "conf@example.com" || body["email_verified"] != true {
					t.Errorf("%s userinfo: %d %v %v", method, resp.StatusCode, resp.Header, body)
				}
			}
			resp, err := http.PostForm(e.URL+"/oauth/userinfo", url.Values{"access_token": {tok.AccessToken}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("userinfo with the token in the body: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})

		// What oidcc-server checks of every id_token and of the JWKS before anything else:
		// ValidateIdToken (iat within minutes of now, exp after it), OIDC Core §10.1 and the
		// suite's CheckForKeyIdInServerJWKs / CheckDistinctKeyIdValueInServerJWKs (each key has a
		// kid, none twice, the id_token's names one with its alg), RFC 7517 §1.1 (no private
		// member published), and OIDC Core §3.1.3.6: an at_hash, when there is one, is the
		// access token's.
		t.Run("id_token and JWKS: kid present and published, distinct, public only; iat and exp sane; at_hash", func(t *testing.T) {
			tok, _ := signIn(t, "scope", "openid", "nonce", "n")
			raw, _ := tok.Extra("id_token").(string)
			h := jwtHeader(t, raw)
			resp, err := http.Get(e.URL + "/.well-known/jwks.json")
			if err != nil {
				t.Fatal(err)
			}
			var set struct{ Keys []map[string]any }
			json.NewDecoder(resp.Body).Decode(&set)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || len(set.Keys) == 0 {
				t.Fatalf("JWKS: %d %v %v", resp.StatusCode, resp.Header, set)
			}
			seen, found := map[string]bool{}, false
			for _, k := range set.Keys {
				kid, _ := k["kid"].(string)
				if kid == "" || seen[kid] || k["use"] != "sig" {
					t.Errorf("JWKS key without a kid, or a kid twice, or not for signatures: %v", k)
				}
				seen[kid] = true
				for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
					if _, ok := k[private]; ok {
						t.Errorf("JWKS key %s publishes %q", kid, private)
					}
				}
				found = found || kid == h["kid"] && k["alg"] == h["alg"]
			}
			if !found || h["alg"] != "ES256" {
				t.Fatalf("id_token header %v names no published key of its alg: %v", h, set.Keys)
			}
			_, claims := verifyID(t, tok)
			iat, exp := time.Unix(int64(claims["iat"].(float64)), 0), time.Unix(int64(claims["exp"].(float64)), 0)
			if d := time.Since(iat); d < -time.Minute || d > time.Minute || !exp.After(iat) || exp.Sub(iat) > 24*time.Hour {
				t.Fatalf("iat %v, exp %v", iat, exp)
			}
			if at, ok := claims["at_hash"].(string); ok {
				sum := sha256.Sum256([]byte(tok.AccessToken))
				if at != base64.RawURLEncoding.EncodeToString(sum[:16]) {
					t.Fatalf("at_hash %q is not the access token's", at)
				}
			}
		})
	})
}

// oidcc-codereuse-30seconds: a code presented again 30 seconds after its redemption, and again
// after it would have expired, is invalid_grant (RFC 6749 §4.1.2: the server MUST deny it) and
// revokes the access token the first redemption issued (SHOULD): the suite warns when that token
// still works at userinfo. (The immediate replay: TestOIDCSignIn.)
func TestCodeReplayedLaterRevokesItsTokens(t *testing.T) {
	idp := newTestIdP(t)
	var fake *clock.Fake // each server's own
	apptest.Each(t, func(t *testing.T, env *apptest.Env) {
		e := &testEnv{env}
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-reuse", "email": "reuse@example.com"})
		for _, later := range []time.Duration{30 * time.Second, 90 * time.Second} {
			res, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "reuse@example.com")
			_, tok := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			fake.Advance(later)
			if _, err := w.app.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("the code again %v later: %v", later, err)
			}
			if info := userinfo(t, e, tok.AccessToken); info.status != 401 {
				t.Fatalf("the first token after the code came back %v later: %+v", later, info)
			}
		}
	}, func(c *app.Config) { fake = clock.NewFake(time.Now()); c.TestClock = fake })
}

// RFC 6749 §3.2: a token request's parameter sent without a value MUST be treated as omitted,
// so an empty client_secret beside HTTP Basic is no second authentication method; and §5.2:
// an error_description holds printable ASCII but '"' and '\', whatever the request carried.
func TestTokenEndpointReadsParametersAsRFC6749Says(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-form", "email": "form@example.com"})
		t.Run("an empty client_secret beside HTTP Basic is omitted", func(t *testing.T) {
			redeem := func(secretInForm string) (int, map[string]any) {
				t.Helper()
				res, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "form@example.com")
				return postToken(t, e, w.app.ClientID, w.app.ClientSecret, url.Values{"grant_type": {"authorization_code"},
					"code": {res.query.Get("code")}, "redirect_uri": {w.redirect}, "code_verifier": {verifier}, "client_secret": {secretInForm}})
			}
			if status, body := redeem(""); status != 200 || body["id_token"] == nil {
				t.Fatalf("Basic with an empty client_secret: %d %v", status, body)
			}
			// A secret in both is still two methods.
			if status, body := redeem(w.app.ClientSecret); status != 400 || body["error"] != "invalid_request" {
				t.Fatalf("Basic and client_secret: %d %v", status, body)
			}
		})

		t.Run("error_description stays within RFC 6749's characters", func(t *testing.T) {
			outside := func(s string) bool {
				return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' })
			}
			// A verifier outside RFC 7636's alphabet, whose refusal cites the RFC.
			bad := strings.Repeat("!@ $", 12)
			r := newBrowser(t, w.redirect).get(t, w.pub.AuthCodeURL("s", oauth2.S256ChallengeOption(bad), oauth2.SetAuthURLParam("login_hint", "form@example.com")))
			status, body := postToken(t, e, "", "", url.Values{"grant_type": {"authorization_code"}, "code": {r.query.Get("code")},
				"client_id": {w.pub.ClientID}, "redirect_uri": {w.redirect}, "code_verifier": {bad}})
			if desc, _ := body["error_description"].(string); status != 400 || body["error"] != "invalid_grant" || outside(desc) {
				t.Errorf("a verifier outside the alphabet: %d %q", status, desc)
			}
			// A scope an integration client does not have is quoted in the description.
			status, body = postToken(t, e, apptest.AdminID, apptest.AdminSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {`naïve"\scope`}})
			if desc, _ := body["error_description"].(string); status != 400 || body["error"] != "invalid_scope" || outside(desc) {
				t.Errorf("an unknown scope: %d %q", status, desc)
			}
		})
	})
}

// RFC 6749 §3.1 and §3.2: unrecognized parameters MUST be ignored, repeated or not (RFC 8707's
// resource is sent once per resource, and openid-client sends it so), and a parameter sent
// without a value counts as not sent; only a parameter Gatehouse reads or OIDC Core defines is
// refused when repeated.
func TestUnknownParametersAreIgnoredEvenRepeated(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-resource", "email": "resource@example.com"})
		extra := "&resource=" + url.QueryEscape("https://api.example.com/") + "&resource=" + url.QueryEscape("https://files.example.com/") +
			"&x-tenant=a&x-tenant=b&nonce=&state=&ui_locales="
		verifier := oauth2.GenerateVerifier()
		u := w.app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier),
			oauth2.SetAuthURLParam("login_hint", "resource@example.com")) + extra
		for _, method := range []string{"GET", "POST"} {
			var r result
			if method == "GET" {
				r = newBrowser(t, w.redirect).get(t, u)
			} else {
				parsed, _ := url.Parse(u)
				r = newBrowser(t, w.redirect).post(t, e.URL+"/oauth/authorize", parsed.Query())
			}
			if r.query.Get("code") == "" || r.query.Get("state") != "app-state" {
				t.Fatalf("%s authorize with repeated unknown parameters: %+v", method, r)
			}
			status, body := postToken(t, e, w.app.ClientID, w.app.ClientSecret, url.Values{"grant_type": {"authorization_code"},
				"code": {r.query.Get("code")}, "redirect_uri": {w.redirect}, "code_verifier": {verifier},
				"resource": {"https://api.example.com/", "https://files.example.com/"}, "client_secret": {"", ""}})
			if status != 200 || body["id_token"] == nil {
				t.Fatalf("%s: token request with repeated resource: %d %v", method, status, body)
			}
		}
		// Parameters Gatehouse reads are still refused when repeated.
		r := newBrowser(t, w.redirect).get(t, u+"&prompt=login&prompt=consent")
		if r.query.Get("error") != "invalid_request" || !strings.Contains(r.query.Get("error_description"), "prompt is repeated") {
			t.Fatalf("repeated prompt: %+v", r)
		}
		status, body := postToken(t, e, w.app.ClientID, w.app.ClientSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {"c1", "c2"}, "redirect_uri": {w.redirect}})
		if status != 400 || body["error"] != "invalid_request" {
			t.Fatalf("repeated code: %d %v", status, body)
		}
	})
}
