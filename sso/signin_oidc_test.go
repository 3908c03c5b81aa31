package sso_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/clock"
	"gatehouse/store/storetest"
)

func TestOIDCSignIn(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		b := newBrowser(t, w.redirect)

		t.Run("discovery", func(t *testing.T) {
			d := discoveryOf(t, e)
			for k, want := range map[string]string{"issuer": e.URL, "authorization_endpoint": e.URL + "/oauth/authorize",
				"token_endpoint": e.URL + "/oauth/token", "userinfo_endpoint": e.URL + "/oauth/userinfo", "jwks_uri": e.URL + "/.well-known/jwks.json"} {
				if d[k] != want {
					t.Errorf("%s = %v, want %s", k, d[k], want)
				}
			}
			for k, want := range map[string]string{"response_types_supported": "code", "subject_types_supported": "public",
				"id_token_signing_alg_values_supported": "ES256 RS256", "code_challenge_methods_supported": "S256",
				"scopes_supported": "openid email profile"} {
				var got []string
				for _, v := range d[k].([]any) {
					got = append(got, v.(string))
				}
				if strings.Join(got, " ") != want {
					t.Errorf("%s = %v, want %s", k, got, want)
				}
			}
			// Every authorization response names its issuer (RFC 9207; the answers' tests
			// check it).
			if d["authorization_response_iss_parameter_supported"] != true {
				t.Errorf("authorization_response_iss_parameter_supported = %v", d["authorization_response_iss_parameter_supported"])
			}
		})

		t.Run("REST shows the callback URL of an OIDC connection", func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.URL+"/api/v1/sso/connections/"+w.conn, nil)
			req.Header.Set("Authorization", "Bearer "+w.tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var d map[string]any
			json.NewDecoder(resp.Body).Decode(&d)
			if str(d, "connection", "oidcConfig", "callbackUrl") != e.URL+"/sso/oidc/callback" {
				t.Fatalf("REST connection: %v", d)
			}
		})

		var sub string
		t.Run("first sign-in provisions an account (JIT), routed by login_hint", func(t *testing.T) {
			idp.as(map[string]any{"sub": "okta-0001", "email": "jane@example.com", "given_name": "Jane", "family_name": "Doe", "company": "Acme"})
			res, verifier := w.signIn(t, b, w.app, "login_hint", "Jane@Example.com")
			if res.query.Get("code") == "" || res.query.Get("state") != "app-state" {
				t.Fatalf("no code: %+v", res)
			}
			if seen := idp.seen; seen.Get("state") == "app-state" || seen.Get("nonce") == "app-nonce" || len(seen.Get("state")) < 22 ||
				len(seen.Get("nonce")) < 22 || seen.Get("code_challenge_method") != "S256" {
				t.Fatalf("Gatehouse must send its own state, nonce and PKCE to the IdP: %v", seen)
			}
			claims, tok := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			sub, _ = claims["sub"].(string)
			want := map[string]any{"iss": e.URL, "aud": w.app.ClientID, "email": "jane@example.com", "email_verified": true,
				"name": "Jane Doe", "given_name": "Jane", "family_name": "Doe", "role": "member", "connection": w.slug, "sign_in": "provisioned"}
			for k, v := range want {
				if claims[k] != v {
					t.Errorf("claim %s = %v, want %v", k, claims[k], v)
				}
			}
			for _, k := range []string{"exp", "iat", "auth_time", "workspace_id", "account_id"} {
				if claims[k] == nil {
					t.Errorf("claim %s missing: %v", k, claims)
				}
			}
			d := e.MustGQL(w.tok, `query($u: ID!) { userAccount(uuid: $u) { email firstName lastName role account { id } credentials { authModule identifier } } }`, map[string]any{"u": sub})
			if str(d, "userAccount", "email") != "jane@example.com" || str(d, "userAccount", "account", "id") != claims["account_id"] ||
				str(d, "userAccount", "credentials", 0, "identifier") != "okta-0001" {
				t.Fatalf("the account as GraphQL reads it: %v (claims %v)", d, claims)
			}
			info := userinfo(t, e, tok.AccessToken)
			if info.status != 200 || info.body["sub"] != sub || info.body["email"] != "jane@example.com" || info.body["given_name"] != "Jane" {
				t.Fatalf("userinfo: %+v", info)
			}
			// An API token is not a person's, and the person's access token is not an API token.
			if info := userinfo(t, e, w.tok); info.status != 401 {
				t.Fatalf("userinfo with an integration client's token: %+v", info)
			}
			if r := e.GQL(tok.AccessToken, `{ viewer { clientId } }`, nil); r.Status != 401 {
				t.Fatalf("a sign-in access token must not open the API: %d %s", r.Status, r.Raw)
			}
		})

		t.Run("returning sign-in: existing identity, routed by connection slug", func(t *testing.T) {
			res, verifier := w.signIn(t, b, w.app, "connection", w.slug)
			claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if claims["sign_in"] != "existing_identity" || claims["sub"] != sub {
				t.Fatalf("claims: %v", claims)
			}
		})

		t.Run("provisioned with placement: the brand's configuration, company claim", func(t *testing.T) {
			globex := e.CreateCompany(w.tok, "Globex")
			hq := e.CreateAccount(w.tok, "Globex HQ", globex)
			d := e.MustGQL(w.tok, `mutation($b: ID!, $c: ID!) { brands { createIdentityProviderConfiguration(input: {brandId: $b, identityProviderId: $c,
				autoProvisionLearners: true}) { errors { label message } } } }`, map[string]any{"b": w.brand, "c": w.conn})
			if errs := get(d, "brands", "createIdentityProviderConfiguration", "errors").([]any); len(errs) > 0 {
				t.Fatalf("configuration: %v", errs)
			}
			idp.as(map[string]any{"sub": "okta-globex", "email": "gina@example.com", "given_name": "Gina", "company": "Globex"})
			res, verifier := w.signIn(t, b, w.app, "login_hint", "gina@example.com")
			claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if claims["sign_in"] != "provisioned" || claims["account_id"] != hq {
				t.Fatalf("placement by company match into %s: %v", hq, claims)
			}
		})

		t.Run("an account with the email at a verified domain is linked", func(t *testing.T) {
			uid := e.CreateUser(w.tok, "bob@example.com")
			idp.as(map[string]any{"sub": "okta-0002", "email": "bob@example.com"})
			res, verifier := w.signIn(t, b, w.app, "domain_hint", "EXAMPLE.com")
			claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if claims["sign_in"] != "linked_by_email" || claims["sub"] != uid {
				t.Fatalf("claims: %v", claims)
			}
		})

		t.Run("an email the IdP has not verified never links to the account that has it", func(t *testing.T) {
			for i, unverified := range []any{false, "false"} {
				uid := e.CreateUser(w.tok, fmt.Sprintf("victim%d@example.com", i))
				idp.as(map[string]any{"sub": fmt.Sprintf("attacker-%d", i), "email": fmt.Sprintf("victim%d@example.com", i), "email_verified": unverified})
				res, verifier := w.signIn(t, b, w.app, "domain_hint", "example.com")
				if res.query.Get("code") == "" {
					t.Fatalf("email_verified=%v: no code: %+v", unverified, res)
				}
				claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
				if claims["sub"] == uid || claims["sign_in"] == "linked_by_email" || claims["email"] == fmt.Sprintf("victim%d@example.com", i) {
					t.Fatalf("email_verified=%v: the unverified email reached the victim's account: %v", unverified, claims)
				}
			}
		})

		t.Run("deactivated person is refused with the engine's reason", func(t *testing.T) {
			uid := e.CreateUser(w.tok, "carl@example.com")
			e.MustGQL(w.tok, `mutation($u: ID!) { deactivateUserAccount(input: {uuid: $u}) { errors { code } } }`, map[string]any{"u": uid})
			idp.as(map[string]any{"sub": "okta-0003", "email": "carl@example.com"})
			res, _ := w.signIn(t, b, w.app, "login_hint", "carl@example.com")
			if res.query.Get("error") != "access_denied" || !strings.Contains(res.query.Get("error_description"), "deactivated") ||
				res.query.Get("code") != "" || res.query.Get("state") != "app-state" {
				t.Fatalf("refusal: %+v", res)
			}
		})

		t.Run("a person deactivated between the sign-in and the code's redemption gets no tokens", func(t *testing.T) {
			uid := e.CreateUser(w.tok, "dora@example.com")
			idp.as(map[string]any{"sub": "okta-0004", "email": "dora@example.com"})
			res, verifier := w.signIn(t, b, w.app, "login_hint", "dora@example.com")
			if res.query.Get("code") == "" {
				t.Fatalf("sign-in: %+v", res)
			}
			e.MustGQL(w.tok, `mutation($u: ID!) { deactivateUserAccount(input: {uuid: $u}) { errors { code } } }`, map[string]any{"u": uid})
			_, err := w.app.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(verifier))
			if !isOAuthError(err, "invalid_grant") {
				t.Fatalf("redemption after deactivation: %v", err)
			}
		})

		t.Run("a reactivated person's tokens and codes from before the deactivation stay void", func(t *testing.T) {
			uid := e.CreateUser(w.tok, "erin@example.com")
			idp.as(map[string]any{"sub": "okta-0005", "email": "erin@example.com"})
			res, verifier := w.signIn(t, b, w.app, "login_hint", "erin@example.com")
			_, tok := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			pending, pendingVerifier := w.signIn(t, b, w.app, "login_hint", "erin@example.com")
			if info := userinfo(t, e, tok.AccessToken); info.status != 200 || pending.query.Get("code") == "" {
				t.Fatalf("before: %+v, %+v", info, pending)
			}
			for _, m := range []string{"deactivateUserAccount", "reactivateUserAccount"} {
				e.MustGQL(w.tok, `mutation($u: ID!) { `+m+`(input: {uuid: $u}) { errors { code } } }`, map[string]any{"u": uid})
			}
			if info := userinfo(t, e, tok.AccessToken); info.status != 401 {
				t.Fatalf("an access token from before the deactivation, after the reactivation: %+v", info)
			}
			if _, err := w.app.Exchange(context.Background(), pending.query.Get("code"), oauth2.VerifierOption(pendingVerifier)); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("a code from before the deactivation, after the reactivation: %v", err)
			}
			res, verifier = w.signIn(t, b, w.app, "login_hint", "erin@example.com")
			if _, tok = w.claimsOf(t, w.app, res.query.Get("code"), verifier); userinfo(t, e, tok.AccessToken).status != 200 {
				t.Fatal("a sign-in after the reactivation got a token userinfo refuses")
			}
		})

		t.Run("a redirect URI removed before its code is redeemed: the code issues nothing", func(t *testing.T) {
			app := w.createApp(t, "Removed URI", "CONFIDENTIAL")
			d := e.MustGQL(w.tok, `query($b: ID!) { applications(brandId: $b) { id clientId } }`, map[string]any{"b": w.brand})
			var id string
			for _, a := range get(d, "applications").([]any) {
				if str(a, "clientId") == app.ClientID {
					id = str(a, "id")
				}
			}
			idp.as(map[string]any{"sub": "okta-0005", "email": "erin@example.com"})
			res, verifier := w.signIn(t, b, app, "login_hint", "erin@example.com")
			if res.query.Get("code") == "" {
				t.Fatalf("sign-in: %+v", res)
			}
			d = e.MustGQL(w.tok, `mutation($id: ID!, $r: [String!]) { updateApplication(input: {id: $id, redirectUris: $r}) { errors { label message } } }`,
				map[string]any{"id": id, "r": []string{"https://portal.example.com/cb"}})
			if errs := payloadErrors(t, d, "updateApplication"); len(errs) > 0 {
				t.Fatalf("updateApplication: %v", errs)
			}
			_, err := app.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(verifier))
			if !isOAuthError(err, "invalid_grant") {
				t.Fatalf("redemption for a removed redirect URI: %v", err)
			}
		})

		t.Run("public application: PKCE required and checked", func(t *testing.T) {
			// Without a challenge: invalid_request, before any IdP.
			r := b.get(t, w.pub.AuthCodeURL("s1", oauth2.SetAuthURLParam("login_hint", "jane@example.com")))
			if r.query.Get("error") != "invalid_request" || r.query.Get("state") != "s1" {
				t.Fatalf("public without PKCE: %+v", r)
			}
			idp.as(map[string]any{"sub": "okta-0001", "email": "jane@example.com"})
			res, _ := w.signIn(t, b, w.pub, "login_hint", "jane@example.com")
			_, err := w.pub.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
			if !isOAuthError(err, "invalid_grant") {
				t.Fatalf("wrong verifier: %v", err)
			}
			res, verifier := w.signIn(t, b, w.pub, "login_hint", "jane@example.com")
			claims, _ := w.claimsOf(t, w.pub, res.query.Get("code"), verifier)
			if claims["sub"] != sub {
				t.Fatalf("public sign-in: %v", claims)
			}
		})

		t.Run("confidential application requiring PKCE; PUBLIC ones cannot stop requiring it", func(t *testing.T) {
			appID := str(e.MustGQL(w.tok, `{ applications(brandId: "`+w.brand+`") { id clientId type requirePkce } }`, nil), "applications", 0, "id")
			update := func(id string, require bool) map[string]any {
				return e.MustGQL(w.tok, `mutation($id: ID!, $r: Boolean) { updateApplication(input: {id: $id, requirePkce: $r}) {
					application { requirePkce } errors { label message } } }`, map[string]any{"id": id, "r": require})
			}
			withoutPKCE := func() result {
				return b.get(t, w.app.AuthCodeURL("s1", oidc.Nonce("n"), oauth2.SetAuthURLParam("login_hint", "jane@example.com")))
			}
			// By default a confidential application may leave PKCE out.
			idp.as(map[string]any{"sub": "okta-0001", "email": "jane@example.com"})
			if r := withoutPKCE(); r.query.Get("code") == "" {
				t.Fatalf("confidential without PKCE, not required: %+v", r)
			}
			// A code of a sign-in that began without PKCE before PKCE was required issues nothing
			// after: the application asked for every code to need a verifier.
			before := withoutPKCE()
			if before.query.Get("code") == "" {
				t.Fatalf("confidential without PKCE, not required: %+v", before)
			}
			if d := update(appID, true); len(payloadErrors(t, d, "updateApplication")) > 0 || get(d, "updateApplication", "application", "requirePkce") != true {
				t.Fatalf("requirePkce true: %v", d)
			}
			if r := withoutPKCE(); r.query.Get("error") != "invalid_request" || !strings.Contains(r.query.Get("error_description"), "PKCE") || r.query.Get("state") != "s1" {
				t.Fatalf("confidential without PKCE, required: %+v", r)
			}
			if _, err := w.app.Exchange(context.Background(), before.query.Get("code")); !isOAuthError(err, "invalid_grant") || !strings.Contains(err.Error(), "requires PKCE") {
				t.Fatalf("a code from before PKCE was required: %v", err)
			}
			res, verifier := w.signIn(t, b, w.app, "login_hint", "jane@example.com")
			if _, err := w.app.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("wrong verifier: %v", err)
			}
			res, verifier = w.signIn(t, b, w.app, "login_hint", "jane@example.com")
			if claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier); claims["sub"] != sub {
				t.Fatalf("confidential sign-in with PKCE: %v", claims)
			}
			if d := update(appID, false); get(d, "updateApplication", "application", "requirePkce") != false {
				t.Fatalf("requirePkce false: %v", d)
			}
			if r := withoutPKCE(); r.query.Get("code") == "" {
				t.Fatalf("confidential without PKCE, no longer required: %+v", r)
			}
			// A PUBLIC application reads requirePkce true, and false is a payload error.
			pubID := ""
			for _, a := range e.MustGQL(w.tok, `{ applications(brandId: "`+w.brand+`") { id type requirePkce } }`, nil)["applications"].([]any) {
				if a := a.(map[string]any); a["type"] == "PUBLIC" {
					pubID = a["id"].(string)
					if a["requirePkce"] != true {
						t.Errorf("a PUBLIC application's requirePkce: %v", a["requirePkce"])
					}
				}
			}
			if errs := payloadErrors(t, update(pubID, false), "updateApplication"); len(errs) != 1 || str(errs[0], "label") != "requirePkce" {
				t.Fatalf("requirePkce false on a PUBLIC application: %v", errs)
			}
			d := e.MustGQL(w.tok, `mutation($b: ID!) { createApplication(input: {brandId: $b, name: "SPA 2", redirectUris: ["https://spa.example.com/cb"], type: PUBLIC, requirePkce: false}) {
				application { id } errors { label message } } }`, map[string]any{"b": w.brand})
			if errs := payloadErrors(t, d, "createApplication"); len(errs) != 1 || str(errs[0], "label") != "requirePkce" {
				t.Fatalf("createApplication PUBLIC with requirePkce false: %v", d)
			}
		})

		t.Run("token endpoint and userinfo: RFC errors for a missing code, a verifier outside its alphabet, no credentials", func(t *testing.T) {
			// A verifier of characters outside RFC 7636's unreserved set is refused, even when its
			// S256 challenge matches.
			bad := strings.Repeat("!@ $", 12)
			idp.as(map[string]any{"sub": "okta-0001", "email": "jane@example.com"})
			r := b.get(t, w.pub.AuthCodeURL("s2", oidc.Nonce("n"), oauth2.S256ChallengeOption(bad), oauth2.SetAuthURLParam("login_hint", "jane@example.com")))
			if r.query.Get("code") == "" {
				t.Fatalf("sign-in: %+v", r)
			}
			if _, err := w.pub.Exchange(context.Background(), r.query.Get("code"), oauth2.VerifierOption(bad)); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("verifier outside the unreserved characters: %v", err)
			}
			resp, err := http.PostForm(e.URL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {w.pub.ClientID},
				"redirect_uri": {w.pub.RedirectURL}, "code_verifier": {oauth2.GenerateVerifier()}})
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != 400 || body["error"] != "invalid_request" {
				t.Fatalf("no code: %d %v", resp.StatusCode, body)
			}
			// RFC 6750 §3.1: no bearer credentials (none, or another scheme's) get a challenge
			// with no error; "Bearer" without a token is a malformed request.
			for _, c := range []struct{ authorization, challenge string }{
				{"", `Bearer realm="gatehouse"`},
				{"Basic " + base64.StdEncoding.EncodeToString([]byte(w.app.ClientID+":"+w.app.ClientSecret)), `Bearer realm="gatehouse"`},
				{"Bearer", `Bearer error="invalid_request"`},
				{"Bearer   ", `Bearer error="invalid_request"`},
				{"Bearer not-a-token", `Bearer error="invalid_token"`},
			} {
				req, _ := http.NewRequest("GET", e.URL+"/oauth/userinfo", nil)
				if c.authorization != "" {
					req.Header.Set("Authorization", c.authorization)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				status := 401
				if strings.Contains(c.challenge, "invalid_request") {
					status = 400
				}
				if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), c.challenge) {
					t.Errorf("userinfo with Authorization %q: %d %q, want %d %s", c.authorization, resp.StatusCode,
						resp.Header.Get("WWW-Authenticate"), status, c.challenge)
				}
			}
		})

		t.Run("confidential application: no client authentication, no tokens", func(t *testing.T) {
			res, verifier := w.signIn(t, b, w.app, "login_hint", "jane@example.com")
			noSecret := *w.app
			noSecret.ClientSecret = ""
			if _, err := noSecret.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_client") {
				t.Fatalf("no secret: %v", err)
			}
			wrong := *w.app
			wrong.ClientSecret = "ghas_wrong"
			if _, err := wrong.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_client") {
				t.Fatalf("wrong secret: %v", err)
			}
			// No secret at all, in the form: the 401 names the authentication it lacks, as an
			// integration client's does; a wrong one in the form stays unchallenged.
			for secret, challenge := range map[string]bool{"": true, "ghas_wrong": false} {
				form := url.Values{"grant_type": {"authorization_code"}, "code": {res.query.Get("code")}, "redirect_uri": {w.redirect},
					"code_verifier": {verifier}, "client_id": {w.app.ClientID}, "client_secret": {secret}}
				for _, path := range []string{"/oauth/token", "/oauth/revoke"} {
					if path == "/oauth/revoke" {
						form = url.Values{"token": {"x"}, "client_id": {w.app.ClientID}, "client_secret": {secret}}
					}
					resp, err := http.PostForm(e.URL+path, form)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || (got != "") != challenge || challenge && !strings.HasPrefix(got, "Basic ") {
						t.Errorf("%s with client_secret %q: %d, WWW-Authenticate %q, want 401 and a challenge: %v", path, secret, resp.StatusCode, got, challenge)
					}
				}
			}
		})

		t.Run("code replay: invalid_grant, and the first token is revoked", func(t *testing.T) {
			res, verifier := w.signIn(t, b, w.app, "login_hint", "jane@example.com")
			_, tok := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if info := userinfo(t, e, tok.AccessToken); info.status != 200 {
				t.Fatalf("userinfo before replay: %+v", info)
			}
			if _, err := w.app.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("replay: %v", err)
			}
			if info := userinfo(t, e, tok.AccessToken); info.status != 401 {
				t.Fatalf("userinfo after replay: %+v", info)
			}
			// A different redirect_uri at the token endpoint is refused too.
			res, verifier = w.signIn(t, b, w.app, "login_hint", "jane@example.com")
			other := *w.app
			other.RedirectURL = "https://portal.example.com/cb"
			if _, err := other.Exchange(context.Background(), res.query.Get("code"), oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("redirect_uri mismatch: %v", err)
			}
		})

		t.Run("another client's code: neither spent nor revoked by whoever presents it", func(t *testing.T) {
			// A public application authenticates with its client_id alone, so anyone can present
			// a leaked code of the confidential application under it.
			res, verifier := w.signIn(t, b, w.app, "login_hint", "jane@example.com")
			code := res.query.Get("code")
			if _, err := w.pub.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("an unredeemed code under another client: %v", err)
			}
			_, tok := w.claimsOf(t, w.app, code, verifier) // the code is still the application's
			if _, err := w.pub.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
				t.Fatalf("a redeemed code under another client: %v", err)
			}
			if info := userinfo(t, e, tok.AccessToken); info.status != 200 {
				t.Fatalf("the application's token after another client presented its code: %+v", info)
			}
		})

		t.Run("an application revokes its own access tokens (RFC 7009), and only its own", func(t *testing.T) {
			revoke := func(app *oauth2.Config, token string) (int, map[string]any) {
				t.Helper()
				form := url.Values{"token": {token}, "client_id": {app.ClientID}}
				if app.ClientSecret != "" {
					form.Set("client_secret", app.ClientSecret)
				}
				resp, err := http.PostForm(e.URL+"/oauth/revoke", form)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body := map[string]any{}
				json.NewDecoder(resp.Body).Decode(&body)
				return resp.StatusCode, body
			}
			res, verifier := w.signIn(t, b, w.app, "login_hint", "jane@example.com")
			_, tok := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if status, body := revoke(w.pub, tok.AccessToken); status != 400 || body["error"] != "unauthorized_client" {
				t.Fatalf("another application revoking the token: %d %v", status, body)
			}
			wrong := *w.app
			wrong.ClientSecret = "ghas_wrong"
			if status, body := revoke(&wrong, tok.AccessToken); status != 401 || body["error"] != "invalid_client" {
				t.Fatalf("a wrong secret: %d %v", status, body)
			}
			if info := userinfo(t, e, tok.AccessToken); info.status != 200 {
				t.Fatalf("refused revocations revoked the token: %+v", info)
			}
			// A valid token of the other kind of client was not issued to the caller either
			// (RFC 7009 §2.1): refused, not a 200 that leaves the token working.
			admin := &oauth2.Config{ClientID: apptest.AdminID, ClientSecret: apptest.AdminSecret}
			if status, body := revoke(admin, tok.AccessToken); status != 400 || body["error"] != "unauthorized_client" {
				t.Fatalf("an integration client revoking the application's token: %d %v", status, body)
			}
			apiToken := e.AdminToken()
			if status, body := revoke(w.app, apiToken); status != 400 || body["error"] != "unauthorized_client" {
				t.Fatalf("the application revoking an integration client's token: %d %v", status, body)
			}
			e.MustGQL(apiToken, "{ __typename }", nil)
			if info := userinfo(t, e, tok.AccessToken); info.status != 200 {
				t.Fatalf("refused revocations revoked the token: %+v", info)
			}
			if status, _ := revoke(w.app, tok.AccessToken); status != 200 {
				t.Fatalf("the application revoking its token: %d", status)
			}
			if info := userinfo(t, e, tok.AccessToken); info.status != 401 {
				t.Fatalf("userinfo after revocation: %+v", info)
			}
			// A public application names its client_id; a token that is no token is 200 (§2.2).
			res, verifier = w.signIn(t, b, w.pub, "login_hint", "jane@example.com")
			_, tok = w.claimsOf(t, w.pub, res.query.Get("code"), verifier)
			if status, _ := revoke(w.pub, tok.AccessToken); status != 200 || userinfo(t, e, tok.AccessToken).status != 401 {
				t.Fatalf("the public application revoking its token: %d", status)
			}
			if status, _ := revoke(w.pub, "not-a-token"); status != 200 {
				t.Fatalf("an invalid token: %d", status)
			}
		})

		t.Run("deleting the application revokes its tokens and codes", func(t *testing.T) {
			gone := w.createApp(t, "Short-lived", "CONFIDENTIAL")
			res, verifier := w.signIn(t, b, gone, "login_hint", "jane@example.com")
			_, tok := w.claimsOf(t, gone, res.query.Get("code"), verifier)
			res2, verifier2 := w.signIn(t, b, gone, "login_hint", "jane@example.com")
			var id string
			d := e.MustGQL(w.tok, `query($b: ID!) { applications(brandId: $b) { id clientId } }`, map[string]any{"b": w.brand})
			for _, a := range get(d, "applications").([]any) {
				if str(a, "clientId") == gone.ClientID {
					id = str(a, "id")
				}
			}
			e.MustGQL(w.tok, `mutation($id: ID!) { deleteApplication(input: {id: $id}) { deletedId } }`, map[string]any{"id": id})
			if info := userinfo(t, e, tok.AccessToken); info.status != 401 {
				t.Fatalf("userinfo after deletion: %+v", info)
			}
			if _, err := gone.Exchange(context.Background(), res2.query.Get("code"), oauth2.VerifierOption(verifier2)); !isOAuthError(err, "invalid_client") {
				t.Fatalf("a code of a deleted application: %v", err)
			}
		})

		t.Run("token response: no-store and no-cache, every field", func(t *testing.T) {
			res, verifier := w.signIn(t, b, w.app, "login_hint", "jane@example.com")
			form := url.Values{"grant_type": {"authorization_code"}, "code": {res.query.Get("code")}, "redirect_uri": {w.redirect}, "code_verifier": {verifier}}
			req, _ := http.NewRequest("POST", e.URL+"/oauth/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(w.app.ClientID, w.app.ClientSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" || body["token_type"] != "Bearer" ||
				body["scope"] != "openid email profile" || body["expires_in"] == nil || body["id_token"] == nil || body["access_token"] == nil {
				t.Fatalf("token response: %d %v %v", resp.StatusCode, resp.Header, body)
			}
		})
	})
}

