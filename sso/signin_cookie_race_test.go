package sso_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/sso/samltest"
)

// startTabs sends authorize requests (urls) as tabs of one browser do when they start sign-ins
// at once, none of them with a sign-in cookie yet (a browser restoring its tabs after a
// restart, applications redirecting on load): every request goes without a cookie and is
// answered before any tab goes on; jar then keeps every Set-Cookie of the answers, in the
// order they came. It returns where each answer sends its tab.
func startTabs(t *testing.T, jar http.CookieJar, gatehouse string, urls ...string) []string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var locations []string
	var set [][]*http.Cookie
	for i, u := range urls {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Location") == "" || newSignInCookie(t, resp) == nil {
			t.Fatalf("tab %d: %d, Location %q, cookies %v", i+1, resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
		}
		locations = append(locations, resp.Header.Get("Location"))
		set = append(set, resp.Cookies())
	}
	base, _ := url.Parse(gatehouse)
	for _, cs := range set {
		jar.SetCookies(base, cs)
	}
	return locations
}

// newSignInCookie is the cookie a start that makes a new browser secret sets under its own
// name (gatehouse_signin_<tag>), after checking that it sets the same value under the base
// name too, for replicas of the versions before the tags; nil when the start set none.
func newSignInCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	cs := resp.Cookies()
	if len(cs) == 0 {
		return nil
	}
	if len(cs) != 2 || !strings.HasPrefix(cs[0].Name, "gatehouse_signin_") || len(cs[0].Name) != len("gatehouse_signin_")+8 ||
		cs[1].Name != "gatehouse_signin" || cs[1].Value != cs[0].Value {
		t.Fatalf("the cookies of a new browser secret: %v", cs)
	}
	return cs[0]
}

// signInCookies are the sign-in cookies jar holds for Gatehouse.
func signInCookies(t *testing.T, jar http.CookieJar, gatehouse string) []*http.Cookie {
	t.Helper()
	base, _ := url.Parse(gatehouse)
	var out []*http.Cookie
	for _, c := range jar.Cookies(base) {
		if strings.HasPrefix(c.Name, "gatehouse_signin") {
			out = append(out, c)
		}
	}
	return out
}

// flowCauses are the private causes of the refused sign-in attempts, oldest first.
func flowCauses(t *testing.T, e *testEnv) []string {
	t.Helper()
	var causes []string
	if err := e.App.Store().RawScan(context.Background(), &causes, "SELECT cause FROM sign_in_events WHERE outcome = 'failed' ORDER BY created_at"); err != nil {
		t.Fatal(err)
	}
	return causes
}

