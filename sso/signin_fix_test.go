package sso_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	"golang.org/x/oauth2"

	"gatehouse/app/apptest"
	"gatehouse/models"
	"gatehouse/sso/samltest"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// Review fixes of the browser sign-in (review-signin.md), each end to end on both databases.

// execSQL runs a statement directly on the test database (no arguments: the statement is the
// same text on SQLite and PostgreSQL).
func (e *testEnv) execSQL(t *testing.T, stmt string) {
	t.Helper()
	if _, err := e.App.Store().DB().ExecContext(context.Background(), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// refuseWrites makes the database refuse op (INSERT, UPDATE or DELETE) on table with "refused
// by the test", as a failing database would, for the rows where when holds (a condition on NEW
// or OLD; "": every row), through a trigger on either database. allow lets the writes through
// again.
func (e *testEnv) refuseWrites(t *testing.T, op, table, when string) (allow func()) {
	t.Helper()
	name := "refuse_" + strings.ToLower(op) + "_" + table
	if e.App.Store().Dialect() == store.SQLite {
		cond := ""
		if when != "" {
			cond = " WHEN " + when
		}
		e.execSQL(t, "CREATE TRIGGER "+name+" BEFORE "+op+" ON "+table+cond+" BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
		return func() { e.execSQL(t, "DROP TRIGGER "+name) }
	}
	if when == "" {
		when = "true"
	}
	e.execSQL(t, "CREATE FUNCTION "+name+"() RETURNS trigger AS $$ BEGIN IF "+when+
		" THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN COALESCE(NEW, OLD); END $$ LANGUAGE plpgsql")
	e.execSQL(t, "CREATE TRIGGER "+name+" BEFORE "+op+" ON "+table+" FOR EACH ROW EXECUTE FUNCTION "+name+"()")
	return func() { e.execSQL(t, "DROP TRIGGER "+name+" ON "+table); e.execSQL(t, "DROP FUNCTION "+name+"()") }
}

// Finding 3: once client and redirect_uri are trusted, a server error redirects to the
// application with server_error (and the state), never an HTML 500.
func TestSignInServerErrorsRedirect(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"})

		t.Run("authorize: the flow cannot be stored", func(t *testing.T) {
			e.execSQL(t, "ALTER TABLE sign_in_flows RENAME TO sign_in_flows_gone")
			r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "jane@example.com")
			e.execSQL(t, "ALTER TABLE sign_in_flows_gone RENAME TO sign_in_flows")
			if r.status != 302 || r.query.Get("error") != "server_error" || r.query.Get("state") != "app-state" || r.query.Get("code") != "" {
				t.Fatalf("authorize with a broken store: %d %q %v", r.status, r.location, r.query)
			}
		})

		t.Run("callback: the claimed flow cannot be read", func(t *testing.T) {
			finish := w.toCallback(t, w.app, "login_hint", "jane@example.com")
			// The PKCE verifier Gatehouse kept no longer opens (corrupted at rest).
			e.execSQL(t, "UPDATE sign_in_flows SET upstream_verifier_enc = NULL")
			r := finish()
			if r.status != 302 || r.query.Get("error") != "server_error" || r.query.Get("state") != "app-state" || r.query.Get("code") != "" {
				t.Fatalf("callback with a broken flow: %d %q %v", r.status, r.location, r.query)
			}
			d := e.MustGQL(w.tok, `{ signInEvents(outcome: FAILED) { events { outcome reason } } }`, nil)
			evs, _ := get(d, "signInEvents", "events").([]any)
			if len(evs) == 0 || !strings.Contains(evs[0].(map[string]any)["reason"].(string), "server error") {
				t.Fatalf("no failed event for the server error: %v", d)
			}
		})
	})
}