// isOAuthError reports whether err is an OAuth error response with the code.
func isOAuthError(err error, code string) bool {
	re, ok := err.(*oauth2.RetrieveError)
	return ok && re.ErrorCode == code
}

type userinfoResult struct {
	status int
	body   map[string]any
}

func userinfo(t *testing.T, e *testEnv, token string) userinfoResult {
	t.Helper()
	req, _ := http.NewRequest("GET", e.URL+"/oauth/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Every answer, the person's data or a refusal, is not to be stored (OIDC Core §5.3.2
	// answers as RFC 6749 §5.1 does): Pragma for HTTP/1.0 caches.
	if h := resp.Header; h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" {
		t.Errorf("userinfo %d: Cache-Control %q, Pragma %q; want no-store, no-cache", resp.StatusCode, h.Get("Cache-Control"), h.Get("Pragma"))
	}
	out := userinfoResult{status: resp.StatusCode, body: map[string]any{}}
	json.NewDecoder(resp.Body).Decode(&out.body)
	return out
}

// The flow cookie is HttpOnly and SameSite=Lax always, and Secure exactly when the public URL
// is https; a start that makes one names it gatehouse_signin_ and a tag of its own (8
// base64url characters), so that starts at once in one browser do not overwrite each other's.
func TestSignInCookieAttributes(t *testing.T) {
	idp := newTestIdP(t)
	for _, https := range []bool{false, true} {
		storetest.Each(t, func(t *testing.T, dbURL string) {
			e := newTestEnv(t, dbURL, func(c *app.Config) {
				if https {
					c.PublicURL = "https://gatehouse.example"
				}
			})
			w := newSignInWorld(t, e, idp)
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Get(w.app.AuthCodeURL("s", oauth2.SetAuthURLParam("login_hint", "jane@example.com")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			sc := resp.Header.Get("Set-Cookie")
			name := `^gatehouse_signin_[A-Za-z0-9_-]{8}=`
			if https { // the __Host- prefix: a sibling subdomain cannot plant the cookie
				name = `^__Host-` + name[1:]
			}
			// Both cookies of a new secret (its own name, and the base name for replicas before
			// the tags) carry the same attributes, and the __Host- prefix on https.
			all := resp.Header.Values("Set-Cookie")
			base := "gatehouse_signin="
			if https {
				base = "__Host-" + base
			}
			if len(all) != 2 || !strings.HasPrefix(all[1], base) {
				t.Fatalf("https=%v: Set-Cookie %q", https, all)
			}
			for _, v := range all {
				if !strings.Contains(v, "Path=/") || !strings.Contains(v, "HttpOnly") || !strings.Contains(v, "SameSite=Lax") ||
					strings.Contains(v, "Secure") != https || strings.Contains(strings.ToLower(v), "domain=") {
					t.Fatalf("https=%v: Set-Cookie %q", https, v)
				}
			}
			if resp.StatusCode != http.StatusFound || !regexp.MustCompile(name).MatchString(sc) || !strings.Contains(sc, "Path=/") || !strings.Contains(sc, "HttpOnly") ||
				!strings.Contains(sc, "SameSite=Lax") || strings.Contains(sc, "Secure") != https {
				t.Fatalf("https=%v: %d Set-Cookie %q", https, resp.StatusCode, sc)
			}
			if https {
				// Without the prefix a cookie is none of Gatehouse's (a sibling subdomain may
				// have planted it): not adopted, well-formed or not.
				req, _ := http.NewRequest("GET", w.app.AuthCodeURL("s", oauth2.SetAuthURLParam("login_hint", "jane@example.com")), nil)
				req.AddCookie(&http.Cookie{Name: "gatehouse_signin_planted", Value: oauth2.GenerateVerifier()})
				req.AddCookie(&http.Cookie{Name: "gatehouse_signin", Value: oauth2.GenerateVerifier()})
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if sc := resp.Header.Get("Set-Cookie"); !regexp.MustCompile(name).MatchString(sc) {
					t.Fatalf("a cookie without the __Host- prefix was adopted: Set-Cookie %q", sc)
				}
			}
		})
	}
}

// An id_token that carries the identity's own claims (email with email_verified, both names)
// signs a returning person in without a request to userinfo; a person not yet bound gets
// userinfo's claims merged before the decision (here the company claim placement reads, which
// only userinfo has), and an id_token without them keeps the userinfo request every time.
func TestSignInUserinfoOnlyWhenNeeded(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		initech := e.CreateCompany(w.tok, "Initech")
		hq := e.CreateAccount(w.tok, "Initech HQ", initech)
		d := e.MustGQL(w.tok, `mutation($b: ID!, $c: ID!) { brands { createIdentityProviderConfiguration(input: {brandId: $b, identityProviderId: $c,
			autoProvisionLearners: true}) { errors { label message } } } }`, map[string]any{"b": w.brand, "c": w.conn})
		if errs := get(d, "brands", "createIdentityProviderConfiguration", "errors").([]any); len(errs) > 0 {
			t.Fatalf("configuration: %v", errs)
		}
		calls := func() (n int) { idp.set(func(p *testIdP) { n = p.userinfoCalls }); return n }
		idp.set(func(p *testIdP) { p.userinfoExtra = map[string]any{"company": "Initech"} })
		defer idp.set(func(p *testIdP) { p.userinfoExtra = nil })
		signIn := func(claims map[string]any, want string) map[string]any {
			t.Helper()
			idp.as(claims)
			r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("code") == "" {
				t.Fatalf("sign-in: %+v", r)
			}
			got, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier)
			if got["sign_in"] != want {
				t.Fatalf("sign_in %v, want %s: %v", got["sign_in"], want, got)
			}
			return got
		}
		peter := map[string]any{"sub": "okta-peter", "email": "peter@" + signInDomain, "email_verified": true,
			"given_name": "Peter", "family_name": "Gibbons"}
		before := calls()
		if got := signIn(peter, "provisioned"); got["account_id"] != hq {
			t.Fatalf("userinfo's company claim did not reach placement (want %s): %v", hq, got)
		}
		if calls() != before+1 {
			t.Fatalf("first sign-in: %d userinfo requests, want 1", calls()-before)
		}
		before = calls()
		if got := signIn(peter, "existing_identity"); got["email_verified"] != true || got["family_name"] != "Gibbons" {
			t.Fatalf("returning: %v", got)
		}
		renamed := maps.Clone(peter)
		renamed["family_name"] = "Gibbons-Smith" // the profile refresh decides in a transaction
		if got := signIn(renamed, "existing_identity"); got["family_name"] != "Gibbons-Smith" {
			t.Fatalf("refreshed: %v", got)
		}
		if calls() != before {
			t.Fatalf("returning sign-ins: %d userinfo requests, want none", calls()-before)
		}
		noNames := map[string]any{"sub": "okta-peter", "email": "peter@" + signInDomain, "email_verified": true}
		before = calls()
		signIn(noNames, "existing_identity")
		if calls() != before+1 {
			t.Fatalf("id_token without names: %d userinfo requests, want 1", calls()-before)
		}
	})
}

