package sso_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestOIDCSignInRealIdPAnswers: answers of real OpenID Providers that the in-process IdP does
// not give by default sign the person in through the browser's real path.
//
//   - userinfo answered as a signed JWT (Content-Type application/jwt, OpenID Connect Core
//     §5.3.2), as Keycloak does for a client whose "User info signed response algorithm" is
//     set, and Okta/Entra never do: go-oidc verifies it with the IdP's key set, and its claims
//     are merged as JSON userinfo's are (here the id_token carries sub alone);
//   - an Entra ID v2.0 id_token of a person in 200 groups (the most Entra puts in a JWT before
//     it sends the _claim_names overage instead: Microsoft Learn, "Configure group claims",
//     groups overage claim), some 9 KB, with no email_verified (Entra never sends it) and its
//     tid/oid/preferred_username/ver claims: the first sign-in provisions, the next finds the
//     identity;
//   - the IdP rolls its signing key over (a new key under a new kid, the old one gone from its
//     JWKS, as Entra ID and Google do every few weeks) after Gatehouse read its key set: the
//     next id_token names a kid Gatehouse has not seen, and the key set is read again.
func TestOIDCSignInRealIdPAnswers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp := newTestIdP(t)
		w := newSignInWorld(t, e, idp)

		idp.set(func(p *testIdP) {
			p.userinfoOnly = true
			p.hostile = map[string]func(http.Handler) http.Handler{"/userinfo": func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					var claims map[string]any
					if err := json.Unmarshal(rec.Body.Bytes(), &claims); err != nil {
						t.Errorf("userinfo: %v", err)
					}
					claims["iss"], claims["aud"] = p.url(), p.client // Core §5.3.2: a signed answer carries them
					rw.Header().Set("Content-Type", "application/jwt")
					rw.Write([]byte(p.sign(claims)))
				})
			}}
		})
		got := w.claimsAs(t, map[string]any{"sub": "kc-1", "email": "jwt@example.com", "email_verified": true,
			"given_name": "Jay", "family_name": "Wyatt"})
		if got["email"] != "jwt@example.com" || got["given_name"] != "Jay" || got["sign_in"] != "provisioned" {
			t.Fatalf("userinfo as a JWT: %v", got)
		}
		idp.set(func(p *testIdP) { p.hostile, p.userinfoOnly = nil, false })

		groups := make([]any, 200)
		for i := range groups {
			groups[i] = fmt.Sprintf("%08x-4c3e-4b54-9a2d-5c1f1e0b7a6d", i)
		}
		entra := map[string]any{"sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "oid": "00000000-0000-0000-66f3-3332eca7ea81",
			"tid": "9122040d-6c67-4c5b-b112-36a304b66dad", "ver": "2.0", "preferred_username": "grace@example.com",
			"email": "grace@example.com", "name": "Grace Hopper", "groups": groups}
		if got := w.claimsAs(t, entra); got["email"] != "grace@example.com" || got["given_name"] != "Grace" || got["sign_in"] != "provisioned" {
			t.Fatalf("Entra ID, 200 groups: %v", got)
		}
		if got := w.claimsAs(t, entra); got["sign_in"] != "existing_identity" {
			t.Fatalf("Entra ID, 200 groups, again: %v", got)
		}

		next, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		idp.set(func(p *testIdP) { p.key, p.keyID = next, "k2" })
		if got := w.claimsAs(t, entra); got["sign_in"] != "existing_identity" {
			t.Fatalf("after the IdP's key rollover: %v", got)
		}
	})
}
