package sso_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/app"
	"gatehouse/store/storetest"
)

// The database unavailable when the IdP's answer arrives, before the flow is claimed: the
// browser gets 503 with Retry-After and a page saying to reload, and the reload, once the
// database answers, finishes the sign-in. Found by a fault probe (PostgreSQL stopped between
// authorize and callback): the callback answered 500 "could not complete the sign-in", which
// reads as final, while /readyz and the token endpoint said 503 and the reload worked.
func TestSignInCallbackDatabaseUnavailableIsRetryable(t *testing.T) {
	idp := newTestIdP(t)
	e := newTestEnv(t, storetest.URL(t, "postgres"), func(c *app.Config) { c.Guard.RequestTimeout = time.Second })
	w := newSignInWorld(t, e, idp)
	idp.as(map[string]any{"sub": "okta-u", "email": "u@example.com", "given_name": "U", "family_name": "Nav"})
	finish := w.toCallback(t, w.app, "login_hint", "u@example.com")
	release := lockTable(t, e, "sign_in_flows")
	r := finish()
	release()
	checkReloadPage(t, "callback", r)
	if r = finish(); r.query.Get("code") == "" {
		t.Fatalf("the reload once the database answers: %+v", r)
	}
}

// The database unavailable at authorize, before the application is read: the same 503 page
// saying to reload (its redirect_uri is not known to be the application's, so no error answer
// goes there), and the reload signs the person in. Found by bench/signin -db-outage
// (PostgreSQL stopped during -overload): every authorize answered 500 "Sign-in failed …
// could not process the sign-in request" while the database was down.
func TestAuthorizeDatabaseUnavailableIsRetryable(t *testing.T) {
	idp := newTestIdP(t)
	e := newTestEnv(t, storetest.URL(t, "postgres"), func(c *app.Config) { c.Guard.RequestTimeout = time.Second })
	w := newSignInWorld(t, e, idp)
	idp.as(map[string]any{"sub": "okta-a", "email": "a@example.com", "given_name": "A", "family_name": "Uth"})
	verifier := oauth2.GenerateVerifier()
	authorize := w.app.AuthCodeURL("app-state", oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("connection", w.slug))
	b := newBrowser(t, w.redirect)
	release := lockTable(t, e, "applications")
	r := b.get(t, authorize)
	release()
	checkReloadPage(t, "authorize", r)
	if r = b.get(t, authorize); r.query.Get("code") == "" {
		t.Fatalf("the reload once the database answers: %+v", r)
	}
	if claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier); claims["email"] != "a@example.com" {
		t.Fatalf("claims after the reload: %v", claims)
	}
}

// checkReloadPage checks the answer of a sign-in's page without its database: 503, Retry-After,
// a page saying to reload.
func checkReloadPage(t *testing.T, what string, r result) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "Reload this page") ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("%s without its database: %d Retry-After %q %.300s", what, r.status, r.header.Get("Retry-After"), r.body)
	}
}

// The database unavailable at sign-out (the grants cannot be revoked): the same 503 page saying
// to reload, not a 500 "Sign-out failed", and the reload signs the person out.
func TestSignOutDatabaseUnavailableIsRetryable(t *testing.T) {
	idp := newTestIdP(t)
	e := newTestEnv(t, storetest.URL(t, "postgres"), func(c *app.Config) { c.Guard.RequestTimeout = time.Second })
	w := newSignInWorld(t, e, idp)
	idp.as(map[string]any{"sub": "okta-o", "email": "o@example.com", "given_name": "O", "family_name": "Ut"})
	b := newBrowser(t, w.redirect)
	res, verifier := w.signIn(t, b, w.app, "connection", w.slug)
	_, tok := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
	hint, _ := tok.Extra("id_token").(string)
	logout := e.URL + "/oauth/logout?" + url.Values{"id_token_hint": {hint}}.Encode()
	release := lockTable(t, e, "grants")
	r := b.get(t, logout)
	release()
	checkReloadPage(t, "logout", r)
	if r = b.get(t, logout); r.status != http.StatusOK || !strings.Contains(r.body, "You are signed out of") {
		t.Fatalf("the reload once the database answers: %d %.300s", r.status, r.body)
	}
	if code := userinfoStatus(t, e, tok); code != http.StatusUnauthorized {
		t.Fatalf("userinfo after the sign-out: %d", code)
	}
}

// The database unavailable when the SAML IdP's answer is posted to the ACS (the answer cannot
// be kept): the same 503 page saying to reload, not an error answer to the application, and the
// form posted again, as a reloading browser does, signs the person in. Found by bench/signin
// -db-outage: the ACS redirected server_error to the application for answers that arrived
// while the database was down, though nothing of them was kept and the flow was still open.
func TestSAMLACSDatabaseUnavailableIsRetryable(t *testing.T) {
	e := newTestEnv(t, storetest.URL(t, "postgres"), func(c *app.Config) { c.Guard.RequestTimeout = time.Second })
	w := newSAMLWorld(t, e)
	b := w.browser()
	page, verifier := w.toIdP(t, b)
	release := lockTable(t, e, "saml_answers")
	resp, body := w.post(t, b, e.URL, page)
	release()
	checkReloadPage(t, "ACS", result{status: resp.StatusCode, header: resp.Header, body: body})
	resp, body = w.post(t, b, e.URL, page)
	q := w.appResult(t, resp, body)
	if q.Get("code") == "" {
		t.Fatalf("the form posted again once the database answers: %v", q)
	}
	if claims := w.exchange(t, q.Get("code"), verifier); claims["sub"] == nil {
		t.Fatalf("claims after the repost: %v", claims)
	}
}

// The database unavailable once the application is known (cached from a sign-in a moment
// before) but before the flow is stored: an error redirect with temporarily_unavailable (RFC
// 6749 §4.1.2.1), which the application may answer by starting again, not server_error; nothing
// was stored, and the same request once the database answers signs in.
func TestAuthorizeFlowDatabaseUnavailableIsTemporary(t *testing.T) {
	idp := newTestIdP(t)
	e := newTestEnv(t, storetest.URL(t, "postgres"), func(c *app.Config) { c.Guard.RequestTimeout = time.Second })
	w := newSignInWorld(t, e, idp)
	idp.as(map[string]any{"sub": "okta-f", "email": "f@example.com", "given_name": "F", "family_name": "Low"})
	if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug); r.query.Get("code") == "" { // caches the application
		t.Fatalf("a first sign-in: %+v", r)
	}
	release := lockTable(t, e, "sign_in_flows")
	r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
	release()
	if r.query.Get("error") != "temporarily_unavailable" || r.query.Get("state") != "app-state" || !strings.Contains(r.query.Get("error_description"), "briefly unavailable") {
		t.Fatalf("authorize without its flow table: %+v", r)
	}
	if r, _ = w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug); r.query.Get("code") == "" {
		t.Fatalf("the same sign-in once the database answers: %+v", r)
	}
}