// An admin deletes the application, or removes the redirect URI the sign-in began with, while
// the person is at the IdP: the callback decides nothing (no account is provisioned), makes no
// code and sends the browser nowhere; it shows a page, and the attempt is a failed event.
func TestSignInApplicationChangedMidFlow(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		appID := func(app *oauth2.Config) string {
			d := e.MustGQL(w.tok, `query($b: ID!) { applications(brandId: $b) { id clientId } }`, map[string]any{"b": w.brand})
			for _, a := range get(d, "applications").([]any) {
				if str(a, "clientId") == app.ClientID {
					return str(a, "id")
				}
			}
			t.Fatalf("no application %s", app.ClientID)
			return ""
		}
		// Each change runs in the IdP's handler, so it reports with Errorf.
		for i, c := range []struct {
			name   string
			change func(id string)
		}{
			{"redirect URI removed", func(id string) {
				d := e.MustGQL(w.tok, `mutation($id: ID!) { updateApplication(input: {id: $id, redirectUris: ["https://portal.example.com/cb"]}) { application { redirectUris } } }`, map[string]any{"id": id})
				if fmt.Sprint(get(d, "updateApplication", "application", "redirectUris")) != "[https://portal.example.com/cb]" {
					t.Errorf("updateApplication: %v", d)
				}
			}},
			{"application deleted", func(id string) {
				d := e.MustGQL(w.tok, `mutation($id: ID!) { deleteApplication(input: {id: $id}) { deletedId } }`, map[string]any{"id": id})
				if str(d, "deleteApplication", "deletedId") != id {
					t.Errorf("deleteApplication: %v", d)
				}
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				app := w.createApp(t, c.name, "CONFIDENTIAL")
				id := appID(app)
				email := fmt.Sprintf("mid%d@example.com", i)
				idp.set(func(p *testIdP) { p.tokenHook = func() { c.change(id) } })
				idp.as(map[string]any{"sub": fmt.Sprintf("okta-mid%d", i), "email": email, "given_name": "Mid", "family_name": "Flow"})
				res, _ := w.signIn(t, newBrowser(t, w.redirect), app, "login_hint", email)
				if res.status != 400 || res.query.Get("code") != "" || !strings.Contains(res.body, "The application changed while you were signing in") {
					t.Fatalf("ended: %+v", res)
				}
				var n []int
				st := e.App.Store()
				if err := st.RawScan(context.Background(), &n, "SELECT count(*) FROM user_accounts WHERE email = ?", email); err != nil || n[0] != 0 {
					t.Fatalf("accounts provisioned: %v %v", n, err)
				}
				if err := st.RawScan(context.Background(), &n, "SELECT count(*) FROM sign_in_events WHERE identifier = ? AND outcome = 'failed'", fmt.Sprintf("okta-mid%d", i)); err != nil || n[0] != 1 {
					t.Fatalf("failed events: %v %v", n, err)
				}
			})
		}
	})
}

