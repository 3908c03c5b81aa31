package models

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SAMLConfig returns the SAML settings, or nil for an OIDC connection.
func (c *Connection) SAMLConfig() *SAMLConfig {
	if c.Protocol != ProtocolSAML {
		return nil
	}
	cfg := &SAMLConfig{EntityID: c.SAMLEntityID, SSOURL: c.SAMLSSOURL, SSOBinding: c.SSOBinding(), Certificate: c.SAMLCertificate,
		SignRequests: c.SAMLSignRequests, AttributeMapping: map[string]any{}, OwnEntityID: !c.SAMLSharedEntityID,
		AcceptSHA1Signatures: c.SAMLAcceptSHA1}
	_ = json.Unmarshal([]byte(c.SAMLAttributeMapping), &cfg.AttributeMapping)
	if c.SAMLMetadataURL != "" {
		cfg.MetadataURL = &c.SAMLMetadataURL
	}
	if c.SAMLMetadataRefresh {
		cfg.RefreshCertificatesFromMetadata, cfg.MetadataCheckedAt = true, c.SAMLMetadataCheckedAt
		if c.SAMLMetadataProblem != "" {
			cfg.MetadataProblem = &c.SAMLMetadataProblem
		}
	}
	return cfg
}

// MaxSAMLCertificates is how many IdP signing certificates a SAML connection may trust at once.
// An IdP that rolls its certificate over (Entra ID, ADFS, Okta) publishes the next one before it
// signs with it: with both pasted, sign-in goes on across the switch. Four is more than any
// rollover needs and keeps the verification of a forged response cheap.
const MaxSAMLCertificates = 4

// ParseSAMLCertificates reads a connection's certificate text: one to MaxSAMLCertificates
// PEM "CERTIFICATE" blocks, separated by nothing but white space, each an X.509 certificate.
// A response signed by any one of them is accepted. The error completes "<field> …" in words
// an admin can act on.
func ParseSAMLCertificates(text string) ([]*x509.Certificate, error) {
	rest := []byte(strings.TrimSpace(text))
	var certs []*x509.Certificate
	for len(rest) > 0 {
		block, after := pem.Decode(rest)
		if block == nil || !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			if len(certs) == 0 {
				return nil, errors.New("must be a PEM-encoded X.509 certificate (-----BEGIN CERTIFICATE-----)")
			}
			return nil, fmt.Errorf("has text after certificate %d that is not a PEM certificate", len(certs))
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("has a %q as block %d; only CERTIFICATE blocks belong here (never a private key)", block.Type, len(certs)+1)
		}
		if len(certs) == MaxSAMLCertificates {
			return nil, fmt.Errorf("must hold at most %d certificates", MaxSAMLCertificates)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			if len(certs) == 0 && len(after) == 0 {
				return nil, fmt.Errorf("is not a parseable X.509 certificate (%v)", err)
			}
			return nil, fmt.Errorf("has a block %d that is not a parseable X.509 certificate (%v)", len(certs)+1, err)
		}
		certs = append(certs, cert)
		rest = bytes.TrimSpace(after)
	}
	if len(certs) == 0 {
		return nil, errors.New("must be a PEM-encoded X.509 certificate (-----BEGIN CERTIFICATE-----)")
	}
	return certs, nil
}

// DescribeSAMLCertificates describes the certificates of a connection's certificate text and
// returns the latest NotAfter among them; nothing when the text does not parse (validation
// keeps such text out of the store).
func DescribeSAMLCertificates(text string) ([]SAMLCertificateInfo, *time.Time) {
	certs, err := ParseSAMLCertificates(text)
	if err != nil {
		return nil, nil
	}
	infos := make([]SAMLCertificateInfo, len(certs))
	var latest time.Time
	for i, c := range certs {
		infos[i] = SAMLCertificateInfo{Subject: c.Subject.String(), FingerprintSHA256: CertificateFingerprint(c.Raw),
			NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC()}
		if c.NotAfter.After(latest) {
			latest = c.NotAfter.UTC()
		}
	}
	return infos, &latest
}

// CertificateFingerprint is the SHA-256 fingerprint of a certificate's DER, lowercase hex
// without separators: the one form the API shows for IdP and SP certificates alike.
func CertificateFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ValidAt reports whether the certificate is within its validity period at t
// (CertificateValidAt).
func (c SAMLCertificateInfo) ValidAt(t time.Time) bool { return validAt(c.NotBefore, c.NotAfter, t) }

// CertificateValidAt reports whether cert is within its validity period at t: from NotBefore
// to NotAfter, both instants included (RFC 5280 4.1.2.5). It is the one rule by which
// Gatehouse judges a certificate (an IdP's, in a connection's test, its activation, a
// rollover, the metadata's import and refresh, the expiry watch), and it is the sign-in's:
// goxmldsig, which checks a SAML response's signature for crewjam/saml, refuses a certificate
// only before NotBefore or after NotAfter. A certificate not valid at t and not before its
// NotBefore has expired.
func CertificateValidAt(cert *x509.Certificate, t time.Time) bool {
	return validAt(cert.NotBefore, cert.NotAfter, t)
}

func validAt(notBefore, notAfter, t time.Time) bool {
	return !t.Before(notBefore) && !t.After(notAfter)
}

// SAMLCertificateKeyProblem says what is wrong with the key of an IdP signing certificate
// ("": nothing): RSA of at least 2048 bits, or ECDSA on P-256 or larger.
func SAMLCertificateKeyProblem(cert *x509.Certificate) string {
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if n := pub.N.BitLen(); n < 2048 {
			return fmt.Sprintf("has a %d-bit RSA key; at least 2048 bits are required", n)
		}
	case *ecdsa.PublicKey:
		if pub.Curve.Params().BitSize < 256 {
			return "has an EC key on a curve smaller than P-256"
		}
	default:
		return fmt.Sprintf("has an unsupported key type %T (RSA or ECDSA required for SAML)", pub)
	}
	return ""
}
