package store

// Migration 28: a SCIM token tied to a connection deleted before deletions revoked such tokens
// (provision.DeleteConnection) is revoked now, as of the connection's deletion. It could not
// create users since (each create answered 409) while its reads went on; afterwards its IdP
// gets 401 and the token list shows it revoked, like a token whose connection is deleted now.
// A migration writes no audit event: the connection's own connection.delete event is the record.
func init() {
	register(migration{version: 28, name: "scim_tokens_of_deleted_connections", sql: `
UPDATE scim_tokens
SET revoked_at = (SELECT c.deleted_at FROM connections c WHERE c.id = scim_tokens.connection_id),
	updated_at = (SELECT c.deleted_at FROM connections c WHERE c.id = scim_tokens.connection_id)
WHERE revoked_at IS NULL
	AND connection_id IN (SELECT id FROM connections WHERE deleted_at IS NOT NULL);
`})
}