// TestCodeOfApplicationDeletedOnAnotherReplica: an application deleted on one replica while a
// person is at the IdP is still in the 2 s cache of the replica where the sign-in runs, which
// therefore finishes it with a code. That code issues nothing: the token endpoint answers
// invalid_grant, even on the replica that still caches the application. Both databases.
func TestCodeOfApplicationDeletedOnAnotherReplica(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		replica := e.Replica()
		// The replica's cache is this test's clock: a slow machine may outlast it before the
		// code is made or redeemed (then this server no longer knows the application, and the
		// attempt tells nothing). Such attempts are tried again.
		for attempt := 1; ; attempt++ {
			app := w.createApp(t, fmt.Sprintf("deleted elsewhere %d", attempt), "CONFIDENTIAL")
			var id string
			d := e.MustGQL(w.tok, `query($b: ID!) { applications(brandId: $b) { id clientId } }`, map[string]any{"b": w.brand})
			for _, a := range get(d, "applications").([]any) {
				if str(a, "clientId") == app.ClientID {
					id = str(a, "id")
				}
			}
			idp.set(func(p *testIdP) {
				p.tokenHook = func() {
					r := e.GQLAt(replica, w.tok, `mutation { deleteApplication(input: {id: "`+id+`"}) { deletedId } }`)
					if str(r.Data, "deleteApplication", "deletedId") != id {
						t.Errorf("deleteApplication at the replica: %s", r.Raw)
					}
				}
			})
			email := fmt.Sprintf("deleted-elsewhere%d@example.com", attempt)
			idp.as(map[string]any{"sub": fmt.Sprintf("okta-deleted-elsewhere%d", attempt), "email": email, "given_name": "Del", "family_name": "Eted"})
			res, verifier := w.signIn(t, newBrowser(t, w.redirect), app, "login_hint", email)
			idp.set(func(p *testIdP) { p.tokenHook = nil })
			code := res.query.Get("code")
			if code == "" && strings.Contains(res.body, "The application changed while you were signing in") && attempt < 5 {
				continue // this server's cache had expired
			}
			if code == "" {
				t.Fatalf("the sign-in ended without a code: %+v", res)
			}
			_, err := app.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			var re *oauth2.RetrieveError
			if errors.As(err, &re) && re.ErrorCode == "invalid_client" && attempt < 5 {
				continue // this server's cache had expired
			}
			if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
				t.Fatalf("the code of a deleted application: %v, want invalid_grant", err)
			}
			return
		}
	})
}

