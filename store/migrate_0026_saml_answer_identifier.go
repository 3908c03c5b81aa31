package store

// Migration 26: a SAML answer keeps the identifier key of its identity (identifier_key) beside
// the sealed identity, so that the browser's continuation finds the person bound to it in the
// statement that claims the flow (ClaimSAMLFlow), a round trip fewer per SAML sign-in on
// PostgreSQL. Credentials keep the same key in clear already. An answer stored before it has
// the empty key, which no identity has: its continuation looks the person up on its own.
func init() {
	register(migration{version: 26, name: "saml_answer_identifier", sql: `
ALTER TABLE saml_answers ADD COLUMN identifier_key text NOT NULL DEFAULT '';
`})
}
