package sso_test

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/app/apptest"
	"gatehouse/sso/samltest"
)

// A real browser (headless Chromium; skipped without one) signs in through Gatehouse's email
// page and a form_post answer: the email page's form POST and the redirects that follow it to
// the IdP and back, then the form_post page's own script, all under the pages'
// Content-Security-Policies, which the HTTP client of the other tests does not enforce. The
// application receives the code and the state, and the code redeems.
func TestSignInInChromium(t *testing.T) {
	t.Run("OIDC, through the email page", func(t *testing.T) { testOIDCInChromium(t) })
	t.Run("SAML, the IdP on another site", func(t *testing.T) { testSAMLInChromium(t) })
	t.Run("OIDC, POSTed from another site", func(t *testing.T) { testCrossSitePOSTInChromium(t) })
	t.Run("a single-page application's calls from its own origin", func(t *testing.T) { testSPAInChromium(t) })
}

// A PUBLIC application running in the page (on localhost, another origin and site than
// Gatehouse at 127.0.0.1) signs in and calls Gatehouse from its script, as oidc-client-ts
// does: the token request, userinfo (a preflighted request: it sends Authorization),
// revocation, and userinfo again, whose 401 challenge the script must be able to read. The
// browser enforces CORS, which the HTTP client of TestPublicAppCORS does not: a missing
// header fails the fetch here.
func testSPAInChromium(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-spa", "email": "spa@example.com", "given_name": "Spa", "family_name": "Page"})
		verifier := oauth2.GenerateVerifier()
		var clientID string
		spa := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(rw, `<!doctype html><title>loading</title><script>
(async () => {
  const gh = %q, client = %q, verifier = %q;
  const code = new URLSearchParams(location.search).get("code");
  const form = (o) => new URLSearchParams(o);
  const tok = await (await fetch(gh + "/oauth/token", {method: "POST", body: form({grant_type: "authorization_code",
    code, redirect_uri: location.origin + "/callback", client_id: client, code_verifier: verifier})})).json();
  const bearer = {headers: {Authorization: "Bearer " + tok.access_token}};
  const info = await (await fetch(gh + "/oauth/userinfo", bearer)).json();
  const revoked = await fetch(gh + "/oauth/revoke", {method: "POST", body: form({token: tok.access_token, client_id: client})});
  const after = await fetch(gh + "/oauth/userinfo", bearer);
  document.title = JSON.stringify({email: info.email, revoke: revoked.status, after: after.status,
    challenge: after.headers.get("WWW-Authenticate")});
})().catch((err) => { document.title = "error: " + err; });
</script>`, e.URL, clientID, verifier)
		}))
		spa.Listener, _ = net.Listen("tcp", "localhost:0")
		spa.Start()
		t.Cleanup(spa.Close)
		_, port, _ := net.SplitHostPort(spa.Listener.Addr().String())
		origin := "http://localhost:" + port
		d := e.MustGQL(w.tok, `mutation($b: ID!, $r: [String!]!) { createApplication(input: {brandId: $b, name: "SPA in Chromium",
			redirectUris: $r, type: PUBLIC}) { application { clientId } errors { label message } } }`,
			map[string]any{"b": w.brand, "r": []string{origin + "/callback"}})
		if errs := payloadErrors(t, d, "createApplication"); len(errs) > 0 {
			t.Fatalf("createApplication: %v", errs)
		}
		clientID = str(d, "createApplication", "application", "clientId")
		app := &oauth2.Config{ClientID: clientID, Endpoint: oauth2.Endpoint{AuthURL: e.URL + "/oauth/authorize"},
			RedirectURL: origin + "/callback", Scopes: []string{"openid", "email", "profile"}}

		tab := apptest.NewBrowserTab(t, 1000, 800, time.Minute)
		tab.JS(`location.href = ` + strconv.Quote(app.AuthCodeURL("spa-state", oidc.Nonce("spa-nonce"),
			oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "spa@example.com"))) + `, "navigating"`)
		tab.WaitFor("the application's script", `document.title.startsWith("{") || document.title.startsWith("error")`, 20*time.Second)
		got := tab.JS(`document.title`)
		want := `{"email":"spa@example.com","revoke":200,"after":401,"challenge":"Bearer `
		if !strings.HasPrefix(got, want) || !strings.Contains(got, `error=\"invalid_token\"`) {
			t.Fatalf("the application's calls: %s", got)
		}
	})
}