// TestOIDCTokenEndpointAuthMethod: the client secret goes to the IdP's token endpoint the way
// its discovery document says it takes it (token_endpoint_auth_methods_supported), in one
// request per sign-in: an IdP that takes only client_secret_post never sees a refused
// client_secret_basic attempt first. Without the list, the header is tried first
// (TestOIDCTokenEndpointAuthMethodDetected).
func TestOIDCTokenEndpointAuthMethod(t *testing.T) {
	for _, c := range []struct {
		name    string
		methods []string // nil: not advertised; the IdP takes both
		json    any      // advertised instead of methods
		secret  string   // "": the test IdP's
		want    string   // the method used
	}{
		{name: "client_secret_post only", methods: []string{"client_secret_post"}, want: "client_secret_post"},
		{name: "client_secret_basic only", methods: []string{"client_secret_basic"}, want: "client_secret_basic"},
		{name: "both", methods: []string{"client_secret_post", "client_secret_basic"}, want: "client_secret_basic"},
		// The header would carry the secret form-encoded, which not every IdP decodes.
		{name: "both, a secret the header would encode", methods: []string{"client_secret_post", "client_secret_basic"},
			secret: "a+b/c=d e", want: "client_secret_post"},
		{name: "basic only, a secret the header encodes", methods: []string{"client_secret_basic"},
			secret: "a+b/c=d e", want: "client_secret_basic"},
		{name: "not advertised", want: "client_secret_basic"},
		{name: "malformed", json: "client_secret_post", want: "client_secret_basic"},
	} {
		t.Run(c.name, func(t *testing.T) {
			idp := newTestIdP(t)
			eachDB(t, func(t *testing.T, e *testEnv) {
				idp.set(func(p *testIdP) {
					p.authMethods, p.authMethodsJSON, p.tokenCalls, p.clientAuthRefused = c.methods, c.json, 0, 0
					if c.secret != "" {
						p.secret = c.secret
					}
				})
				w := newSignInWorld(t, e, idp)
				for i := range 2 {
					idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true, "given_name": "Jane", "family_name": "Doe"})
					r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
					if r.query.Get("code") == "" {
						t.Fatalf("sign-in %d refused: %+v (cause %q)", i+1, r, lastCause(t, e, w.tok))
					}
				}
				if idp.tokenCalls != 2 || idp.clientAuthRefused != 0 || idp.lastAuthMethod != c.want {
					t.Fatalf("%d token requests, %d refused client authentications for two sign-ins; last by %s, want %s",
						idp.tokenCalls, idp.clientAuthRefused, idp.lastAuthMethod, c.want)
				}
			})
		})
	}
}

