package sso_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/secret"
	"gatehouse/sso/samltest"
)

// written counts the rows a sign-in writes: a test sign-in must leave them unchanged.
func (w *samlWorld) written(t *testing.T) [4]int {
	return [4]int{w.count(t, "user_accounts"), w.count(t, "credentials"), w.count(t, "accounts"), w.count(t, "grants")}
}

// startTest starts a test sign-in of the connection over REST and returns its id and URL.
func startTest(t *testing.T, e *testEnv, tok, conn, body string) (id, u string) {
	t.Helper()
	r := e.REST(tok, "POST", "/api/v1/sso/connections/"+conn+"/test-sign-in", body).Must(t, 201)
	id, u = str(r.Body, "id"), str(r.Body, "url")
	exp, err := time.Parse(time.RFC3339, str(r.Body, "expiresAt"))
	if id == "" || !strings.HasPrefix(u, e.URL+"/sso/test-sign-in/") || err != nil || time.Until(exp) < 10*time.Minute {
		t.Fatalf("test sign-in: %s", r.Raw)
	}
	return id, u
}

// TestSAMLTestSignIn: a test sign-in of a SAML connection runs the real IdP flow in a browser
// without a token, ends on a page with the identity, claims and decision, answers the same as
// JSON, records a test event and writes no user, credential or account; it needs a testing or
// active connection; a failure says exactly what failed.
func TestSAMLTestSignIn(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		before := w.written(t)
		w.setStatus(t, models.StatusTesting) // not yet active: the decision is shown as if it were

		id, u := startTest(t, e, w.tok, w.conn, "")
		pending := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
		if str(pending.Body, "status") != "pending" || get(pending.Body, "identity") != nil || get(pending.Body, "error") != nil {
			t.Fatalf("pending: %s", pending.Raw)
		}
		b := w.browser() // no bearer token
		resp, page := samltest.Follow(t, b, u)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.String(), w.idp.SSOURL) {
			t.Fatalf("the test URL did not lead to the IdP: %d %s", resp.StatusCode, resp.Request.URL)
		}
		resp, body := w.post(t, b, e.URL, page)
		// The flow comes back to the test's page by the token's hash: the token itself is not
		// kept (the flow's redirect URI would store it in plain text).
		token := strings.TrimPrefix(u, e.URL+"/sso/test-sign-in/")
		if resp.StatusCode != 200 || resp.Request.URL.String() != e.URL+"/sso/test-sign-in/"+secret.Hash(token) || !strings.Contains(body, "Test sign-in: succeeded") ||
			!strings.Contains(body, "00u-ada") || !strings.Contains(body, "Analytical Engines") || !strings.Contains(body, `<dd id="outcome">provisioned</dd>`) {
			t.Fatalf("result page %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
		}
		// It shows an identity: never stored, framed, sniffed or told to another site.
		if h := resp.Header; h.Get("Cache-Control") != "no-store" || h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Fatalf("result page headers: %v", h)
		}
		got := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
		if str(got.Body, "status") != "succeeded" || str(got.Body, "identity", "identifier") != "00u-ada" ||
			str(got.Body, "identity", "email") != "ada@example.com" || str(got.Body, "identity", "firstName") != "Ada" ||
			str(got.Body, "identity", "lastName") != "Lovelace" || str(got.Body, "identity", "claims", "company") != "Analytical Engines" ||
			str(got.Body, "decision", "outcome") != "provisioned" || str(got.Body, "decision", "placement", "rule") != "INDIVIDUAL_ACCOUNT" ||
			str(got.Body, "decision", "placement", "newAccountName") != "Ada Lovelace" || get(got.Body, "error") != nil ||
			!strings.HasPrefix(str(got.Body, "decision", "reason"), "A new account would be created automatically. No default account") {
			t.Fatalf("test sign-in JSON: %s", got.Raw)
		}
		if after := w.written(t); after != before {
			t.Fatalf("a test sign-in wrote rows: %v → %v", before, after)
		}
		d := e.MustGQL(w.tok, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { id status error
			identity { identifier email claims } decision { outcome reason placement { rule newAccountName account { id } } } } }`,
			map[string]any{"c": w.conn, "i": id})
		if str(d, "testSignIn", "status") != "SUCCEEDED" || str(d, "testSignIn", "decision", "outcome") != "provisioned" ||
			str(d, "testSignIn", "identity", "claims", "company") != "Analytical Engines" || get(d, "testSignIn", "error") != nil {
			t.Fatalf("GraphQL testSignIn: %v", d)
		}
		var tests []bool
		if err := e.App.Store().RawScan(t.Context(), &tests, "SELECT test FROM sign_in_events WHERE outcome = 'provisioned'"); err != nil || len(tests) != 1 || !tests[0] {
			t.Fatalf("test event: %v %v", tests, err)
		}
		// The URL, opened again in the browser that ran the test, shows the result; it does
		// not run again. Another browser with the URL sees no identity, claims or cause.
		resp, body = samltest.Follow(t, b, u)
		if resp.StatusCode != 200 || !strings.Contains(body, "succeeded") || resp.Request.URL.String() != u {
			t.Fatalf("reopened: %d %s", resp.StatusCode, body)
		}
		for _, v := range []string{u, e.URL + "/sso/test-sign-in/" + secret.Hash(token)} {
			resp, body = samltest.Follow(t, w.browser(), v)
			if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "00u-ada") || strings.Contains(body, "Analytical") {
				t.Fatalf("another browser opened %s: %d %s", v, resp.StatusCode, body)
			}
		}
		var kept []string
		if err := e.App.Store().RawScan(t.Context(), &kept, "SELECT redirect_uri FROM sign_in_flows WHERE test"); err != nil || len(kept) == 0 {
			t.Fatalf("test flows: %v %v", kept, err)
		}
		for _, r := range kept {
			if strings.Contains(r, token) {
				t.Fatalf("a flow keeps the test's token in plain text: %s", r)
			}
		}

		// What failed, exactly: an expired assertion.
		w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
			req.Assertion.IssueInstant = req.Assertion.IssueInstant.Add(-10 * time.Minute)
		})
		id2, u2 := startTest(t, e, w.tok, w.conn, "")
		b = w.browser()
		_, page = samltest.Follow(t, b, u2)
		_, body = w.post(t, b, e.URL, page)
		w.idp.Tamper(nil)
		failed := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id2, "").Must(t, 200)
		if str(failed.Body, "status") != "failed" || !strings.Contains(str(failed.Body, "error"), "expired") || get(failed.Body, "decision") != nil ||
			!strings.Contains(body, "Test sign-in: failed") || !strings.Contains(body, "expired") {
			t.Fatalf("failed test: %s\n%s", failed.Raw, body)
		}

		// Only testing or active connections; the payload error and the REST 409 say so.
		w.setStatus(t, models.StatusInactive)
		e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test-sign-in", "").MustError(t, 409, "invalid_state", "testing or active")
		d = e.MustGQL(w.tok, `mutation($c: ID!) { startTestSignIn(connectionId: $c) { id url errors { code message } } }`, map[string]any{"c": w.conn})
		if str(d, "startTestSignIn", "errors", 0, "code") != "INVALID_STATE" || get(d, "startTestSignIn", "url") != nil {
			t.Fatalf("startTestSignIn on an inactive connection: %v", d)
		}
		w.setStatus(t, models.StatusActive)
		d = e.MustGQL(w.tok, `mutation($c: ID!, $b: ID) { startTestSignIn(connectionId: $c, brandId: $b) { id url expiresAt errors { code } } }`,
			map[string]any{"c": w.conn, "b": w.brand})
		if str(d, "startTestSignIn", "id") == "" || !strings.HasPrefix(str(d, "startTestSignIn", "url"), e.URL+"/sso/test-sign-in/") {
			t.Fatalf("startTestSignIn: %v", d)
		}

		// A malformed id names nothing: 404 as for every other path id, not a validation
		// error (in REST, and NOT_FOUND in GraphQL's payload as for every other mutation).
		conns := "/api/v1/sso/connections/"
		e.REST(w.tok, "POST", conns+"not-a-uuid/test-sign-in", "").MustError(t, 404, "not_found", "no such connection")
		e.REST(w.tok, "POST", conns+w.conn+"/test-sign-in", `{"brandId": "not-a-uuid"}`).MustError(t, 404, "not_found", "no brand")
		e.REST(w.tok, "GET", conns+"not-a-uuid/test-sign-in/"+id, "").MustError(t, 404, "not_found", "no such test sign-in")
		e.REST(w.tok, "GET", conns+w.conn+"/test-sign-in/not-a-uuid", "").MustError(t, 404, "not_found", "no such test sign-in")
		d = e.MustGQL(w.tok, `mutation { startTestSignIn(connectionId: "not-a-uuid") { id errors { code label } } }`, nil)
		if str(d, "startTestSignIn", "errors", 0, "code") != "NOT_FOUND" || str(d, "startTestSignIn", "errors", 0, "label") != "connectionId" {
			t.Fatalf("startTestSignIn of a malformed id: %v", d)
		}

		// Another workspace sees nothing; an unknown URL is a page, not a flow.
		ws := e.MustGQL(w.tok, `mutation { createWorkspace(input: {name: "Other"}) { workspace { id } } }`, nil)
		cid, sec := e.CreateClient(w.tok, []string{"admin"}, str(ws, "createWorkspace", "workspace", "id"))
		other := e.Token(cid, sec)
		e.REST(other, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").MustError(t, 404, "not_found", "no such test sign-in")
		e.REST(other, "POST", "/api/v1/sso/connections/"+w.conn+"/test-sign-in", "").MustError(t, 404, "not_found", "no such connection")
		resp, _ = samltest.Follow(t, w.browser(), e.URL+"/sso/test-sign-in/not-a-token")
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown test URL: %d", resp.StatusCode)
		}
	})
}

// TestAbandonedTestSignInFails: a test sign-in nobody finishes (never opened, or abandoned at
// the IdP) reads as pending while one of its flows could still come back, then as failed,
// saying why, over REST and GraphQL, and stays failed: a script polling for its outcome gets
// one.
func TestAbandonedTestSignInFails(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		expireAt := func(id string, at time.Time) {
			t.Helper()
			var ids []string
			if err := e.App.Store().RawScan(t.Context(), &ids, "UPDATE test_sign_ins SET expires_at = ? WHERE id = ? RETURNING id",
				at.UTC(), uuid.MustParse(id)); err != nil || len(ids) != 1 {
				t.Fatalf("move the test's expiry: %v %v", ids, err)
			}
		}
		status := func(id string) (string, string) {
			t.Helper()
			r := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
			return str(r.Body, "status"), str(r.Body, "error")
		}
		notOpened, _ := startTest(t, e, w.tok, w.conn, "")
		opened, u := startTest(t, e, w.tok, w.conn, "")
		if resp, _ := samltest.Follow(t, w.browser(), u); !strings.HasPrefix(resp.Request.URL.String(), w.idp.SSOURL) {
			t.Fatalf("the test URL did not lead to the IdP: %s", resp.Request.URL)
		}
		for _, id := range []string{notOpened, opened} {
			// Expired, but a flow started just before could still be answered.
			expireAt(id, time.Now().Add(-provision.FlowLifetime+time.Minute))
			if st, msg := status(id); st != "pending" || msg != "" {
				t.Fatalf("a test whose flow may still finish: %s %q", st, msg)
			}
			expireAt(id, time.Now().Add(-provision.FlowLifetime-time.Second))
			for i := 0; i < 2; i++ {
				if st, msg := status(id); st != "failed" || !strings.Contains(msg, "expired before the identity provider answered") {
					t.Fatalf("an abandoned test, read #%d: %s %q", i+1, st, msg)
				}
			}
			d := e.MustGQL(w.tok, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { status error } }`,
				map[string]any{"c": w.conn, "i": id})
			if str(d, "testSignIn", "status") != "FAILED" || !strings.Contains(str(d, "testSignIn", "error"), "Start another one") {
				t.Fatalf("GraphQL: %v", d)
			}
		}
	})
}

