package store

// Migration 35: a workspace's companies are listed (Companies: keyset pages in id order)
// through an index of their own. The primary key served that order by reading every
// workspace's companies and filtering; a small workspace among many companies read them all
// for one page (PostgreSQL, 110,000 companies: 128 ms for a workspace's three, in the generic
// plan a pooled session caches). As ix_user_accounts_workspace, ix_scim_tokens_workspace.
func init() {
	register(migration{version: 35, name: "companies_workspace", sql: `
CREATE INDEX ix_companies_workspace ON companies (workspace_id, id);
`})
}
