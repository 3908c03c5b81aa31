package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/store/storetest"
)

// An id_token_hint is an id_token of Gatehouse's, expired or not: signed with a published key,
// typ JWT (an access token, typ at+jwt, is not one even with the same claims), with its issuer.
func TestIDTokenHint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		const issuer = "https://gatehouse.example"
		clk := clock.NewFake(time.Now())
		srv, svc := newTestServer(t, dbURL, issuer, clk)
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
		h := hint(sign(srv.keys.idSigners[models.IDTokenES256], claims))
		if h == nil || h.Subject != claims.Subject || h.Email != "jane@example.com" || h.Connection != "acme" ||
			h.WorkspaceID != claims.WorkspaceID || len(h.Audience) != 1 || h.Audience[0] != "ghc_app" {
			t.Fatalf("an expired id_token: %+v", h)
		}
		if h := hint(sign(srv.keys.signer, claims)); h != nil {
			t.Errorf("the same claims signed as an access token (typ at+jwt) were taken: %+v", h)
		}
		other := claims
		other.Issuer = "https://elsewhere.example"
		if h := hint(sign(srv.keys.idSigners[models.IDTokenES256], other)); h != nil {
			t.Errorf("another issuer's was taken: %+v", h)
		}
		padded := claims
		padded.Name = strings.Repeat("a", maxIDTokenHint)
		if h := hint(sign(srv.keys.idSigners[models.IDTokenES256], padded)); h != nil {
			t.Errorf("an id_token over %d bytes was taken", maxIDTokenHint)
		}

		// An RS256 application's id_token is a hint too, once its key exists (the first such
		// token makes it).
		if _, ok := srv.keys.idSigners[models.IDTokenRS256]; ok {
			t.Fatal("an RS256 key before any application asked for one")
		}
		access, rs, err := srv.keys.signers(context.Background(), models.IDTokenRS256)
		if err != nil {
			t.Fatal(err)
		}
		raw := sign(rs, claims)
		if hdr := strings.SplitN(raw, ".", 2)[0]; !strings.Contains(string(mustDecode(t, hdr)), `"alg":"RS256"`) {
			t.Fatalf("RS256 signer's header: %s", mustDecode(t, hdr))
		}
		if h := hint(raw); h == nil || h.Subject != claims.Subject {
			t.Fatalf("an RS256 id_token: %+v", h)
		}
		// A header naming an ES256 key's kid over an RS256 signature fails, and the reverse.
		if h := hint(sign(newJWSSigner(rs.key, access.kid(), "JWT"), claims)); h != nil {
			t.Errorf("an RS256 signature under an ES256 kid was taken: %+v", h)
		}
		if h := hint(sign(newJWSSigner(access.key, rs.kid(), "JWT"), claims)); h != nil {
			t.Errorf("an ES256 signature under an RS256 kid was taken: %+v", h)
		}

		// After a rotation, the id_tokens of the replaced keys (each algorithm's) are hints
		// while those keys are published, and no longer once they are retired.
		es := srv.keys.idSigners[models.IDTokenES256]
		esRaw, rsRaw := sign(es, claims), raw
		admin := platformAdmin(t, srv, svc)
		rotateKeys(t, svc, clk, admin)
		if srv.keys.idSigners[models.IDTokenES256].kid() == es.kid() || srv.keys.idSigners[models.IDTokenRS256].kid() == rs.kid() {
			t.Fatal("the promotion changed no signer: the checks below prove nothing")
		}
		for name, raw := range map[string]string{"ES256": esRaw, "RS256": rsRaw} {
			if h := hint(raw); h == nil {
				t.Errorf("an id_token of the previous %s key, still published, was refused", name)
			}
		}
		if err := svc.RetireSigningKey(admin); err != nil {
			t.Fatal(err)
		}
		for name, raw := range map[string]string{"ES256": esRaw, "RS256": rsRaw} {
			if h := hint(raw); h != nil {
				t.Errorf("an id_token of the retired %s key was taken", name)
			}
		}
	})
}

func mustDecode(t *testing.T, b64 string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kid is the key id in the signer's header.
func (s *jwsSigner) kid() string {
	b, _ := base64.RawURLEncoding.DecodeString(s.header)
	var h struct{ Kid string }
	_ = json.Unmarshal(b, &h)
	return h.Kid
}