// Two tabs of one browser start sign-ins at the same time, neither with a sign-in cookie:
// each start sets a cookie of its own, and both sign-ins finish with codes that redeem, over
// OIDC (the callback) and SAML (the continuation), and a connection test started beside an
// application's sign-in shows its result. (Under one cookie name the second start overwrote
// the first's cookie, whose sign-in then failed: "the sign-in cookie belongs to another
// browser", found in Chromium.)
func TestSignInConcurrentStartsInOneBrowser(t *testing.T) {
	idp := newTestIdP(t)
	t.Run("OIDC", func(t *testing.T) {
		eachDB(t, func(t *testing.T, e *testEnv) {
			w := newSignInWorld(t, e, idp)
			idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true})
			b := newBrowser(t, w.redirect)
			verifiers := []string{oauth2.GenerateVerifier(), oauth2.GenerateVerifier()}
			authorize := func(v string) string {
				return w.app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(v),
					oauth2.SetAuthURLParam("login_hint", "jane@example.com"))
			}
			tabs := startTabs(t, b.c.Jar, e.URL, authorize(verifiers[0]), authorize(verifiers[1]))
			for i, loc := range tabs { // the first tab first: its cookie is the older
				r := b.get(t, loc)
				if r.query.Get("code") == "" {
					t.Fatalf("tab %d: %d %s (causes %q)", i+1, r.status, r.location, flowCauses(t, e))
				}
				w.claimsOf(t, w.app, r.query.Get("code"), verifiers[i])
			}
			// Two of their own, and the base name's, the last start's.
			if cs := signInCookies(t, b.c.Jar, e.URL); len(cs) != 3 || cs[0].Name == cs[1].Name || cs[0].Name == cs[2].Name || cs[1].Name == cs[2].Name {
				t.Fatalf("the browser's sign-in cookies: %v", cs)
			}
			// A browser with sign-in cookies starts the next sign-in under one of them: no
			// new cookie.
			c := &http.Client{Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			verifier := oauth2.GenerateVerifier()
			resp, err := c.Get(authorize(verifier))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if len(resp.Cookies()) != 0 {
				t.Fatalf("a browser with sign-in cookies got another: %v", resp.Cookies())
			}
			r := b.get(t, resp.Header.Get("Location"))
			if r.query.Get("code") == "" {
				t.Fatalf("the third sign-in: %+v", r)
			}
			w.claimsOf(t, w.app, r.query.Get("code"), verifier)
			if causes := flowCauses(t, e); len(causes) != 0 {
				t.Fatalf("refused attempts: %v", causes)
			}
		})
	})
	t.Run("SAML", func(t *testing.T) {
		eachDB(t, func(t *testing.T, e *testEnv) {
			w := newSAMLWorld(t, e)
			b := w.browser()
			verifiers := []string{oauth2.GenerateVerifier(), oauth2.GenerateVerifier()}
			authorize := func(v string) string {
				return w.app.AuthCodeURL("app-state", oauth2.S256ChallengeOption(v), oidc.Nonce("app-nonce"),
					oauth2.SetAuthURLParam("connection", samlSlug))
			}
			tabs := startTabs(t, b.Jar, e.URL, authorize(verifiers[0]), authorize(verifiers[1]))
			for i, loc := range tabs {
				resp, page := samltest.Follow(t, b, loc)
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.String(), w.idp.SSOURL) {
					t.Fatalf("tab %d at the IdP: %d %s", i+1, resp.StatusCode, resp.Request.URL)
				}
				resp, body := w.post(t, b, e.URL, page)
				if resp.StatusCode != http.StatusFound {
					t.Fatalf("tab %d after the continuation: %d (causes %q)", i+1, resp.StatusCode, flowCauses(t, e))
				}
				w.exchange(t, w.appResult(t, resp, body).Get("code"), verifiers[i])
			}
			if causes := flowCauses(t, e); len(causes) != 0 {
				t.Fatalf("refused attempts: %v", causes)
			}
		})
	})
	t.Run("test sign-in beside an application's", func(t *testing.T) {
		eachDB(t, func(t *testing.T, e *testEnv) {
			w := newSignInWorld(t, e, idp)
			idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true})
			_, test := startTest(t, e, w.tok, w.conn, "")
			b := newBrowser(t, w.redirect)
			verifier := oauth2.GenerateVerifier()
			tabs := startTabs(t, b.c.Jar, e.URL, test, w.app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"),
				oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("login_hint", "jane@example.com")))
			// The test's cookie is one of the browser's two: its result is shown to it.
			if r := b.get(t, tabs[0]); r.status != http.StatusOK || !strings.Contains(r.body, "Test sign-in: succeeded") ||
				!strings.Contains(r.body, "okta-jane") {
				t.Fatalf("the test's result: %d (causes %q)", r.status, flowCauses(t, e))
			}
			r := b.get(t, tabs[1])
			if r.query.Get("code") == "" {
				t.Fatalf("the application's sign-in: %+v", r)
			}
			w.claimsOf(t, w.app, r.query.Get("code"), verifier)
			// Another browser with sign-in cookies of its own does not see the result; one
			// holding the test's cookie behind another does.
			gatehouse, _ := url.Parse(e.URL)
			var testCookie *http.Cookie
			for _, c := range b.c.Jar.Cookies(gatehouse) {
				if strings.HasPrefix(c.Name, "gatehouse_signin_") && testCookie == nil {
					testCookie = c // the first tab's, the test's
				}
			}
			for _, holds := range []bool{false, true} {
				other := newBrowser(t, w.redirect)
				other.c.Jar.SetCookies(gatehouse, []*http.Cookie{{Name: "gatehouse_signin_other", Value: oauth2.GenerateVerifier(), Path: "/"}})
				if holds {
					other.c.Jar.SetCookies(gatehouse, []*http.Cookie{{Name: "gatehouse_signin_zzz", Value: testCookie.Value, Path: "/"}})
				}
				if r := other.get(t, test); r.status != map[bool]int{false: http.StatusForbidden, true: http.StatusOK}[holds] || strings.Contains(r.body, "okta-jane") != holds {
					t.Fatalf("holds the test's cookie %v: %d %.300s", holds, r.status, r.body)
				}
			}
		})
	})
}

