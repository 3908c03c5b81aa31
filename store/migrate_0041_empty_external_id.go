package store

// Migration 41: an empty externalId is none (NULL). models.ExternalIDOf reads an empty one as
// none, as SCIM does (an IdP sends "" for an attribute it does not set, and SCIM never shows
// one), but user accounts and SCIM groups written before it may hold an empty string: GraphQL
// showed it as an externalId, and a lookup by externalId tells "" from none. Their versions do
// not move: SCIM never showed the empty value, so their documents (and ETags) stay the same.
// No unique index covers external_id (ix_user_accounts_external_id and ix_groups_external_id
// are plain), and a repeat finds nothing to change.
func init() {
	register(migration{version: 41, name: "empty_external_id", sql: `
UPDATE user_accounts SET external_id = NULL WHERE external_id = '';
UPDATE groups SET external_id = NULL WHERE external_id = '';
`})
}
