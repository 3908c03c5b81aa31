package store

// Migration 29: an OIDC connection may take an email from its IdP only when the IdP says it
// verified it (email_verified true), instead of whenever the IdP does not say it did not
// (models.Connection.OIDCRequireVerifiedEmail). Every connection that exists keeps the rule it
// signs people in with.
func init() {
	register(migration{version: 29, name: "oidc_require_verified_email", sql: `
ALTER TABLE connections ADD COLUMN oidc_require_verified_email boolean NOT NULL DEFAULT false;
`})
}