// A browser holding the sign-in cookie of the single name (gatehouse_signin, set before each
// start had a cookie of its own) finishes the sign-in it started, and starts the next one
// under that cookie.
func TestSignInCookieOfBeforeTheUpgrade(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true})
		b := newBrowser(t, w.redirect)
		verifier := oauth2.GenerateVerifier()
		authorize := w.app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier),
			oauth2.SetAuthURLParam("login_hint", "jane@example.com"))
		gatehouse, _ := url.Parse(e.URL)
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(authorize)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		set := newSignInCookie(t, resp)
		if set == nil {
			t.Fatalf("cookies %v", resp.Cookies())
		}
		// The flow is bound to the cookie's value: the browser holds it under the old name
		// only (a replica before the tags set only that one, and reads only that one).
		b.c.Jar.SetCookies(gatehouse, []*http.Cookie{{Name: "gatehouse_signin", Value: set.Value, Path: "/"}})
		r := b.get(t, resp.Header.Get("Location"))
		if r.query.Get("code") == "" {
			t.Fatalf("the sign-in started before the upgrade: %+v", r)
		}
		w.claimsOf(t, w.app, r.query.Get("code"), verifier)

		nc := &http.Client{Jar: b.c.Jar, CheckRedirect: c.CheckRedirect}
		if resp, err = nc.Get(authorize); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(resp.Cookies()) != 0 {
			t.Fatalf("the old cookie was not adopted: %v", resp.Cookies())
		}
		if r := b.get(t, resp.Header.Get("Location")); r.query.Get("code") == "" {
			t.Fatalf("the next sign-in: %+v", r)
		}
	})
}

