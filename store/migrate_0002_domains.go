package store

// Migration 2: email domains routed to connections.
func init() {
	register(migration{version: 2, name: "domains", sql: `
CREATE TABLE domains (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	connection_id {uuid} NOT NULL REFERENCES connections(id),
	name text NOT NULL,
	status text NOT NULL,
	verification_method text NOT NULL,
	verification_token text NOT NULL,
	is_primary boolean NOT NULL DEFAULT false,
	failure_reason text NOT NULL DEFAULT '',
	verified_at {time},
	last_checked_at {time},
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_domains_connection_name ON domains (connection_id, name);
CREATE UNIQUE INDEX ux_domains_verified_name ON domains (name) WHERE status = 'verified';
CREATE UNIQUE INDEX ux_domains_primary ON domains (connection_id) WHERE is_primary;
CREATE INDEX ix_domains_workspace ON domains (workspace_id, connection_id);
`})
	registerUnique("ux_domains_connection_name", "domains.connection_id, domains.name")
	registerUnique("ux_domains_verified_name", "domains.name")
	registerUnique("ux_domains_primary", "domains.connection_id")
}
