package store

// Migration 42: the metadata refresh remembers whether a read has listed the connection's SSO
// URL by its binding (models.Connection.SAMLMetadataSSOListed), so that a later read that no
// longer lists it reports that the IdP moved its endpoint, while an SSO URL the metadata never
// listed (an alias the admin chose) is never reported. Every connection that exists starts
// unknown (false): its next read sets it, and nothing is reported before a read has listed it.
func init() {
	register(migration{version: 42, name: "saml_metadata_sso_listed", sql: `
ALTER TABLE connections ADD COLUMN saml_metadata_sso_listed boolean NOT NULL DEFAULT false;
`})
}
