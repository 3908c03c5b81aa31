package oauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/store/storetest"
)

// A stored key whose halves do not match its algorithm label is refused by the load, never
// published or used: an RSA key labelled ES256 would otherwise verify access tokens (which
// only ES256 keys may sign), and a key whose private half is of another kind would sign
// id_tokens whose header names the wrong algorithm. The keys in hand keep signing.
func TestMislabelledSigningKeysAreRefused(t *testing.T) {
	key := func(t *testing.T, alg models.IDTokenAlg) *provision.SigningKey {
		t.Helper()
		k, err := provision.NewSigningKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	cases := []struct {
		name string
		make func(t *testing.T) *provision.SigningKey
		want string
	}{
		{"an RSA key labelled ES256", func(t *testing.T) *provision.SigningKey {
			k := key(t, models.IDTokenRS256)
			k.Algorithm = string(models.IDTokenES256)
			return k
		}, "is RSA, not ES256"},
		{"an ECDSA key labelled RS256", func(t *testing.T) *provision.SigningKey {
			k := key(t, models.IDTokenES256)
			k.Algorithm = string(models.IDTokenRS256)
			return k
		}, "is ECDSA, not RS256"},
		{"an RS256 key whose private half is ECDSA", func(t *testing.T) *provision.SigningKey {
			k := key(t, models.IDTokenRS256)
			k.PrivateDER = key(t, models.IDTokenES256).PrivateDER
			return k
		}, "is not an RS256 key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, dbURL string) {
				ctx := context.Background()
				clk := clock.NewFake(time.Now())
				srv, svc := newTestServer(t, dbURL, "https://gatehouse.example", clk)
				platformAdmin(t, srv, svc) // a client for the token below
				before := srv.keys.published()
				bad := c.make(t)
				clk.Advance(time.Minute)
				if err := svc.AddSigningKey(ctx, bad); err != nil {
					t.Fatal(err)
				}
				if err := srv.keys.load(ctx, false); err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("load: %v, want an error saying %q", err, c.want)
				}
				after := srv.keys.published()
				if len(after.Key(bad.ID)) != 0 || len(after.Keys) != len(before.Keys) {
					t.Fatalf("the JWKS changed: %d keys before, %d after, the bad one %v", len(before.Keys), len(after.Keys), after.Key(bad.ID))
				}
				if _, err := srv.Verify(ctx, issueToken(t, srv, "ghc_a", "ghs_secret_for_the_oauth_tests_0123456789")); err != nil {
					t.Fatalf("the keys in hand stopped working: %v", err)
				}
			})
		})
	}
}
