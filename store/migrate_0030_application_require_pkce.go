package store

// Migration 30: a confidential application may require PKCE of every authorization request
// (models.Application.RequirePKCE), as a public one always does. Every application that exists
// keeps accepting requests without it, as it did.
func init() {
	register(migration{version: 30, name: "application_require_pkce", sql: `
ALTER TABLE applications ADD COLUMN require_pkce boolean NOT NULL DEFAULT false;
`})
}
