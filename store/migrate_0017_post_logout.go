package store

// Migration 17: an application's post-logout redirect URIs (models.Application), the only URIs
// a sign-out at the end_session_endpoint may send the browser back to.
func init() {
	register(migration{version: 17, name: "post_logout_redirect_uris", sql: `
ALTER TABLE applications ADD COLUMN post_logout_redirect_uris text NOT NULL DEFAULT '[]';
`})
}
