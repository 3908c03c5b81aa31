package store

// Migration 14: the email a just-in-time sign-in derived for an account whose identity
// provider sent none (identifier@primary domain, or the identifier itself). Nobody verified
// that address, so the id_token and userinfo must keep saying so at every later sign-in while
// the account still has it; keeping the derived value (not a flag) makes any later change of
// the email end the fact without anyone clearing it. Written and read by the sign-in's
// targeted statements only (store/signin.go), like idp_connection_id.
func init() {
	register(migration{version: 14, name: "derived_email", sql: `
ALTER TABLE user_accounts ADD COLUMN derived_email text NOT NULL DEFAULT '';
`})
}
