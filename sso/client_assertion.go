package sso

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- x5t, the certificate's SHA-1 thumbprint, is what Entra ID matches on
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"gatehouse/provision"
)

// Client authentication with private_key_jwt (OpenID Connect Core 1.0 §9, RFC 7523 §2.2): an
// OIDC connection on it sends, instead of a client secret, a short-lived JWT that Gatehouse
// signs with its relying-party key (provision.RelyingPartyKeys, the SAML SP key: RSA-2048,
// RS256, which every IdP that takes private_key_jwt accepts). The IdP verifies it with the
// public key it read from OIDCClientJWKSPath (Okta: a JWKS URL or the key pasted) or was given
// as a certificate (Entra ID: certificate credentials, matched by x5t).

// clientAssertionType is the client_assertion_type of a JWT client assertion (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientAssertionLifetime is how long an assertion is valid: it is sent at once, and IdPs
// refuse long-lived ones (Okta: at most an hour).
const clientAssertionLifetime = 5 * time.Minute

// clientAssertionOptions are the token request's parameters that authenticate the client
// with a fresh assertion signed by the current relying-party key. The audience is the IdP's
// token endpoint (OpenID Connect Core 1.0 §9, what Okta and Entra ID require).
func clientAssertionOptions(keys *provision.SPKeys, clientID, tokenURL string, now time.Time) ([]oauth2.AuthCodeOption, error) {
	key, ok := keys.Current.Key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the relying-party key is not an RSA key")
	}
	cert := keys.Current.Certificate
	kid := certificateKeyID(cert)
	sha1Sum := sha1.Sum(cert.Raw) // #nosec G401 -- a thumbprint, not a signature
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid).
		WithHeader("x5t", base64.RawURLEncoding.EncodeToString(sha1Sum[:])).
		WithHeader("x5t#S256", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		return nil, err
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	claims := jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{tokenURL},
		ID: hex.EncodeToString(jti), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(clientAssertionLifetime))}
	assertion, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return nil, err
	}
	return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("client_assertion_type", clientAssertionType),
		oauth2.SetAuthURLParam("client_assertion", assertion)}, nil
}

// certificateKeyID is a relying-party key's kid: its certificate's SHA-256 thumbprint,
// base64url, which is also its x5t#S256. Stable across replicas and restarts, and new with
// each key.
func certificateKeyID(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// clientJWKS is GET /sso/oidc/jwks.json: the public relying-party keys that sign client
// assertions, the current one and the next one of a rotation under way (published before it
// signs, so that IdPs which read the set once have it), each with its certificate (x5c) for
// IdPs that take a certificate. Public, as the SAML SP metadata is: it holds public keys only.
func (s *SignIn) clientJWKS(w http.ResponseWriter, r *http.Request) {
	keys, err := s.svc.RelyingPartyKeys(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "sso: relying party keys", "err", err)
		http.Error(w, "The keys cannot be read now; try again.", http.StatusServiceUnavailable)
		return
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, kp := range []*provision.SPKeyPair{&keys.Current, keys.Next} {
		if kp == nil {
			continue
		}
		sha1Sum := sha1.Sum(kp.Certificate.Raw) // #nosec G401 -- a thumbprint
		sha256Sum := sha256.Sum256(kp.Certificate.Raw)
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: kp.Key.Public(), KeyID: certificateKeyID(kp.Certificate),
			Algorithm: string(jose.RS256), Use: "sig",
			Certificates: []*x509.Certificate{kp.Certificate}, CertificateThumbprintSHA1: sha1Sum[:],
			CertificateThumbprintSHA256: sha256Sum[:]})
	}
	body, err := json.Marshal(set)
	if err != nil {
		s.log.ErrorContext(r.Context(), "sso: relying party JWKS", "err", err)
		http.Error(w, "The keys cannot be read now; try again.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// A rotation publishes the next key ahead of its use, so a copy a few minutes old still
	// verifies every assertion; an IdP that meets an unknown kid reads the set again.
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(body)
}