// Finding 4 and the SAML test gaps: every check of the IdP's response refuses end to end
// (real browser, real samlidp responses): access_denied to the application, no code, no
// account, a failed event with the private cause.
func TestSAMLSignInResponseChecks(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		_, _, otherCert := samltest.NewKeyPair(t)
		cases := []struct {
			name  string
			setup func() (undo func())
			cause string
		}{
			{"unsigned", func() func() { w.idp.Unsigned(true); return func() { w.idp.Unsigned(false) } }, "signature"},
			{"wrong signature", func() func() {
				e.execSQL(t, "UPDATE connections SET saml_certificate = '"+otherCert+"' WHERE protocol = 'saml'")
				return func() {
					e.execSQL(t, "UPDATE connections SET saml_certificate = '"+w.idp.CertificatePEM+"' WHERE protocol = 'saml'")
				}
			}, "signature"},
			{"wrong audience", func() func() {
				w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
					req.Assertion.Conditions.AudienceRestrictions[0].Audience.Value = "https://other.example.com/saml/metadata"
				})
				return func() { w.idp.Tamper(nil) }
			}, "AudienceRestriction"},
			{"no AudienceRestriction", func() func() {
				w.idp.Tamper(func(req *saml.IdpAuthnRequest) { req.Assertion.Conditions.AudienceRestrictions = nil })
				return func() { w.idp.Tamper(nil) }
			}, "no AudienceRestriction"},
			{"unsigned Response without Destination", func() func() {
				w.idp.NoDestination(true)
				return func() { w.idp.NoDestination(false) }
			}, "no Destination"},
			{"unsigned Response with a relative Destination", func() func() {
				w.idp.UnsignedResponseTo("/saml/acs") // the path the server sees, not the ACS
				return func() { w.idp.NoDestination(false) }
			}, "Destination"},
			{"no SubjectConfirmation", func() func() {
				w.idp.Tamper(func(req *saml.IdpAuthnRequest) { req.Assertion.Subject.SubjectConfirmations = nil })
				return func() { w.idp.Tamper(nil) }
			}, "no bearer SubjectConfirmation"},
			{"a SubjectConfirmation that is not bearer", func() func() {
				w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
					req.Assertion.Subject.SubjectConfirmations[0].Method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
				})
				return func() { w.idp.Tamper(nil) }
			}, "no bearer SubjectConfirmation"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				undo := c.setup() // before the IdP makes its response
				defer undo()
				b := w.browser()
				page, _ := w.toIdP(t, b)
				resp, body := w.post(t, b, e.URL, page)
				q := w.appResult(t, resp, body)
				if q.Get("error") != "access_denied" || q.Get("code") != "" {
					t.Fatalf("%s: %v", c.name, q)
				}
				var causes []string
				if err := e.App.Store().RawScan(context.Background(), &causes, "SELECT cause FROM sign_in_events WHERE outcome = 'failed' ORDER BY created_at DESC"); err != nil {
					t.Fatal(err)
				}
				if len(causes) == 0 || !strings.Contains(causes[0], c.cause) {
					t.Fatalf("%s: cause %v", c.name, causes)
				}
			})
		}
		if n := w.count(t, "user_accounts"); n != 0 {
			t.Fatalf("%d accounts after refused sign-ins", n)
		}
		// The checks refuse only what they should: the same world signs in.
		b := w.browser()
		page, _ := w.toIdP(t, b)
		resp, body := w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, body); q.Get("code") == "" {
			t.Fatalf("a good response: %v", q)
		}
	})
}

// Finding 2: a test sign-in's URL carries its token; the access log names the route, never
// the token.
func TestTestSignInTokenNotLogged(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e, logs := apptest.NewLogged(t, dbURL)
		token := "tok-" + strings.Repeat("s3cr3t", 6)
		req, _ := http.NewRequest("GET", e.URL+"/sso/test-sign-in/"+token, nil)
		line := logs.Send(t, req, "log-test-sign-in")
		if line["status"] != 404.0 || line["path"] != "/sso/test-sign-in/[redacted]" {
			t.Fatalf("access line: %v", line)
		}
		if strings.Contains(logs.String(), token) {
			t.Fatal("the test sign-in token is in the log")
		}
	})
}

// Finding 6: the profile refresh of an account the IdP owns takes a new email only on a domain
// verified for the connection; names still refresh.
func TestSignInRefreshKeepsEmailOffVerifiedDomains(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		emailOf := func() string {
			t.Helper()
			var es []string
			if err := e.App.Store().RawScan(context.Background(), &es, "SELECT email FROM user_accounts WHERE first_name <> ''"); err != nil || len(es) != 1 {
				t.Fatalf("accounts: %v %v", es, err)
			}
			return es[0]
		}
		signIn := func(email, first string) {
			t.Helper()
			idp.as(map[string]any{"sub": "okta-rita", "email": email, "given_name": first, "family_name": "Ray"})
			r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "rita@example.com")
			if r.query.Get("code") == "" {
				t.Fatalf("sign-in: %+v", r)
			}
		}
		signIn("rita@example.com", "Rita") // JIT: the IdP owns the account
		signIn("rita@attacker.test", "Rita-Mae")
		if got := emailOf(); got != "rita@example.com" {
			t.Fatalf("email moved to an unverified domain: %s", got)
		}
		var names []string
		_ = e.App.Store().RawScan(context.Background(), &names, "SELECT first_name FROM user_accounts WHERE first_name <> ''")
		if len(names) != 1 || names[0] != "Rita-Mae" {
			t.Fatalf("names did not refresh: %v", names)
		}
		signIn("rita.ray@example.com", "Rita-Mae") // a verified domain: taken
		if got := emailOf(); got != "rita.ray@example.com" {
			t.Fatalf("email on the verified domain not refreshed: %s", got)
		}
	})
}

