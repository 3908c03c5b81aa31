package store

// Migration 33: a grant records the binding the person signed in by, its connection and the
// key of the identifier there, so that its code and access token hold only while the account
// is still bound to that identity (grantStillBound). The grants stored before it have neither
// and are not checked: they expire within the hour (a code within a minute).
func init() {
	register(migration{version: 33, name: "grant_binding", sql: `
ALTER TABLE grants ADD COLUMN connection_id {uuid};
ALTER TABLE grants ADD COLUMN identifier_key text NOT NULL DEFAULT '';
`})
}
