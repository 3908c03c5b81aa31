package store

// Migration 9: cheaper writes of user accounts, the table SCIM pushes change most.
//   - The account_id index only holds accounts placed in a customer account: SCIM and
//     GraphQL accounts without one no longer add an index entry each.
//   - PostgreSQL leaves 15 % of each new heap page free, so that an update that changes no
//     indexed column (a SCIM deactivation, a name change) can be a HOT update on the same
//     page instead of a new row version in all seven indexes.
func init() {
	register(migration{version: 9, name: "hot_updates", sql: `
DROP INDEX ix_user_accounts_account;
CREATE INDEX ix_user_accounts_account ON user_accounts (account_id) WHERE account_id IS NOT NULL;
`, postgres: `
ALTER TABLE user_accounts SET (fillfactor = 85);
`})
}
