package store

// Migration 25: a sign-in flow records when a failure of it was recorded while it stayed open
// (failed_at): a callback without the flow's cookie or with another browser's, a SAML answer
// refused at the ACS. Such an attempt has its failed event already, so the prune, which
// records an event for each flow nobody finished (PruneSignInState), records none more for
// it. NULL for every flow that exists.
func init() {
	register(migration{version: 25, name: "flow_failed", sql: `
ALTER TABLE sign_in_flows ADD COLUMN failed_at {time};
`})
}
