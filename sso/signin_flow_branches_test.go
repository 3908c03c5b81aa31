package sso_test

import (
	"html"
	"io"
	"net/http"
	"strings"
	"testing"

	"gatehouse/store"
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
			callback, owner := w.janeAtCallback(t)
			other := newBrowser(t, w.redirect)
			for i := range 3 {
				if r := other.get(t, callback); r.status != http.StatusBadRequest || !strings.Contains(r.body, "another browser") {
					t.Fatalf("the answer in another browser, %d: %d %.200s", i, r.status, r.body)
				}
				if n := countRows(t, e, failed); n != 1 {
					t.Fatalf("the answer refused %d times in another browser: %d failed events, want 1", i+1, n)
				}
			}
			if r := owner.get(t, callback); r.query.Get("code") == "" {
				t.Fatalf("the browser that started the sign-in: %+v", r)
			}
			if n := countRows(t, e, "SELECT count(*) FROM sign_in_events"); n != 2 {
				t.Fatalf("%d events, want the refused answer's and the sign-in's", n)
			}

			// Expired: the late reload finishes the flow, and adds no event either.
			callback, _ = w.janeAtCallback(t)
			if r := other.get(t, callback); r.status != http.StatusBadRequest {
				t.Fatalf("the second sign-in's answer in another browser: %+v", r)
			}
			e.execSQL(t, "UPDATE sign_in_flows SET expires_at = created_at WHERE claimed_at IS NULL")
			for range 2 {
				if r := other.get(t, callback); r.status != http.StatusBadRequest || countRows(t, e, failed) != 2 {
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

// TestTestSignInResultNotStored, on both databases: a test sign-in whose result the database
// refuses to store once the identity provider answered and the dry run decided (a trigger
// refuses the test's update to succeeded) fails as every server failure of a claimed flow
// does: the test reads failed, saying so, with the identity the IdP sent (and no decision), on
// the page its browser lands on and over the API, and the attempt is one failed test event.
// Before, the browser got Gatehouse's 500 page, the test stayed pending (until it read as
// abandoned at the IdP) and the only event was the dry run's successful decision.
func TestTestSignInResultNotStored(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		e.refuseWrites(t, "UPDATE", "test_sign_ins", "NEW.status = 'succeeded'")
		idp.as(map[string]any{"sub": "okta-ada", "email": "ada@example.com", "given_name": "Ada", "family_name": "Lovelace"})
		id, u := startTest(t, e, w.tok, w.conn, "")
		r := newBrowser(t, w.redirect).get(t, u)
		page := html.UnescapeString(r.body)
		if r.status != http.StatusOK || !strings.Contains(page, "Test sign-in: failed") || !strings.Contains(page, "Sign-in failed because of a server error.") ||
			!strings.Contains(page, "<dd>okta-ada</dd>") || strings.Contains(page, `id="decision"`) {
			t.Fatalf("result page: %d %s", r.status, r.body)
		}
		rest := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
		if str(rest.Body, "status") != "failed" || !strings.Contains(str(rest.Body, "error"), "server error") ||
			str(rest.Body, "identity", "identifier") != "okta-ada" || get(rest.Body, "decision") != nil {
			t.Fatalf("the test over REST: %s", rest.Raw)
		}
		d := e.MustGQL(w.tok, `{ signInEvents { total events { outcome test } } }`, nil)
		if n, _ := get(d, "signInEvents", "total").(float64); n != 1 || str(d, "signInEvents", "events", 0, "outcome") != "FAILED" ||
			get(d, "signInEvents", "events", 0, "test") != true {
			t.Fatalf("events: %v", d)
		}
	})
}

// TestSAMLContinuationAnswerNotTaken, on both databases: the browser's continuation of a SAML
// sign-in claims the flow and takes the answer the ACS kept. When taking it fails (a trigger
// refuses its delete), on SQLite, where the claim is a statement of its own and stays, the
// claimed flow fails as every server failure of one does: server_error to the application and
// one failed event. Before, the person got Gatehouse's 500 page and the attempt no event, its
// flow claimed (a reload said the link was used). On PostgreSQL the claim and the take are one
// statement, which fails whole: nothing is claimed, and once the database takes the delete
// again, the reload finishes the sign-in.
func TestSAMLContinuationAnswerNotTaken(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		allow := e.refuseWrites(t, "DELETE", "saml_answers", "")
		sqlite := e.App.Store().Dialect() == store.SQLite
		b := w.browser()
		page, verifier := w.toIdP(t, b)
		resp, body := w.post(t, b, e.URL, page)
		failed := "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'"
		if sqlite {
			if q := w.appResult(t, resp, body); q.Get("error") != "server_error" || q.Get("code") != "" || countRows(t, e, failed) != 1 {
				t.Fatalf("the answer not taken: %v, %d failed events", q, countRows(t, e, failed))
			}
			return
		}
		if resp.StatusCode != http.StatusInternalServerError || countRows(t, e, failed) != 0 || countRows(t, e, "SELECT count(*) FROM sign_in_flows WHERE claimed_at IS NULL") != 1 {
			t.Fatalf("the continuation failed whole: %d %.300s, %d failed events", resp.StatusCode, body, countRows(t, e, failed))
		}
		allow()
		r, err := b.Get(resp.Request.URL.String())
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if q := w.appResult(t, r, string(rb)); q.Get("code") == "" || w.exchange(t, q.Get("code"), verifier)["email"] == nil {
			t.Fatalf("the reload: %v", q)
		}
	})
}

