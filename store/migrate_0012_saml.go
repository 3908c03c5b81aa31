package store

// Migration 12: SAML sign-in.
//
// saml_assertions holds the assertion IDs already accepted, so that an assertion is accepted
// once across every replica; a row lives as long as its assertion could still pass
// crewjam/saml's time checks. saml_answers holds the identity of a checked response (encrypted)
// between the IdP's cross-site POST to the ACS, which carries no cookie, and the browser's GET
// that proves the flow's cookie. Expired rows of both are pruned.
//
// test_sign_ins are the connection test sign-ins an admin starts (issue 10, item 7): the
// public URL's token (hashed), and the identity and dry-run decision the IdP's answer led to.
func init() {
	register(migration{version: 12, name: "saml", sql: `
CREATE TABLE saml_assertions (
	connection_id {uuid} NOT NULL,
	assertion_id text NOT NULL,
	expires_at {time} NOT NULL,
	PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX ix_saml_assertions_expires ON saml_assertions (expires_at);
CREATE TABLE saml_answers (
	flow_id {uuid} PRIMARY KEY,
	identity_enc {bytes} NOT NULL,
	expires_at {time} NOT NULL
);
CREATE INDEX ix_saml_answers_expires ON saml_answers (expires_at);
CREATE TABLE test_sign_ins (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	connection_id {uuid} NOT NULL,
	brand_id {uuid},
	token_hash text NOT NULL,
	status text NOT NULL,
	result text NOT NULL DEFAULT '',
	error text NOT NULL DEFAULT '',
	expires_at {time} NOT NULL,
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_test_sign_ins_token ON test_sign_ins (token_hash);
CREATE INDEX ix_test_sign_ins_connection ON test_sign_ins (workspace_id, connection_id);
`})
	registerUnique("ux_test_sign_ins_token", "test_sign_ins.token_hash")
}