// TestOIDCTokenEndpointAuthMethodDetected: an IdP whose discovery document names no method
// (OpenID Connect Discovery's default is client_secret_basic) and that takes the secret only in
// the form refuses the header once; the form is then sent at once, and the next sign-ins send
// the code once, in the form. An IdP that fails the exchange otherwise (a 5xx, invalid_grant)
// sees the code once, and the cause is its answer: x/oauth2's own detection sent the code again
// in the form after any failure (a second redemption of the code, which the IdP takes for a
// replay) and remembered nothing.
func TestOIDCTokenEndpointAuthMethodDetected(t *testing.T) {
	idp := newTestIdP(t)
	notListed := json.RawMessage("null") // advertised as null: read as not listed
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp.set(func(p *testIdP) {
			p.authMethods, p.authMethodsJSON, p.tokenRequests, p.clientAuthRefused = []string{"client_secret_post"}, notListed, 0, 0
		})
		defer idp.set(func(p *testIdP) { p.authMethods, p.authMethodsJSON, p.grantError, p.grantStatus = nil, nil, "", 0 })
		w := newSignInWorld(t, e, idp)
		for i := range 3 {
			idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true, "given_name": "Jane", "family_name": "Doe"})
			r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("code") == "" {
				t.Fatalf("sign-in %d refused: %+v (cause %q)", i+1, r, lastCause(t, e, w.tok))
			}
		}
		if idp.tokenRequests != 4 || idp.clientAuthRefused != 1 || idp.lastAuthMethod != "client_secret_post" {
			t.Fatalf("%d token requests, %d refused client authentications for three sign-ins, the last by %s; want 4, 1, client_secret_post",
				idp.tokenRequests, idp.clientAuthRefused, idp.lastAuthMethod)
		}
	})
	// An IdP that reads the client ID only from the form answers the header invalid_request
	// (a client_id missing), not invalid_client: the code was not redeemed, and the form is sent.
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp.set(func(p *testIdP) {
			p.authMethods, p.authMethodsJSON, p.refusalCode, p.tokenRequests = []string{"client_secret_post"}, notListed, "invalid_request", 0
		})
		defer idp.set(func(p *testIdP) { p.authMethods, p.authMethodsJSON, p.refusalCode = nil, nil, "" })
		w := newSignInWorld(t, e, idp)
		for i := range 2 {
			idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true, "given_name": "Jane", "family_name": "Doe"})
			if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug); r.query.Get("code") == "" {
				t.Fatalf("sign-in %d with an IdP answering the header invalid_request: %+v (cause %q)", i+1, r, lastCause(t, e, w.tok))
			}
		}
		if idp.tokenRequests != 3 {
			t.Errorf("%d token requests for two sign-ins, want 3 (the header once)", idp.tokenRequests)
		}
		if res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200); get(res.Body, "details").(map[string]any)["clientAuthenticationValid"] != true {
			t.Errorf("the connection test: %s", res.Raw)
		}
	})
	for _, c := range []struct {
		code   string
		status int
	}{{"server_error", http.StatusInternalServerError}, {"invalid_grant", http.StatusBadRequest}} {
		eachDB(t, func(t *testing.T, e *testEnv) {
			idp.set(func(p *testIdP) {
				p.authMethodsJSON, p.tokenRequests, p.grantError, p.grantStatus = notListed, 0, c.code, c.status
			})
			defer idp.set(func(p *testIdP) { p.authMethodsJSON, p.grantError, p.grantStatus = nil, "", 0 })
			w := newSignInWorld(t, e, idp)
			idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true})
			r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("error") != "access_denied" {
				t.Fatalf("%s: the sign-in: %+v", c.code, r)
			}
			if cause := lastCause(t, e, w.tok); idp.tokenRequests != 1 || !strings.Contains(cause, "code exchange") || !strings.Contains(cause, c.code) {
				t.Errorf("%s: %d token requests (want 1), the cause %q", c.code, idp.tokenRequests, cause)
			}
		})
	}
}

