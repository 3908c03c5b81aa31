package store

// Migration 36: a connection's credentials in account order, for the accounts listed by
// connection (UserAccounts and CountUserAccounts filtered by authModule: filterUsers). Without
// it the list read every credential of the workspace, or walked the workspace's accounts in id
// order looking for the connection's (PostgreSQL, 200,000 accounts: 108-537 ms a page). The
// connection leads (its id is unique across workspaces) and the workspace comes last, for the
// count's index-only scan: beginning (workspace_id, connection_id) like ux_credentials_identity,
// it was the index PostgreSQL's generic plan chose for a binding's owner probe on a growing,
// unanalysed table, which then read every identity of the connection (TestBindOwnerProbePlan).
func init() {
	register(migration{version: 36, name: "credentials_connection_user", sql: `
CREATE INDEX ix_credentials_connection_user ON credentials (connection_id, user_account_id, workspace_id);
`})
}
