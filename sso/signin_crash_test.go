package sso_test

import (
	"context"
	"database/sql"
	"testing"

	"gatehouse/store/storetest"
)

// TestSignInSurvivesDatabaseCrash: a browser sign-in writes with asynchronous commit
// (store.AsyncCommit), and the token endpoint commits synchronously, which makes everything
// the sign-in wrote before it durable. So a person whose application redeemed the code is
// still there, bound, provisioned, audited, after PostgreSQL crashes. The test's own cluster runs with a 10 s WAL writer delay, so that nothing but a
// synchronous commit writes the log in the test's time: with the token endpoint's commit
// made asynchronous too, the redeemed sign-in is lost, and the test fails.
func TestSignInSurvivesDatabaseCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	pg := storetest.NewCluster(t, "wal_writer_delay=10000")
	e := newTestEnv(t, pg.URL())
	idp := newTestIdP(t)
	w := newSignInWorld(t, e, idp)

	// A redeemed sign-in: the application holds its tokens.
	idp.as(map[string]any{"sub": "okta-kept", "email": "kept@example.com", "given_name": "Kept", "family_name": "Person"})
	res, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
	if res.query.Get("code") == "" {
		t.Fatalf("no code: %+v", res)
	}
	claims, _ := w.claimsOf(t, w.app, res.query.Get("code"), verifier)
	sub, _ := claims["sub"].(string)
	if claims["sign_in"] != "provisioned" || sub == "" {
		t.Fatalf("claims: %v", claims)
	}

	// A sign-in after it whose code the application has not exchanged yet: in flight when
	// the database crashes, it may be lost (the person signs in again).
	idp.as(map[string]any{"sub": "okta-pending", "email": "pending@example.com", "given_name": "Pending", "family_name": "Person"})
	if res, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug); res.query.Get("code") == "" {
		t.Fatalf("no code: %+v", res)
	}

	pg.Crash()

	db, err := sql.Open("pgx", pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	for what, n := range map[string]int{
		"the account":        count(`SELECT count(*) FROM user_accounts WHERE id = $1 AND email = 'kept@example.com'`, sub),
		"its binding":        count(`SELECT count(*) FROM credentials WHERE user_account_id = $1 AND identifier = 'okta-kept'`, sub),
		"the redeemed grant": count(`SELECT count(*) FROM grants WHERE user_account_id = $1 AND redeemed_at IS NOT NULL`, sub),
		"the audit event":    count(`SELECT count(*) FROM audit_events WHERE action = 'sign_in.provisioned' AND target_id = $1`, sub),
		"the sign-in event":  count(`SELECT count(*) FROM sign_in_events WHERE identifier = 'okta-kept' AND outcome = 'provisioned'`),
	} {
		if n != 1 {
			t.Errorf("after the crash, %s of the redeemed sign-in: %d rows, want 1", what, n)
		}
	}
	t.Logf("after the crash, accounts of the sign-in in flight: %d (0 or 1)",
		count(`SELECT count(*) FROM user_accounts WHERE email = 'pending@example.com'`))
}
