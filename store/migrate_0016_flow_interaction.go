package store

// Migration 16: a sign-in flow keeps what the application asked of the person's interaction
// that matters once the identity provider has answered (provision/prompt.go): the prompt, so
// that the callback of a prompt=none sign-in answers login_required (and the other errors of
// OIDC Core §3.1.2.6) instead of access_denied; the max_age, which the identity provider's
// answer must meet; and the subject of an id_token_hint, so that a sign-in that ends with
// another person is refused.
func init() {
	register(migration{version: 16, name: "flow_interaction", sql: `
ALTER TABLE sign_in_flows ADD COLUMN prompt text NOT NULL DEFAULT '';
ALTER TABLE sign_in_flows ADD COLUMN hint_subject text NOT NULL DEFAULT '';
ALTER TABLE sign_in_flows ADD COLUMN max_age text NOT NULL DEFAULT '';
`})
}