// A JIT account has its email as userName, and the profile refresh of a later sign-in moves the
// userName with the email, as an admin's change does (models.UserAccount.ChangeEmail): an IdP's
// SCIM lookup by the person's address finds them, and the old address is free. The userName
// stayed the first address. A new email that is another account's userName is not taken: the
// sign-in succeeds and the account keeps its email.
func TestSignInRefreshMovesUserNameWithEmail(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		signIn := func(email string) {
			t.Helper()
			idp.as(map[string]any{"sub": "okta-rita", "email": email, "given_name": "Rita", "family_name": "Ray"})
			r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "rita@example.com")
			if r.query.Get("code") == "" {
				t.Fatalf("sign-in: %+v", r)
			}
		}
		rita := func() (email, userName string) {
			t.Helper()
			d := e.MustGQL(w.tok, `{ userAccounts(filter: {authModule: "`+w.slug+`"}) { nodes { email userName } } }`, nil)
			nodes, _ := get(d, "userAccounts", "nodes").([]any)
			if len(nodes) != 1 {
				t.Fatalf("accounts: %v", d)
			}
			return str(nodes[0], "email"), str(nodes[0], "userName")
		}
		signIn("rita@example.com") // JIT: the IdP owns the account
		signIn("rita.ray@example.com")
		if email, userName := rita(); email != "rita.ray@example.com" || userName != "rita.ray@example.com" {
			t.Fatalf("after the refresh: email %s, userName %s", email, userName)
		}
		d := e.MustGQL(w.tok, `mutation { createUserAccount(input: {email: "rita@example.com"}) { errors { label message code } } }`, nil)
		if errs := payloadErrors(t, d, "createUserAccount"); len(errs) != 0 {
			t.Fatalf("the old email is still taken: %v", d)
		}

		// Another account's userName (its IdP's, through SCIM) is not taken by a refresh.
		scim, _ := e.SCIMToken(w.tok, map[string]any{"name": "provisioning"})
		e.SCIMUser(scim, map[string]any{"userName": "r.ray@example.com",
			"emails": []any{map[string]any{"value": "robin@example.com", "primary": true}}})
		signIn("r.ray@example.com")
		if email, userName := rita(); email != "rita.ray@example.com" || userName != "rita.ray@example.com" {
			t.Fatalf("a refresh took another account's userName: email %s, userName %s", email, userName)
		}
	})
}

// Finding 7: a JIT account whose IdP sent no email gets identifier@primary domain; nobody
// verified that address, and the id_token and userinfo say so, at its first sign-in and every
// later one while the account has that address (the fact is kept with the account).
func TestSignInDerivedEmailNotVerified(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-noemail", "given_name": "Noe", "family_name": "Mail"})
		r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		if r.query.Get("code") == "" {
			t.Fatalf("sign-in: %+v", r)
		}
		claims, tok := w.claimsOf(t, w.app, r.query.Get("code"), verifier)
		if claims["email"] != "okta-noemail@"+signInDomain || claims["email_verified"] != false || claims["sign_in"] != "provisioned" {
			t.Fatalf("id_token claims: %v", claims)
		}
		req, _ := http.NewRequest("GET", e.URL+"/oauth/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ui map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&ui)
		if ui["email"] != "okta-noemail@"+signInDomain || ui["email_verified"] != false {
			t.Fatalf("userinfo: %v", ui)
		}
		// The fact stays with the account: a returning sign-in (the fast path) reports it too.
		for i := 0; i < 2; i++ {
			r, verifier = w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			claims, tok = w.claimsOf(t, w.app, r.query.Get("code"), verifier)
			if claims["email"] != "okta-noemail@"+signInDomain || claims["email_verified"] != false || claims["sign_in"] != "existing_identity" {
				t.Fatalf("returning sign-in %d: id_token claims: %v", i+1, claims)
			}
		}
		req, _ = http.NewRequest("GET", e.URL+"/oauth/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp2.Body.Close()
		ui = nil
		_ = json.NewDecoder(resp2.Body).Decode(&ui)
		if ui["email_verified"] != false {
			t.Fatalf("returning sign-in: userinfo: %v", ui)
		}
		// A name change takes the transaction's path (profile refresh): still not verified.
		idp.as(map[string]any{"sub": "okta-noemail", "given_name": "Noah", "family_name": "Mail"})
		r, verifier = w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		if claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier); claims["email_verified"] != false || claims["given_name"] != "Noah" {
			t.Fatalf("refreshed names: id_token claims: %v", claims)
		}
		// Once the IdP asserts that very address, it is the IdP's, verified by its domain.
		idp.as(map[string]any{"sub": "okta-noemail", "email": "okta-noemail@" + signInDomain, "given_name": "Noah", "family_name": "Mail"})
		r, verifier = w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		if claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier); claims["email_verified"] != true {
			t.Fatalf("asserted address: id_token claims: %v", claims)
		}
		// An email the IdP sent on the verified domain stays verified.
		idp.as(map[string]any{"sub": "okta-withemail", "email": "with@" + signInDomain})
		r, verifier = w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		if claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier); claims["email_verified"] != true {
			t.Fatalf("IdP email: %v", claims)
		}
	})
}

