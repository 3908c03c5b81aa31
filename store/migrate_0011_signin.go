package store

// Migration 11: browser sign-in. Applications (a brand's authorization-code clients), sign-in
// flows (state between the authorize request and the identity provider's answer), grants
// (authorization codes and what they issued), sign-in events, and the connection that owns a
// user account's profile (idp_connection_id: the account was created by JIT at it, so its
// sign-ins refresh names and email). The column is written and read by targeted statements
// only (store/signin.go), so the hot user-row scans do not change.
//
// Flows, grants and events are written on every sign-in and hold no foreign keys (see
// migration 10: a key makes every insert lock the referenced row, and concurrent sign-ins at
// one application would all lock the same one). Their workspace and application ids are set in
// one place, package provision, and deleting an application deletes its flows and grants.
func init() {
	register(migration{version: 11, name: "signin", sql: `
CREATE TABLE applications (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	brand_id {uuid} NOT NULL REFERENCES brands(id),
	client_id text NOT NULL,
	name text NOT NULL,
	type text NOT NULL,
	secret_hash text NOT NULL DEFAULT '',
	redirect_uris text NOT NULL DEFAULT '[]',
	version integer NOT NULL DEFAULT 1,
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_applications_client_id ON applications (client_id);
CREATE INDEX ix_applications_brand ON applications (workspace_id, brand_id, created_at);
CREATE TABLE sign_in_flows (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL,
	application_id {uuid} NOT NULL,
	brand_id {uuid} NOT NULL,
	connection_id {uuid} NOT NULL,
	browser_hash text NOT NULL,
	client_id text NOT NULL,
	redirect_uri text NOT NULL,
	scope text NOT NULL,
	state text NOT NULL DEFAULT '',
	nonce text NOT NULL DEFAULT '',
	code_challenge text NOT NULL DEFAULT '',
	upstream_state_hash text NOT NULL,
	upstream_nonce text NOT NULL DEFAULT '',
	upstream_verifier_enc {bytes},
	upstream_request_id text NOT NULL DEFAULT '',
	request_id text NOT NULL DEFAULT '',
	test boolean NOT NULL DEFAULT false,
	claimed_at {time},
	expires_at {time} NOT NULL,
	created_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_sign_in_flows_upstream_state ON sign_in_flows (upstream_state_hash);
CREATE INDEX ix_sign_in_flows_upstream_request ON sign_in_flows (upstream_request_id) WHERE upstream_request_id <> '';
CREATE INDEX ix_sign_in_flows_expires ON sign_in_flows (expires_at);
CREATE INDEX ix_sign_in_flows_application ON sign_in_flows (application_id);
CREATE TABLE grants (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL,
	application_id {uuid} NOT NULL,
	client_id text NOT NULL,
	code_hash text NOT NULL,
	redirect_uri text NOT NULL,
	code_challenge text NOT NULL DEFAULT '',
	scope text NOT NULL,
	nonce text NOT NULL DEFAULT '',
	user_account_id {uuid} NOT NULL,
	claims text NOT NULL DEFAULT '{}',
	auth_time {time} NOT NULL,
	expires_at {time} NOT NULL,
	redeemed_at {time},
	revoked_at {time},
	created_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_grants_code ON grants (code_hash);
CREATE INDEX ix_grants_created ON grants (created_at);
CREATE INDEX ix_grants_application ON grants (application_id);
CREATE TABLE sign_in_events (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL,
	application_id {uuid},
	client_id text NOT NULL DEFAULT '',
	brand_id {uuid},
	connection_id {uuid},
	connection_slug text NOT NULL DEFAULT '',
	identifier text NOT NULL DEFAULT '',
	outcome text NOT NULL,
	reason text NOT NULL DEFAULT '',
	cause text NOT NULL DEFAULT '',
	request_id text NOT NULL DEFAULT '',
	test boolean NOT NULL DEFAULT false,
	created_at {time} NOT NULL
);
CREATE INDEX ix_sign_in_events_workspace ON sign_in_events (workspace_id, created_at, id);
CREATE INDEX ix_sign_in_events_connection ON sign_in_events (workspace_id, connection_id, created_at);
ALTER TABLE user_accounts ADD COLUMN idp_connection_id {uuid};
`})
	registerUnique("ux_applications_client_id", "applications.client_id")
	registerUnique("ux_sign_in_flows_upstream_state", "sign_in_flows.upstream_state_hash")
	registerUnique("ux_grants_code", "grants.code_hash")
}
