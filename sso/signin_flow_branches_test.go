package sso_test

import (
	"net/http"
	"strings"
	"testing"
)

// Branches of the browser sign-in's flow that no test ran, found from a coverage profile of
// the whole suite.

// TestSignInRefusedAnswerReloadedIsOneEvent, on both databases: an IdP's answer refused in a
// browser without the flow's cookie is one failed event however often it comes again while the
// flow stays open for the browser that started it (the refusal page reloaded, the link opened
// again, by anyone holding it), and after the flow expired: the attempt has its event. Before,
// each reload of the refusal page, and the late one, added a failed event. The browser that
// started the sign-in still finishes it, with its own event.
func TestSignInRefusedAnswerReloadedIsOneEvent(t *testing.T) {
	idp := newTestIdP(t)
	failed := "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'"
	t.Run("OIDC", func(t *testing.T) {
		eachDB(t, func(t *testing.T, e *testEnv) {
			w := newSignInWorld(t, e, idp)
			idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com"})
			stop := newBrowser(t, e.URL+"/sso/oidc/callback")
			r, _ := w.signIn(t, stop, w.app, "login_hint", "jane@example.com")
			callback := r.location
			other := newBrowser(t, w.redirect)
			for i := range 3 {
				if r := other.get(t, callback); r.status != http.StatusBadRequest || !strings.Contains(r.body, "another browser") {
					t.Fatalf("the answer in another browser, %d: %d %.200s", i, r.status, r.body)
				}
				if n := countRows(t, e, failed); n != 1 {
					t.Fatalf("the answer refused %d times in another browser: %d failed events, want 1", i+1, n)
				}
			}
			owner := newBrowser(t, w.redirect)
			owner.c.Jar = stop.c.Jar
			if r := owner.get(t, callback); r.query.Get("code") == "" {
				t.Fatalf("the browser that started the sign-in: %+v", r)
			}
			if n := countRows(t, e, "SELECT count(*) FROM sign_in_events"); n != 2 {
				t.Fatalf("%d events, want the refused answer's and the sign-in's", n)
			}

			// Expired: the late reload finishes the flow, and adds no event either.
			r, _ = w.signIn(t, stop, w.app, "login_hint", "jane@example.com")
			if r := other.get(t, r.location); r.status != http.StatusBadRequest {
				t.Fatalf("the second sign-in's answer in another browser: %+v", r)
			}
			e.execSQL(t, "UPDATE sign_in_flows SET expires_at = created_at WHERE claimed_at IS NULL")
			for range 2 {
				if r := other.get(t, r.location); r.status != http.StatusBadRequest || countRows(t, e, failed) != 2 {
					t.Fatalf("the expired answer reloaded: %d %.200s, %d failed events, want 2", r.status, r.body, countRows(t, e, failed))
				}
			}
		})
	})
	t.Run("SAML", func(t *testing.T) {
		eachDB(t, func(t *testing.T, e *testEnv) {
			w := newSAMLWorld(t, e)
			page, _ := w.toIdP(t, w.browser())
			// The IdP's form posted in another browser: the ACS accepts the answer, and its
			// continuation there is refused. Reloaded, and after the flow expired, the form posted
			// again, it adds no event.
			other := w.browser()
			resp, body := w.post(t, other, e.URL, page)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "another browser") || countRows(t, e, failed) != 1 {
				t.Fatalf("the continuation in another browser: %d %.200s, %d failed events", resp.StatusCode, body, countRows(t, e, failed))
			}
			cont := resp.Request.URL.String()
			for range 2 {
				r, err := other.Get(cont)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				if r.StatusCode != http.StatusBadRequest || countRows(t, e, failed) != 1 {
					t.Fatalf("the continuation reloaded: %d, %d failed events, want 1", r.StatusCode, countRows(t, e, failed))
				}
			}
			e.execSQL(t, "UPDATE sign_in_flows SET expires_at = created_at WHERE claimed_at IS NULL")
			for range 2 {
				if resp, body := w.post(t, other, e.URL, page); resp.StatusCode != http.StatusBadRequest || countRows(t, e, failed) != 1 {
					t.Fatalf("the form posted again after the flow expired: %d %.200s, %d failed events, want 1", resp.StatusCode, body, countRows(t, e, failed))
				}
			}
		})
	})
}
