package store

// Migration 16: a sign-in flow keeps the application's prompt (models.SignInFlow.Prompt), so
// that the callback of a prompt=none sign-in answers the application login_required (and the
// other errors of OIDC Core §3.1.2.6) instead of access_denied.
func init() {
	register(migration{version: 16, name: "flow_prompt", sql: `
ALTER TABLE sign_in_flows ADD COLUMN prompt text NOT NULL DEFAULT '';
`})
}
