package store

// Migration 37: expired test sign-ins are pruned in batches (PruneTestSignIns, pruneExpired)
// chosen through an index of their expiry, as saml_assertions and saml_answers are; without
// it each batch would scan the table from its start, past the rows earlier batches deleted.
func init() {
	register(migration{version: 37, name: "test_sign_ins_expires", sql: `
CREATE INDEX ix_test_sign_ins_expires ON test_sign_ins (expires_at);
`})
}
