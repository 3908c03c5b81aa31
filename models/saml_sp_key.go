package models

import "time"

// SAMLSPKey is a SAML service provider key pair. The keys are one set per installation, shared
// by every SAML connection's service provider (each connection has its own entity ID,
// GATEHOUSE_PUBLIC_URL/saml/metadata/<connection id>, or the shared one). Its ID is its role
// in a rotation:
//
//   - SPKeyCurrent signs AuthnRequests and decrypts assertions; generated on first use;
//   - SPKeyNext is published in the metadata beside the current one, so that IdPs import it
//     before it is used; promoting it makes it current;
//   - SPKeyPrevious is the key a promotion replaced: still published and still accepted for
//     decryption until it is retired, so that IdPs not yet updated keep working.
//
// The private key is encrypted at rest.
type SAMLSPKey struct {
	ID            string `gorm:"primaryKey"`
	PrivateKeyEnc []byte // PKCS#8 DER, AES-GCM encrypted
	Certificate   []byte // X.509 DER
	CreatedAt     time.Time
}

// Roles of SP keys (their IDs).
const (
	SPKeyCurrent  = "default"
	SPKeyNext     = "next"
	SPKeyPrevious = "previous"
)

// TableName is the SP key table.
func (SAMLSPKey) TableName() string { return "saml_sp_keys" }
