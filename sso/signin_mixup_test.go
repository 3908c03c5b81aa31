package sso_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
)

// mixUpIdP is an attacker's identity provider, the IdP of a connection in the attacker's own
// workspace: its /authorize forwards the browser to the victim's IdP with that IdP's client_id,
// the state of the flow it was sent, and the nonce and PKCE challenge of a flow the attacker
// started at the victim's connection (IdP mix-up). Its /token records what it is sent.
type mixUpIdP struct {
	srv    *httptest.Server
	victim *testIdP
	// redirect is the redirect_uri it forwards with, given the one Gatehouse sent it.
	redirect func(asked string) string

	mu                      sync.Mutex
	nonce, challenge        string
	tokenCalls              int
	stolenCode, stolenProof string
}

func newMixUpIdP(t *testing.T, victim *testIdP, redirect func(string) string) *mixUpIdP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	a := &mixUpIdP{victim: victim, redirect: redirect}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := a.srv.URL
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]any{"issuer": base, "authorization_endpoint": base + "/authorize",
				"token_endpoint": base + "/token", "jwks_uri": base + "/jwks"})
		case "/jwks":
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "a1", Algorithm: "RS256", Use: "sig"}}})
		case "/authorize":
			q := r.URL.Query()
			a.mu.Lock()
			to := url.Values{"client_id": {victim.client}, "redirect_uri": {a.redirect(q.Get("redirect_uri"))}, "response_type": {"code"},
				"scope": {"openid email profile"}, "state": {q.Get("state")}, "nonce": {a.nonce},
				"code_challenge": {a.challenge}, "code_challenge_method": {"S256"}}
			a.mu.Unlock()
			http.Redirect(w, r, victim.srv.URL+"/authorize?"+to.Encode(), http.StatusFound)
		case "/token":
			r.ParseForm()
			a.mu.Lock()
			a.tokenCalls++
			a.stolenCode, a.stolenProof = r.PostForm.Get("code"), r.PostForm.Get("code_verifier")
			a.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"invalid_grant"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *mixUpIdP) calls() (int, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokenCalls, a.stolenCode
}

// attackerWorld is the attacker's own workspace: a brand, an application and an active OIDC
// connection at the attacker's IdP.
func attackerWorld(t *testing.T, e *testEnv, issuer string) *signInWorld {
	t.Helper()
	tok := e.OtherWorkspaceAdmin(e.AdminToken(), "Evil Corp")
	att := &signInWorld{e: e, tok: tok, slug: "evil-idp", redirect: "http://127.0.0.1:9/callback"}
	att.brand = e.CreateBrand(tok, "Evil Brand")
	d := e.MustGQL(tok, `mutation($i: String!) { createConnection(input: {name: "Evil", slug: "evil-idp", protocol: OIDC,
		oidcConfig: {issuerUrl: $i, clientId: "x", clientSecret: "y"}}) { connection { id } errors { message } } }`,
		map[string]any{"i": issuer})
	if att.conn = str(d, "createConnection", "connection", "id"); att.conn == "" {
		t.Fatalf("createConnection: %v", d)
	}
	att.activate(att.conn, "evil.example")
	att.app = att.createApp(t, "Evil app", "CONFIDENTIAL")
	return att
}

// setOwnCallback sets a connection's oidcConfig.ownCallback and returns its callbackUrl as
// GraphQL shows it.
func (w *signInWorld) setOwnCallback(t *testing.T, own bool) string {
	t.Helper()
	d := w.e.MustGQL(w.tok, `mutation($id: ID!, $o: Boolean) { updateConnection(input: {id: $id, oidcConfig: {ownCallback: $o}}) {
		connection { status oidcConfig { ownCallback callbackUrl } } errors { label message } } }`, map[string]any{"id": w.conn, "o": own})
	if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
		t.Fatalf("updateConnection: %v", errs)
	}
	if got, _ := get(d, "updateConnection", "connection", "oidcConfig", "ownCallback").(bool); got != own {
		t.Fatalf("ownCallback = %v, want %v: %v", got, own, d)
	}
	if s := str(d, "updateConnection", "connection", "status"); s != "active" && s != "ACTIVE" {
		t.Fatalf("the connection is no longer active: %v", d)
	}
	return str(d, "updateConnection", "connection", "oidcConfig", "callbackUrl")
}

