package sso_test

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/sso/samltest"
)

// formPostApp is a brand application that takes its answers by response_mode=form_post: an
// httptest server at the registered redirect URI (which has a query of its own) keeping the
// forms POSTed to it.
type formPostApp struct {
	*oauth2.Config
	srv      *httptest.Server
	redirect string
	mu       sync.Mutex
	posted   []url.Values // each POST's form, with the redirect URI's query as "query"
}

func newFormPostApp(t *testing.T, w *signInWorld) *formPostApp {
	t.Helper()
	a := &formPostApp{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/signin-oidc" || r.ParseForm() != nil {
			http.Error(rw, "not an answer", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		form := r.PostForm
		form.Set("query", r.URL.RawQuery)
		a.posted = append(a.posted, form)
		rw.Write([]byte("signed in"))
	}))
	t.Cleanup(a.srv.Close)
	a.redirect = a.srv.URL + "/signin-oidc?tenant=acme"
	saved := w.redirect
	w.redirect = a.redirect
	a.Config = w.createApp(t, "Form post portal", "CONFIDENTIAL")
	w.redirect = saved
	return a
}

var formPostScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// submit checks that res is Gatehouse's form_post page for the application, POSTs its form
// as the browser's script would, and returns what the application received.
func (a *formPostApp) submit(t *testing.T, res result) url.Values {
	t.Helper()
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
		t.Fatalf("expected the form_post page: %d %s %s", res.status, res.location, res.body)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	// The page runs its own script, by hash, and nothing else, and cannot be framed; its
	// Referer and Origin are Gatehouse's origin alone (no-referrer would send Origin: null).
	m := formPostScript.FindStringSubmatch(res.body)
	if m == nil {
		t.Fatalf("no script: %s", res.body)
	}
	sum := sha256.Sum256([]byte(m[1]))
	csp := strings.Split(res.header.Get("Content-Security-Policy"), "; ")
	for _, want := range []string{"default-src 'none'", "script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'",
		"frame-ancestors 'none'"} {
		if !slices.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if rp := res.header.Get("Referrer-Policy"); rp != "origin" {
		t.Errorf("Referrer-Policy = %q, want origin", rp)
	}
	if !regexp.MustCompile(`(?s)<noscript>.*<button type="submit">.*</noscript>`).MatchString(res.body) {
		t.Errorf("no submit button for a browser without JavaScript: %s", res.body)
	}
	action, vals, err := samltest.Form(res.body)
	if err != nil {
		t.Fatal(err)
	}
	if action != a.redirect {
		t.Fatalf("the form posts to %q, want the redirect URI %q", action, a.redirect)
	}
	a.mu.Lock()
	n := len(a.posted)
	a.mu.Unlock()
	resp, err := http.PostForm(action, vals)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a.mu.Lock()
	defer a.mu.Unlock()
	if resp.StatusCode != http.StatusOK || len(a.posted) != n+1 {
		t.Fatalf("the application got no answer: %d", resp.StatusCode)
	}
	got := a.posted[n]
	if got.Get("query") != "tenant=acme" {
		t.Errorf("the redirect URI's own query: %q", got.Get("query"))
	}
	got.Del("query")
	return got
}

// keys are the names of a form's fields, sorted.
func keys(v url.Values) string {
	var ks []string
	for k := range v {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, " ")
}

// TestFormPostResponseMode: OAuth 2.0 Form Post Response Mode. With response_mode=form_post
// every answer to the application, the code and the refusals, is a page whose form POSTs it to
// the redirect URI, also when the sign-in ends on another replica; a mode Gatehouse does not
// support is invalid_request, by redirect; discovery says which it supports.
func TestFormPostResponseMode(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		app := newFormPostApp(t, w)
		idp.as(map[string]any{"sub": "okta-fp", "email": "fay@example.com", "given_name": "Fay", "family_name": "Post"})

		t.Run("discovery lists query and form_post", func(t *testing.T) {
			got, _ := discoveryOf(t, e)["response_modes_supported"].([]any)
			if len(got) != 2 || got[0] != "query" || got[1] != "form_post" {
				t.Fatalf("response_modes_supported = %v", got)
			}
		})

		t.Run("the code and state reach the application by form, from another replica", func(t *testing.T) {
			b := newBrowser(t, app.srv.URL)
			b.callback = e.Replica() // the flow's mode is the database's, not the replica's
			res, verifier := w.signIn(t, b, app.Config, "login_hint", "fay@example.com", "response_mode", "form_post")
			got := app.submit(t, res)
			if keys(got) != "code iss state" || got.Get("state") != "app-state" || got.Get("code") == "" || got.Get("iss") != e.URL {
				t.Fatalf("the application got %v", got)
			}
			claims, _ := w.claimsOf(t, app.Config, got.Get("code"), verifier)
			if claims["email"] != "fay@example.com" || claims["sign_in"] != "provisioned" {
				t.Fatalf("claims %v", claims)
			}
		})

		t.Run("an identity provider's refusal reaches the application by form", func(t *testing.T) {
			idp.set(func(p *testIdP) { p.authorizeError = "access_denied" })
			defer idp.set(func(p *testIdP) { p.authorizeError = "" })
			res, _ := w.signIn(t, newBrowser(t, app.srv.URL), app.Config, "login_hint", "fay@example.com", "response_mode", "form_post")
			got := app.submit(t, res)
			if keys(got) != "error error_description iss state" || got.Get("error") != "access_denied" ||
				got.Get("error_description") != "The identity provider did not sign you in." || got.Get("state") != "app-state" || got.Get("iss") != e.URL {
				t.Fatalf("the application got %v", got)
			}
		})

		t.Run("an authorize request's refusal reaches the application by form, its values escaped", func(t *testing.T) {
			const state = `"><script>alert(1)</script>&amp;'`
			noOpenID := *app.Config
			noOpenID.Scopes = []string{"email"}
			res := newBrowser(t, app.srv.URL).get(t, noOpenID.AuthCodeURL(state, oauth2.SetAuthURLParam("response_mode", "form_post")))
			if strings.Contains(res.body, "alert(1)</script>") {
				t.Fatalf("the state is on the page unescaped: %s", res.body)
			}
			got := app.submit(t, res)
			if keys(got) != "error error_description iss state" || got.Get("error") != "invalid_scope" || got.Get("state") != state || got.Get("iss") != e.URL {
				t.Fatalf("the application got %v", got)
			}
		})

		t.Run("query, named or not, redirects as before", func(t *testing.T) {
			for _, mode := range []string{"", "query"} {
				b := newBrowser(t, app.srv.URL)
				res, verifier := w.signIn(t, b, app.Config, "login_hint", "fay@example.com", "response_mode", mode)
				code := res.query.Get("code")
				want := app.redirect + "&" + url.Values{"code": {code}, "iss": {e.URL}, "state": {"app-state"}}.Encode()
				if res.status != http.StatusFound || code == "" || res.location != want {
					t.Fatalf("response_mode=%q: %d %s", mode, res.status, res.location)
				}
				w.claimsOf(t, app.Config, code, verifier)
			}
		})

		t.Run("another response mode is invalid_request, by redirect", func(t *testing.T) {
			for _, mode := range []string{"fragment", "form_post.jwt", "FORM_POST"} {
				res, _ := w.signIn(t, newBrowser(t, app.srv.URL), app.Config, "login_hint", "fay@example.com", "response_mode", mode)
				if res.status != http.StatusFound || !strings.HasPrefix(res.location, app.redirect+"&") || res.query.Get("error") != "invalid_request" ||
					res.query.Get("error_description") != "response_mode must be query or form_post" || res.query.Get("state") != "app-state" {
					t.Fatalf("response_mode=%s: %d %s %s", mode, res.status, res.location, res.body)
				}
			}
		})

		t.Run("the engine's refusal reaches the application by form", func(t *testing.T) {
			e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, jitProvisioning: false}) { errors { message } } }`, map[string]any{"id": w.conn})
			idp.as(map[string]any{"sub": "okta-new", "email": "new@example.com"})
			res, _ := w.signIn(t, newBrowser(t, app.srv.URL), app.Config, "login_hint", "new@example.com", "response_mode", "form_post")
			got := app.submit(t, res)
			if keys(got) != "error error_description iss state" || got.Get("error") != "access_denied" ||
				!strings.Contains(got.Get("error_description"), "not created automatically") || got.Get("state") != "app-state" || got.Get("iss") != e.URL {
				t.Fatalf("the application got %v", got)
			}
		})
	})
}

var emailForm = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
var emailHidden = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)

// TestAuthorizeByPOST: the authorization endpoint takes POST as it takes GET (OIDC Core
// §3.1.2.1), the parameters in a form body; a POST's query is not read.
func TestAuthorizeByPOST(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-post", "email": "pat@example.com", "given_name": "Pat", "family_name": "Post"})
		request := func(extra ...string) (url.Values, string) {
			verifier := oauth2.GenerateVerifier()
			opts := []oauth2.AuthCodeOption{oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier)}
			for i := 0; i+1 < len(extra); i += 2 {
				opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
			}
			u, _ := url.Parse(w.app.AuthCodeURL("app-state", opts...))
			return u.Query(), verifier
		}

		t.Run("a POSTed request signs the person in", func(t *testing.T) {
			form, verifier := request("login_hint", "pat@example.com")
			// The query names another client and an unsupported mode: it is not read.
			res := newBrowser(t, w.redirect).post(t, e.URL+"/oauth/authorize?client_id=unknown&response_mode=fragment", form)
			if res.status != http.StatusFound || res.query.Get("code") == "" || res.query.Get("state") != "app-state" {
				t.Fatalf("no code: %d %s %s", res.status, res.location, res.body)
			}
			claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
			if claims["email"] != "pat@example.com" || claims["sign_in"] != "provisioned" {
				t.Fatalf("claims %v", claims)
			}
		})

		t.Run("a cross-site POST is sent again from Gatehouse's page, with the cookie, sparing a sign-in under way", func(t *testing.T) {
			// A sign-in under way in the browser: at the IdP's answer, its cookie set.
			b := newBrowser(t, e.URL+"/sso/oidc/callback")
			first, firstVerifier := w.signIn(t, b, w.app, "login_hint", "pat@example.com")
			if !strings.HasPrefix(first.location, e.URL+"/sso/oidc/callback?") {
				t.Fatalf("the first sign-in: %+v", first)
			}
			gatehouse, _ := url.Parse(e.URL)
			cookies := b.c.Jar.Cookies(gatehouse)
			// Another application's page POSTs a second sign-in: the browser sends no cookie.
			form, _ := request("login_hint", "pat@example.com")
			req, _ := http.NewRequest("POST", e.URL+"/oauth/authorize", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			bounce := resultOf(resp)
			action, vals, err := samltest.Form(bounce.body)
			if bounce.status != http.StatusOK || err != nil || action != e.URL+"/oauth/authorize" || vals.Encode() != form.Encode() ||
				len(resp.Cookies()) != 0 {
				t.Fatalf("expected Gatehouse's page sending the request again, and no cookie: %d %v %s %s", bounce.status, resp.Cookies(), action, bounce.body)
			}
			// From Gatehouse's page the POST is same-origin: the browser's cookie goes with it.
			second := b.post(t, action, vals)
			if !strings.HasPrefix(second.location, e.URL+"/sso/oidc/callback?") {
				t.Fatalf("the second sign-in: %+v", second)
			}
			if after := b.c.Jar.Cookies(gatehouse); fmt.Sprint(after) != fmt.Sprint(cookies) {
				t.Fatalf("the browser's sign-in cookie changed: %v → %v", cookies, after)
			}
			// The first sign-in still finishes in this browser.
			fin := newBrowser(t, w.redirect)
			fin.c.Jar = b.c.Jar
			done := fin.get(t, first.location)
			if done.query.Get("code") == "" {
				t.Fatalf("the first sign-in no longer finishes: %+v", done)
			}
			w.claimsOf(t, w.app, done.query.Get("code"), firstVerifier)
		})

		t.Run("a POSTed request's refusal redirects as a GET's, by 303", func(t *testing.T) {
			form, _ := request("login_hint", "pat@example.com")
			form.Set("scope", "email")
			res := newBrowser(t, w.redirect).post(t, e.URL+"/oauth/authorize", form)
			if res.status != http.StatusSeeOther || res.query.Get("error") != "invalid_scope" || res.query.Get("state") != "app-state" {
				t.Fatalf("%d %s %s", res.status, res.location, res.body)
			}
		})

		t.Run("the email page carries a POSTed request on, its response mode included", func(t *testing.T) {
			app := newFormPostApp(t, w)
			b := newBrowser(t, app.srv.URL)
			verifier := oauth2.GenerateVerifier()
			u, _ := url.Parse(app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("response_mode", "form_post")))
			page := b.post(t, e.URL+"/oauth/authorize", u.Query())
			m := emailForm.FindStringSubmatch(page.body)
			if page.status != http.StatusOK || m == nil || !strings.Contains(page.body, `type="email"`) {
				t.Fatalf("expected the email page: %d %s", page.status, page.body)
			}
			next := url.Values{"login_hint": {"pat@example.com"}}
			for _, in := range emailHidden.FindAllStringSubmatch(page.body, -1) {
				next.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
			}
			if next.Get("response_mode") != "form_post" {
				t.Fatalf("the email page loses the response mode: %v", next)
			}
			got := app.submit(t, b.post(t, m[1], next))
			if got.Get("code") == "" || got.Get("state") != "app-state" {
				t.Fatalf("the application got %v", got)
			}
			w.claimsOf(t, app.Config, got.Get("code"), verifier)
		})

		t.Run("a POST that is not a form is a page", func(t *testing.T) {
			form, _ := request("login_hint", "pat@example.com")
			resp, err := http.Post(e.URL+"/oauth/authorize", "application/json", strings.NewReader(`{"client_id":"`+form.Get("client_id")+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			res := resultOf(resp)
			if res.status != http.StatusBadRequest || res.location != "" || !strings.Contains(res.body, "not a form") {
				t.Fatalf("%d %s %s", res.status, res.location, res.body)
			}
		})

		t.Run("a POSTed form over 64 KiB is a page", func(t *testing.T) {
			form, _ := request("login_hint", "pat@example.com")
			form.Set("padding", strings.Repeat("x", 64<<10))
			res := newBrowser(t, w.redirect).post(t, e.URL+"/oauth/authorize", form)
			if res.status != http.StatusBadRequest || res.location != "" {
				t.Fatalf("%d %s %s", res.status, res.location, res.body)
			}
		})
	})
}

