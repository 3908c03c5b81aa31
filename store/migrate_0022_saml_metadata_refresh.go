package store

// Migration 22: a SAML connection may take its IdP signing certificates from its metadata URL,
// read hourly (models.Connection.SAMLMetadataRefresh), so that an IdP's certificate rollover
// does not need an admin. The last read's time and problem are kept for the admin. Every
// connection that exists keeps the certificates it was given, by hand, as before.
func init() {
	register(migration{version: 22, name: "saml_metadata_refresh", sql: `
ALTER TABLE connections ADD COLUMN saml_metadata_refresh boolean NOT NULL DEFAULT false;
ALTER TABLE connections ADD COLUMN saml_metadata_checked_at {time};
ALTER TABLE connections ADD COLUMN saml_metadata_problem text NOT NULL DEFAULT '';
`})
}