// lastCause is the private cause of a workspace's latest sign-in event.
func lastCause(t *testing.T, e *testEnv, tok string) string {
	t.Helper()
	d := e.MustGQL(tok, `{ signInEvents(pageSize: 1) { events { outcome cause } } }`, nil)
	evs, _ := get(d, "signInEvents", "events").([]any)
	if len(evs) != 1 {
		t.Fatalf("signInEvents: %v", d)
	}
	return str(evs[0], "cause")
}

// runMixUp runs the attack of TestOIDCMixUp: the attacker starts a sign-in at the victim's
// application and stops at the victim's IdP; the victim, signed in there, then follows the
// attacker's link, a sign-in through the attacker's connection. It returns where the victim's
// sign-in ended and injects whatever code reached the attacker's token endpoint into the
// attacker's own flow, returning the subject that flow signs in ("" when refused).
func runMixUp(t *testing.T, victim, att *signInWorld, a *mixUpIdP) (victimEnd result, injected string) {
	t.Helper()
	jane := map[string]any{"sub": "okta-victim", "email": "victim@example.com", "email_verified": true, "given_name": "Vic", "family_name": "Tim"}
	victim.idp.as(jane)
	ab := newBrowser(t, victim.idp.srv.URL)
	r1, attackerVerifier := victim.signIn(t, ab, victim.app, "connection", victim.slug)
	toB, err := url.Parse(r1.location)
	if err != nil || !strings.HasPrefix(r1.location, victim.idp.srv.URL) {
		t.Fatalf("attacker's flow at the victim's connection: %+v", r1)
	}
	a.mu.Lock()
	a.nonce, a.challenge = toB.Query().Get("nonce"), toB.Query().Get("code_challenge")
	a.mu.Unlock()

	victimEnd, _ = att.signIn(t, newBrowser(t, att.redirect), att.app, "connection", att.slug)
	_, code := a.calls()
	if code == "" {
		return victimEnd, ""
	}
	fin := newBrowser(t, victim.redirect)
	fin.c.Jar = ab.c.Jar
	r3 := fin.get(t, toB.Query().Get("redirect_uri")+"?"+url.Values{"state": {toB.Query().Get("state")}, "code": {code}}.Encode())
	if r3.query.Get("code") == "" {
		return victimEnd, ""
	}
	claims, _ := victim.claimsOf(t, victim.app, r3.query.Get("code"), attackerVerifier)
	s, _ := claims["sub"].(string)
	return victimEnd, s
}

// TestOIDCMixUp: an attacker's connection (in their own workspace) cannot make Gatehouse send
// a victim connection's code to the attacker's token endpoint. With its own redirect URI, the
// victim connection's IdP only ever answers there, and the callback refuses an answer for
// another connection's flow; with the shared one, the iss its IdP sends (RFC 9207) refuses it.
func TestOIDCMixUp(t *testing.T) {
	t.Run("own callback", func(t *testing.T) {
		idpB := newTestIdP(t)
		eachDB(t, func(t *testing.T, e *testEnv) {
			victim := newSignInWorld(t, e, idpB)
			own := victim.setOwnCallback(t, true)
			idpB.set(func(p *testIdP) { p.registered, p.iss, p.issParameter = own, "", false })
			defer idpB.set(func(p *testIdP) { p.registered = "" })
			// The attacker forwards with the victim connection's redirect URI (the IdP answers no other).
			a := newMixUpIdP(t, idpB, func(string) string { return own })
			att := attackerWorld(t, e, a.srv.URL)
			before := idpB.tokenCalls
			end, sub := runMixUp(t, victim, att, a)
			if n, code := a.calls(); n != 0 || code != "" {
				t.Fatalf("the victim IdP's code reached the attacker's token endpoint (%d requests)", n)
			}
			if idpB.tokenCalls != before || sub != "" {
				t.Fatalf("a token request was sent for the mixed-up answer, or the attacker signed in as %q", sub)
			}
			if end.query.Get("error") != "access_denied" {
				t.Fatalf("the victim's sign-in ended %+v", end)
			}
			if c := lastCause(t, e, att.tok); !strings.Contains(c, "arrived at /sso/oidc/callback/"+victim.conn) {
				t.Errorf("cause = %q", c)
			}
			// The attacker's connection forwarding the redirect URI it was sent: the victim's
			// IdP refuses it (not registered), no code is issued at all.
			a.mu.Lock()
			a.redirect = func(asked string) string { return asked }
			a.tokenCalls = 0
			a.mu.Unlock()
			if _, sub := runMixUp(t, victim, att, a); sub != "" {
				t.Fatalf("the attacker signed in as %q", sub)
			}
			if n, _ := a.calls(); n != 0 {
				t.Fatalf("%d requests reached the attacker's token endpoint", n)
			}
		})
	})
	t.Run("shared callback, the IdP sends iss", func(t *testing.T) {
		idpB := newTestIdP(t)
		eachDB(t, func(t *testing.T, e *testEnv) {
			idpB.set(func(p *testIdP) { p.issParameter = true })
			victim := newSignInWorld(t, e, idpB)
			a := newMixUpIdP(t, idpB, func(asked string) string { return asked })
			att := attackerWorld(t, e, a.srv.URL)
			before := idpB.tokenCalls
			end, sub := runMixUp(t, victim, att, a)
			if n, _ := a.calls(); n != 0 || sub != "" {
				t.Fatalf("the victim IdP's code reached the attacker's token endpoint (%d requests); attacker signed in as %q", n, sub)
			}
			if idpB.tokenCalls != before || end.query.Get("error") != "access_denied" {
				t.Fatalf("the victim's sign-in ended %+v", end)
			}
			if c := lastCause(t, e, att.tok); !strings.Contains(c, idpB.srv.URL) || !strings.Contains(c, a.srv.URL) {
				t.Errorf("cause = %q, want both issuers", c)
			}
		})
	})
}

