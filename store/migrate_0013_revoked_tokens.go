package store

// Migration 13: revoked access tokens (RFC 7009). An access token is a self-contained JWT, so
// revoking one before it expires needs a list every replica reads: its jti, whose it is, and
// when it would have expired anyway, after which the row serves no purpose and is deleted.
func init() {
	register(migration{version: 13, name: "revoked_tokens", sql: `
CREATE TABLE revoked_tokens (
	jti {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	client_id text NOT NULL,
	expires_at {time} NOT NULL,
	revoked_at {time} NOT NULL
);
CREATE INDEX ix_revoked_tokens_expires ON revoked_tokens (expires_at);
`})
}
