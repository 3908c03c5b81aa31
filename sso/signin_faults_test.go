package sso_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/store/storetest"
)

// Sign-in when something fails that is neither the person nor the IdP: the database, the
// request's own end. Found by a review of sign-in under faults.

// countRows runs a count query.
func countRows(t *testing.T, e *testEnv, q string) int {
	t.Helper()
	var n int
	if err := e.App.Store().RawScan(context.Background(), &n, q); err != nil {
		t.Fatal(err)
	}
	return n
}

// lockTable takes an exclusive lock on table in a transaction of its own; the returned func
// releases it.
func lockTable(t *testing.T, e *testEnv, table string) func() {
	t.Helper()
	tx, err := e.App.Store().DB().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE"); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	return func() { tx.Rollback() }
}

// The database unavailable during the decision (a lock it cannot get in time): the application
// gets server_error, which it may retry, not access_denied, which reads as a refusal.
func TestSignInDecisionDatabaseUnavailable(t *testing.T) {
	idp := newTestIdP(t)
	e := newTestEnv(t, storetest.URL(t, "postgres"))
	var name string
	if err := e.App.Store().RawScan(context.Background(), &name, "SELECT current_database()"); err != nil {
		t.Fatal(err)
	}
	// Before the sign-in pool opens its connections, which then take the setting.
	e.execSQL(t, "ALTER DATABASE "+name+" SET lock_timeout = '300ms'")
	w := newSignInWorld(t, e, idp)
	var release func()
	idp.set(func(p *testIdP) { p.tokenHook = func() { release = lockTable(t, e, "user_accounts") } })
	idp.as(map[string]any{"sub": "okta-lock", "email": "lock@example.com", "given_name": "L", "family_name": "Ock"})
	r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "lock@example.com")
	if release == nil {
		t.Fatal("the lock was never taken")
	}
	release()
	if r.query.Get("error") != "server_error" || r.query.Get("state") != "app-state" {
		t.Fatalf("the decision without its database: %+v", r)
	}
}

// The database unavailable at the code's redemption and at userinfo: 503 temporarily_unavailable
// (with Retry-After), as the client-credentials grant answers, not 500.
func TestSignInTokenEndpointDatabaseUnavailable(t *testing.T) {
	idp := newTestIdP(t)
	e := newTestEnv(t, storetest.URL(t, "postgres"), func(c *app.Config) { c.Guard.RequestTimeout = time.Second })
	w := newSignInWorld(t, e, idp)
	idp.as(map[string]any{"sub": "okta-t", "email": "t@example.com", "given_name": "T", "family_name": "T"})
	r1, v1 := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "t@example.com")
	_, tok := w.claimsOf(t, w.app, r1.query.Get("code"), v1)
	r2, v2 := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "t@example.com")
	release := lockTable(t, e, "grants")
	defer release()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {r2.query.Get("code")}, "redirect_uri": {w.redirect},
		"code_verifier": {v2}, "client_id": {w.app.ClientID}, "client_secret": {w.app.ClientSecret}}
	resp, err := http.PostForm(e.URL+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("token: %d %v Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	req, _ := http.NewRequest("GET", e.URL+"/oauth/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("userinfo: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// A browser that goes away while Gatehouse waits for the IdP ends its request, and the
// attempt, which fails, is still one event.
func TestSignInBrowserGoneStillAnEvent(t *testing.T) {
	idp := newTestIdP(t)
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		w := newSignInWorld(t, e, idp)
		idp.set(func(p *testIdP) { p.tokenHook = func() { time.Sleep(1200 * time.Millisecond) } })
		idp.as(map[string]any{"sub": "okta-gone", "email": "gone@example.com", "given_name": "G", "family_name": "One"})
		stop := newBrowser(t, e.URL+"/sso/oidc/callback")
		r, _ := w.signIn(t, stop, w.app, "login_hint", "gone@example.com")
		c := &http.Client{Jar: stop.c.Jar, Timeout: 400 * time.Millisecond,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if _, err := c.Get(r.location); err == nil {
			t.Fatal("the browser waited for the callback")
		}
		q := "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'"
		for deadline := time.Now().Add(5 * time.Second); countRows(t, e, q) == 0 && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond) // the callback goes on after the browser left
		}
		if n := countRows(t, e, q); n != 1 {
			t.Fatalf("failed events: %d", n)
		}
	})
}

