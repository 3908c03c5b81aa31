package sso_test

import (
	"context"
	"testing"

	"gatehouse/store/storetest"
)

// A sign-in whose statement PostgreSQL aborts as a deadlock's victim decides again, and the
// person signs in: concurrent SCIM writes lock the same user rows (a group rename moves every
// member's version), and PostgreSQL rolls the victim back whole, so deciding again writes each
// row once. Before, the application got server_error. Each case aborts a statement of a
// different path of the decision: the first sign-in's provisioning, a returning sign-in's
// record (the fast path, no transaction), and the refresh of a returning person's names.
func TestSignInDeadlockVictimDecidesAgain(t *testing.T) {
	idp := newTestIdP(t)
	e := newTestEnv(t, storetest.URL(t, "postgres"))
	w := newSignInWorld(t, e, idp)
	person := map[string]any{"sub": "okta-dl", "email": "dl@example.com", "given_name": "Dee", "family_name": "Lock"}
	cases := []struct {
		name, op, table string
		names           [2]string // the IdP's given and family names at this sign-in
		outcome         string
	}{
		{"first sign-in: provisioning", "INSERT", "user_accounts", [2]string{"Dee", "Lock"}, "provisioned"},
		{"returning: the record", "INSERT", "sign_in_events", [2]string{"Dee", "Lock"}, "existing_identity"},
		{"returning: the names refreshed", "UPDATE", "user_accounts", [2]string{"Dana", "Lock"}, "existing_identity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			person["given_name"], person["family_name"] = c.names[0], c.names[1]
			events := countRows(t, e, "SELECT count(*) FROM sign_in_events")
			fired, drop := e.AbortOnce(t, c.op, c.table)
			defer drop()
			claims := w.claimsAs(t, person)
			if fired() != 1 {
				t.Fatalf("the injected deadlock did not fire")
			}
			if claims["sign_in"] != c.outcome || claims["given_name"] != c.names[0] || claims["email"] != "dl@example.com" {
				t.Errorf("claims after the deadlock: %v", claims)
			}
			if n := countRows(t, e, "SELECT count(*) FROM user_accounts WHERE email = 'dl@example.com'"); n != 1 {
				t.Errorf("%d accounts with the email", n)
			}
			if n := countRows(t, e, "SELECT count(*) FROM sign_in_events"); n != events+1 {
				t.Errorf("sign-in events: %d, want %d (one for this sign-in)", n, events+1)
			}
			var first string
			if err := e.App.Store().RawScan(context.Background(), &first, "SELECT first_name FROM user_accounts WHERE email = 'dl@example.com'"); err != nil || first != c.names[0] {
				t.Errorf("first name stored: %q, %v", first, err)
			}
		})
	}
}
