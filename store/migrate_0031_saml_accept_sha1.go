package store

// Migration 31: a SAML connection refuses responses signed with SHA-1 unless it accepts them
// (models.Connection.SAMLAcceptSHA1). Every connection that exists keeps accepting them, as it
// signed people in before: an upgrade must not lock out the people of an IdP that still signs
// with SHA-1. New connections refuse them.
func init() {
	register(migration{version: 31, name: "saml_accept_sha1", sql: `
ALTER TABLE connections ADD COLUMN saml_accept_sha1 boolean NOT NULL DEFAULT false;
UPDATE connections SET saml_accept_sha1 = true WHERE protocol = 'saml';
`})
}
