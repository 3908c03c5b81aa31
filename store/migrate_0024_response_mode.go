package store

// Migration 24: a sign-in flow keeps the application's response mode (response_mode), so that
// the answer sent at the end of the flow, after the identity provider, on whichever replica,
// reaches the application the way it asked: "form_post", or empty for a redirect with the
// parameters in the query, as every flow that exists was answered.
func init() {
	register(migration{version: 24, name: "response_mode", sql: `
ALTER TABLE sign_in_flows ADD COLUMN response_mode text NOT NULL DEFAULT '';
`})
}
