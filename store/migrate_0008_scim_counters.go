package store

// Migration 8: per-workspace counters of users and groups, so that SCIM statistics do not
// count a million rows. Each workspace has up to 16 shard rows per kind; writers add to a
// random shard, so concurrent creates do not queue on one row lock. Backfilled from the tables.
// Also the type of a user's primary email, for emails[type eq "work"] filters.
func init() {
	register(migration{8, "scim_counters", `
ALTER TABLE user_accounts ADD COLUMN email_type text NOT NULL DEFAULT '';
CREATE TABLE scim_counters (
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	kind text NOT NULL,
	shard integer NOT NULL,
	n bigint NOT NULL,
	PRIMARY KEY (workspace_id, kind, shard)
);
INSERT INTO scim_counters (workspace_id, kind, shard, n)
	SELECT workspace_id, 'users', 0, count(*) FROM user_accounts GROUP BY workspace_id;
INSERT INTO scim_counters (workspace_id, kind, shard, n)
	SELECT workspace_id, 'groups', 0, count(*) FROM groups GROUP BY workspace_id;
`})
}