// TestTestSignInReopenedAfterExpiry, on both databases: a test's URL opened again after the
// test expired starts no sign-in, but leaves the test to the sign-in started from it before
// the expiry, still at the identity provider, which then finishes it with its result. Before,
// the late opening failed the test ("expired before it was run"), and the running sign-in's
// result was thrown away. A test whose sign-in was abandoned at the IdP fails when opened late.
func TestTestSignInReopenedAfterExpiry(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		expire := func(id string) {
			t.Helper()
			var ids []string
			if err := e.App.Store().RawScan(t.Context(), &ids, "UPDATE test_sign_ins SET expires_at = ? WHERE id = ? RETURNING id",
				time.Now().Add(-time.Minute).UTC(), uuid.MustParse(id)); err != nil || len(ids) != 1 {
				t.Fatalf("move the test's expiry: %v %v", ids, err)
			}
		}
		status := func(id string) (string, string) {
			t.Helper()
			r := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
			return str(r.Body, "status"), str(r.Body, "error")
		}
		flows := "SELECT count(*) FROM sign_in_flows WHERE test"

		id, u := startTest(t, e, w.tok, w.conn, "")
		b := w.browser()
		resp, page := samltest.Follow(t, b, u)
		if !strings.HasPrefix(resp.Request.URL.String(), w.idp.SSOURL) {
			t.Fatalf("the test URL did not lead to the IdP: %s", resp.Request.URL)
		}
		expire(id)
		// Opened again (another tab, another browser): no sign-in starts, the test waits.
		resp, body := samltest.Follow(t, w.browser(), u)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != u || !strings.Contains(body, "can no longer start the test sign-in") ||
			strings.Contains(body, "What failed") || countRows(t, e, flows) != 1 {
			t.Fatalf("reopened after the expiry: %d at %s, %d flows: %s", resp.StatusCode, resp.Request.URL, countRows(t, e, flows), body)
		}
		if st, msg := status(id); st != "pending" || msg != "" {
			t.Fatalf("after the late opening: %s %q", st, msg)
		}
		// The sign-in started before the expiry finishes the test.
		resp, body = w.post(t, b, e.URL, page)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Test sign-in: succeeded") || !strings.Contains(body, "00u-ada") {
			t.Fatalf("the running sign-in's result page: %d %s", resp.StatusCode, body)
		}
		if st, msg := status(id); st != "succeeded" || msg != "" {
			t.Fatalf("the running sign-in's test: %s %q", st, msg)
		}

		// A sign-in abandoned at the IdP (its flow expired) leaves nothing to wait for.
		id2, u2 := startTest(t, e, w.tok, w.conn, "")
		samltest.Follow(t, w.browser(), u2)
		var ids []string
		if err := e.App.Store().RawScan(t.Context(), &ids, "UPDATE sign_in_flows SET expires_at = ? WHERE state = ? RETURNING id",
			time.Now().Add(-time.Second).UTC(), id2); err != nil || len(ids) != 1 {
			t.Fatalf("expire the test's flow: %v %v", ids, err)
		}
		expire(id2)
		if _, body := samltest.Follow(t, w.browser(), u2); !strings.Contains(body, "Test sign-in: failed") || !strings.Contains(body, "expired before the identity provider answered") {
			t.Fatalf("an abandoned test opened late: %s", body)
		}
		if st, msg := status(id2); st != "failed" || !strings.Contains(msg, "expired before the identity provider answered") {
			t.Fatalf("an abandoned test opened late, over REST: %s %q", st, msg)
		}
	})
}