// The application's read failing at the callback (its table gone, past the 2 s cache): a
// claimed flow answers as every server failure does, server_error to the application and an
// event, never an HTML 500.
func TestSignInApplicationReadFails(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-a", "email": "a@example.com", "given_name": "A", "family_name": "A"})
		finish := w.toCallback(t, w.app, "login_hint", "a@example.com")
		e.execSQL(t, "ALTER TABLE applications RENAME TO applications_gone")
		time.Sleep(2500 * time.Millisecond) // past the application cache's 2 s
		r := finish()
		e.execSQL(t, "ALTER TABLE applications_gone RENAME TO applications")
		if r.query.Get("error") != "server_error" || countRows(t, e, "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'") != 1 {
			t.Fatalf("callback: %d %q %.200s", r.status, r.location, strings.TrimSpace(r.body))
		}
	})
}

// A late answer to a flow that expired a moment ago reads "expired" and is an event, whether
// or not the pruner ran in between: it prunes a flow only ExpiredFlowRetention past its
// expiry. Before, a pruned flow's late answer was an unknown state with no event (OIDC), or an
// answer nobody asked for (SAML).
func TestSignInLateAnswerAfterPruning(t *testing.T) {
	idp := newTestIdP(t)
	prune := func(t *testing.T, e *testEnv) {
		if _, err := e.App.Service().PruneSignInState(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	events := "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'"
	t.Run("OIDC", func(t *testing.T) {
		eachDB(t, func(t *testing.T, e *testEnv) {
			w := newSignInWorld(t, e, idp)
			idp.as(map[string]any{"sub": "okta-p", "email": "p@example.com", "given_name": "P", "family_name": "P"})
			finish := w.toCallback(t, w.app, "login_hint", "p@example.com")
			e.execSQL(t, "UPDATE sign_in_flows SET expires_at = created_at WHERE claimed_at IS NULL")
			prune(t, e)
			// The late answer finishes the expired flow: opened again, it adds no event.
			for range 3 {
				if r := finish(); r.status != 400 || countRows(t, e, events) != 1 {
					t.Fatalf("OIDC late answer after pruning: %d %.200s, %d events", r.status, r.body, countRows(t, e, events))
				}
			}
			// A flow expired longer ago than that is pruned.
			e.execSQL(t, "UPDATE sign_in_flows SET expires_at = '2000-01-01 00:00:00+00:00'")
			prune(t, e)
			if n := countRows(t, e, "SELECT count(*) FROM sign_in_flows"); n != 0 {
				t.Fatalf("%d flows left", n)
			}
		})
	})
	t.Run("SAML", func(t *testing.T) {
		eachDB(t, func(t *testing.T, e *testEnv) {
			w := newSAMLWorld(t, e)
			b := w.browser()
			page, _ := w.toIdP(t, b)
			e.execSQL(t, "UPDATE sign_in_flows SET expires_at = created_at WHERE claimed_at IS NULL")
			prune(t, e)
			for range 3 { // posted again, it adds no event
				resp, body := w.post(t, b, e.URL, page)
				if resp.StatusCode != 400 || !strings.Contains(body, "expired") || countRows(t, e, events) != 1 {
					t.Fatalf("SAML late answer after pruning: %d %.300s, %d events", resp.StatusCode, body, countRows(t, e, events))
				}
			}
			// The flow pruned at last (or lost in a crash, uncommitted): the answer, which names
			// Gatehouse's request (InResponseTo), still reads "expired", not the page of an
			// unsolicited (IdP-initiated) answer.
			e.execSQL(t, "UPDATE sign_in_flows SET expires_at = '2000-01-01 00:00:00+00:00'")
			prune(t, e)
			if n := countRows(t, e, "SELECT count(*) FROM sign_in_flows"); n != 0 {
				t.Fatalf("%d flows left", n)
			}
			if resp, body := w.post(t, b, e.URL, page); resp.StatusCode != 400 || !strings.Contains(body, "expired") ||
				strings.Contains(body, "did not ask for") {
				t.Fatalf("SAML answer to a pruned flow: %d %.300s", resp.StatusCode, body)
			}
		})
	})
}
