package store

// Migration 23: an OIDC connection may authenticate to its IdP's token endpoint with a JWT
// signed by Gatehouse's key (private_key_jwt) instead of its client secret
// (models.Connection.OIDCClientAuthMethod). Empty is the client secret: every connection that
// exists keeps authenticating as it is registered at its IdP.
func init() {
	register(migration{version: 23, name: "oidc_client_auth_method", sql: `
ALTER TABLE connections ADD COLUMN oidc_client_auth_method text NOT NULL DEFAULT '';
`})
}