// Finding 5: once the application is known, an authorize request refused with an error
// redirect is one sign-in event: refused for a connection that does not route, failed for a
// malformed request.
func TestAuthorizeRefusalsRecorded(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		e.CreateOIDCConnection(w.tok, "Inactive IdP", "inactive-idp")
		b := newBrowser(t, w.redirect)
		if r, _ := w.signIn(t, b, w.app, "connection", "inactive-idp"); r.query.Get("error") != "access_denied" {
			t.Fatalf("inactive slug: %+v", r)
		}
		noOpenID := *w.app
		noOpenID.Scopes = []string{"email"}
		if r, _ := w.signIn(t, b, &noOpenID, "connection", w.slug); r.query.Get("error") != "invalid_scope" {
			t.Fatalf("no openid: %+v", r)
		}
		d := e.MustGQL(w.tok, `{ signInEvents { total events { outcome reason test application { clientId } } } }`, nil)
		evs, _ := get(d, "signInEvents", "events").([]any)
		if len(evs) != 2 || str(evs[0], "outcome") != "FAILED" || !strings.Contains(str(evs[0], "reason"), "openid") ||
			str(evs[1], "outcome") != "REFUSED" || !strings.Contains(str(evs[1], "reason"), "not active") ||
			str(evs[1], "application", "clientId") != w.app.ClientID {
			t.Fatalf("events: %v", d)
		}
	})
}

// Finding 9: an event of a refused IdP answer (no cookie) names its connection's slug.
func TestSignInEventConnectionSlug(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		w.answerInAnotherBrowser(t)
		d := e.MustGQL(w.tok, `{ signInEvents { events { outcome connection { id slug } } } }`, nil)
		if str(d, "signInEvents", "events", 0, "outcome") != "FAILED" || str(d, "signInEvents", "events", 0, "connection", "slug") != w.slug ||
			str(d, "signInEvents", "events", 0, "connection", "id") != w.conn {
			t.Fatalf("events: %v", d)
		}
	})
}

// A callback whose flow is finished adds no event when it is opened again, with the flow's
// cookie or without it (anyone holding the URL): the attempt has its event. Opened without the
// cookie while the flow is open, it is refused and recorded, and the flow stays open for the
// browser that started it.
func TestSignInReplayedCallbackAddsNoEvent(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		callback, owner := w.janeAtCallback(t)
		if r := newBrowser(t, w.redirect).get(t, callback); r.status != 400 || r.query.Get("code") != "" {
			t.Fatalf("callback without the cookie: %+v", r)
		}
		if r := owner.get(t, callback); r.query.Get("code") == "" {
			t.Fatalf("the starting browser: %+v", r)
		}
		for i := range 3 {
			for _, b := range []*browser{newBrowser(t, w.redirect), owner} {
				if r := b.get(t, callback); r.status != 400 || r.query.Get("code") != "" {
					t.Fatalf("replay %d: %+v", i, r)
				}
			}
		}
		d := e.MustGQL(w.tok, `{ signInEvents { total events { outcome } } }`, nil)
		if n, _ := get(d, "signInEvents", "total").(float64); n != 2 || str(d, "signInEvents", "events", 0, "outcome") == "FAILED" {
			t.Fatalf("events (one refused callback, one sign-in): %v", d)
		}
	})
}

