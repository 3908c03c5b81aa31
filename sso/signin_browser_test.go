package sso_test

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/app/apptest"
)

// A real browser (headless Chromium; skipped without one) signs in through Gatehouse's email
// page and a form_post answer: the email page's form POST and the redirects that follow it to
// the IdP and back, then the form_post page's own script, all under the pages'
// Content-Security-Policies, which the HTTP client of the other tests does not enforce. The
// application receives the code and the state, and the code redeems.
func TestSignInInChromium(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		app := newFormPostApp(t, w)
		tab := apptest.NewBrowserTab(t, 1000, 800, time.Minute)
		idp.as(map[string]any{"sub": "okta-chrome", "email": "chrome@example.com", "given_name": "Chro", "family_name": "Mium"})
		verifier := oauth2.GenerateVerifier()
		u := app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier),
			oauth2.SetAuthURLParam("response_mode", "form_post"))
		tab.Do("open the authorization URL", chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(`input[type=email]`)),
			chromedp.SendKeys(chromedp.CSS(`input[type=email]`), "chrome@example.com"))
		// The person presses Continue. The page goes away at once, so the test does not wait on
		// it: the browser goes on by itself (the email page's POST, the redirects to the IdP and
		// back, the form_post page's script), and the application's server sees the end of it.
		tab.JS(`document.querySelector('button[type=submit]').click(), "clicked"`)
		var posted []url.Values
		for deadline := time.Now().Add(20 * time.Second); len(posted) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			app.mu.Lock()
			posted = slices.Clone(app.posted)
			app.mu.Unlock()
		}
		if len(posted) != 1 || posted[0].Get("code") == "" || posted[0].Get("state") != "app-state" || posted[0].Get("query") != "tenant=acme" {
			t.Fatalf("the application received %v", posted)
		}
		if _, err := app.Exchange(context.Background(), posted[0].Get("code"), oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("redeem the code: %v", err)
		}
	})
}
