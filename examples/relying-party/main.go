// Command relying-party is the smallest web application that signs people in through
// Gatehouse: a brand application using the OpenID Connect client libraries it would use with
// any provider (golang.org/x/oauth2 and github.com/coreos/go-oidc/v3), with the
// authorization-code flow, PKCE, state and nonce.
//
//	GATEHOUSE_URL=http://localhost:8080 CLIENT_ID=gha_… CLIENT_SECRET=… go run ./examples/relying-party
//
// Register http://localhost:3000/callback as a redirect URI of the application first, and
// http://localhost:3000/ as its post-logout redirect URI (docs/sign-in.md); ADDR=host:port
// moves it off localhost:3000, and then those URIs name that host and port. Open
// http://localhost:3000/, type a work email, and sign in at your identity provider; the home
// page then shows the id_token's claims, and "Sign out" ends the sign-in at Gatehouse's
// end_session_endpoint.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"log"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func main() {
	issuer := getenv("GATEHOUSE_URL", "http://localhost:8080")
	addr := getenv("ADDR", "localhost:3000")
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, issuer) // reads /.well-known/openid-configuration
	if err != nil {
		log.Fatalf("discovery at %s: %v", issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil {
		log.Fatalf("discovery at %s: %v", issuer, err)
	}
	app := &relyingParty{
		homeURL: "http://" + addr + "/", endSession: meta.EndSession,
		verifier: provider.Verifier(&oidc.Config{ClientID: os.Getenv("CLIENT_ID")}),
		config: oauth2.Config{ClientID: os.Getenv("CLIENT_ID"), ClientSecret: os.Getenv("CLIENT_SECRET"),
			Endpoint: provider.Endpoint(), RedirectURL: "http://" + addr + "/callback",
			Scopes: []string{oidc.ScopeOpenID, "email", "profile"}},
	}
	http.HandleFunc("GET /{$}", app.home)
	http.HandleFunc("GET /login", app.login)
	http.HandleFunc("GET /callback", app.callback)
	http.HandleFunc("GET /logout", app.logout)
	log.Printf("open http://%s/", addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}

type relyingParty struct {
	config              oauth2.Config
	verifier            *oidc.IDTokenVerifier
	homeURL, endSession string
}

var page = template.Must(template.New("").Parse(`<!doctype html><title>Example app</title>
<h1>Example app</h1>
{{if .}}<p>Signed in.</p><pre>{{.}}</pre><p><a href="/">Again</a> · <a href="/logout">Sign out</a></p>
{{else}}<form action="/login"><label>Work email <input type="email" name="email"></label>
<button>Sign in with SSO</button></form>{{end}}`))

// home shows the signed-in person's claims, read from the id_token the callback kept (and
// verified again), or the sign-in form.
func (a *relyingParty) home(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie("id_token")
	if err != nil {
		page.Execute(w, nil)
		return
	}
	idt, err := a.verifier.Verify(r.Context(), c.Value)
	if err != nil { // expired, or from another provider: sign in again
		page.Execute(w, nil)
		return
	}
	var claims map[string]any
	idt.Claims(&claims)
	out, _ := json.MarshalIndent(claims, "", "  ")
	page.Execute(w, string(out))
}

// login sends the browser to Gatehouse. The email is a hint: Gatehouse routes it to the
// connection that owns its domain (without it, Gatehouse asks for the email itself).
func (a *relyingParty) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	for name, v := range map[string]string{"state": state, "nonce": nonce, "verifier": verifier} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", MaxAge: 600, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if email := r.URL.Query().Get("email"); email != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", email))
	}
	http.Redirect(w, r, a.config.AuthCodeURL(state, opts...), http.StatusFound)
}

// callback checks state, redeems the code with the PKCE verifier, and verifies the id_token
// (signature, issuer, audience, expiry) and its nonce. It then sends the browser home: a
// reload of the callback URL must not send its code again, since a code used twice makes
// Gatehouse revoke the tokens the first use got (RFC 6749 §4.1.2); the one-time cookies are
// gone by then, so a reload only says the state does not match.
func (a *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	cookie := func(name string) string {
		c, err := r.Cookie(name)
		if err != nil {
			return ""
		}
		return c.Value
	}
	for _, name := range []string{"state", "nonce", "verifier"} {
		http.SetCookie(w, &http.Cookie{Name: name, Path: "/", MaxAge: -1})
	}
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		http.Error(w, "sign-in failed: "+e+": "+q.Get("error_description"), http.StatusForbidden)
		return
	}
	if q.Get("state") == "" || q.Get("state") != cookie("state") {
		http.Error(w, "state mismatch", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	tok, err := a.config.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(cookie("verifier")))
	if err != nil {
		http.Error(w, "code exchange: "+err.Error(), http.StatusBadGateway)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil || idt.Nonce != cookie("nonce") {
		http.Error(w, "invalid id_token", http.StatusBadGateway)
		return
	}
	// Kept for signing out: the end_session_endpoint takes it as id_token_hint.
	http.SetCookie(w, &http.Cookie{Name: "id_token", Value: raw, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout forgets the sign-in here and sends the browser to Gatehouse's end_session_endpoint,
// which ends the application's tokens for the person and sends the browser back home.
func (a *relyingParty) logout(w http.ResponseWriter, r *http.Request) {
	hint := ""
	if c, err := r.Cookie("id_token"); err == nil {
		hint = c.Value
	}
	http.SetCookie(w, &http.Cookie{Name: "id_token", Path: "/", MaxAge: -1})
	if a.endSession == "" {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	v := url.Values{"client_id": {a.config.ClientID}, "post_logout_redirect_uri": {a.homeURL}}
	if hint != "" {
		v.Set("id_token_hint", hint)
	}
	http.Redirect(w, r, a.endSession+"?"+v.Encode(), http.StatusFound)
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