// TestOIDCAuthorizationResponseIss: RFC 9207. An authorization response's iss must be the
// connection's issuer, checked before the code is redeemed; an IdP that says it always sends
// iss must send it. An IdP that says nothing of it may send none (the sign-ins of before).
func TestOIDCAuthorizationResponseIss(t *testing.T) {
	for _, c := range []struct {
		name      string
		advertise bool
		iss       string // "": the IdP's own when advertised, none otherwise; "-": none
		ok        bool
		cause     string
	}{
		{"advertised and sent", true, "", true, ""},
		{"not advertised, not sent", false, "", true, ""},
		{"not advertised, sent right", false, "self", true, ""},
		{"another issuer", false, "https://other-idp.example", false, "https://other-idp.example"},
		{"another issuer, advertised", true, "https://other-idp.example/", false, "is not the connection's issuer"},
		{"the issuer with a trailing slash", false, "self/", false, "is not the connection's issuer"},
		{"advertised but missing", true, "-", false, "has no iss"},
	} {
		t.Run(c.name, func(t *testing.T) {
			idp := newTestIdP(t)
			eachDB(t, func(t *testing.T, e *testEnv) {
				iss := strings.Replace(c.iss, "self", idp.srv.URL, 1)
				idp.set(func(p *testIdP) { p.issParameter, p.iss = c.advertise, iss })
				w := newSignInWorld(t, e, idp)
				idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true, "given_name": "Jane", "family_name": "Doe"})
				r, ver := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
				if c.ok {
					if r.query.Get("code") == "" {
						t.Fatalf("sign-in refused: %+v (cause %q)", r, lastCause(t, e, w.tok))
					}
					if claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), ver); claims["email"] != "jane@example.com" {
						t.Fatalf("claims %v", claims)
					}
					return
				}
				if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" {
					t.Fatalf("sign-in ended %+v", r)
				}
				if idp.tokenCalls != 0 {
					t.Fatalf("%d token requests for a refused answer", idp.tokenCalls)
				}
				if cause := lastCause(t, e, w.tok); !strings.Contains(cause, c.cause) {
					t.Errorf("cause = %q, want %q", cause, c.cause)
				}
			})
		})
	}
}