// TestSAMLFormPostResponseMode: the mode of a SAML sign-in survives the IdP's cross-site POST
// and the browser's continuation, which answers with the form.
func TestSAMLFormPostResponseMode(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		b := w.browser()
		page, verifier := w.toIdP(t, b, "response_mode", "form_post")
		resp, body := w.post(t, b, e.URL, page)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/saml/continue" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("expected the form_post page from the continuation: %d %s %s", resp.StatusCode, resp.Request.URL, body)
		}
		action, vals, err := samltest.Form(body)
		if err != nil || action != w.redirect || keys(vals) != "code iss state" || vals.Get("state") != "app-state" || vals.Get("iss") != e.URL {
			t.Fatalf("form to %s: %v %v", action, vals, err)
		}
		if claims := w.exchange(t, vals.Get("code"), verifier); claims["email"] != "ada@example.com" {
			t.Fatalf("claims %v", claims)
		}
	})
}

// A POSTed authorization request goes on to the identity provider by a 303, which every
// browser follows with a GET (RFC 9700 §4.12); a GET's by a 302. Both protocols.
func TestPOSTedAuthorizeGoesOnBy303(t *testing.T) {
	idp := newTestIdP(t)
	check := func(t *testing.T, e *testEnv, app *oauth2.Config, hint, value, idpURL string) {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		u, _ := url.Parse(app.AuthCodeURL("app-state", oidc.Nonce("n"), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
			oauth2.SetAuthURLParam(hint, value)))
		resp, err := c.PostForm(e.URL+"/oauth/authorize", u.Query())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), idpURL) {
			t.Fatalf("POST: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, err = c.Get(u.String()); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), idpURL) {
			t.Fatalf("GET: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	t.Run("OIDC", func(t *testing.T) {
		eachDB(t, func(t *testing.T, e *testEnv) {
			check(t, e, newSignInWorld(t, e, idp).app, "login_hint", "pat@example.com", idp.srv.URL)
		})
	})
	t.Run("SAML", func(t *testing.T) {
		eachDB(t, func(t *testing.T, e *testEnv) {
			w := newSAMLWorld(t, e)
			check(t, e, w.app, "connection", samlSlug, w.idp.SSOURL)
		})
	})
}