// Finding 8: a sign-in cookie the browser brings is adopted only in the exact form Gatehouse
// makes (43 base64url characters), and then no cookie is set; anything else (a planted value)
// is ignored, and the start sets a new cookie of its own beside it.
func TestSignInCookieAdoptedOnlyInItsForm(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		// set returns the sign-in cookie the start sets (nil: none), the browser bringing
		// planted under the name name.
		set := func(name, planted string) *http.Cookie {
			t.Helper()
			req, _ := http.NewRequest("GET", w.app.AuthCodeURL("s", oauth2.SetAuthURLParam("login_hint", "jane@example.com")), nil)
			req.AddCookie(&http.Cookie{Name: name, Value: planted})
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("%d %v", resp.StatusCode, resp.Cookies())
			}
			return newSignInCookie(t, resp)
		}
		for _, name := range []string{"gatehouse_signin", "gatehouse_signin_tag"} {
			for _, planted := range []string{strings.Repeat("a", 50), strings.Repeat("a", 42) + "!", strings.Repeat("b", 44)} {
				if got := set(name, planted); got == nil || got.Value == planted || len(got.Value) != 43 || got.Name == name ||
					!strings.HasPrefix(got.Name, "gatehouse_signin_") {
					t.Fatalf("planted %s=%q: cookie %v", name, planted, got)
				}
			}
			own := oauth2.GenerateVerifier() // 43 base64url characters, like Gatehouse's
			if got := set(name, own); got != nil {
				t.Fatalf("a well-formed cookie %s was not adopted: %v", name, got)
			}
		}
		// A cookie of another name is not a sign-in cookie, well-formed or not.
		if got := set("gatehouse_signinx", oauth2.GenerateVerifier()); got == nil {
			t.Fatal("a cookie of another name was adopted")
		}
	})
}

// Finding 11: an identity provider's response bodies are bounded (1 MiB): a userinfo answer
// of 2 MiB fails the sign-in instead of being read into memory.
func TestSignInIdPBodiesLimited(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.set(func(p *testIdP) { p.userinfoOnly = true })
		defer idp.set(func(p *testIdP) { p.userinfoOnly = false })
		idp.as(map[string]any{"sub": "okta-big", "email": "big@example.com", "padding": strings.Repeat("x", 2<<20)})
		r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "big@example.com")
		if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" {
			t.Fatalf("a 2 MiB userinfo: %+v", r.query)
		}
		var causes []string
		if err := e.App.Store().RawScan(context.Background(), &causes, "SELECT cause FROM sign_in_events WHERE outcome = 'failed'"); err != nil ||
			len(causes) != 1 || !strings.Contains(causes[0], "too large") {
			t.Fatalf("causes: %v %v", causes, err)
		}
		idp.as(map[string]any{"sub": "okta-small", "email": "small@example.com"})
		if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "small@example.com"); r.query.Get("code") == "" {
			t.Fatalf("a small userinfo: %+v", r.query)
		}
	})
}

// Finding 12: a PUBLIC application's JavaScript can call discovery, the key set, the token
// endpoint and userinfo across origins (no credentials); the authorize endpoint is a browser
// navigation and gets no CORS.
func TestPublicAppCORS(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		const origin = "https://spa.example.com"
		idp.as(map[string]any{"sub": "okta-spa", "email": "spa@example.com"})
		r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.pub, "login_hint", "spa@example.com")
		do := func(method, path, body string, hdr map[string]string) *http.Response {
			t.Helper()
			req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
			req.Header.Set("Origin", origin)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("%s %s allows credentials", method, path)
			}
			resp.Header.Set("X-Test-Token", fmt.Sprint(out["access_token"]))
			return resp
		}
		for _, p := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
			if resp := do("GET", p, "", nil); resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("%s: %d %v", p, resp.StatusCode, resp.Header)
			}
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {r.query.Get("code")}, "redirect_uri": {w.redirect},
			"client_id": {w.pub.ClientID}, "code_verifier": {verifier}}
		resp := do("POST", "/oauth/token", form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("token: %d %v", resp.StatusCode, resp.Header)
		}
		access := resp.Header.Get("X-Test-Token")
		pre := do("OPTIONS", "/oauth/userinfo", "", map[string]string{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
		if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(strings.ToLower(pre.Header.Get("Access-Control-Allow-Headers")), "authorization") {
			t.Fatalf("userinfo preflight: %d %v", pre.StatusCode, pre.Header)
		}
		if resp := do("GET", "/oauth/userinfo", "", map[string]string{"Authorization": "Bearer " + access}); resp.StatusCode != 200 ||
			resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("userinfo: %d %v", resp.StatusCode, resp.Header)
		}
		// Signing out, the app revokes its token from the page too.
		pre = do("OPTIONS", "/oauth/revoke", "", map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
		if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("revoke preflight: %d %v", pre.StatusCode, pre.Header)
		}
		revoke := url.Values{"token": {access}, "client_id": {w.pub.ClientID}}
		if resp := do("POST", "/oauth/revoke", revoke.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); resp.StatusCode != 200 ||
			resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("revoke: %d %v", resp.StatusCode, resp.Header)
		}
		// The page's script can read why: the bearer challenge is exposed to it.
		if resp := do("GET", "/oauth/userinfo", "", map[string]string{"Authorization": "Bearer " + access}); resp.StatusCode != 401 ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) || resp.Header.Get("Access-Control-Expose-Headers") != "WWW-Authenticate" {
			t.Fatalf("userinfo after the revocation: %d %v", resp.StatusCode, resp.Header)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("GET", w.pub.AuthCodeURL("s"), nil)
		req.Header.Set("Origin", origin)
		if resp, err := c.Do(req); err != nil || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("authorize answers with CORS: %v %v", err, resp.Header)
		}
	})
}

