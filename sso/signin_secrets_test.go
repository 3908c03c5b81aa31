package sso_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/app/apptest"
	"gatehouse/store/storetest"
)

// TestSignInSecretsNeverLogged: a browser sign-in and what an application does with its
// result, then the same credentials replayed or sent wrong, with the log and traces captured:
// no code (the IdP's or Gatehouse's), PKCE verifier, token, client secret or cookie of the
// session appears in the log, in any span, in the sign-in events or in the audit log.
func TestSignInSecretsNeverLogged(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		rcv := apptest.NewOTLPReceiver(t)
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
		ae, logs := apptest.NewLogged(t, dbURL)
		t.Cleanup(func() { ae.App.Tracing().Shutdown(context.Background()) })
		e := &testEnv{ae}
		idp := newTestIdP(t)
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true})

		var secrets []string
		stop := newBrowser(t, e.URL+"/sso/oidc/callback")
		r, verifier := w.signIn(t, stop, w.app, "connection", w.slug)
		cb, err := url.Parse(r.location)
		if err != nil || cb.Query().Get("code") == "" {
			t.Fatalf("no IdP callback: %+v", r)
		}
		upstreamCode := cb.Query().Get("code")
		u, _ := url.Parse(e.URL)
		for _, c := range stop.c.Jar.Cookies(u) {
			secrets = append(secrets, c.Value)
		}
		fin := newBrowser(t, w.redirect)
		fin.c.Jar = stop.c.Jar
		res := fin.get(t, r.location)
		code := res.query.Get("code")
		if code == "" {
			t.Fatalf("sign-in: %+v", res)
		}
		// The callback again (the IdP's code replayed) and with a made-up state.
		fin.get(t, r.location)
		newBrowser(t, w.redirect).get(t, e.URL+"/sso/oidc/callback?state=made-up&code="+url.QueryEscape(upstreamCode))
		// A wrong verifier voids the code; the right one then finds it used.
		if s, _ := postToken(t, e, w.app.ClientID, w.app.ClientSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {code}, "redirect_uri": {w.redirect}, "code_verifier": {verifier + "x"}}); s != 400 {
			t.Fatalf("wrong verifier: %d", s)
		}
		r2, verifier2 := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		code2 := r2.query.Get("code")
		_, tok := w.claimsOf(t, w.app, code2, verifier2)
		idToken, _ := tok.Extra("id_token").(string)
		if s, _ := postToken(t, e, w.app.ClientID, w.app.ClientSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {code2}, "redirect_uri": {w.redirect}, "code_verifier": {verifier2}}); s != 400 {
			t.Fatalf("code replayed: %d", s)
		}
		if s, _ := postToken(t, e, w.app.ClientID, "wrong-"+w.app.ClientSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {code2}, "redirect_uri": {w.redirect}, "code_verifier": {verifier2}}); s != 401 {
			t.Fatalf("wrong secret: %d", s)
		}
		userinfoStatus(t, e, tok)
		resp, err := http.Get(e.URL + "/oauth/logout?id_token_hint=" + url.QueryEscape(idToken) + "&client_id=" + w.app.ClientID)
		if err == nil {
			resp.Body.Close()
		}
		secrets = append(secrets, upstreamCode, code, code2, verifier, verifier2, tok.AccessToken, idToken,
			w.app.ClientSecret, "wrong-"+w.app.ClientSecret, idp.secret)
		if err := e.App.Tracing().Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		spans, _ := rcv.Received()
		if len(spans) == 0 {
			t.Fatal("no span exported")
		}
		var spanText strings.Builder
		for _, s := range spans {
			spanText.WriteString(s.String())
		}
		d := e.MustGQL(w.tok, `{ signInEvents(pageSize: 100) { events { cause reason identifier } } auditEvents(first: 100) { summary } }`, nil)
		b, _ := json.Marshal(d)
		stored := string(b)
		logText := logs.String()
		if !strings.Contains(logText, "/sso/oidc/callback") || !strings.Contains(stored, "okta-jane") {
			t.Fatalf("nothing captured: %d log bytes, %s", len(logText), stored)
		}
		for _, s := range secrets {
			if len(s) < 8 {
				t.Fatalf("short secret %q", s)
			}
			for where, text := range map[string]string{"the log": logText, "a span": spanText.String(), "the events": stored} {
				if strings.Contains(text, s) {
					t.Errorf("%.12s… in %s", s, where)
				}
			}
		}
	})
}