// Many cookies under the sign-in cookies' prefix: the ill-formed are ignored, at most 8
// well-formed ones are read (the newest), and none is an error. The flow's cookie among them
// finishes; other flows' cookies only are refused with a cause that says so.
func TestSignInManyCookies(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true})
		gatehouse, _ := url.Parse(e.URL)
		plant := func(jar http.CookieJar, prefix string, n int, value func(i int) string) {
			for i := range n {
				jar.SetCookies(gatehouse, []*http.Cookie{{Name: fmt.Sprintf("gatehouse_signin_%s%02d", prefix, i), Value: value(i), Path: "/"}})
			}
		}
		illFormed := func(i int) string { return []string{"x", strings.Repeat("a", 44), strings.Repeat("a", 42) + "!"}[i%3] }
		wellFormed := func(int) string { return oauth2.GenerateVerifier() } // 43 base64url characters, as Gatehouse's
		start := func(b *browser) (location, verifier string) {
			t.Helper()
			verifier = oauth2.GenerateVerifier()
			c := &http.Client{Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Get(w.app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("login_hint", "jane@example.com")))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.Header.Get("Location"), verifier
		}
		finishes := func(name string, b *browser, loc, verifier string) {
			t.Helper()
			r := b.get(t, loc)
			if r.query.Get("code") == "" {
				t.Fatalf("%s: %d %.300s", name, r.status, r.body)
			}
			w.claimsOf(t, w.app, r.query.Get("code"), verifier)
		}
		refused := func(name string, b *browser, loc string) {
			t.Helper()
			r := b.get(t, loc)
			if r.status != http.StatusBadRequest || r.query.Get("code") != "" || !strings.Contains(r.body, "Request id:") {
				t.Fatalf("%s: %d %s %.300s", name, r.status, r.location, r.body)
			}
		}

		// 30 ill-formed ones: the start makes a cookie (none adopted), which finishes.
		b := newBrowser(t, w.redirect)
		plant(b.c.Jar, "junk", 30, illFormed)
		loc, v := start(b)
		if len(signInCookies(t, b.c.Jar, e.URL)) != 32 {
			t.Fatalf("no cookies set beside the ill-formed ones")
		}
		finishes("beside ill-formed cookies", b, loc, v)

		// 20 well-formed ones: the start adopts the newest, and finishes.
		b = newBrowser(t, w.redirect)
		plant(b.c.Jar, "many", 20, wellFormed)
		loc, v = start(b)
		if len(signInCookies(t, b.c.Jar, e.URL)) != 20 {
			t.Fatalf("a cookie was set beside 20 well-formed ones")
		}
		finishes("under one of 20 well-formed cookies", b, loc, v)

		// Another browser with 20 well-formed cookies of its own opens a flow's answer: refused.
		owner := newBrowser(t, e.URL+"/sso/oidc/callback")
		loc, _ = start(owner)
		answer := owner.get(t, loc).location
		other := newBrowser(t, w.redirect)
		plant(other.c.Jar, "other", 20, wellFormed)
		refused("another browser's cookies", other, answer)

		// The bound: a flow's cookie older than 8 newer well-formed ones is not read.
		owner = newBrowser(t, e.URL+"/sso/oidc/callback")
		loc, _ = start(owner)
		answer = owner.get(t, loc).location
		plant(owner.c.Jar, "newer", 8, wellFormed)
		fin := newBrowser(t, w.redirect)
		fin.c.Jar = owner.c.Jar
		refused("the flow's cookie past the bound", fin, answer)

		// The bound is 8: a flow's cookie with 7 newer ones is read. Two racing starts set
		// three cookies of two values (the base name repeats the second's): with 6 newer ones
		// the first's is still among the 8 values read.
		owner = newBrowser(t, e.URL+"/sso/oidc/callback")
		loc, v = start(owner)
		answer = owner.get(t, loc).location
		plant(owner.c.Jar, "seven", 7, wellFormed)
		fin = newBrowser(t, w.redirect)
		fin.c.Jar = owner.c.Jar
		finishes("the flow's cookie with 7 newer ones", fin, answer, v)
		owner = newBrowser(t, e.URL+"/sso/oidc/callback")
		v1, v2 := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		tabs := startTabs(t, owner.c.Jar, e.URL,
			w.app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(v1), oauth2.SetAuthURLParam("login_hint", "jane@example.com")),
			w.app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(v2), oauth2.SetAuthURLParam("login_hint", "jane@example.com")))
		answer = owner.get(t, tabs[0]).location
		plant(owner.c.Jar, "six", 6, wellFormed)
		fin = newBrowser(t, w.redirect)
		fin.c.Jar = owner.c.Jar
		finishes("the first tab's cookie with the base name's repeat and 6 newer ones", fin, answer, v1)

		// A browser without any sign-in cookie: its own cause.
		owner = newBrowser(t, e.URL+"/sso/oidc/callback")
		loc, _ = start(owner)
		answer = owner.get(t, loc).location
		refused("no cookie", newBrowser(t, w.redirect), answer)

		causes := flowCauses(t, e)
		if len(causes) != 3 || causes[2] != "the browser sent no sign-in cookie" {
			t.Fatalf("causes: %v", causes)
		}
		for _, c := range causes[:2] {
			if c != "none of the browser's sign-in cookies is this flow's" {
				t.Fatalf("cause %q", c)
			}
		}
	})
}
