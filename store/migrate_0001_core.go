package store

// Migration 1: workspaces, integration clients, signing keys, user accounts, connections,
// credentials and the audit log.
func init() {
	register(migration{version: 1, name: "core", sql: `
CREATE TABLE workspaces (
	id {uuid} PRIMARY KEY,
	name text NOT NULL,
	created_at {time} NOT NULL
);
CREATE TABLE integration_clients (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	client_id text NOT NULL,
	name text NOT NULL,
	secret_hash text NOT NULL,
	scopes text NOT NULL,
	platform_admin boolean NOT NULL DEFAULT false,
	revoked_at {time},
	secret_rotated_at {time},
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_integration_clients_client_id ON integration_clients (client_id);
CREATE INDEX ix_integration_clients_workspace ON integration_clients (workspace_id, created_at);
CREATE TABLE signing_keys (
	id text PRIMARY KEY,
	algorithm text NOT NULL,
	public_key {bytes} NOT NULL,
	private_key_enc {bytes} NOT NULL,
	created_at {time} NOT NULL,
	retired_at {time}
);
CREATE TABLE user_accounts (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	email text NOT NULL,
	email_key text NOT NULL,
	first_name text NOT NULL DEFAULT '',
	last_name text NOT NULL DEFAULT '',
	external_id text,
	active boolean NOT NULL DEFAULT true,
	version integer NOT NULL DEFAULT 1,
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_user_accounts_email ON user_accounts (workspace_id, email_key) WHERE email_key <> '';
CREATE INDEX ix_user_accounts_workspace ON user_accounts (workspace_id, id);
CREATE TABLE connections (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	name text NOT NULL,
	name_key text NOT NULL,
	slug text NOT NULL,
	protocol text NOT NULL,
	status text NOT NULL,
	oidc_issuer_url text NOT NULL DEFAULT '',
	oidc_client_id text NOT NULL DEFAULT '',
	oidc_client_secret_enc {bytes},
	oidc_discovery_url text NOT NULL DEFAULT '',
	oidc_scopes text NOT NULL DEFAULT '',
	saml_entity_id text NOT NULL DEFAULT '',
	saml_sso_url text NOT NULL DEFAULT '',
	saml_certificate text NOT NULL DEFAULT '',
	saml_sign_requests boolean NOT NULL DEFAULT false,
	saml_attribute_mapping text NOT NULL DEFAULT '{}',
	saml_metadata_url text NOT NULL DEFAULT '',
	jit_provisioning boolean NOT NULL DEFAULT false,
	default_role text NOT NULL DEFAULT 'viewer',
	version integer NOT NULL DEFAULT 1,
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL,
	deleted_at {time}
);
CREATE UNIQUE INDEX ux_connections_slug ON connections (workspace_id, slug) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX ux_connections_name ON connections (workspace_id, name_key) WHERE deleted_at IS NULL;
CREATE TABLE credentials (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	user_account_id {uuid} NOT NULL REFERENCES user_accounts(id) ON DELETE CASCADE,
	connection_id {uuid} NOT NULL REFERENCES connections(id),
	identifier text NOT NULL,
	identifier_key text NOT NULL,
	secret_hash text NOT NULL DEFAULT '',
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_credentials_identity ON credentials (workspace_id, connection_id, identifier_key);
CREATE UNIQUE INDEX ux_credentials_account ON credentials (workspace_id, user_account_id, connection_id);
CREATE TABLE audit_events (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	actor_type text NOT NULL,
	actor_id text NOT NULL,
	action text NOT NULL,
	target_type text NOT NULL,
	target_id text NOT NULL,
	summary text NOT NULL DEFAULT '{}',
	created_at {time} NOT NULL
);
CREATE INDEX ix_audit_events_workspace ON audit_events (workspace_id, id);
`})
	registerUnique("ux_integration_clients_client_id", "integration_clients.client_id")
	registerUnique("ux_user_accounts_email", "user_accounts.workspace_id, user_accounts.email_key")
	registerUnique("ux_connections_slug", "connections.workspace_id, connections.slug")
	registerUnique("ux_connections_name", "connections.workspace_id, connections.name_key")
	registerUnique("ux_credentials_identity", "credentials.workspace_id, credentials.connection_id, credentials.identifier_key")
	registerUnique("ux_credentials_account", "credentials.workspace_id, credentials.user_account_id, credentials.connection_id")
}
