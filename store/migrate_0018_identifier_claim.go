package store

// Migration 18: the claim an OIDC connection reads the person's identifier from
// (models.Connection.IdentifierClaim; ” is sub, as every connection before it).
func init() {
	register(migration{version: 18, name: "oidc_identifier_claim", sql: `
ALTER TABLE connections ADD COLUMN oidc_identifier_claim text NOT NULL DEFAULT '';
`})
}
