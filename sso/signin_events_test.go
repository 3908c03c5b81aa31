package sso_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"gatehouse/app"
)

// Sign-in events are pruned past their retention by the server's maintenance: refused
// authorize requests, which anyone can send, record events, so the log must not grow without
// bound. Recent events stay.
func TestSignInEventRetention(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		b := newBrowser(t, w.redirect)
		noOpenID := *w.app
		noOpenID.Scopes = []string{"email"}
		for range 3 { // three refusals, three events
			if r, _ := w.signIn(t, b, &noOpenID, "login_hint", "jane@example.com"); r.query.Get("error") != "invalid_scope" {
				t.Fatalf("refusal: %+v", r)
			}
		}
		total := func() float64 {
			d := e.MustGQL(w.tok, `{ signInEvents { total } }`, nil)
			n, _ := get(d, "signInEvents", "total").(float64)
			return n
		}
		if n := total(); n != 3 {
			t.Fatalf("%v events, want 3", n)
		}
		var ids []string
		if err := e.App.Store().RawScan(context.Background(), &ids, "SELECT id FROM sign_in_events ORDER BY created_at LIMIT 1"); err != nil || len(ids) != 1 {
			t.Fatal(ids, err)
		}
		var none []int
		if err := e.App.Store().RawScan(context.Background(), &none, "UPDATE sign_in_events SET created_at = ? WHERE id = ?",
			time.Now().Add(-31*24*time.Hour).UTC(), ids[0]); err != nil {
			t.Fatal(err)
		}

		if _, err := e.App.Service().PruneSignInEvents(context.Background(), 0); err == nil {
			t.Fatal("a zero retention was accepted")
		}
		// The server's maintenance prunes at start.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			e.App.Maintain(ctx, app.Retention{SCIMActivity: 90 * 24 * time.Hour, SignInEvents: 30 * 24 * time.Hour}, slog.New(slog.DiscardHandler))
			close(done)
		}()
		n := total()
		for deadline := time.Now().Add(10 * time.Second); n != 2 && time.Now().Before(deadline); n = total() {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-done
		if n != 2 {
			t.Fatalf("%v events after pruning, want the 2 recent ones", n)
		}
	})
}
