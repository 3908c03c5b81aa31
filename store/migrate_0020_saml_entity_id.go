package store

// Migration 20: each SAML connection is its own service provider, with its own entity ID
// (<public URL>/saml/metadata/<connection id>), so that an assertion an IdP issued for one
// connection's registration fails another's audience check. The connections that exist are
// registered at their IdPs under the installation-wide entity ID (<public URL>/saml/metadata):
// they keep it (saml_shared_entity_id) until an admin moves them (samlConfig.ownEntityId).
func init() {
	register(migration{version: 20, name: "saml_shared_entity_id", sql: `
ALTER TABLE connections ADD COLUMN saml_shared_entity_id boolean NOT NULL DEFAULT false;
UPDATE connections SET saml_shared_entity_id = true WHERE protocol = 'saml';
`})
}
