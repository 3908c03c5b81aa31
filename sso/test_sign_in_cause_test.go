package sso_test

import (
	"html"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"gatehouse/sso/samltest"
)

// TestTestSignInCauseIsForAdministrators, on both databases: a test sign-in that fails (the
// IdP answers with an expired assertion) says exactly what failed, the public message and the
// private cause, to administrators (a client with the admin scope over REST and GraphQL, one
// with graphql over GraphQL) and on the result page in the browser that ran it; a read-only
// (graphql:read) client reads the public message alone, as it reads the attempt's sign-in
// event (whose reason is the message, and cause the cause). REST needs the admin scope, so a
// read-only client reads no test there. A test that failed before migration 43 (its error,
// message and cause in one text, moved whole to the cause) reads as before to administrators,
// and as failed, without why, to a read-only client.
func TestTestSignInCauseIsForAdministrators(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
			req.Assertion.IssueInstant = req.Assertion.IssueInstant.Add(-10 * time.Minute)
		})
		id, u := startTest(t, e, w.tok, w.conn, "")
		b := w.browser()
		_, page := samltest.Follow(t, b, u)
		w.post(t, b, e.URL, page)
		w.idp.Tamper(nil)

		ev := e.MustGQL(w.tok, `{ signInEvents(outcome: FAILED, pageSize: 1) { events { test reason cause } } }`, nil)
		reason, cause := str(ev, "signInEvents", "events", 0, "reason"), str(ev, "signInEvents", "events", 0, "cause")
		if get(ev, "signInEvents", "events", 0, "test") != true || reason == "" || !strings.Contains(cause, "expired") {
			t.Fatalf("the failed test's event: %v", ev)
		}
		full := reason + " (" + cause + ")"

		rid, rsec := e.CreateClient(w.tok, []string{"graphql:read"}, "")
		gid, gsec := e.CreateClient(w.tok, []string{"graphql"}, "")
		readOnly, manager := e.Token(rid, rsec), e.Token(gid, gsec)
		path := "/api/v1/sso/connections/" + w.conn + "/test-sign-in/" + id
		// read checks what each reader reads of the test's error.
		read := func(admin, readOnlyWants string) {
			t.Helper()
			if got := e.REST(w.tok, "GET", path, "").Must(t, 200); str(got.Body, "error") != admin {
				t.Errorf("REST, admin scope: error %q; want %q", str(got.Body, "error"), admin)
			}
			e.REST(readOnly, "GET", path, "").MustError(t, 403, "permission_error", "admin scope")
			for _, c := range []struct {
				name, tok, want string
			}{{"admin", w.tok, admin}, {"graphql", manager, admin}, {"graphql:read", readOnly, readOnlyWants}} {
				d := e.MustGQL(c.tok, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { status error } }`,
					map[string]any{"c": w.conn, "i": id})
				if str(d, "testSignIn", "status") != "FAILED" || str(d, "testSignIn", "error") != c.want {
					t.Errorf("GraphQL, %s scope: %v; want error %q", c.name, d, c.want)
				}
			}
			if _, page := samltest.Follow(t, b, u); !strings.Contains(html.UnescapeString(page), `<p role="alert" id="error">`+admin+`</p>`) {
				t.Errorf("the result page in the browser that ran the test does not say %q:\n%s", admin, page)
			}
		}
		read(full, reason)
		if strings.Contains(reason, "expired") {
			t.Fatalf("the public message names the cause: %q", reason)
		}

		// As migration 43 leaves a test that failed before it.
		e.execSQL(t, "UPDATE test_sign_ins SET cause = error || ' (' || cause || ')', error = '' WHERE cause <> ''")
		read(full, "The test sign-in failed; what failed is shown to administrators only.")

		// As a replica not yet upgraded writes it during a rolling upgrade, after the migration
		// ran: both in error, cause empty.
		e.execSQL(t, "UPDATE test_sign_ins SET error = cause, cause = '' WHERE cause <> ''")
		read(full, "The test sign-in failed; what failed is shown to administrators only.")
	})
}
