package store

// Migration 19: when a deactivated account was last made active again
// (models.UserAccount.ActivatedAt): access tokens and codes issued before it stay void.
func init() {
	register(migration{version: 19, name: "user_accounts_activated_at", sql: `
ALTER TABLE user_accounts ADD COLUMN activated_at {time};
`})
}
