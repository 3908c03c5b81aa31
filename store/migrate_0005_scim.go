package store

// Migration 5: SCIM. User accounts gain the SCIM User attributes (userName unique per
// workspace, case-insensitively, through user_name_key); SCIM tokens (hashes only), groups and
// their members, and the SCIM activity log.
func init() {
	register(migration{version: 5, name: "scim", sql: `
ALTER TABLE user_accounts ADD COLUMN user_name text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN user_name_key text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN display_name text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN title text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN user_type text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN employee_number text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN department text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN organization text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN cost_center text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN division text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN manager_id text NOT NULL DEFAULT '';
ALTER TABLE user_accounts ADD COLUMN scim_data text NOT NULL DEFAULT '{}';
UPDATE user_accounts SET user_name = email, user_name_key = email_key;
CREATE UNIQUE INDEX ux_user_accounts_user_name ON user_accounts (workspace_id, user_name_key) WHERE user_name_key <> '';
CREATE INDEX ix_user_accounts_external_id ON user_accounts (workspace_id, external_id);
CREATE TABLE scim_tokens (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	name text NOT NULL,
	token_hash text NOT NULL,
	masked_value text NOT NULL,
	scopes text NOT NULL,
	connection_id {uuid} REFERENCES connections(id),
	expires_at {time},
	revoked_at {time},
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_scim_tokens_hash ON scim_tokens (token_hash);
CREATE INDEX ix_scim_tokens_workspace ON scim_tokens (workspace_id, id);
CREATE TABLE groups (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	display_name text NOT NULL,
	display_name_key text NOT NULL,
	external_id text,
	version integer NOT NULL DEFAULT 1,
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_groups_display_name ON groups (workspace_id, display_name_key);
CREATE INDEX ix_groups_external_id ON groups (workspace_id, external_id);
CREATE TABLE group_members (
	group_id {uuid} NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	user_account_id {uuid} NOT NULL REFERENCES user_accounts(id) ON DELETE CASCADE,
	workspace_id {uuid} NOT NULL,
	created_at {time} NOT NULL,
	PRIMARY KEY (group_id, user_account_id)
);
CREATE INDEX ix_group_members_user ON group_members (user_account_id);
CREATE TABLE scim_activities (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	token_id {uuid},
	operation text NOT NULL,
	resource_type text NOT NULL,
	resource_id text NOT NULL DEFAULT '',
	status text NOT NULL,
	error_message text NOT NULL DEFAULT '',
	details text NOT NULL DEFAULT '{}',
	created_at {time} NOT NULL
);
CREATE INDEX ix_scim_activities_workspace_time ON scim_activities (workspace_id, created_at);
CREATE INDEX ix_scim_activities_token ON scim_activities (token_id);
`})
	registerUnique("ux_user_accounts_user_name", "user_accounts.workspace_id, user_accounts.user_name_key")
	registerUnique("ux_scim_tokens_hash", "scim_tokens.token_hash")
	registerUnique("ux_groups_display_name", "groups.workspace_id, groups.display_name_key")
	registerUnique("ux_group_members_pk", "group_members.group_id, group_members.user_account_id")
}
