package rest_test

import (
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/guard"
)

// TestRESTRateLimitPerClient, on both databases: a client's REST requests are limited by
// GATEHOUSE_RATE_LIMIT_REST, as its GraphQL requests are by their own limit. Past its
// allowance a client gets 429 rate_limited (the contract checks the Retry-After header and the
// error's shape), while its GraphQL requests and another client's REST requests go on. Before,
// REST had no per-client limit: one client could send the admin API as many requests as the
// server would take.
func TestRESTRateLimitPerClient(t *testing.T) {
	eachDBWith(t, func(c *app.Config) { c.Guard.REST = guard.Rate{N: 3, Per: time.Hour} }, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		otherID, otherSecret := e.CreateClient(admin, []string{"admin", "graphql"}, "")
		other := e.Token(otherID, otherSecret)
		for range 3 {
			e.REST(admin, "GET", "/api/v1/sso/connections", "").Must(t, 200)
		}
		r := e.REST(admin, "GET", "/api/v1/sso/connections", "")
		if r.Status != 429 || str(r.Body, "error", "type") != "rate_limited" {
			t.Fatalf("past the allowance: %d %s", r.Status, r.Raw)
		}
		// A write is refused alike, and does nothing.
		if r := e.REST(admin, "POST", "/api/v1/scim/tokens", `{"name": "okta"}`); r.Status != 429 {
			t.Fatalf("a write past the allowance: %d %s", r.Status, r.Raw)
		}
		if d := e.MustGQL(admin, `{ scimTokens { total } }`, nil); get(d, "scimTokens", "total") != float64(0) {
			t.Fatalf("GraphQL, its own allowance: %v", d)
		}
		e.REST(other, "GET", "/api/v1/sso/connections", "").Must(t, 200)
	})
}