func testOIDCInChromium(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-chrome", "email": "chrome@example.com", "given_name": "Chro", "family_name": "Mium"})
		tab, u, awaitCode := chromiumSignIn(t, w)
		tab.Do("open the authorization URL", chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(`input[type=email]`)),
			chromedp.SendKeys(chromedp.CSS(`input[type=email]`), "chrome@example.com"))
		// The person presses Continue. The page goes away at once, so the test does not wait on
		// it: the browser goes on by itself (the email page's POST, the redirects to the IdP and
		// back, the form_post page's script), and the application's server sees the end of it.
		tab.JS(`document.querySelector('button[type=submit]').click(), "clicked"`)
		awaitCode()
	})
}

// The SAML design in a real browser: the IdP (on localhost, another site than Gatehouse at
// 127.0.0.1, as a real IdP is) answers with its auto-posting form, a cross-site POST to the
// ACS that carries no SameSite=Lax cookie; the ACS finds the flow by its RelayState and sends
// the browser on to Gatehouse's continuation, a top-level GET that carries the cookie and binds
// the flow to this browser. The application receives its code by form_post.
func testSAMLInChromium(t *testing.T) {
	idp := samltest.NewNamed(t, "localhost")
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorldAt(t, e, samlWorldOptions{idp: idp})
		tab, u, awaitCode := chromiumSignIn(t, w.signInWorld, "connection", samlSlug)
		// Nothing to type: Gatehouse redirects to the IdP, whose page posts the response.
		tab.JS(`location.href = ` + strconv.Quote(u) + `, "navigating"`)
		awaitCode()
	})
}

// An application's page on another site (localhost) POSTs the authorization request: Chromium
// sends it without Gatehouse's SameSite=Lax cookie and names it cross-site, Gatehouse's page
// sends it again from Gatehouse's own origin, and the sign-in goes on to the IdP and back.
func testCrossSitePOSTInChromium(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-xsite", "email": "xsite@example.com", "given_name": "Cross", "family_name": "Site"})
		tab, u, awaitCode := chromiumSignIn(t, w, "login_hint", "xsite@example.com")
		authorize, _ := url.Parse(u)
		var form strings.Builder
		for k, vs := range authorize.Query() {
			form.WriteString(`<input type="hidden" name="` + html.EscapeString(k) + `" value="` + html.EscapeString(vs[0]) + `">`)
		}
		page := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(rw, `<!doctype html><form method="post" action="%s/oauth/authorize">%s</form><script>document.forms[0].submit()</script>`,
				e.URL, form.String())
		}))
		t.Cleanup(page.Close)
		_, port, _ := net.SplitHostPort(page.Listener.Addr().String())
		tab.JS(`location.href = "http://localhost:` + port + `/start", "navigating"`)
		awaitCode()
	})
}

// chromiumSignIn prepares a sign-in of w's application in headless Chromium, answered by
// form_post to an application's server of its own (formPostApp): the tab, the authorization
// URL (extra parameters as name, value pairs), and a wait for the application's answer,
// which checks it and redeems its code.
func chromiumSignIn(t *testing.T, w *signInWorld, extra ...string) (*apptest.BrowserTab, string, func()) {
	t.Helper()
	app := newFormPostApp(t, w)
	tab := apptest.NewBrowserTab(t, 1000, 800, time.Minute)
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("response_mode", "form_post")}
	for i := 0; i+1 < len(extra); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
	}
	return tab, app.AuthCodeURL("app-state", opts...), func() { app.awaitCode(t, verifier) }
}

// awaitCode waits for the application's server to receive the answer of a sign-in a browser
// runs by itself, checks it, and redeems its code.
func (a *formPostApp) awaitCode(t *testing.T, verifier string) {
	t.Helper()
	var posted []url.Values
	for deadline := time.Now().Add(20 * time.Second); len(posted) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		a.mu.Lock()
		posted = slices.Clone(a.posted)
		a.mu.Unlock()
	}
	if len(posted) != 1 || posted[0].Get("code") == "" || posted[0].Get("state") != "app-state" || posted[0].Get("query") != "tenant=acme" {
		t.Fatalf("the application received %v", posted)
	}
	if _, err := a.Exchange(context.Background(), posted[0].Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("redeem the code: %v", err)
	}
}
