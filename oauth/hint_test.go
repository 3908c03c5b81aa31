package oauth

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/clock"
	"gatehouse/provision"
	"gatehouse/store/storetest"
)

// An id_token_hint is an id_token of Gatehouse's, expired or not: signed with a published key,
// typ JWT (an access token, typ at+jwt, is not one even with the same claims), with its issuer.
func TestIDTokenHint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		const issuer = "https://gatehouse.example"
		srv, _ := newTestServer(t, dbURL, issuer, clock.NewFake(time.Now()))
		long := time.Now().Add(-48 * time.Hour)
		claims := idTokenClaims{Claims: jwt.Claims{Issuer: issuer, Subject: "0193b5c2-7f1e-7cc4-9a4e-2f0c1d3e4b5a",
			Audience: jwt.Audience{"ghc_app"}, IssuedAt: jwt.NewNumericDate(long), Expiry: jwt.NewNumericDate(long.Add(TokenLifetime))},
			IDClaims: provision.IDClaims{Email: "jane@example.com", WorkspaceID: "4771494f-5c77-4b3a-86dc-caafb8d80c45", Connection: "acme"}}
		sign := func(s *jwsSigner, c idTokenClaims) string {
			raw, err := s.sign(c)
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
		hint := func(raw string) *provision.IDTokenHint {
			return srv.idTokenHint(httptest.NewRequest("GET", "/oauth/authorize", nil), raw)
		}
		h := hint(sign(srv.keys.idSigner, claims))
		if h == nil || h.Subject != claims.Subject || h.Email != "jane@example.com" || h.Connection != "acme" ||
			h.WorkspaceID != claims.WorkspaceID || len(h.Audience) != 1 || h.Audience[0] != "ghc_app" {
			t.Fatalf("an expired id_token: %+v", h)
		}
		if h := hint(sign(srv.keys.signer, claims)); h != nil {
			t.Errorf("the same claims signed as an access token (typ at+jwt) were taken: %+v", h)
		}
		other := claims
		other.Issuer = "https://elsewhere.example"
		if h := hint(sign(srv.keys.idSigner, other)); h != nil {
			t.Errorf("another issuer's was taken: %+v", h)
		}
		padded := claims
		padded.Name = strings.Repeat("a", maxIDTokenHint)
		if h := hint(sign(srv.keys.idSigner, padded)); h != nil {
			t.Errorf("an id_token over %d bytes was taken", maxIDTokenHint)
		}
	})
}
