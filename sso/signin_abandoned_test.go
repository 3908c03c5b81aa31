package sso_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A sign-in the person never finishes at the identity provider (they gave up, or its answer
// never came) is an attempt too: when the prune deletes its expired flow, it records one failed
// event, timed at the flow's expiry, visible in signInEvents. Pruned again, still one. A flow
// answered after it expired has its own event (finishUnclaimed), and a finished sign-in its
// outcome's: the prune adds none for them. An abandoned test sign-in is a test event.
func TestSignInAbandonedIsAnEvent(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		ctx := context.Background()
		// A finished sign-in: its flow is claimed.
		idp.as(map[string]any{"sub": "okta-done", "email": "done@example.com", "given_name": "D", "family_name": "One"})
		if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "done@example.com"); r.query.Get("code") == "" {
			t.Fatalf("sign-in: %+v", r)
		}
		// An answer after the flow expired: one failed event, and the flow is finished.
		idp.as(map[string]any{"sub": "okta-late", "email": "late@example.com", "given_name": "L", "family_name": "Ate"})
		finish := w.toCallback(t, w.app, "login_hint", "late@example.com")
		e.execSQL(t, "UPDATE sign_in_flows SET expires_at = created_at WHERE claimed_at IS NULL")
		failed := "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'"
		if r := finish(); r.status != 400 || countRows(t, e, failed) != 1 {
			t.Fatalf("late answer: %d %.200s, %d failed events", r.status, r.body, countRows(t, e, failed))
		}
		// Abandoned at the IdP: the browser never comes back; a test sign-in, too.
		if r, _ := w.signIn(t, newBrowser(t, idp.srv.URL), w.app, "login_hint", "gone@example.com"); !strings.HasPrefix(r.location, idp.srv.URL) {
			t.Fatalf("authorize did not lead to the IdP: %+v", r)
		}
		var requests []string
		if err := e.App.Store().RawScan(ctx, &requests, "SELECT request_id FROM sign_in_flows WHERE claimed_at IS NULL"); err != nil ||
			len(requests) != 1 || requests[0] == "" {
			t.Fatalf("the abandoned flow's request id: %v %v", requests, err)
		}
		_, u := startTest(t, e, w.tok, w.conn, "")
		if r := newBrowser(t, idp.srv.URL).get(t, u); !strings.HasPrefix(r.location, idp.srv.URL) {
			t.Fatalf("the test sign-in did not lead to the IdP: %+v", r)
		}
		if n := countRows(t, e, failed); n != 1 {
			t.Fatalf("%d failed events before pruning", n)
		}

		// Every flow expired an hour ago: past ExpiredFlowRetention, so pruned.
		expired := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		var ids []string
		if err := e.App.Store().RawScan(ctx, &ids, "UPDATE sign_in_flows SET expires_at = ? RETURNING id", expired); err != nil || len(ids) != 4 {
			t.Fatalf("flows: %v %v", ids, err)
		}
		for range 2 {
			if _, err := e.App.Service().PruneSignInState(ctx); err != nil {
				t.Fatal(err)
			}
			if n := countRows(t, e, "SELECT count(*) FROM sign_in_flows"); n != 0 {
				t.Fatalf("%d flows left", n)
			}
			d := e.MustGQL(w.tok, `query($c: ID!) { signInEvents(connectionId: $c, outcome: FAILED) { total
				events { id time outcome reason cause identifier connection { id slug } application { clientId } test requestId } } }`,
				map[string]any{"c": w.conn})
			// Newest first: the late answer's (now), then the two abandoned flows' (an hour ago).
			if n, _ := get(d, "signInEvents", "total").(float64); n != 3 {
				t.Fatalf("%v failed events of the connection, want 3: %v", n, d)
			}
			late := get(d, "signInEvents", "events", 0)
			if str(late, "identifier") != "" || str(late, "reason") == "Sign-in failed: the sign-in was not finished at the identity provider in time." {
				t.Fatalf("the late answer's event: %v", late)
			}
			var app, test map[string]any
			for _, i := range []int{1, 2} {
				ev, _ := get(d, "signInEvents", "events", i).(map[string]any)
				if ev["test"] == true {
					test = ev
				} else {
					app = ev
				}
			}
			for _, ev := range []map[string]any{app, test} {
				at, err := time.Parse(time.RFC3339Nano, str(ev, "time"))
				if ev == nil || err != nil || !at.Equal(expired) || str(ev, "outcome") != "FAILED" || str(ev, "identifier") != "" ||
					str(ev, "reason") != "Sign-in failed: the sign-in was not finished at the identity provider in time." ||
					!strings.Contains(str(ev, "cause"), "expired unanswered") ||
					str(ev, "connection", "id") != w.conn || str(ev, "connection", "slug") != w.slug {
					t.Fatalf("an abandoned flow's event: %v", ev)
				}
			}
			if str(app, "application", "clientId") != w.app.ClientID || str(app, "requestId") != requests[0] {
				t.Fatalf("the abandoned sign-in's event: %v", app)
			}
			if get(test, "application") != nil || str(test, "requestId") == "" ||
				countRows(t, e, "SELECT count(*) FROM sign_in_events WHERE test AND application_id IS NULL AND brand_id IS NULL AND client_id = ''") != 1 {
				t.Fatalf("the abandoned test sign-in's event: %v", test)
			}
			// The brand's events include the application's abandoned attempt.
			d = e.MustGQL(w.tok, `query($b: ID!) { signInEvents(brandId: $b, outcome: FAILED) { events { id } } }`, map[string]any{"b": w.brand})
			if evs, _ := get(d, "signInEvents", "events").([]any); len(evs) != 2 || str(d, "signInEvents", "events", 1, "id") != str(app, "id") {
				t.Fatalf("the brand's failed events: %v", d)
			}
			if n := countRows(t, e, "SELECT count(*) FROM sign_in_events"); n != 4 { // the finished sign-in's, and 3 failed
				t.Fatalf("%d events", n)
			}
		}
	})
}

// A sign-in whose IdP answer was refused while its flow stayed open (the callback came in a
// browser without the flow's cookie) has its failed event already: when the browser that
// started it never comes back and the prune deletes the flow, no second event is recorded.
func TestSignInRefusedOpenFlowIsOneEvent(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		w.answerInAnotherBrowser(t)
		failed := "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'"
		if n := countRows(t, e, failed); n != 1 {
			t.Fatalf("%d failed events after the refused callback", n)
		}
		var ids []string
		if err := e.App.Store().RawScan(context.Background(), &ids, "UPDATE sign_in_flows SET expires_at = ? WHERE claimed_at IS NULL RETURNING id",
			time.Now().Add(-time.Hour).UTC()); err != nil || len(ids) != 1 {
			t.Fatalf("the open flow: %v %v", ids, err)
		}
		if _, err := e.App.Service().PruneSignInState(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, e, "SELECT count(*) FROM sign_in_flows"); n != 0 {
			t.Fatalf("%d flows left", n)
		}
		if n := countRows(t, e, failed); n != 1 {
			t.Fatalf("%d failed events after the prune, want the refused callback's alone", n)
		}
	})
}