// Test gap: PKCE for a CONFIDENTIAL application is optional but, once a challenge was sent,
// binding: no challenge succeeds; a missing or wrong verifier, or a verifier without a
// challenge, is invalid_grant.
func TestConfidentialPKCE(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-pkce", "email": "pkce@example.com"})
		code := func(challenge bool) (string, string) {
			t.Helper()
			verifier := oauth2.GenerateVerifier()
			opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("login_hint", "pkce@example.com")}
			if challenge {
				opts = append(opts, oauth2.S256ChallengeOption(verifier))
			}
			r := newBrowser(t, w.redirect).get(t, w.app.AuthCodeURL("s", opts...))
			if r.query.Get("code") == "" {
				t.Fatalf("sign-in: %+v", r)
			}
			return r.query.Get("code"), verifier
		}
		exchange := func(c string, opts ...oauth2.AuthCodeOption) error {
			_, err := w.app.Exchange(context.Background(), c, opts...)
			return err
		}
		invalidGrant := func(err error) bool {
			var re *oauth2.RetrieveError
			return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
		}
		if c, _ := code(false); exchange(c) != nil {
			t.Fatal("no challenge, no verifier: refused")
		}
		if c, v := code(true); exchange(c, oauth2.VerifierOption(v)) != nil {
			t.Fatal("challenge and its verifier: refused")
		}
		if c, _ := code(true); !invalidGrant(exchange(c)) {
			t.Fatal("challenge sent, verifier missing: accepted")
		}
		if c, _ := code(true); !invalidGrant(exchange(c, oauth2.VerifierOption(oauth2.GenerateVerifier()))) {
			t.Fatal("challenge sent, wrong verifier: accepted")
		}
		if c, _ := code(false); !invalidGrant(exchange(c, oauth2.VerifierOption(oauth2.GenerateVerifier()))) {
			t.Fatal("verifier without a challenge: accepted")
		}
	})
}

// Test gap: through SAML too, a connection deactivated while the person was at the IdP signs
// nobody in (routing at authorize is covered by the OIDC tests: it is protocol-blind), nor
// does a deactivated person.
func TestSAMLInactiveConnectionAndDeactivatedPerson(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		// The person signs in once (JIT).
		b := w.browser()
		page, verifier := w.toIdP(t, b)
		resp, body := w.post(t, b, e.URL, page)
		claims := w.exchange(t, w.appResult(t, resp, body).Get("code"), verifier)
		uid, _ := claims["sub"].(string)

		// Deactivated while at the IdP: the decision refuses.
		b = w.browser()
		page, _ = w.toIdP(t, b)
		w.setStatus(t, models.StatusInactive)
		resp, body = w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" || q.Get("code") != "" {
			t.Fatalf("connection deactivated during the sign-in: %v", q)
		}
		w.setStatus(t, models.StatusActive)

		// A deactivated person is refused with the engine's reason.
		e.MustGQL(w.tok, `mutation($u: ID!) { deactivateUserAccount(input: {uuid: $u}) { errors { code } } }`, map[string]any{"u": uid})
		b = w.browser()
		page, _ = w.toIdP(t, b)
		resp, body = w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" || q.Get("code") != "" ||
			!strings.Contains(q.Get("error_description"), "deactivated") {
			t.Fatalf("deactivated person: %v", q)
		}
	})
}