// TestOIDCAuthorizedParty: an id_token issued to another client of the IdP, with Gatehouse's
// among its audiences, signs nobody in: an azp must be the connection's client ID, and several
// audiences need one (OpenID Connect Core 1.0 §3.1.3.7; go-oidc checks only that the audiences
// include the client).
func TestOIDCAuthorizedParty(t *testing.T) {
	idp := newTestIdP(t)
	for _, c := range []struct {
		name   string
		claims func(client string) map[string]any
		cause  string // "": signed in
	}{
		{"one audience, no azp", func(string) map[string]any { return nil }, ""},
		{"one audience, azp the client", func(cl string) map[string]any { return map[string]any{"azp": cl} }, ""},
		{"several audiences, azp the client", func(cl string) map[string]any {
			return map[string]any{"aud": []string{cl, "another-client"}, "azp": cl}
		}, ""},
		{"several audiences, no azp", func(cl string) map[string]any {
			return map[string]any{"aud": []string{"another-client", cl}}
		}, "2 audiences and no azp"},
		{"several audiences, azp another client", func(cl string) map[string]any {
			return map[string]any{"aud": []string{"another-client", cl}, "azp": "another-client"}
		}, `azp "another-client" is not the connection's client ID`},
		{"one audience, azp another client", func(string) map[string]any { return map[string]any{"azp": "another-client"} },
			`azp "another-client" is not`},
		{"azp not a string", func(string) map[string]any { return map[string]any{"azp": 7} }, `azp "7" is not`},
	} {
		t.Run(c.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, e *testEnv) {
				idp.set(func(p *testIdP) { p.idTokenClaims = c.claims(p.client) })
				defer idp.set(func(p *testIdP) { p.idTokenClaims = nil })
				w := newSignInWorld(t, e, idp)
				idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true, "given_name": "Jane", "family_name": "Doe"})
				r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
				if c.cause == "" {
					if r.query.Get("code") == "" {
						t.Fatalf("sign-in refused: %+v (cause %q)", r, lastCause(t, e, w.tok))
					}
					return
				}
				if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" {
					t.Fatalf("sign-in ended %+v", r)
				}
				if cause := lastCause(t, e, w.tok); !strings.Contains(cause, c.cause) {
					t.Fatalf("cause %q, want %q", cause, c.cause)
				}
			})
		})
	}
}

