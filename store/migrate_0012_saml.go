package store

// Migration 12: the SAML assertion IDs already accepted, so that an assertion is accepted once
// across every replica. A row lives as long as its assertion could still pass crewjam/saml's
// time checks; expired rows are pruned.
func init() {
	register(migration{version: 12, name: "saml", sql: `
CREATE TABLE saml_assertions (
	connection_id {uuid} NOT NULL,
	assertion_id text NOT NULL,
	expires_at {time} NOT NULL,
	PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX ix_saml_assertions_expires ON saml_assertions (expires_at);
`})
}
