package models

import "encoding/json"

// SAMLConfig returns the SAML settings, or nil for an OIDC connection.
func (c *Connection) SAMLConfig() *SAMLConfig {
	if c.Protocol != ProtocolSAML {
		return nil
	}
	cfg := &SAMLConfig{EntityID: c.SAMLEntityID, SSOURL: c.SAMLSSOURL, Certificate: c.SAMLCertificate,
		SignRequests: c.SAMLSignRequests, AttributeMapping: map[string]any{}}
	_ = json.Unmarshal([]byte(c.SAMLAttributeMapping), &cfg.AttributeMapping)
	if c.SAMLMetadataURL != "" {
		cfg.MetadataURL = &c.SAMLMetadataURL
	}
	return cfg
}
