package store

// Migration 21: an OIDC connection may have its own redirect URI (<public URL>/sso/oidc/
// callback/<connection id>) instead of the one all connections share, so that an
// authorization response its IdP sends can never be taken for another connection's
// (models.Connection.OIDCOwnCallback). Every connection that exists keeps the shared one it is
// registered with at its IdP.
func init() {
	register(migration{version: 21, name: "oidc_own_callback", sql: `
ALTER TABLE connections ADD COLUMN oidc_own_callback boolean NOT NULL DEFAULT false;
`})
}
