package sso_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// An application may ask for RS256 id_tokens (OIDC Core §15.1 makes RS256 the algorithm every
// relying party supports; openid-client 5 and Spring Security expect it by default). Its key
// is published before its first sign-in; access tokens stay ES256; the rotation steps act on
// both algorithms.
func TestIDTokenRS256(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		b := newBrowser(t, w.redirect)
		ctx := context.Background()
		prov, err := oidc.NewProvider(ctx, e.URL)
		if err != nil {
			t.Fatal(err)
		}
		// What a relying party that accepts only RS256, or only ES256, makes of a sign-in.
		verify := func(app *oauth2.Config, alg string) (string, error) {
			t.Helper()
			idp.as(map[string]any{"sub": "okta-rs", "email": "rita@example.com", "given_name": "Rita", "family_name": "Sands"})
			res, verifier := w.signIn(t, b, app, "connection", w.slug)
			tok, err := app.Exchange(ctx, res.query.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %+v: %v", res, err)
			}
			if info := userinfo(t, e, tok.AccessToken); info.status != 200 || info.body["email"] != "rita@example.com" {
				t.Fatalf("userinfo with the access token: %+v", info)
			}
			if h := jwtHeader(t, tok.AccessToken); h["alg"] != "ES256" || h["typ"] != "at+jwt" {
				t.Fatalf("access token header %v: access tokens are always ES256", h)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := prov.Verifier(&oidc.Config{ClientID: app.ClientID, SupportedSigningAlgs: []string{alg}}).Verify(ctx, raw)
			if err != nil {
				return "", err
			}
			var c struct{ Nonce, Email string }
			if err := idt.Claims(&c); err != nil || c.Nonce != "app-nonce" || c.Email != "rita@example.com" || idt.Subject == "" {
				t.Fatalf("claims %+v: %v", c, err)
			}
			return fmt.Sprint(jwtHeader(t, raw)["kid"]), nil
		}

		if algs := fmt.Sprint(discoveryOf(t, e)["id_token_signing_alg_values_supported"]); algs != "[ES256 RS256]" {
			t.Fatalf("id_token_signing_alg_values_supported = %s", algs)
		}
		if kinds := jwksKinds(t, e); kinds != "EC/ES256" {
			t.Fatalf("JWKS before any RS256 application: %s", kinds)
		}

		// An ES256 application's id_token, as before: an RS256-only relying party refuses it.
		if _, err := verify(w.app, "RS256"); err == nil {
			t.Fatal("an RS256-only verifier took an ES256 application's id_token: the checks below prove nothing")
		}
		if _, err := verify(w.app, "ES256"); err != nil {
			t.Fatalf("ES256 application: %v", err)
		}

		keys := func(q string) string {
			t.Helper()
			d := e.MustGQL(w.tok, q, nil)
			list := get(d, strings.Fields(strings.Trim(q, "{ mutation"))[0]) // the query's list, or a payload
			if payload, ok := list.(map[string]any); ok {
				list = payload["keys"]
			}
			var out []string
			for _, k := range list.([]any) {
				out = append(out, str(k, "role")+"/"+str(k, "algorithm"))
			}
			return strings.Join(out, " ")
		}
		// A rotation started while ES256 is the only algorithm.
		if got := keys(`mutation { startSigningKeyRotation { keys { role algorithm } errors { message } } }`); got != "CURRENT/ES256 NEXT/ES256" {
			t.Fatalf("after starting a rotation: %s", got)
		}

		// A client that may not change applications makes no key asking.
		appUpdate := `mutation($id: ID!, $a: IdTokenSigningAlgorithm) { updateApplication(input: {id: $id, idTokenSignedResponseAlg: $a}) {
			application { idTokenSignedResponseAlg } errors { message } } }`
		readID, readSecret := e.CreateClient(w.tok, []string{"graphql:read"}, "")
		if r := e.GQL(e.Token(readID, readSecret), appUpdate, map[string]any{"id": appID(t, e, w, w.app.ClientID), "a": "RS256"}); len(r.Errors) == 0 ||
			r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Fatalf("a read-only client's update: %s", r.Raw)
		}
		if kinds := jwksKinds(t, e); kinds != "EC/ES256 EC/ES256" {
			t.Fatalf("JWKS after a refused update: %s", kinds)
		}

		// An existing application switches to RS256: the first RS256 key is made then, and
		// published before its next sign-in; once, however many ask at once.
		update := func(alg string) {
			t.Helper()
			d := e.MustGQL(w.tok, appUpdate, map[string]any{"id": appID(t, e, w, w.app.ClientID), "a": alg})
			if str(d, "updateApplication", "application", "idTokenSignedResponseAlg") != alg {
				t.Fatalf("updateApplication: %v", d)
			}
		}
		d := e.MustGQL(w.tok, `{ applications(brandId: "`+w.brand+`") { clientId idTokenSignedResponseAlg } }`, nil)
		if str(d, "applications", 0, "idTokenSignedResponseAlg") != "ES256" {
			t.Fatalf("the default: %v", d)
		}
		// Six updates at once: each makes sure of the key before its write, and the writes
		// but one may find the application changed concurrently.
		var wg sync.WaitGroup
		var switched atomic.Int32
		for range 6 {
			wg.Go(func() {
				d := e.MustGQL(w.tok, appUpdate, map[string]any{"id": appID(t, e, w, w.app.ClientID), "a": "RS256"})
				if str(d, "updateApplication", "application", "idTokenSignedResponseAlg") == "RS256" {
					switched.Add(1)
				} else if msg := str(d, "updateApplication", "errors", 0, "message"); !strings.Contains(msg, "changed concurrently") {
					t.Errorf("updateApplication: %v", d)
				}
			})
		}
		wg.Wait()
		if switched.Load() == 0 {
			t.Fatal("no update switched the application")
		}
		if kinds := jwksKinds(t, e); kinds != "EC/ES256 EC/ES256 RSA/RS256" {
			t.Fatalf("JWKS after six concurrent switches to RS256: %s", kinds)
		}
		created := 0
		for _, ev := range get(e.MustGQL(w.tok, `{ auditEvents(first: 100) { action } }`, nil), "auditEvents").([]any) {
			if str(ev, "action") == "signing_key.created" {
				created++
			}
		}
		if created != 1 {
			t.Fatalf("%d signing_key.created events, want 1", created)
		}
		if _, err := verify(w.app, "ES256"); err == nil {
			t.Fatal("an ES256-only verifier took the id_token of an application switched to RS256")
		}
		firstRSA, err := verify(w.app, "RS256")
		if err != nil {
			t.Fatalf("after switching to RS256: %v", err)
		}
		// The promotion of the rotation started before the RS256 key existed leaves that key
		// current: it had no next key to give way to.
		if got := keys(`mutation { promoteSigningKey { keys { role algorithm } errors { message } } }`); got != "CURRENT/ES256 CURRENT/RS256 PREVIOUS/ES256" {
			t.Fatalf("after promoting an ES256-only rotation: %s", got)
		}
		if kid, err := verify(w.app, "RS256"); err != nil || kid != firstRSA {
			t.Fatalf("after the ES256 promotion: kid %s (want %s), %v", kid, firstRSA, err)
		}
		keys(`mutation { retireSigningKey { keys { role algorithm } errors { message } } }`)
		w.tok = e.AdminToken() // the admin's token was signed by the key just retired

		// A new RS256 application signs with the same key; the first switches back.
		d = e.MustGQL(w.tok, `mutation($b: ID!, $r: [String!]!) { createApplication(input: {brandId: $b, name: "Spring portal", redirectUris: $r,
			idTokenSignedResponseAlg: RS256}) { application { clientId idTokenSignedResponseAlg } clientSecret errors { message } } }`,
			map[string]any{"b": w.brand, "r": []string{w.redirect}})
		if str(d, "createApplication", "application", "idTokenSignedResponseAlg") != "RS256" {
			t.Fatalf("createApplication: %v", d)
		}
		rs := &oauth2.Config{ClientID: str(d, "createApplication", "application", "clientId"), ClientSecret: str(d, "createApplication", "clientSecret"),
			Endpoint: w.app.Endpoint, RedirectURL: w.redirect, Scopes: w.app.Scopes}
		if kid, err := verify(rs, "RS256"); err != nil || kid != firstRSA {
			t.Fatalf("RS256 application: kid %s (want %s), %v", kid, firstRSA, err)
		}
		update("ES256")
		if _, err := verify(w.app, "ES256"); err != nil {
			t.Fatalf("after switching back: %v", err)
		}
		if r := e.GQL(w.tok, `mutation($id: ID!) { updateApplication(input: {id: $id, idTokenSignedResponseAlg: HS256}) { errors { message } } }`,
			map[string]any{"id": appID(t, e, w, w.app.ClientID)}); len(r.Errors) == 0 {
			t.Fatalf("HS256 was taken: %s", r.Raw)
		}

		// With both algorithms, a rotation publishes a next key of each (REST answers the
		// ES256 one as key, and every key); the promotion makes both sign.
		res := e.REST(w.tok, "POST", "/api/v1/oauth/signing-keys/rotate", "").Must(t, 201)
		if str(res.Body, "key", "algorithm") != "ES256" || str(res.Body, "key", "role") != "next" || len(get(res.Body, "keys").([]any)) != 4 {
			t.Fatalf("REST rotate: %s", res.Raw)
		}
		if got := keys(`{ signingKeys { role algorithm } }`); got != "CURRENT/ES256 CURRENT/RS256 NEXT/ES256 NEXT/RS256" {
			t.Fatalf("after starting a rotation: %s", got)
		}
		if got := keys(`mutation { promoteSigningKey { keys { role algorithm } errors { message } } }`); got != "CURRENT/ES256 CURRENT/RS256 PREVIOUS/ES256 PREVIOUS/RS256" {
			t.Fatalf("after the promotion: %s", got)
		}
		kid, err := verify(rs, "RS256")
		if err != nil || kid == firstRSA {
			t.Fatalf("after the promotion the RS256 application's id_token has kid %s (first %s): %v", kid, firstRSA, err)
		}
		if got := keys(`mutation { retireSigningKey { keys { role algorithm } errors { message } } }`); got != "CURRENT/ES256 CURRENT/RS256" {
			t.Fatalf("after the retirement: %s", got)
		}
		if kinds := jwksKinds(t, e); kinds != "EC/ES256 RSA/RS256" {
			t.Fatalf("JWKS after the rotation: %s", kinds)
		}
	})
}

// jwtHeader decodes a compact JWS's protected header.
func jwtHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.SplitN(raw, ".", 2)[0])
	var h map[string]any
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil {
		t.Fatalf("JWS header of %q: %v", raw, err)
	}
	return h
}

// jwksKinds lists the JWKS's keys as kty/alg, sorted.
func jwksKinds(t *testing.T, e *testEnv) string {
	t.Helper()
	resp, err := http.Get(e.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct{ Kty, Alg, Use string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		if k.Use != "sig" {
			t.Errorf("key use %q", k.Use)
		}
		out = append(out, k.Kty+"/"+k.Alg)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// appID is the id of the world's application whose client_id is clientID.
func appID(t *testing.T, e *testEnv, w *signInWorld, clientID string) string {
	t.Helper()
	d := e.MustGQL(w.tok, `query($b: ID!) { applications(brandId: $b) { id clientId } }`, map[string]any{"b": w.brand})
	for _, a := range get(d, "applications").([]any) {
		if str(a, "clientId") == clientID {
			return str(a, "id")
		}
	}
	t.Fatalf("no application %s: %v", clientID, d)
	return ""
}
