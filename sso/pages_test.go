package sso_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"gatehouse/sso/samltest"
)

// hostile is text an attacker, an identity provider or an admin controls, meant to break out of
// element text, an attribute or a script: every page must show it as text, never run it.
const hostile = "\"'><img src=x onerror=alert(1)></script><script>alert(2)</script>javascript:alert(3)\u2028<!--"

// submitScript is the one script a Gatehouse page may run: the form_post page's, allowed by
// its hash.
const submitScript = `document.forms[0].submit();`

// htmlPage is a Gatehouse HTML page as a browser received it.
type htmlPage struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

// readPage reads resp as an HTML page.
func readPage(t *testing.T, resp *http.Response) *htmlPage {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return &htmlPage{status: resp.StatusCode, header: resp.Header, body: string(b), doc: doc}
}

// walk calls f on every element of n.
func walk(n *html.Node, f func(*html.Node)) {
	if n.Type == html.ElementNode {
		f(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

// text is the text of n and its descendants.
func text(n *html.Node) string {
	var sb strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			sb.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return sb.String()
}

// byID is the element of id, nil when there is none.
func byID(doc *html.Node, id string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if v, ok := attr(n, "id"); ok && v == id && found == nil {
			found = n
		}
	})
	return found
}

// inputs are the values of a page's form fields by name, as the browser would submit them.
func inputs(doc *html.Node) url.Values {
	v := url.Values{}
	walk(doc, func(n *html.Node) {
		if n.Data == "input" {
			if name, ok := attr(n, "name"); ok {
				val, _ := attr(n, "value")
				v.Add(name, val)
			}
		}
	})
	return v
}

// formAction is the action of the page's one form.
func formAction(doc *html.Node) string {
	var action string
	walk(doc, func(n *html.Node) {
		if n.Data == "form" {
			action, _ = attr(n, "action")
		}
	})
	return action
}

// checkPage fails t unless p is a safe Gatehouse page: HTML in UTF-8, never stored, framed or
// sniffed, the Referrer-Policy referrer, a Content-Security-Policy that runs no script but the
// form_post page's own (by its hash, never 'unsafe-inline'), and markup holding no element,
// event handler or javascript: URL that a value smuggled in.
func checkPage(t *testing.T, name string, p *htmlPage, referrer string) {
	t.Helper()
	h := p.header
	for k, want := range map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
		"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": referrer} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", name, k, got, want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
		strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: Content-Security-Policy %q", name, csp)
	}
	walk(p.doc, func(n *html.Node) {
		switch n.Data {
		case "img", "iframe", "object", "embed", "base", "meta", "link", "style", "svg", "math":
			if n.Data == "meta" {
				if _, ok := attr(n, "http-equiv"); !ok {
					break
				}
			}
			t.Errorf("%s: a <%s> element: %s", name, n.Data, p.body)
		case "script":
			sum := sha256.Sum256([]byte(text(n)))
			hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			if text(n) != submitScript || !strings.Contains(csp, "script-src "+hash) {
				t.Errorf("%s: a script %q the page's CSP %q does not allow by its hash", name, text(n), csp)
			}
		}
		for _, a := range n.Attr {
			v := strings.ToLower(strings.TrimSpace(a.Val))
			if strings.HasPrefix(a.Key, "on") || ((a.Key == "href" || a.Key == "action" || a.Key == "src" || a.Key == "formaction") &&
				!strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://")) {
				t.Errorf("%s: <%s %s=%q>", name, n.Data, a.Key, a.Val)
			}
		}
	})
	if strings.Contains(p.body, "<img") || strings.Contains(p.body, "alert(2)</script>") {
		t.Errorf("%s: markup from a value: %s", name, p.body)
	}
}

