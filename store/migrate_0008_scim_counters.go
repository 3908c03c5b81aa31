package store

// Migration 8: per-workspace counters for the SCIM statistics, so that they never count a
// million rows: totals of users and groups (bucket 0) and hourly activity counts (bucket = hours
// since the Unix epoch). Each counter has up to 16 shard rows; writers add to a random shard,
// so concurrent creates do not queue on one row lock. Totals are backfilled from the tables.
// Also the type of a user's primary email, for emails[type eq "work"] filters.
func init() {
	register(migration{version: 8, name: "scim_counters", sql: `
ALTER TABLE user_accounts ADD COLUMN email_type text NOT NULL DEFAULT '';
CREATE TABLE scim_counters (
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	kind text NOT NULL,
	bucket bigint NOT NULL,
	shard integer NOT NULL,
	n bigint NOT NULL,
	PRIMARY KEY (workspace_id, kind, bucket, shard)
);
INSERT INTO scim_counters (workspace_id, kind, bucket, shard, n)
	SELECT workspace_id, 'users', 0, 0, count(*) FROM user_accounts GROUP BY workspace_id;
INSERT INTO scim_counters (workspace_id, kind, bucket, shard, n)
	SELECT workspace_id, 'groups', 0, 0, count(*) FROM groups GROUP BY workspace_id;
`})
}