// TestOIDCOwnCallback: a connection with its own redirect URI shows it (GraphQL and REST),
// sends it to its IdP, and signs in there; an answer to its flow that arrives at the shared
// callback or another connection's own one is refused without a token request, as is one to
// the shared connections' flow at a connection's own path, and a flow whose connection changed
// its redirect URI meanwhile.
func TestOIDCOwnCallback(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		shared := e.Config.PublicURL + "/sso/oidc/callback"
		own := shared + "/" + w.conn
		restOIDC := func() map[string]any {
			return get(e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200).Body, "connection", "oidcConfig").(map[string]any)
		}
		if o := restOIDC(); o["callbackUrl"] != shared || o["ownCallback"] != false {
			t.Fatalf("REST oidcConfig of a new connection: %v", o)
		}
		jane := map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true, "given_name": "Jane", "family_name": "Doe"}
		idp.as(jane)
		calls := func() int {
			idp.mu.Lock()
			defer idp.mu.Unlock()
			return idp.tokenCalls
		}
		refused := func(t *testing.T, r result, n int, cause string) {
			t.Helper()
			if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" {
				t.Fatalf("ended %+v", r)
			}
			if calls() != n {
				t.Fatalf("a token request was sent for a refused answer")
			}
			if c := lastCause(t, e, w.tok); !strings.Contains(c, cause) {
				t.Errorf("cause = %q, want %q", c, cause)
			}
		}
		// moved sends the IdP's answer at the callback to path instead.
		moved := func(t *testing.T, path string, change func()) result {
			t.Helper()
			stop := newBrowser(t, e.URL+"/sso/oidc/callback")
			r, _ := w.signIn(t, stop, w.app, "connection", w.slug)
			loc, err := url.Parse(r.location)
			if err != nil || !strings.HasPrefix(r.location, e.URL+"/sso/oidc/callback") {
				t.Fatalf("expected the IdP's redirect to a callback: %+v", r)
			}
			if change != nil {
				change()
			}
			if path != "" {
				loc.Path = path
			}
			fin := newBrowser(t, w.redirect)
			fin.c.Jar = stop.c.Jar
			return fin.get(t, loc.String())
		}

		t.Run("default: the shared callback only", func(t *testing.T) {
			r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("code") == "" || idp.seen.Get("redirect_uri") != shared {
				t.Fatalf("sign-in: %+v, redirect_uri %q", r, idp.seen.Get("redirect_uri"))
			}
			n := calls()
			refused(t, moved(t, "/sso/oidc/callback/"+w.conn, nil), n, "not at the connection's redirect URI /sso/oidc/callback")
		})

		t.Run("own callback: shown, sent and the one answered at", func(t *testing.T) {
			if got := w.setOwnCallback(t, true); got != own {
				t.Fatalf("GraphQL callbackUrl = %q, want %q", got, own)
			}
			if o := restOIDC(); o["callbackUrl"] != own || o["ownCallback"] != true {
				t.Fatalf("REST oidcConfig: %v", o)
			}
			idp.set(func(p *testIdP) { p.registered = own })
			defer idp.set(func(p *testIdP) { p.registered = "" })
			r, ver := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("code") == "" || idp.seen.Get("redirect_uri") != own {
				t.Fatalf("sign-in: %+v, redirect_uri %q", r, idp.seen.Get("redirect_uri"))
			}
			if claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), ver); claims["email"] != "jane@example.com" {
				t.Fatalf("claims %v", claims)
			}
			n := calls()
			refused(t, moved(t, "/sso/oidc/callback", nil), n, "arrived at /sso/oidc/callback,")
			refused(t, moved(t, "/sso/oidc/callback/"+uuid.NewString(), nil), n, "not at the connection's redirect URI /sso/oidc/callback/"+w.conn)
		})

		t.Run("the setting changed mid-flow: the flow fails, no token request", func(t *testing.T) {
			n := calls()
			// Started on its own redirect URI, answered there after the change back.
			refused(t, moved(t, "", func() { w.setOwnCallback(t, false) }), n, "arrived at /sso/oidc/callback/"+w.conn)
			// Started on the shared one, answered there after the change.
			refused(t, moved(t, "", func() { w.setOwnCallback(t, true) }), n, "arrived at /sso/oidc/callback,")
			// Back to the shared one, through REST this time.
			o := get(e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"oidcConfig": {"ownCallback": false}}`).Must(t, 200).Body,
				"connection", "oidcConfig").(map[string]any)
			if o["callbackUrl"] != shared || o["ownCallback"] != false {
				t.Fatalf("REST PUT oidcConfig: %v", o)
			}
			if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug); r.query.Get("code") == "" {
				t.Fatalf("sign-in back on the shared callback: %+v", r)
			}
		})
	})
}
