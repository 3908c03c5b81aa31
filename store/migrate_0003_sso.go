package store

// Migration 3: the SAML service provider key pair, and an index for listing live connections.
func init() {
	register(migration{version: 3, name: "sso", sql: `
CREATE TABLE saml_sp_keys (
	id text PRIMARY KEY,
	private_key_enc {bytes} NOT NULL,
	certificate {bytes} NOT NULL,
	created_at {time} NOT NULL
);
CREATE INDEX ix_connections_workspace ON connections (workspace_id, id) WHERE deleted_at IS NULL;
`})
	registerUnique("saml_sp_keys_pkey", "saml_sp_keys.id")
}
