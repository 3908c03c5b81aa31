package provision

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"sync"
	"time"

	"gatehouse/models"
	"gatehouse/store"
)

// SPMetadata is the SAML service provider's metadata: what an IdP admin copies or imports.
type SPMetadata struct {
	EntityID    string
	ACSURL      string
	MetadataXML string
}

var spKeyMu sync.Mutex

// SPMetadata returns the service provider metadata (any caller allowed to manage connections).
func (s *Service) SPMetadata(ctx context.Context) (*SPMetadata, error) {
	if _, err := s.authorize(ctx, accessManageRead); err != nil {
		return nil, err
	}
	return s.PublicSPMetadata(ctx)
}

// PublicSPMetadata returns the service provider metadata without authentication: it is a
// public document (GET /saml/metadata) that IdPs fetch. The key pair is generated on first use.
func (s *Service) PublicSPMetadata(ctx context.Context) (*SPMetadata, error) {
	if s.sso.remote == nil {
		return nil, internal("sp metadata", errors.New("no Remote configured"))
	}
	kp, err := s.spKeyPair(ctx)
	if err != nil {
		return nil, internal("sp key pair", err)
	}
	m := &SPMetadata{EntityID: s.sso.publicURL + "/saml/metadata", ACSURL: s.sso.publicURL + "/saml/acs"}
	m.MetadataXML, err = s.sso.remote.SPMetadataXML(*kp, m.EntityID, m.ACSURL)
	if err != nil {
		return nil, internal("sp metadata", err)
	}
	return m, nil
}

// spKeyPair loads the SP key pair, generating and storing it (encrypted) on first use.
// Replicas racing on first use agree on the one stored first.
func (s *Service) spKeyPair(ctx context.Context) (*SPKeyPair, error) {
	k, err := s.store.SAMLSPKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		spKeyMu.Lock()
		defer spKeyMu.Unlock()
		if k, err = s.store.SAMLSPKey(ctx); errors.Is(err, store.ErrNotFound) {
			k, err = s.newSPKey()
			if err == nil {
				k, err = s.store.CreateSAMLSPKey(ctx, k)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	der, err := s.box.Open(k.PrivateKeyEnc)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(k.Certificate)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("sp key is not a signer")
	}
	return &SPKeyPair{Key: signer, Certificate: cert}, nil
}

// newSPKey makes an RSA-2048 key (what every IdP accepts for SAML) and a self-signed
// certificate valid for ten years; SAML uses it only to carry the public key.
func (s *Service) newSPKey() (*models.SAMLSPKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	now := s.now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Gatehouse SAML SP"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, BasicConstraintsValid: true}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &models.SAMLSPKey{ID: "default", PrivateKeyEnc: s.box.Seal(der), Certificate: certDER, CreatedAt: now}, nil
}
