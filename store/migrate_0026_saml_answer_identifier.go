package store

// Migration 26: a SAML answer keeps the identifier key of its identity (identifier_key) beside
// the sealed identity, so that the browser's continuation finds the person bound to it in the
// statement that claims the flow (ClaimSAMLFlow), a round trip fewer per SAML sign-in on
// PostgreSQL. The key is in clear, beside the sealed identity, for the people a sign-in will
// refuse too: as credentials keep the same key in clear already, and an answer lives only
// until the continuation takes it or its flow expires (then it is pruned), that reveals
// nothing the database does not hold anyway. An answer stored before the migration has the
// empty key, which no identity has: its continuation looks the person up on its own.
func init() {
	register(migration{version: 26, name: "saml_answer_identifier", sql: `
ALTER TABLE saml_answers ADD COLUMN identifier_key text NOT NULL DEFAULT '';
`})
}
