package store

// Migration 32: a connection may restrict automatic provisioning to emails on its verified
// domains (models.Connection.JITVerifiedDomainsOnly). Off for every connection, existing and
// new: the engine provisioned any email before, and a connection whose identity provider is
// its customer's own has no one else to keep out.
func init() {
	register(migration{version: 32, name: "jit_verified_domains_only", sql: `
ALTER TABLE connections ADD COLUMN jit_verified_domains_only boolean NOT NULL DEFAULT false;
`})
}
