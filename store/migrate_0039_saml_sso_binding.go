package store

// Migration 39: a SAML connection may send its AuthnRequests by the HTTP-POST binding, for an
// IdP whose metadata offers no HTTP-Redirect SingleSignOnService
// (models.Connection.SAMLSSOBinding). Empty is HTTP-Redirect: every connection that exists
// keeps sending them as it did.
func init() {
	register(migration{version: 39, name: "saml_sso_binding", sql: `
ALTER TABLE connections ADD COLUMN saml_sso_binding text NOT NULL DEFAULT '';
`})
}