// TestTestSignInPlacesInExistingAccount, on both databases: a test sign-in of a person the
// engine would provision into an existing account shows that account (id and name) as its
// placement, over REST, GraphQL and on the result page, with no new account's name: the
// brand's default account (DEFAULT_ACCOUNT), else the account of the company named by the
// person's company claim (COMPANY_MATCH). Nothing is written.
func TestTestSignInPlacesInExistingAccount(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		globex := e.CreateAccount(w.tok, "Globex HQ", e.CreateCompany(w.tok, "Globex"))
		learners := e.CreateAccount(w.tok, "Academy Learners", e.CreateCompany(w.tok, "Acme Academy Ltd"))
		idp.as(map[string]any{"sub": "okta-gina", "email": "gina@example.com", "given_name": "Gina", "company": "Globex"})
		sw := &samlWorld{signInWorld: w}
		before := sw.written(t)
		placed := func(body, rule, account, name string) {
			t.Helper()
			id, u := startTest(t, e, w.tok, w.conn, body)
			r := newBrowser(t, w.redirect).get(t, u)
			if r.status != http.StatusOK || !strings.Contains(r.body, "Test sign-in: succeeded") || !strings.Contains(r.body, rule+": ") {
				t.Fatalf("%s: result page: %d %s", rule, r.status, r.body)
			}
			rest := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
			g := e.MustGQL(w.tok, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) {
				decision { outcome placement { rule account { id name } newAccountName } } } }`, map[string]any{"c": w.conn, "i": id})
			if str(rest.Body, "decision", "outcome") != "provisioned" || str(rest.Body, "decision", "placement", "rule") != rule ||
				str(rest.Body, "decision", "placement", "account", "id") != account || str(rest.Body, "decision", "placement", "account", "name") != name ||
				str(rest.Body, "decision", "placement", "newAccountName") != "" {
				t.Fatalf("%s over REST: %s", rule, rest.Raw)
			}
			p := get(g, "testSignIn", "decision", "placement")
			if str(p, "rule") != rule || str(p, "account", "id") != account || str(p, "account", "name") != name || get(p, "newAccountName") != nil {
				t.Fatalf("%s over GraphQL: %v", rule, g)
			}
		}
		placed("", "COMPANY_MATCH", globex, "Globex HQ")
		d := e.MustGQL(w.tok, `mutation($b: ID!, $c: ID!, $a: ID!) { brands { createIdentityProviderConfiguration(input: {brandId: $b,
			identityProviderId: $c, autoProvisionLearners: true, defaultAccountId: $a}) { errors { label message } } } }`,
			map[string]any{"b": w.brand, "c": w.conn, "a": learners})
		if errs := get(d, "brands", "createIdentityProviderConfiguration", "errors").([]any); len(errs) > 0 {
			t.Fatalf("configuration: %v", d)
		}
		placed(`{"brandId": "`+w.brand+`"}`, "DEFAULT_ACCOUNT", learners, "Academy Learners")
		if after := sw.written(t); after != before {
			t.Fatalf("a test sign-in wrote rows: %v → %v", before, after)
		}
	})
}

// TestOIDCSignInWithoutUserinfo, on both databases: an IdP whose discovery document has no
// userinfo_endpoint (it is OPTIONAL) signs people in from the id_token's claims alone, a
// first sign-in too (a name claim split into the names), and is never asked for userinfo.
func TestOIDCSignInWithoutUserinfo(t *testing.T) {
	idp := newTestIdP(t)
	idp.set(func(p *testIdP) {
		p.hostile = map[string]func(http.Handler) http.Handler{"/.well-known/openid-configuration": edited("", func(v any) any {
			delete(v.(map[string]any), "userinfo_endpoint")
			return v
		})}
	})
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		calls := func() (n int) { idp.set(func(p *testIdP) { n = p.userinfoCalls }); return n }
		before := calls()
		for _, want := range []string{"provisioned", "existing_identity"} {
			got := w.claimsAs(t, map[string]any{"sub": "okta-nui", "email": "nui@" + signInDomain, "name": "Nui Kealoha"})
			if got["sign_in"] != want || got["email"] != "nui@"+signInDomain || got["given_name"] != "Nui" || got["family_name"] != "Kealoha" {
				t.Fatalf("sign-in without userinfo, want %s: %v", want, got)
			}
		}
		if n := calls() - before; n != 0 {
			t.Fatalf("userinfo asked %d times; the IdP has none", n)
		}
	})
}

// TestTestSignInOpenedTooLateOrInactive, on both databases: a test sign-in's URL opened after
// the test expired, or once its connection is no longer in testing or active status, starts no
// sign-in at the IdP: the page says why the test failed, and so does the API.
func TestTestSignInOpenedTooLateOrInactive(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		failed := func(setup, want string) {
			t.Helper()
			id, u := startTest(t, e, w.tok, w.conn, "")
			e.execSQL(t, setup)
			r := newBrowser(t, w.redirect).get(t, u)
			if r.status != http.StatusOK || !strings.Contains(r.body, "Test sign-in: failed") || !strings.Contains(r.body, want) ||
				countRows(t, e, "SELECT count(*) FROM sign_in_flows") != 0 {
				t.Fatalf("%s: %d %s", want, r.status, r.body)
			}
			rest := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
			if str(rest.Body, "status") != "failed" || str(rest.Body, "error") != want {
				t.Fatalf("%s over REST: %s", want, rest.Raw)
			}
		}
		failed("UPDATE test_sign_ins SET expires_at = created_at", "The test sign-in expired before it was run; start another one.")
		failed("UPDATE connections SET status = 'inactive'", "The connection is inactive now; a test sign-in needs it in testing or active status.")
	})
}

// TestSAMLReplayToAnOpenFlowIsOneEvent, on both databases: the IdP's form posted again before
// the browser continued (its assertion used: the answer is refused, and the flow stays open
// for the browser that started it) is one failed event however often it is posted again, as
// a form posted again after any failed sign-in is. Before, each re-post added one. The
// browser that started the sign-in still finishes it.
func TestSAMLReplayToAnOpenFlowIsOneEvent(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		b := w.browser()
		continuation, page, verifier := w.answeredNotContinued(t, b)
		failed := "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'"
		for i := range 3 {
			resp, body := w.post(t, w.browser(), e.URL, page)
			if q := w.appResult(t, resp, body); !strings.Contains(q.Get("error_description"), "already used") || countRows(t, e, failed) != 1 {
				t.Fatalf("re-post %d: %v, %d failed events, want 1", i+1, q, countRows(t, e, failed))
			}
		}
		cont, err := b.Get(e.URL + continuation)
		if err != nil {
			t.Fatal(err)
		}
		cont.Body.Close()
		code := w.appResult(t, cont, "").Get("code")
		if code == "" || w.exchange(t, code, verifier)["email"] == nil || countRows(t, e, "SELECT count(*) FROM sign_in_events") != 2 {
			t.Fatalf("the browser that started the sign-in: code %q, %d events", code, countRows(t, e, "SELECT count(*) FROM sign_in_events"))
		}
	})
}

// TestSAMLACSWithoutUsableSPKeys, on both databases: an ACS whose replica cannot build the SAML
// service provider (its key cannot be opened: say, the encryption key was changed without
// re-encrypting) fails the sign-in as a server error does: the application gets server_error,
// the attempt is one event, and the flow is finished, so the form posted again adds none.
// Before, the person saw Gatehouse's 500 page, and no event told the administrator.
func TestSAMLACSWithoutUsableSPKeys(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		b := w.browser()
		page, _ := w.toIdP(t, b)
		e.execSQL(t, "UPDATE saml_sp_keys SET private_key_enc = certificate")
		replica := e.Replica() // a fresh replica: no SP keys cached
		b.Transport = idAtPath{path: "/saml/acs", id: "the-acs", next: http.DefaultTransport}
		resp, body := w.post(t, b, replica, page)
		if q := w.appResult(t, resp, body); q.Get("error") != "server_error" || q.Get("code") != "" {
			t.Fatalf("the application got %v", q)
		}
		var causes, ids []string
		if err := e.App.Store().RawScan(t.Context(), &causes, "SELECT cause FROM sign_in_events WHERE outcome = 'failed'"); err != nil ||
			len(causes) != 1 || !strings.Contains(causes[0], "sp keys") {
			t.Fatalf("events: %v %v", causes, err)
		}
		// The event names the ACS request, whose log line has the cause, as every ACS failure's does.
		if err := e.App.Store().RawScan(t.Context(), &ids, "SELECT request_id FROM sign_in_events"); err != nil || len(ids) != 1 || ids[0] != "the-acs" {
			t.Fatalf("the event's request id: %v %v", ids, err)
		}
		resp, body = w.post(t, w.browser(), replica, page)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "finished already") ||
			countRows(t, e, "SELECT count(*) FROM sign_in_events") != 1 {
			t.Fatalf("posted again: %d %s; %d events", resp.StatusCode, body, countRows(t, e, "SELECT count(*) FROM sign_in_events"))
		}
	})
}
