package store

// Migration 4: brands, companies, accounts, identity provider configurations (brand ×
// connection auto-provisioning), and a user account's account and role.
func init() {
	register(migration{version: 4, name: "brands", sql: `
CREATE TABLE brands (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	name text NOT NULL,
	name_key text NOT NULL,
	slug text NOT NULL,
	portal_url text NOT NULL DEFAULT '',
	version integer NOT NULL DEFAULT 1,
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_brands_name ON brands (workspace_id, name_key);
CREATE UNIQUE INDEX ux_brands_slug ON brands (workspace_id, slug);
CREATE TABLE companies (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	name text NOT NULL,
	name_key text NOT NULL,
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_companies_name ON companies (workspace_id, name_key);
CREATE TABLE accounts (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	name text NOT NULL,
	type text NOT NULL,
	company_id {uuid} REFERENCES companies(id),
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE INDEX ix_accounts_workspace ON accounts (workspace_id, id);
CREATE INDEX ix_accounts_company ON accounts (workspace_id, company_id, created_at, id);
CREATE TABLE identity_provider_configurations (
	id {uuid} PRIMARY KEY,
	workspace_id {uuid} NOT NULL REFERENCES workspaces(id),
	brand_id {uuid} NOT NULL REFERENCES brands(id),
	connection_id {uuid} NOT NULL REFERENCES connections(id),
	auto_provision_learners boolean NOT NULL DEFAULT false,
	default_account_id {uuid} REFERENCES accounts(id),
	company_claim text NOT NULL DEFAULT 'company',
	version integer NOT NULL DEFAULT 1,
	created_at {time} NOT NULL,
	updated_at {time} NOT NULL
);
CREATE UNIQUE INDEX ux_idp_configurations_brand_connection ON identity_provider_configurations (brand_id, connection_id);
CREATE INDEX ix_idp_configurations_workspace ON identity_provider_configurations (workspace_id, brand_id);
ALTER TABLE user_accounts ADD COLUMN account_id {uuid} REFERENCES accounts(id);
ALTER TABLE user_accounts ADD COLUMN role text NOT NULL DEFAULT 'viewer';
CREATE INDEX ix_user_accounts_account ON user_accounts (account_id);
`})
	registerUnique("ux_brands_name", "brands.workspace_id, brands.name_key")
	registerUnique("ux_brands_slug", "brands.workspace_id, brands.slug")
	registerUnique("ux_companies_name", "companies.workspace_id, companies.name_key")
	registerUnique("ux_idp_configurations_brand_connection", "identity_provider_configurations.brand_id, identity_provider_configurations.connection_id")
}