// noFollow is a browser with cookies that stops at every redirect.
func noFollow(b *browser) *http.Client {
	c := *b.c
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// noStoreRedirects makes c fail t on a redirect of Gatehouse's (at base) that may be stored:
// each one of a sign-in carries a state, a code or a flow's secret in its Location.
func noStoreRedirects(t *testing.T, c *http.Client, base string) {
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if prev := req.Response; prev != nil && strings.HasPrefix(prev.Request.URL.String(), base+"/") && prev.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s redirects to %s with Cache-Control %q", prev.Request.Method, prev.Request.URL.Path, req.URL.Host+req.URL.Path,
				prev.Header.Get("Cache-Control"))
		}
		if next == nil {
			return nil
		}
		return next(req, via)
	}
}

func do(t *testing.T, c *http.Client, req *http.Request) *htmlPage {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return readPage(t, resp)
}

func getPage(t *testing.T, c *http.Client, u string) *htmlPage {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/html")
	return do(t, c, req)
}

// TestEveryPageIsSafe, on both databases: every HTML page of the browser sign-in, given text an
// attacker (request), an identity provider (claims, error) or an admin (application name)
// controls, shows it as text (in element text and in attributes, form values kept exactly), and
// carries the headers that keep it from being stored, framed, sniffed or leaking its URL; no
// page or redirect sends the browser anywhere but a registered redirect URI, Gatehouse or the
// connection's identity provider.
func TestEveryPageIsSafe(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		authorize := e.URL + "/oauth/authorize?"
		plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

		// Error pages of /oauth/authorize: an unknown client, an unregistered or javascript:
		// redirect URI (a page, never a redirect), a repeated parameter, a POST that is no form.
		for name, q := range map[string]url.Values{
			"unknown client":         {"client_id": {hostile}, "redirect_uri": {w.redirect}, "response_type": {"code"}},
			"unregistered redirect":  {"client_id": {w.app.ClientID}, "redirect_uri": {"https://evil.example/cb?" + hostile}, "response_type": {"code"}, "state": {hostile}},
			"javascript: redirect":   {"client_id": {w.app.ClientID}, "redirect_uri": {"javascript:alert(1)//" + hostile}, "response_type": {"code"}},
			"repeated redirect_uri":  {"client_id": {w.app.ClientID}, "redirect_uri": {w.redirect, hostile}, "response_type": {"code"}},
			"unknown client, no uri": {"client_id": {hostile}},
		} {
			p := getPage(t, plain, authorize+q.Encode())
			checkPage(t, name, p, "no-referrer")
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Errorf("%s: %d Location %q", name, p.status, p.header.Get("Location"))
			}
		}
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth/authorize", strings.NewReader(hostile))
		req.Header.Set("Content-Type", "text/plain")
		checkPage(t, "authorize POST without a form", do(t, plain, req), "no-referrer")

		// The work-email page: every parameter it carries on is kept exactly in its form, the
		// message naming the domain typed is text, and the form posts to Gatehouse alone.
		q := url.Values{"client_id": {w.app.ClientID}, "redirect_uri": {w.redirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {hostile}, "nonce": {hostile}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbkRBjwBhKUM"},
			"code_challenge_method": {"S256"}, "domain_hint": {"x" + hostile}}
		p := getPage(t, plain, authorize+q.Encode())
		checkPage(t, "email page", p, "no-referrer")
		if got := inputs(p.doc); p.status != http.StatusOK || got.Get("state") != hostile || got.Get("nonce") != hostile ||
			formAction(p.doc) != e.URL+"/oauth/authorize" || !strings.Contains(text(p.doc), "Single sign-on is not set up for x\"'><img") {
			t.Errorf("email page: %d %v action %q: %s", p.status, got, formAction(p.doc), p.body)
		}
		q.Del("domain_hint")
		q.Set("login_hint", hostile)
		p = getPage(t, plain, authorize+q.Encode())
		checkPage(t, "email page with an invalid login_hint", p, "no-referrer")
		if got := inputs(p.doc); got.Get("login_hint") != hostile {
			t.Errorf("email page: login_hint %q", got.Get("login_hint"))
		}

		// An error answered by redirect (the default response mode) goes to the registered
		// redirect URI, never stored: it carries the state.
		eb := newBrowser(t, w.redirect)
		noStoreRedirects(t, eb.c, e.URL)
		q.Set("response_type", "token")
		if r := eb.get(t, authorize+q.Encode()); r.status != http.StatusFound || !strings.HasPrefix(r.location, w.redirect+"?") ||
			r.query.Get("error") != "unsupported_response_type" || r.query.Get("state") != hostile {
			t.Errorf("error redirect: %d %q", r.status, r.location)
		}
		q.Set("response_type", "code")

		// A cross-site POST to authorize is sent again from Gatehouse's own form_post page,
		// to Gatehouse.
		req, _ = http.NewRequest(http.MethodPost, e.URL+"/oauth/authorize", strings.NewReader(q.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		p = do(t, plain, req)
		checkPage(t, "cross-site POST", p, "origin")
		if got := inputs(p.doc); formAction(p.doc) != e.URL+"/oauth/authorize" || got.Get("state") != hostile || got.Get("login_hint") != hostile {
			t.Errorf("cross-site POST: action %q fields %v", formAction(p.doc), got)
		}

		// form_post answers: an error answered by authorize, and a code answered by the
		// callback, each to the registered redirect URI with the state exactly as sent.
		q.Set("response_mode", "form_post")
		q.Set("response_type", "token")
		p = getPage(t, plain, authorize+q.Encode())
		checkPage(t, "form_post error", p, "origin")
		if got := inputs(p.doc); formAction(p.doc) != w.redirect || got.Get("state") != hostile || got.Get("error") != "unsupported_response_type" {
			t.Errorf("form_post error: action %q fields %v", formAction(p.doc), got)
		}
		idp.as(map[string]any{"sub": "okta-grace", "email": "grace@example.com", "name": hostile})
		b := newBrowser(t, w.redirect)
		noStoreRedirects(t, b.c, e.URL)
		r, _ := w.signIn(t, b, w.app, "connection", w.slug, "response_mode", "form_post", "state", hostile)
		p = &htmlPage{status: r.status, header: r.header, body: r.body}
		p.doc, _ = html.Parse(strings.NewReader(r.body))
		checkPage(t, "form_post code", p, "origin")
		if got := inputs(p.doc); formAction(p.doc) != w.redirect || got.Get("state") != hostile || got.Get("code") == "" {
			t.Errorf("form_post code: action %q fields %v", formAction(p.doc), got)
		}

		// The callback's refusal pages: a state nobody issued, an IdP's error for it.
		for name, q := range map[string]url.Values{
			"callback, unknown state":  {"state": {hostile}, "code": {hostile}},
			"callback, error, unknown": {"state": {hostile}, "error": {hostile}, "error_description": {hostile}},
		} {
			p := getPage(t, plain, e.URL+"/sso/oidc/callback?"+q.Encode())
			checkPage(t, name, p, "no-referrer")
			if p.status != http.StatusBadRequest {
				t.Errorf("%s: %d", name, p.status)
			}
		}
		// An IdP's own error reaches the application as an error code of OAuth's, never its text.
		idp.set(func(p *testIdP) { p.authorizeError, p.authorizeErrorDescription = hostile, hostile })
		r, _ = w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		idp.set(func(p *testIdP) { p.authorizeError, p.authorizeErrorDescription = "", "" })
		if !strings.HasPrefix(r.location, w.redirect+"?") || r.query.Get("error") != "access_denied" || strings.ContainsAny(r.query.Get("error_description"), "<>\"") {
			t.Errorf("IdP error: the application got %q", r.location)
		}

		// The test sign-in page shows the IdP's identity and claims as text.
		idp.as(map[string]any{"sub": hostile, "email": "grace@example.com", "given_name": hostile, "family_name": hostile,
			"department": hostile, hostile: hostile})
		_, u := startTest(t, e, w.tok, w.conn, "")
		tb := newBrowser(t, w.redirect)
		noStoreRedirects(t, tb.c, e.URL)
		resp, err := tb.c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		p = readPage(t, resp)
		checkPage(t, "test sign-in result", p, "no-referrer")
		id, claims := byID(p.doc, "identity"), byID(p.doc, "claims")
		if p.status != http.StatusOK || id == nil || !strings.Contains(text(id), hostile) || claims == nil || !strings.Contains(text(claims), `"department":`) {
			t.Errorf("test sign-in result: %d %s", p.status, p.body)
		}
		// A test sign-in the IdP refuses, saying so in its own words.
		idp.set(func(p *testIdP) { p.authorizeError, p.authorizeErrorDescription = hostile, hostile })
		_, fu := startTest(t, e, w.tok, w.conn, "")
		p = getPage(t, newBrowser(t, w.redirect).c, fu)
		idp.set(func(p *testIdP) { p.authorizeError, p.authorizeErrorDescription = "", "" })
		checkPage(t, "failed test sign-in", p, "no-referrer")
		if p.status != http.StatusOK || byID(p.doc, "error") == nil {
			t.Errorf("failed test sign-in: %d %s", p.status, p.body)
		}
		for name, u := range map[string]string{"test sign-in in another browser": u,
			"test sign-in unknown": e.URL + "/sso/test-sign-in/" + url.PathEscape(hostile)} {
			p := getPage(t, plain, u)
			checkPage(t, name, p, "no-referrer")
			if p.status != http.StatusForbidden && p.status != http.StatusNotFound || strings.Contains(p.body, "department") {
				t.Errorf("%s: %d %s", name, p.status, p.body)
			}
		}

		// Sign-out: the application's name (an admin's text) is text; a redirect goes only to
		// a registered post-logout URI.
		d := e.MustGQL(w.tok, `mutation($b: ID!, $n: String!, $r: [String!]!, $p: [String!]) { createApplication(input: {brandId: $b, name: $n,
			redirectUris: $r, postLogoutRedirectUris: $p}) { application { clientId } clientSecret errors { label message } } }`,
			map[string]any{"b": w.brand, "n": "Portal " + hostile, "r": []string{w.redirect}, "p": []string{"https://portal.example.com/bye"}})
		app := &oauth2.Config{ClientID: str(d, "createApplication", "application", "clientId"), ClientSecret: str(d, "createApplication", "clientSecret"),
			Endpoint: w.app.Endpoint, RedirectURL: w.redirect, Scopes: w.app.Scopes}
		if app.ClientID == "" {
			t.Fatalf("createApplication: %v", d)
		}
		idp.as(map[string]any{"sub": "okta-grace", "email": "grace@example.com"})
		ob := newBrowser(t, w.redirect)
		noStoreRedirects(t, ob.c, e.URL)
		r, verifier := w.signIn(t, ob, app, "connection", w.slug)
		_, tok := w.claimsOf(t, app, r.query.Get("code"), verifier)
		idToken, _ := tok.Extra("id_token").(string)
		logout := e.URL + "/oauth/logout?"
		p = getPage(t, plain, logout+url.Values{"id_token_hint": {idToken}, "client_id": {app.ClientID}}.Encode())
		checkPage(t, "signed out", p, "no-referrer")
		if p.status != http.StatusOK || !strings.Contains(text(p.doc), "signed out of Portal "+hostile) {
			t.Errorf("signed out: %d %s", p.status, p.body)
		}
		for name, q := range map[string]url.Values{
			"sign-out, unregistered uri": {"client_id": {app.ClientID}, "post_logout_redirect_uri": {"https://evil.example/" + hostile}},
			"sign-out, javascript: uri":  {"client_id": {app.ClientID}, "post_logout_redirect_uri": {"javascript:alert(1)"}},
			"sign-out, no client":        {"post_logout_redirect_uri": {"https://portal.example.com/bye"}},
			"sign-out, unknown client":   {"client_id": {hostile}},
			"sign-out, bad hint":         {"id_token_hint": {hostile}},
			"sign-out, repeated":         {"state": {hostile, hostile}},
		} {
			p := getPage(t, plain, logout+q.Encode())
			checkPage(t, name, p, "no-referrer")
			if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
				t.Errorf("%s: %d Location %q", name, p.status, p.header.Get("Location"))
			}
		}
		p = getPage(t, plain, logout)
		checkPage(t, "sign-out, nothing named", p, "no-referrer")
		resp, err = plain.Get(logout + url.Values{"client_id": {app.ClientID}, "post_logout_redirect_uri": {"https://portal.example.com/bye"},
			"state": {hostile}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || loc == nil ||
			!strings.HasPrefix(loc.String(), "https://portal.example.com/bye?") || loc.Query().Get("state") != hostile {
			t.Errorf("sign-out to the registered URI: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}

		// SAML pages: an unreadable or unsolicited answer at the ACS, a continuation nobody
		// issued.
		for name, body := range map[string]string{
			"ACS, unreadable":  "RelayState=%zz",
			"ACS, unsolicited": url.Values{"RelayState": {hostile}, "SAMLResponse": {base64.StdEncoding.EncodeToString([]byte(hostile))}}.Encode(),
		} {
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/saml/acs", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			p := do(t, plain, req)
			checkPage(t, name, p, "no-referrer")
			if p.status != http.StatusBadRequest {
				t.Errorf("%s: %d", name, p.status)
			}
		}
		p = getPage(t, plain, e.URL+"/saml/continue?state="+url.QueryEscape(hostile))
		checkPage(t, "SAML continuation, unknown state", p, "no-referrer")

		// The mux's own redirects (a path to clean) stay on Gatehouse.
		for _, path := range []string{"//evil.example/%2e%2e/saml/continue", "/%5Cevil.example/./", "/sso/..//evil.example/", "/saml/.%2e/%2Fevil.example"} {
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/", nil)
			req.URL.Opaque = path
			resp, err := plain.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); loc != "" {
				if u, err := url.Parse(loc); err != nil || u.Host != "" || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
					t.Errorf("GET %s redirects off Gatehouse: %q", path, loc)
				}
			}
		}
	})
}

// TestSAMLPagesAreSafe, on both databases: the SAML pages a person sees — the page posting the
// AuthnRequest (HTTP-POST binding) and the test sign-in result of an IdP whose NameID and
// attribute values are hostile — run nothing but their own script and show the IdP's values as
// text.
func TestSAMLPagesAreSafe(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp := samltest.New(t)
		idp.PostOnly()
		w := newSAMLWorldAt(t, e, samlWorldOptions{idp: idp, samlConfig: map[string]any{"entityId": idp.EntityID, "ssoUrl": idp.SSOURL,
			"certificate": idp.CertificatePEM, "signRequests": true, "ssoBinding": "http_post"}})
		idp.SignIn(samltest.User{NameID: "00u-" + hostile, Email: "ada@example.com", GivenName: hostile, Surname: hostile,
			Attributes: map[string][]string{"companyName": {hostile}, "department": {hostile}}})
		_, u := startTest(t, e, w.tok, w.conn, "")
		b := w.browser()
		noStoreRedirects(t, b, e.URL)
		stop := *b
		stop.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		p := getPage(t, &stop, u)
		checkPage(t, "AuthnRequest by HTTP-POST", p, "origin")
		if formAction(p.doc) != idp.SSOURL || inputs(p.doc).Get("SAMLRequest") == "" {
			t.Errorf("AuthnRequest page: action %q fields %v", formAction(p.doc), inputs(p.doc))
		}
		// The browser posts the form to the IdP, whose page posts the answer to the ACS.
		resp, err := b.PostForm(formAction(p.doc), inputs(p.doc))
		if err != nil {
			t.Fatal(err)
		}
		idpPage, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(idpPage)
		resp, body := w.post(t, b, e.URL, page)
		p = &htmlPage{status: resp.StatusCode, header: resp.Header, body: body}
		p.doc, _ = html.Parse(strings.NewReader(body))
		checkPage(t, "SAML test sign-in result", p, "no-referrer")
		if id := byID(p.doc, "identity"); p.status != http.StatusOK || id == nil || !strings.Contains(text(id), "00u-"+hostile) ||
			!strings.Contains(text(byID(p.doc, "claims")), "department") {
			t.Errorf("SAML test sign-in result: %d %s", p.status, body)
		}
	})
}
