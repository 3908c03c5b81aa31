package oauth

import (
	"crypto"
	"crypto/x509"
	"testing"

	"gatehouse/models"
	"gatehouse/provision"
)

// BenchmarkSignIDToken is the CPU an id_token's signature costs by algorithm: an application
// that asks for RS256 pays it at each code redemption.
func BenchmarkSignIDToken(b *testing.B) {
	claims := idTokenClaims{AuthTime: 1, Nonce: "n", IDClaims: provision.IDClaims{Email: "jane@example.com", Name: "Jane Doe"}}
	for _, alg := range models.IDTokenSigningAlgs {
		b.Run(string(alg), func(b *testing.B) {
			k, err := provision.NewSigningKey(alg)
			if err != nil {
				b.Fatal(err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(k.PrivateDER)
			if err != nil {
				b.Fatal(err)
			}
			s := newJWSSigner(priv.(crypto.Signer), k.ID, "JWT")
			for b.Loop() {
				if _, err := s.sign(claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
