package models

import "time"

// SAMLSPKey is the SAML service provider's key pair: one per installation, since the entity ID
// (GATEHOUSE_PUBLIC_URL/saml/metadata) is. Generated on first use; the private key is
// encrypted at rest.
type SAMLSPKey struct {
	ID            string `gorm:"primaryKey"` // "default"
	PrivateKeyEnc []byte // PKCS#8 DER, AES-GCM encrypted
	Certificate   []byte // X.509 DER
	CreatedAt     time.Time
}

// TableName is the SP key table.
func (SAMLSPKey) TableName() string { return "saml_sp_keys" }
