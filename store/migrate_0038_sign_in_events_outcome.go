package store

// Migration 38: sign-in events are listed by outcome (SignInEventsPage's outcome filter: an
// admin's "show me the refusals") through an index of their own. The workspace index served
// that filter by reading the workspace's events until a page of the outcome was found, and the
// count behind the total read all of them: for an outcome that is rare or absent (refused,
// failed), every event of the workspace, or a sequential scan of every workspace's (1.5 s a
// page at 1.5 million events).
func init() {
	register(migration{version: 38, name: "sign_in_events_outcome", sql: `
CREATE INDEX ix_sign_in_events_outcome ON sign_in_events (workspace_id, outcome, created_at, id);
`})
}