// TestTestSignInOpenedLateAfterItsFlowWasPruned, on both databases: a test whose sign-in was
// started and abandoned at the IdP, its flow pruned since (PruneSignInState), opened late is
// not said never to have run: it fails as abandoned, over the page and REST and GraphQL. A
// test never opened still reads "expired before it was run" while no flow of it could have
// been pruned (TestTestSignInOpenedTooLateOrInactive).
func TestTestSignInOpenedLateAfterItsFlowWasPruned(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		id, u := startTest(t, e, w.tok, w.conn, "")
		if resp, _ := samltest.Follow(t, w.browser(), u); !strings.HasPrefix(resp.Request.URL.String(), w.idp.SSOURL) {
			t.Fatalf("the test URL did not lead to the IdP: %s", resp.Request.URL)
		}
		// The sign-in began 21 minutes ago, just after the test was started, and was abandoned
		// at the IdP: its flow expired 11 minutes ago, the test 6 minutes ago. A flow started
		// before the test expired could still be at the IdP for 4 minutes.
		now := time.Now().UTC()
		var ids []string
		if err := e.App.Store().RawScan(t.Context(), &ids, "UPDATE sign_in_flows SET expires_at = ? WHERE state = ? RETURNING id",
			now.Add(-21*time.Minute+provision.FlowLifetime), id); err != nil || len(ids) != 1 {
			t.Fatalf("move the test's flow: %v %v", ids, err)
		}
		if err := e.App.Store().RawScan(t.Context(), &ids, "UPDATE test_sign_ins SET created_at = ?, expires_at = ? WHERE id = ? RETURNING id",
			now.Add(-21*time.Minute), now.Add(-21*time.Minute+provision.TestSignInLifetime), uuid.MustParse(id)); err != nil || len(ids) != 1 {
			t.Fatalf("move the test: %v %v", ids, err)
		}
		if _, err := e.App.Service().PruneSignInState(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, e, "SELECT count(*) FROM sign_in_flows WHERE test"); n != 0 {
			t.Fatalf("%d test flows left after the prune", n)
		}
		const want = "expired before the identity provider answered"
		if _, body := samltest.Follow(t, w.browser(), u); !strings.Contains(body, "Test sign-in: failed") || !strings.Contains(body, want) {
			t.Fatalf("an abandoned test whose flow was pruned, opened late: %s", body)
		}
		r := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
		if str(r.Body, "status") != "failed" || !strings.Contains(str(r.Body, "error"), want) {
			t.Fatalf("over REST: %s", r.Raw)
		}
		d := e.MustGQL(w.tok, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { status error } }`,
			map[string]any{"c": w.conn, "i": id})
		if str(d, "testSignIn", "status") != "FAILED" || !strings.Contains(str(d, "testSignIn", "error"), want) {
			t.Fatalf("over GraphQL: %v", d)
		}
	})
}

// TestOIDCTestSignIn: the same through an OIDC connection; a person with an account of that
// email would be linked, and is not.
func TestOIDCTestSignIn(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		e.CreateUser(w.tok, "grace@example.com")
		sw := &samlWorld{signInWorld: w}
		before := sw.written(t)
		idp.as(map[string]any{"sub": "okta-grace", "email": "grace@example.com", "given_name": "Grace",
			"family_name": "Hopper<script>alert(1)</script>", "department": "Navy"})
		id, u := startTest(t, e, w.tok, w.conn, `{"brandId": "`+w.brand+`"}`)
		// One browser follows every redirect (IdP, callback) to the result page.
		r := newBrowser(t, w.redirect).get(t, u)
		if r.status != http.StatusOK || !strings.Contains(r.body, "Test sign-in: succeeded") {
			t.Fatalf("result page: %d %s", r.status, r.body)
		}
		// The IdP's claims are text on the page, never markup.
		if strings.Contains(r.body, "<script>alert") || !strings.Contains(r.body, "Hopper&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Fatalf("claims not escaped: %s", r.body)
		}
		got := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
		if str(got.Body, "status") != "succeeded" || str(got.Body, "identity", "identifier") != "okta-grace" ||
			str(got.Body, "identity", "claims", "department") != "Navy" || str(got.Body, "decision", "outcome") != "linked_by_email" ||
			!strings.Contains(str(got.Body, "decision", "reason"), "example.com is verified for it, so the credential would be created.") {
			t.Fatalf("OIDC test sign-in: %s\npage: %d %s", got.Raw, r.status, r.body)
		}
		// The id_token's nonce, the flow's secret, is checked, neither kept nor shown.
		if claims, _ := get(got.Body, "identity", "claims").(map[string]any); claims["nonce"] != nil || claims["sub"] != "okta-grace" {
			t.Fatalf("the claims shown: %v", claims)
		}
		if after := sw.written(t); after != before {
			t.Fatalf("a test sign-in wrote rows: %v → %v", before, after)
		}
		var creds int
		if err := e.App.Store().RawScan(t.Context(), &creds, "SELECT count(*) FROM credentials"); err != nil || creds != 0 {
			t.Fatalf("credentials: %d %v", creds, err)
		}

		// An account the IdP owns (JIT) is not updated by a test whose claims would refresh it.
		idp.as(map[string]any{"sub": "okta-ida", "email": "ida@example.com", "given_name": "Ida", "family_name": "Rhodes"})
		if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "ida@example.com"); r.query.Get("code") == "" {
			t.Fatalf("real sign-in: %+v", r)
		}
		profile := func() string {
			var rows []string
			if err := e.App.Store().RawScan(t.Context(), &rows, "SELECT first_name || ' ' || last_name || ' ' || CAST(version AS text) FROM user_accounts WHERE email = 'ida@example.com'"); err != nil || len(rows) != 1 {
				t.Fatalf("ida: %v %v", rows, err)
			}
			return rows[0]
		}
		was := profile()
		idp.as(map[string]any{"sub": "okta-ida", "email": "ida@example.com", "given_name": "Ida-Mae", "family_name": "Rhodes-Smith"})
		id2, u2 := startTest(t, e, w.tok, w.conn, "")
		if r := newBrowser(t, w.redirect).get(t, u2); !strings.Contains(r.body, "existing_identity") {
			t.Fatalf("test of the IdP-owned account: %d %s", r.status, r.body)
		}
		// The dry run's reason says what would happen; the real sign-in's, what did.
		got = e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id2, "").Must(t, 200)
		if r := str(got.Body, "decision", "reason"); r != "The account bound to this identity at this identity provider would sign in." {
			t.Fatalf("dry run's reason: %q", r)
		}
		d := e.MustGQL(w.tok, `{ signInEvents(outcome: PROVISIONED, pageSize: 10) { events { reason test } } }`, nil)
		if r := str(d, "signInEvents", "events", 0, "reason"); !strings.HasPrefix(r, "A new account was created automatically. ") || get(d, "signInEvents", "events", 0, "test") != false {
			t.Fatalf("real sign-in's reason: %v", d)
		}
		if now := profile(); now != was {
			t.Fatalf("a test sign-in updated the account: %q → %q", was, now)
		}
	})
}

// idAtPath is a transport that sends the request id id with every request to path, as a proxy
// in front of Gatehouse may set it.
type idAtPath struct {
	path, id string
	next     http.RoundTripper
}

func (t idAtPath) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == t.path {
		r = r.Clone(r.Context())
		r.Header.Set("X-Request-Id", t.id)
	}
	return t.next.RoundTrip(r)
}

// TestTestSignInEventNamesTheAnsweringRequest, on both databases: a test sign-in's event names
// the request that carried the identity provider's answer (the callback, whose log lines say
// what happened), as a real sign-in's does, not the one that opened the test minutes before.
// Before, the test's event named the opening request.
func TestTestSignInEventNamesTheAnsweringRequest(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-grace", "email": "grace@example.com"})
		_, u := startTest(t, e, w.tok, w.conn, "")
		b := newBrowser(t, w.redirect)
		b.c.Transport = idAtPath{path: "/sso/oidc/callback", id: "the-callback", next: http.DefaultTransport}
		if r := b.get(t, u); !strings.Contains(r.body, "Test sign-in: succeeded") {
			t.Fatalf("result page: %d %s", r.status, r.body)
		}
		d := e.MustGQL(w.tok, `{ signInEvents(pageSize: 10) { events { outcome test requestId } } }`, nil)
		if n := len(get(d, "signInEvents", "events").([]any)); n != 1 || get(d, "signInEvents", "events", 0, "test") != true ||
			str(d, "signInEvents", "events", 0, "requestId") != "the-callback" {
			t.Fatalf("the test's event: %v", d)
		}
	})
}