// An application's credentials asking for client_credentials, and an integration client's
// presenting an authorization code, are unauthorized_client (RFC 6749 §5.2), saying which
// grant that client uses; wrong credentials stay invalid_client, which says nothing of the
// client. The token endpoint's metadata lists "none", the method of a PUBLIC application.
func TestTokenEndpointNamesTheGrantOfTheClient(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		token := func(id, secret string, form url.Values) (int, string, string) {
			t.Helper()
			status, body := postToken(t, e, id, secret, form)
			code, _ := body["error"].(string)
			desc, _ := body["error_description"].(string)
			return status, code, desc
		}
		cc := url.Values{"grant_type": {"client_credentials"}}
		code := url.Values{"grant_type": {"authorization_code"}, "code": {"not-a-code"}, "redirect_uri": {w.redirect}}
		for _, c := range []struct {
			name, id, secret string
			form             url.Values
			status           int
			code, says       string
		}{
			{"an application asking for client_credentials", w.app.ClientID, w.app.ClientSecret, cc, 400, "unauthorized_client", "authorization_code grant"},
			{"a public application asking for client_credentials", w.pub.ClientID, "", url.Values{"grant_type": {"client_credentials"}, "client_id": {w.pub.ClientID}}, 400, "unauthorized_client", "authorization_code grant"},
			{"an application with a wrong secret", w.app.ClientID, "wrong", cc, 401, "invalid_client", "client authentication failed"},
			{"an integration client presenting a code", apptest.AdminID, apptest.AdminSecret, code, 400, "unauthorized_client", "client_credentials grant"},
			{"an integration client with a wrong secret", apptest.AdminID, "wrong", code, 401, "invalid_client", "client authentication failed"},
			{"an application presenting an unknown code", w.app.ClientID, w.app.ClientSecret, code, 400, "invalid_grant", ""},
		} {
			id := c.id
			if c.form.Has("client_id") {
				id = "" // form authentication
			}
			status, code, desc := token(id, c.secret, c.form)
			if status != c.status || code != c.code || !strings.Contains(desc, c.says) {
				t.Errorf("%s: %d %s %q, want %d %s saying %q", c.name, status, code, desc, c.status, c.code, c.says)
			}
		}
		// The client-credentials grant itself is unchanged.
		if status, code, _ := token(apptest.AdminID, apptest.AdminSecret, cc); status != 200 || code != "" {
			t.Fatalf("client credentials: %d %s", status, code)
		}
		resp, err := http.Get(e.URL + "/.well-known/oauth-authorization-server")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct {
			Methods []string `json:"token_endpoint_auth_methods_supported"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || fmt.Sprint(m.Methods) != "[client_secret_basic client_secret_post none]" {
			t.Fatalf("token endpoint auth methods: %v %v", m.Methods, err)
		}
	})
}

// A redemption refused for a wrong code_verifier spends the code but issues nothing: the code
// presented again, with the right verifier, is invalid_grant as a void code, and neither the
// log nor the answer speaks of a replay, which is kept for a code whose tokens were issued.
func TestRefusedRedemptionIsNoReplay(t *testing.T) {
	idp := newTestIdP(t)
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ae, logs := apptest.NewLogged(t, dbURL)
		e := &testEnv{ae}
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-0042", "email": "jane@example.com"})
		// One request per exchange: the client's auto-detection of the authentication style
		// would send a refused request again, with the secret in the form.
		app := *w.app
		app.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		exchange := func(code, verifier string) (string, string) {
			t.Helper()
			_, err := app.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				return "", fmt.Sprint(err)
			}
			return re.ErrorCode, re.ErrorDescription
		}
		r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "jane@example.com")
		code := r.query.Get("code")
		if code == "" {
			t.Fatalf("sign-in: %+v", r)
		}
		if c, d := exchange(code, oauth2.GenerateVerifier()); c != "invalid_grant" || !strings.Contains(d, "code_verifier does not match") {
			t.Fatalf("a wrong verifier: %s %q", c, d)
		}
		if c, d := exchange(code, verifier); c != "invalid_grant" || !strings.Contains(d, "void") || strings.Contains(d, "already used") {
			t.Fatalf("the code again, with its verifier: %s %q", c, d)
		}
		if strings.Contains(logs.String(), "replayed") || !strings.Contains(logs.String(), "code redemption refused") ||
			!strings.Contains(logs.String(), "code_verifier does not match") || strings.Contains(logs.String(), code) {
			t.Fatalf("a refused redemption: a warning without the code, and no replay, expected:\n%s", logs.String())
		}
		// A missing or malformed verifier is told as such (a client with a short verifier of
		// its own making learns why), and spends the code all the same.
		for sent, want := range map[string]string{"": "code_verifier is missing", strings.Repeat("v", 32): "must be 43 to 128 characters",
			strings.Repeat("v", 42) + "+": "must be 43 to 128 characters", strings.Repeat("v", 42): "must be 43 to 128 characters",
			strings.Repeat("v", 129): "must be 43 to 128 characters", strings.Repeat("v", 43): "does not match", strings.Repeat("v", 128): "does not match"} {
			r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "jane@example.com")
			if c, d := exchange(r.query.Get("code"), sent); c != "invalid_grant" || !strings.Contains(d, want) {
				t.Fatalf("verifier %q: %s %q, want %q", sent, c, d, want)
			}
			if c, d := exchange(r.query.Get("code"), verifier); c != "invalid_grant" || !strings.Contains(d, "void") {
				t.Fatalf("the code again after verifier %q: %s %q", sent, c, d)
			}
		}
		// A real replay still reads as one.
		r, verifier = w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "jane@example.com")
		if c, d := exchange(r.query.Get("code"), verifier); c != "" || d != "<nil>" {
			t.Fatalf("a good redemption: %s %q", c, d)
		}
		if c, d := exchange(r.query.Get("code"), verifier); c != "invalid_grant" || !strings.Contains(d, "already used") ||
			!strings.Contains(logs.String(), "authorization code replayed") {
			t.Fatalf("a replay: %s %q", c, d)
		}
	})
}

// A login_hint whose domain is written as a fully qualified name (a trailing dot) routes as
// the same domain_hint does, to the connection that verified the domain.
func TestLoginHintWithATrailingDotRoutes(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		for _, hint := range []string{"login_hint", "domain_hint"} {
			value := map[string]string{"login_hint": "jane@example.com.", "domain_hint": "example.com."}[hint]
			if r, _ := w.signIn(t, newBrowser(t, idp.srv.URL), w.app, hint, value); !strings.HasPrefix(r.location, idp.srv.URL) {
				t.Fatalf("%s=%s did not lead to the IdP: %d %s %.200s", hint, value, r.status, r.location, r.body)
			}
		}
	})
}

// A native app (a PUBLIC application) listens on whatever loopback port it is given at each
// sign-in: its redirect URI on 127.0.0.1 matches the registered one with any port (RFC 8252
// §7.3), the code goes to the port asked for, and its redemption names that same URI. A
// confidential application gets no such exception.
func TestNativeAppLoopbackRedirectAnyPort(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp) // both applications registered http://127.0.0.1:9/callback
		const asked = "http://127.0.0.1:53211/callback"
		native := *w.pub
		native.RedirectURL = asked
		idp.as(map[string]any{"sub": "okta-native", "email": "native@example.com", "given_name": "Nat", "family_name": "Ive"})
		r, verifier := w.signIn(t, newBrowser(t, asked), &native, "login_hint", "native@example.com")
		if !strings.HasPrefix(r.location, asked+"?") || r.query.Get("code") == "" {
			t.Fatalf("the native app's sign-in: %d %s %.200s", r.status, r.location, r.body)
		}
		// The token request must name the URI the authorization request did.
		registered := *w.pub
		if _, err := registered.Exchange(context.Background(), r.query.Get("code"), oauth2.VerifierOption(verifier)); err == nil ||
			!strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("redeemed with the registered port instead of the one asked for: %v", err)
		}
		r, verifier = w.signIn(t, newBrowser(t, asked), &native, "login_hint", "native@example.com")
		if claims, _ := w.claimsOf(t, &native, r.query.Get("code"), verifier); claims["email"] != "native@example.com" {
			t.Fatalf("claims: %v", claims)
		}
		// Another path, or a confidential application on another port: the error page, no redirect.
		for _, app := range []oauth2.Config{{ClientID: w.pub.ClientID, Endpoint: w.pub.Endpoint, RedirectURL: "http://127.0.0.1:53211/other"},
			{ClientID: w.app.ClientID, Endpoint: w.app.Endpoint, RedirectURL: asked}} {
			if r, _ := w.signIn(t, newBrowser(t, asked), &app, "login_hint", "native@example.com"); r.status != http.StatusBadRequest || r.location != "" {
				t.Fatalf("%s with %s: %d %s", app.ClientID, app.RedirectURL, r.status, r.location)
			}
		}
	})
}

// A login_hint or domain_hint whose domain is an internationalised name written in Unicode
// routes to the connection that verified it, which is stored in its ASCII form
// (xn--bcher-kva.example for bücher.example); a look-alike spelling (fullwidth letters of
// example.com) routes nowhere.
func TestHintsWithAnInternationalDomainRoute(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		w.addConnection(t, "Bücher", "buecher", idp, "xn--bcher-kva.example")
		for _, c := range []struct{ hint, value string }{
			{"login_hint", "jane@bücher.example"}, {"login_hint", "jane@BÜCHER.example"},
			{"domain_hint", "bücher.example"}, {"domain_hint", "xn--bcher-kva.example"},
		} {
			if r, _ := w.signIn(t, newBrowser(t, idp.srv.URL), w.app, c.hint, c.value); !strings.HasPrefix(r.location, idp.srv.URL) {
				t.Fatalf("%s=%s did not lead to the IdP: %d %s %.200s", c.hint, c.value, r.status, r.location, r.body)
			}
		}
		if r, _ := w.signIn(t, newBrowser(t, idp.srv.URL), w.app, "domain_hint", "ｅｘａｍｐｌｅ.com"); strings.HasPrefix(r.location, idp.srv.URL) ||
			!strings.Contains(r.body, "Single sign-on is not set up for") {
			t.Fatalf("a fullwidth domain_hint: %d %s %.200s", r.status, r.location, r.body)
		}
	})
}
