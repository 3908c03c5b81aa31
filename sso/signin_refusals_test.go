package sso_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/app/apptest"
)

func TestOIDCSignInRefusalsAndRouting(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		b := newBrowser(t, w.redirect)
		jane := map[string]any{"sub": "okta-jane", "email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"}
		idp.as(jane)
		reset := func() {
			idp.set(func(p *testIdP) {
				p.badNonce, p.badAudience, p.authorizeError, p.userinfoOnly, p.seen, p.idTokenClaims = false, false, "", false, nil, nil
			})
		}
		reset()                  // the IdP outlives each database's run
		var pageRequestID string // of the refused callback without the cookie

		t.Run("unknown client or redirect_uri: an HTML page, never a redirect", func(t *testing.T) {
			bad := *w.app
			bad.ClientID = "gha_nobody"
			r, _ := w.signIn(t, b, &bad, "login_hint", "jane@example.com")
			if r.status != 400 || r.location != "" || !strings.Contains(r.body, "not registered") {
				t.Fatalf("unknown client: %+v", r)
			}
			// An application started without its client ID (an unset CLIENT_ID, say) is told
			// that, not that an application of no name is unknown.
			bad.ClientID = ""
			r, _ = w.signIn(t, b, &bad, "login_hint", "jane@example.com")
			if r.status != 400 || r.location != "" || !strings.Contains(r.body, "names no application: its client_id is missing or empty") {
				t.Fatalf("no client_id: %+v", r)
			}
			bad = *w.app
			bad.RedirectURL = w.redirect + "/extra" // prefixes never match
			r, _ = w.signIn(t, b, &bad, "login_hint", "jane@example.com")
			if r.status != 400 || r.location != "" || !strings.Contains(r.body, "redirect_uri") {
				t.Fatalf("unregistered redirect: %+v", r)
			}
		})

		t.Run("a repeated parameter: invalid_request; a repeated client_id or redirect_uri: a page", func(t *testing.T) {
			u := w.app.AuthCodeURL("app-state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("login_hint", "jane@example.com"))
			r := b.get(t, u+"&scope=openid+email")
			if r.query.Get("error") != "invalid_request" || !strings.Contains(r.query.Get("error_description"), "scope is repeated") ||
				r.query.Get("state") != "app-state" || idp.seen != nil {
				t.Fatalf("repeated scope: %+v", r)
			}
			for _, extra := range []string{"&client_id=" + w.pub.ClientID, "&redirect_uri=" + url.QueryEscape(w.redirect+"/other")} {
				r = b.get(t, u+extra)
				if r.status != 400 || r.location != "" || !strings.Contains(r.body, "is repeated") || idp.seen != nil {
					t.Fatalf("repeated %s: %+v", extra, r)
				}
			}
		})

		t.Run("scope without openid: invalid_scope", func(t *testing.T) {
			noOpenID := *w.app
			noOpenID.Scopes = []string{"email"}
			r, _ := w.signIn(t, b, &noOpenID, "login_hint", "jane@example.com")
			if r.query.Get("error") != "invalid_scope" || r.query.Get("state") != "app-state" {
				t.Fatalf("no openid: %+v", r)
			}
		})

		t.Run("response_type missing: invalid_request; another: unsupported_response_type", func(t *testing.T) {
			u := w.app.AuthCodeURL("app-state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("login_hint", "jane@example.com"))
			for want, u := range map[string]string{
				"invalid_request":           strings.Replace(u, "response_type=code&", "", 1),
				"unsupported_response_type": strings.Replace(u, "response_type=code", "response_type=id_token", 1),
			} {
				if strings.Contains(u, "response_type=code") {
					t.Fatalf("the URL was not changed: %s", u)
				}
				r := b.get(t, u)
				if r.query.Get("error") != want || r.query.Get("state") != "app-state" || idp.seen != nil {
					t.Fatalf("%s: %+v", u, r)
				}
			}
		})

		t.Run("an over-long state: invalid_request, the state not echoed", func(t *testing.T) {
			authorize := func(state string) string {
				return w.app.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("login_hint", "jane@example.com"))
			}
			// Any refusal echoes a state within the limit…
			long := strings.Repeat("s", 2048)
			r := b.get(t, strings.Replace(authorize(long), "response_type=code", "response_type=token", 1))
			if r.query.Get("error") != "unsupported_response_type" || r.query.Get("state") != long {
				t.Fatalf("a state of 2048 characters: %q, state echoed: %v", r.query.Get("error"), r.query.Get("state") == long)
			}
			// …and none beyond it, whatever the refusal.
			if r = b.get(t, authorize(long+"s")); r.query.Get("error") != "invalid_request" || r.query.Has("state") || idp.seen != nil {
				t.Fatalf("a state of 2049 characters: %q, state echoed: %v", r.query.Get("error"), r.query.Has("state"))
			}
			tooLong := strings.Repeat("s", 20000)
			for want, u := range map[string]string{
				"invalid_request":           authorize(tooLong),
				"unsupported_response_type": strings.Replace(authorize(tooLong), "response_type=code", "response_type=token", 1),
			} {
				r = b.get(t, u)
				if r.query.Get("error") != want || r.query.Has("state") || len(r.location) > 512 || idp.seen != nil {
					t.Fatalf("a state of 20000 characters: %q, want %s without the state (%d bytes of Location)", r.query.Get("error"), want, len(r.location))
				}
			}
		})

		t.Run("no hint: Gatehouse's email page; an unknown domain: the page again, no IdP", func(t *testing.T) {
			r, _ := w.signIn(t, b, w.app)
			if r.status != 200 || !strings.Contains(r.body, `<input type="email"`) || !strings.Contains(r.body, `name="client_id" value="`+w.app.ClientID+`"`) ||
				!strings.Contains(r.body, `<form method="post" action="`+e.URL+`/oauth/authorize"`) {
				t.Fatalf("email page: %+v", r)
			}
			// Its form leads to the IdP by a redirect, which a form-action directive would block.
			if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "form-action") {
				t.Fatalf("email page's Content-Security-Policy: %q", csp)
			}
			// Not framed (RFC 9700 §4.16), and its URL (state, PKCE challenge, hints) is sent to
			// no other site as a Referer.
			if h := r.header; h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" {
				t.Fatalf("email page's headers: %v", h)
			}
			r, _ = w.signIn(t, b, w.app, "login_hint", "someone@unknown.example")
			if r.status != 200 || !strings.Contains(r.body, "not set up for unknown.example") || idp.seen != nil {
				t.Fatalf("unknown domain: %+v", r)
			}
		})

		t.Run("inactive connection and another workspace's slug never route", func(t *testing.T) {
			inactive := e.CreateOIDCConnection(w.tok, "Inactive IdP", "inactive-idp")
			_ = inactive
			r, _ := w.signIn(t, b, w.app, "connection", "inactive-idp")
			if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" || idp.seen != nil {
				t.Fatalf("inactive slug: %+v", r)
			}
			// Another workspace with an active connection at the same IdP.
			d := e.MustGQL(w.tok, `mutation { createWorkspace(input: {name: "Other"}) { workspace { id } errors { message } } }`, nil)
			id, sec := e.CreateClient(w.tok, []string{"graphql", "admin"}, str(d, "createWorkspace", "workspace", "id"))
			other := e.Token(id, sec)
			oc := e.CreateOIDCConnection(other, "Other IdP", "other-idp")
			w.activate(oc, "other.example")
			r, _ = w.signIn(t, b, w.app, "connection", "other-idp")
			if r.query.Get("error") != "access_denied" || idp.seen != nil {
				t.Fatalf("another workspace's slug: %+v", r)
			}
			r, _ = w.signIn(t, b, w.app, "login_hint", "x@other.example")
			if r.status != 200 || idp.seen != nil {
				t.Fatalf("another workspace's domain: %+v", r)
			}
		})

		t.Run("identity provider failures reach the app as access_denied", func(t *testing.T) {
			for name, f := range map[string]func(p *testIdP){
				"nonce mismatch":   func(p *testIdP) { p.badNonce = true },
				"wrong audience":   func(p *testIdP) { p.badAudience = true },
				"wrong issuer":     func(p *testIdP) { p.idTokenClaims = map[string]any{"iss": "https://other.example"} },
				"error at the IdP": func(p *testIdP) { p.authorizeError = "access_denied" },
			} {
				idp.set(f)
				r, _ := w.signIn(t, b, w.app, "login_hint", "jane@example.com")
				reset()
				if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" || r.query.Get("state") != "app-state" {
					t.Errorf("%s: %+v", name, r)
				}
			}
		})

		t.Run("claims only at userinfo are merged", func(t *testing.T) {
			idp.set(func(p *testIdP) { p.userinfoOnly = true })
			defer reset()
			res, verifier := w.signIn(t, b, w.app, "login_hint", "jane@example.com")
			claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if claims["email"] != "jane@example.com" || claims["given_name"] != "Jane" {
				t.Fatalf("claims: %v", claims)
			}
		})

		t.Run("an identity that breaks the input rules: access_denied, nothing decided", func(t *testing.T) {
			idp.as(map[string]any{"sub": "okta-zoe", "email": "zoe@example.com", "given_name": "Zoe", "family_name": "Doe\u202e"})
			defer idp.as(jane)
			users := func() any {
				return get(e.MustGQL(w.tok, `{ userAccounts { totalCount } }`, nil), "userAccounts", "totalCount")
			}
			before := users()
			r, _ := w.signIn(t, b, w.app, "login_hint", "zoe@example.com")
			if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" ||
				!strings.HasPrefix(r.query.Get("error_description"), "Sign-in failed: the identity provider sent a value that must not contain bidirectional override") {
				t.Fatalf("refusal: %+v", r)
			}
			if after := users(); after != before {
				t.Fatalf("user accounts: %v before, %v after", before, after)
			}
		})

		t.Run("callback without the cookie, replayed or tampered: refusal, no code", func(t *testing.T) {
			stop := newBrowser(t, e.URL+"/sso/oidc/callback")
			r, _ := w.signIn(t, stop, w.app, "login_hint", "jane@example.com")
			cb := r.location
			if !strings.HasPrefix(cb, e.URL+"/sso/oidc/callback?") {
				t.Fatalf("expected the IdP's redirect to the callback: %+v", r)
			}
			// Another browser (no cookie).
			r = newBrowser(t, w.redirect).get(t, cb)
			if r.status != 400 || r.location != "" || !strings.Contains(r.body, "Request id: <code>") {
				t.Fatalf("callback without the cookie: %+v", r)
			}
			pageRequestID = strings.SplitN(strings.SplitN(r.body, "Request id: <code>", 2)[1], "<", 2)[0]
			// Another browser with a sign-in cookie of its own (its own sign-in under way):
			// the answer is bound to the browser that started, not to any cookie.
			otherStart := newBrowser(t, e.URL+"/sso/oidc/callback")
			if r, _ := w.signIn(t, otherStart, w.app, "login_hint", "jane@example.com"); !strings.HasPrefix(r.location, e.URL+"/sso/oidc/callback?") {
				t.Fatalf("the other browser's sign-in: %+v", r)
			}
			other := newBrowser(t, w.redirect) // stops at the application: a code would show
			other.c.Jar = otherStart.c.Jar
			if r := other.get(t, cb); r.status != 400 || r.query.Get("code") != "" {
				t.Fatalf("callback in another browser with its own cookie: %+v", r)
			}
			// Tampered state, with the right cookie.
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Set("state", q.Get("state")+"x")
			u.RawQuery = q.Encode()
			fin := newBrowser(t, w.redirect) // the first browser, stopping at the application
			fin.c.Jar = stop.c.Jar
			if r := fin.get(t, u.String()); r.status != 400 || r.query.Get("code") != "" {
				t.Fatalf("tampered state: %+v", r)
			}
			// The real browser finishes; a replay of the same answer is refused.
			if r := fin.get(t, cb); r.query.Get("code") == "" {
				t.Fatalf("the real callback: %+v", r)
			}
			if r := fin.get(t, cb); r.status != 400 || r.query.Get("code") != "" {
				t.Fatalf("replayed callback: %+v", r)
			}
		})

		t.Run("a flow started on one replica finishes on another", func(t *testing.T) {
			b2 := newBrowser(t, w.redirect)
			b2.callback = e.Replica()
			res, verifier := w.signIn(t, b2, w.app, "login_hint", "jane@example.com")
			if res.query.Get("code") == "" {
				t.Fatalf("cross-replica: %+v", res)
			}
			claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if claims["email"] != "jane@example.com" {
				t.Fatalf("claims: %v", claims)
			}
		})

		t.Run("refused without JIT, with the engine's reason", func(t *testing.T) {
			e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, jitProvisioning: false}) { errors { message } } }`, map[string]any{"id": w.conn})
			idp.as(map[string]any{"sub": "okta-new", "email": "new@example.com"})
			r, _ := w.signIn(t, b, w.app, "login_hint", "new@example.com")
			if r.query.Get("error") != "access_denied" || !strings.Contains(r.query.Get("error_description"), "not created automatically") {
				t.Fatalf("refusal: %+v", r)
			}
		})

		t.Run("a SAML connection sends the browser to its IdP with an AuthnRequest", func(t *testing.T) {
			cert := apptest.SAMLCert(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
			d := e.MustGQL(w.tok, `mutation($c: String!) { createConnection(input: {name: "SAML IdP", slug: "saml-idp", protocol: SAML,
				samlConfig: {entityId: "https://idp.example.org", ssoUrl: "https://idp.example.org/sso", certificate: $c}}) { connection { id } errors { message } } }`,
				map[string]any{"c": cert})
			id := str(d, "createConnection", "connection", "id")
			if id == "" {
				t.Fatalf("createConnection SAML: %v", d)
			}
			w.activate(id, "")
			nf := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := nf.Get(w.app.AuthCodeURL("app-state", oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
				oauth2.SetAuthURLParam("connection", "saml-idp")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc == nil || loc.Host != "idp.example.org" || loc.Query().Get("SAMLRequest") == "" ||
				loc.Query().Get("RelayState") == "" {
				t.Fatalf("SAML: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
		})

		t.Run("signInEvents: every attempt, newest first, filtered, workspace-scoped", func(t *testing.T) {
			q := `query($o: SignInOutcome, $c: ID, $b: ID) { signInEvents(outcome: $o, connectionId: $c, brandId: $b, pageSize: 100) {
				events { id time outcome reason cause identifier connection { id slug } application { clientId } test requestId } page pageSize total } }`
			d := e.MustGQL(w.tok, q, nil)
			evs := get(d, "signInEvents", "events").([]any)
			if len(evs) == 0 || int(get(d, "signInEvents", "total").(float64)) != len(evs) {
				t.Fatalf("events: %v", d)
			}
			if str(evs[0], "outcome") != "REFUSED" || !strings.Contains(str(evs[0], "reason"), "not created automatically") ||
				str(evs[0], "identifier") != "okta-new" || str(evs[0], "connection", "slug") != w.slug ||
				str(evs[0], "application", "clientId") != w.app.ClientID || str(evs[0], "requestId") == "" || get(evs[0], "test") != false {
				t.Fatalf("newest event: %v", evs[0])
			}
			d = e.MustGQL(w.tok, q, map[string]any{"o": "FAILED", "c": w.conn, "b": w.brand})
			failed := get(d, "signInEvents", "events").([]any)
			foundNonce := false
			for _, ev := range failed {
				foundNonce = foundNonce || strings.Contains(str(ev, "cause"), "nonce")
				if str(ev, "outcome") != "FAILED" {
					t.Fatalf("filter: %v", ev)
				}
			}
			foundPage := false
			for _, ev := range failed {
				foundPage = foundPage || str(ev, "requestId") == pageRequestID && strings.Contains(str(ev, "cause"), "no sign-in cookie")
			}
			if pageRequestID == "" || !foundPage {
				t.Fatalf("the request id on the refusal page (%q) finds its event: %v", pageRequestID, failed)
			}
			if !foundNonce {
				t.Fatalf("the nonce mismatch's private cause is in a failed event: %v", failed)
			}
			d = e.MustGQL(w.tok, q, map[string]any{"o": "PROVISIONED"})
			if n := len(get(d, "signInEvents", "events").([]any)); n != 1 {
				t.Fatalf("provisioned events: %d", n)
			}
			other := e.MustGQL(w.tok, `mutation { createWorkspace(input: {name: "Elsewhere"}) { workspace { id } } }`, nil)
			id, sec := e.CreateClient(w.tok, []string{"graphql"}, str(other, "createWorkspace", "workspace", "id"))
			d = e.MustGQL(e.Token(id, sec), q, nil)
			if n := len(get(d, "signInEvents", "events").([]any)); n != 0 {
				t.Fatalf("another workspace sees %d events", n)
			}
		})
	})
}

// A connection an admin deactivates stops routing at once on the replica that deactivated it,
// although routing reads connections through a cache: by its slug and by its domain, never a
// redirect to the IdP.
func TestDeactivatedConnectionStopsRoutingAtOnce(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		b := newBrowser(t, w.redirect)
		idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com"})
		// Both routes are cached by sign-ins that reach the IdP.
		for _, hint := range [][]string{{"connection", w.slug}, {"login_hint", "jane@example.com"}} {
			idp.set(func(p *testIdP) { p.seen = nil })
			if r, _ := w.signIn(t, b, w.app, hint...); idp.seen == nil {
				t.Fatalf("%s before deactivation: %+v", hint[0], r)
			}
		}
		e.Call("POST", "/api/v1/sso/connections/"+w.conn+"/deactivate", w.tok, nil).Must(t, 200)
		idp.set(func(p *testIdP) { p.seen = nil })
		if r, _ := w.signIn(t, b, w.app, "connection", w.slug); r.query.Get("error") != "access_denied" || idp.seen != nil {
			t.Fatalf("slug of the connection just deactivated: %+v", r)
		}
		if r, _ := w.signIn(t, b, w.app, "login_hint", "jane@example.com"); r.status != 200 ||
			!strings.Contains(r.body, "not set up for example.com") || idp.seen != nil {
			t.Fatalf("domain of the connection just deactivated: %+v", r)
		}
	})
}

// TestOIDCSignInLongState: a state of 2,048 characters, as ASP.NET Core's OpenIdConnect
// handler sends with a long return URL (its authentication properties, encrypted, in
// base64url), is stored with the flow and comes back exactly with the code.
func TestOIDCSignInLongState(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"})
		state := "CfDJ8" + strings.Repeat("Ab0-_", 2043/5) + "xyz"
		if len(state) != 2048 {
			t.Fatalf("state of %d characters", len(state))
		}
		verifier := oauth2.GenerateVerifier()
		r := newBrowser(t, w.redirect).get(t, w.app.AuthCodeURL(state, oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier),
			oauth2.SetAuthURLParam("connection", w.slug)))
		if r.query.Get("code") == "" || r.query.Get("state") != state {
			t.Fatalf("a state of 2048 characters: %+v", r.query)
		}
		if claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier); claims["nonce"] != "app-nonce" {
			t.Fatalf("claims %v", claims)
		}
	})
}
