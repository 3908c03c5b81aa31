package sso_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/store/storetest"
)

// The database unavailable when the IdP's answer arrives, before the flow is claimed: the
// browser gets 503 with Retry-After and a page saying to reload, and the reload, once the
// database answers, finishes the sign-in. Found by a fault probe (PostgreSQL stopped between
// authorize and callback): the callback answered 500 "could not complete the sign-in", which
// reads as final, while /readyz and the token endpoint said 503 and the reload worked.
func TestSignInCallbackDatabaseUnavailableIsRetryable(t *testing.T) {
	idp := newTestIdP(t)
	e := newTestEnv(t, storetest.URL(t, "postgres"), func(c *app.Config) { c.Guard.RequestTimeout = time.Second })
	w := newSignInWorld(t, e, idp)
	idp.as(map[string]any{"sub": "okta-u", "email": "u@example.com", "given_name": "U", "family_name": "Nav"})
	finish := w.toCallback(t, w.app, "login_hint", "u@example.com")
	release := lockTable(t, e, "sign_in_flows")
	r := finish()
	release()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "Reload this page") {
		t.Fatalf("callback without its database: %d Retry-After %q %.300s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if r = finish(); r.query.Get("code") == "" {
		t.Fatalf("the reload once the database answers: %+v", r)
	}
}
