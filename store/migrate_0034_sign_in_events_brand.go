package store

// Migration 34: sign-in events are listed by brand (SignInEventsPage's brandId filter) through
// an index of their own. The workspace index served that filter by reading every event of the
// workspace (the count of the total, and a page whenever the brand's events are few or old);
// a brand with no events was a sequential scan of every workspace's events. Partial: events
// without a brand (test sign-ins, refusals before the application is known) are never listed
// by one.
func init() {
	register(migration{version: 34, name: "sign_in_events_brand", sql: `
CREATE INDEX ix_sign_in_events_brand ON sign_in_events (workspace_id, brand_id, created_at, id) WHERE brand_id IS NOT NULL;
`})
}