// TestOIDCIdPChangedItsDiscovery: an IdP that changes what its discovery document says (here
// its signing algorithm, RS256 to ES256, with a new key) while Gatehouse holds the document
// (an hour) does not fail its people's sign-ins meanwhile: an id_token the held document does
// not verify has the document read again, once, and is verified with it. The connection test
// reads the document afresh and passed all along, so the admin had nothing to go on. A
// document read less than a minute ago is not read again: an id_token that fails for another
// cause (here another audience) would otherwise cost a discovery and a key set at every
// sign-in. The client secret method detected with the old document holds with the new one.
func TestOIDCIdPChangedItsDiscovery(t *testing.T) {
	idp := newTestIdP(t)
	var fake *clock.Fake // each server's own
	apptest.Each(t, func(t *testing.T, env *apptest.Env) {
		e := &testEnv{env}
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		// The IdP takes the client secret only in the form and its document does not say so:
		// the method detected at the first sign-in holds after the document is read again.
		idp.set(func(p *testIdP) {
			p.authMethods, p.authMethodsJSON, p.clientAuthRefused = []string{"client_secret_post"}, json.RawMessage("null"), 0
		})
		defer idp.set(func(p *testIdP) { p.ecKey, p.authMethods, p.authMethodsJSON = nil, nil, nil })
		w := newSignInWorld(t, e, idp)
		jane := map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true, "given_name": "Jane", "family_name": "Doe"}
		idp.as(jane)
		if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug); r.query.Get("code") == "" {
			t.Fatalf("the first sign-in: %+v (cause %q)", r, lastCause(t, e, w.tok))
		}
		idp.set(func(p *testIdP) { p.ecKey, p.discoveries = ec, 0 })
		fake.Advance(2 * time.Minute)
		for i := range 2 {
			idp.as(jane)
			if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug); r.query.Get("code") == "" {
				t.Fatalf("sign-in %d after the IdP moved to ES256: %+v (cause %q)", i+1, r, lastCause(t, e, w.tok))
			}
		}
		if n := idp.discoveryCount(); n != 1 {
			t.Errorf("the discovery document read %d times for two sign-ins after the change, want 1", n)
		}
		if n := idp.refusedClientAuthentications(); n != 1 {
			t.Errorf("%d refused client authentications for three sign-ins, want 1 (the first's detection)", n)
		}
		// An id_token that no document verifies still fails: with the document just read,
		// without reading it again; with one read over a minute ago, after one more read.
		idp.set(func(p *testIdP) { p.discoveries, p.badAudience = 0, true })
		defer idp.set(func(p *testIdP) { p.badAudience = false })
		for i, want := range []int{0, 0, 1} {
			if i == 2 {
				fake.Advance(2 * time.Minute)
			}
			idp.as(jane)
			if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug); r.query.Get("error") != "access_denied" {
				t.Fatalf("an id_token for another audience (%d): %+v", i+1, r)
			}
			if cause, n := lastCause(t, e, w.tok), idp.discoveryCount(); !strings.Contains(cause, "id_token") || n != want {
				t.Errorf("another audience (%d): the cause %q, %d discovery reads (want %d)", i+1, cause, n, want)
			}
		}
	}, func(c *app.Config) { fake = clock.NewFake(time.Now()); c.TestClock = fake })
}
