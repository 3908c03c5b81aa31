package sso_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/guard"
	"gatehouse/store/storetest"
)

// The servers of the slow-IdP tests have one admission slot, so slowIdPBound requests may wait
// on one connection's IdP (app: sixteen times the slots).
const slowIdPSlots, slowIdPBound = 1, 16

func newOneSlotEnv(t *testing.T, dbURL string) *testEnv {
	return newTestEnv(t, dbURL, func(c *app.Config) {
		c.Guard = guard.Config{RequestTimeout: 10 * time.Second, MaxConcurrent: slowIdPSlots, PriorityConcurrent: 2,
			QueueTimeout: 200 * time.Millisecond}
	})
}

// waitedOrRefused runs each of requests in turn, each on its own goroutine, and counts those
// that reached the hung IdP (entered) before the next starts, and those answered at once
// (refused); the waiting ones answer on done once the IdP is released.
func waitedOrRefused(t *testing.T, requests []func() result, entered <-chan struct{}) (waiting int, refused []result, done <-chan result) {
	t.Helper()
	answers := make(chan result, len(requests))
	for _, request := range requests {
		go func() { answers <- request() }()
		select {
		case <-entered:
			waiting++
		case r := <-answers:
			refused = append(refused, r)
		case <-time.After(5 * time.Second):
			t.Fatal("a request neither reached the IdP nor answered")
		}
	}
	return waiting, refused, answers
}

// An identity provider whose token endpoint does not answer. Found by an overload probe: each
// callback waiting on it held one of the server's admission slots, and with one OIDC IdP
// answering in 8 s, 64 browsers left the server at 3.8 sign-ins/s instead of 120, the other
// connection's SAML sign-ins and 86 % of the admin API's requests answered 503. Now a callback
// waits on the IdP outside its slot (guard.Outside), so the API keeps answering with every
// slot's worth of callbacks waiting, and at most sixteen times the slots wait on one connection's
// IdP: further sign-ins of it fail at once, to the application with access_denied and the
// reason. When the IdP answers, the waiting callbacks take a slot again and finish.
func TestSignInSlowIdPLeavesTheServerAnswering(t *testing.T) {
	idp := newTestIdP(t)
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newOneSlotEnv(t, dbURL)
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "okta-slow", "email": "slow@example.com", "given_name": "S", "family_name": "Low"})
		entered, release := make(chan struct{}, 2*slowIdPBound), make(chan struct{})
		var hang func()
		hang = func() {
			idp.set(func(p *testIdP) { p.tokenHook = hang }) // every token request, not only the next
			entered <- struct{}{}
			<-release
		}
		var finishes []func() result
		for range slowIdPBound + 1 {
			finishes = append(finishes, w.toCallback(t, w.app, "login_hint", "slow@example.com"))
		}
		idp.set(func(p *testIdP) { p.tokenHook = hang })
		defer idp.set(func(p *testIdP) { p.tokenHook = nil })
		waiting, refused, done := waitedOrRefused(t, finishes, entered)
		// Sixteen times the slots wait on the IdP, and the API answers: they hold no slot.
		listed := adminAPIStatus(t, e.URL, w.tok)
		close(release)
		if listed != http.StatusOK {
			t.Errorf("the admin API while %d callbacks wait on one IdP: %d, want 200", waiting, listed)
		}
		if waiting != slowIdPBound || len(refused) != 1 {
			t.Fatalf("%d callbacks waited on the IdP, %d were refused; want %d and 1", waiting, len(refused), slowIdPBound)
		}
		if r := refused[0]; r.query.Get("error") != "access_denied" || !strings.Contains(r.query.Get("error_description"), "not answering") {
			t.Errorf("the refused callback: %d %q", r.status, r.location)
		}
		for range waiting {
			if r := <-done; r.query.Get("code") == "" {
				t.Errorf("a callback that waited on the IdP: %d %q", r.status, r.location)
			}
		}
		if n := countRows(t, e, "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed' AND cause LIKE '%wait on its identity provider%'"); n != 1 {
			t.Errorf("%d events name the cause, want 1", n)
		}
		// The IdP answers again: sign-ins go through.
		if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "slow@example.com"); r.query.Get("code") == "" {
			t.Fatalf("a sign-in once the IdP answers: %+v", r)
		}
	})
}

// The IdP's discovery document hangs while the first sign-ins start (no provider cached yet):
// the starts wait on it outside their slots, sixteen times the slots of them at most; the next
// start fails at once, to the application with "not answering in time" (not "cannot be
// reached": the IdP may be fine, and busy). When discovery answers, the waiting starts go on
// to the IdP.
func TestSignInSlowDiscovery(t *testing.T) {
	idp := newTestIdP(t)
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newOneSlotEnv(t, dbURL)
		w := newSignInWorld(t, e, idp)
		entered, release := make(chan struct{}, 2*slowIdPBound), make(chan struct{})
		idp.set(func(p *testIdP) { p.discoveryHook = func() { entered <- struct{}{}; <-release } })
		defer idp.set(func(p *testIdP) { p.discoveryHook = nil })
		var starts []func() result
		for range slowIdPBound + 1 {
			starts = append(starts, func() result {
				r, _ := w.signIn(t, newBrowser(t, "http"), w.app, "connection", w.slug) // stops at the first redirect
				return r
			})
		}
		waiting, refused, done := waitedOrRefused(t, starts, entered)
		close(release)
		if waiting != slowIdPBound || len(refused) != 1 {
			t.Fatalf("%d starts waited on discovery, %d were refused; want %d and 1", waiting, len(refused), slowIdPBound)
		}
		if u, err := url.Parse(refused[0].location); err != nil || !strings.HasPrefix(refused[0].location, w.redirect) ||
			u.Query().Get("error") != "access_denied" || !strings.Contains(u.Query().Get("error_description"), "not answering in time") {
			t.Fatalf("the refused start: %d %q", refused[0].status, refused[0].location)
		}
		for range waiting {
			if r := <-done; !strings.HasPrefix(r.location, idp.srv.URL) {
				t.Errorf("a start that waited on discovery: %d %q", r.status, r.location)
			}
		}
	})
}

// hangDiscovery makes the IdP's discovery document hang until release is called (at the end
// of the test at the latest); entered says a request reached it.
func hangDiscovery(t *testing.T, idp *testIdP) (entered <-chan struct{}, release func()) {
	in, out := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(out) }) }
	idp.set(func(p *testIdP) {
		p.discoveryHook = func() {
			select {
			case in <- struct{}{}:
			default:
			}
			<-out
		}
	})
	t.Cleanup(func() { release(); idp.set(func(p *testIdP) { p.discoveryHook = nil }) })
	return in, release
}

// adminAPIStatus is the status of an admin API request (listing connections) to base.
func adminAPIStatus(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/sso/connections", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A connection test whose IdP does not answer waits on it outside its admission slot, as a
// sign-in does: the IdP's URLs are a workspace admin's to choose, and one that hung held a
// slot for the whole network timeout (a few such tests took a small server's every slot).
// With the only slot's test hung on discovery, the admin API answers; the test finishes
// when the IdP answers.
func TestConnectionTestWaitsOutsideItsSlot(t *testing.T) {
	idp := newTestIdP(t)
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newOneSlotEnv(t, dbURL)
		w := newSignInWorld(t, e, idp)
		entered, release := hangDiscovery(t, idp)
		tested := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/api/v1/sso/connections/"+w.conn+"/test", nil)
			req.Header.Set("Authorization", "Bearer "+w.tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				tested <- 0
				return
			}
			resp.Body.Close()
			tested <- resp.StatusCode
		}()
		select {
		case <-entered:
		case status := <-tested:
			t.Fatalf("the connection test answered %d before reaching the IdP", status)
		}
		listed := adminAPIStatus(t, e.URL, w.tok)
		release()
		if listed != http.StatusOK {
			t.Errorf("the admin API while the only slot's connection test waits on the IdP: %d, want 200", listed)
		}
		if status := <-tested; status != http.StatusOK {
			t.Errorf("the connection test once the IdP answered: %d", status)
		}
	})
}

// A callback on a replica that has not read the IdP's discovery document yet (the sign-in
// started on another) reads it outside its admission slot too: with the replica's only slot's
// callback waiting on a hung discovery, the replica's admin API answers; when discovery
// answers, the callback finishes with a code.
func TestSignInCallbackSlowDiscoveryOnAnotherReplica(t *testing.T) {
	idp := newTestIdP(t)
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newOneSlotEnv(t, dbURL)
		w := newSignInWorld(t, e, idp)
		replica := e.Replica()
		idp.as(map[string]any{"sub": "okta-slow", "email": "slow@example.com", "given_name": "S", "family_name": "Low"})
		stop := newBrowser(t, e.URL+"/sso/oidc/callback")
		started, _ := w.signIn(t, stop, w.app, "login_hint", "slow@example.com") // discovery read here, on e
		if !strings.HasPrefix(started.location, e.URL+"/sso/oidc/callback?") {
			t.Fatalf("expected the IdP's redirect to the callback: %+v", started)
		}
		entered, release := hangDiscovery(t, idp)
		finished := make(chan result, 1)
		go func() {
			fin := newBrowser(t, w.redirect)
			fin.c.Jar = stop.c.Jar // the cookie is the host's, whatever the port
			finished <- fin.get(t, replica+strings.TrimPrefix(started.location, e.URL))
		}()
		select {
		case <-entered:
		case r := <-finished:
			t.Fatalf("the callback on the replica answered before reading discovery: %+v", r)
		}
		listed := adminAPIStatus(t, replica, w.tok)
		release()
		if listed != http.StatusOK {
			t.Errorf("the replica's admin API while its only slot's callback waits on discovery: %d, want 200", listed)
		}
		if r := <-finished; r.query.Get("code") == "" {
			t.Errorf("the callback once discovery answered: %+v", r)
		}
	})
}

// The admins' calls waiting outside the slots are bounded per workspace (as many as the
// server has slots): outside them nothing else bounded them, and one workspace's admin could
// have the server hold any number of requests to endpoints of their choosing at once (found by
// a review: 40 connection tests of a one-slot server all waited on a hung IdP together; before
// the slots were given back, one did). Past the bound a test is unavailable at once, reaching
// no IdP and writing nothing; another workspace's test still goes out, and the API answers.
func TestConnectionTestsOutsideTheSlotsAreBoundedPerWorkspace(t *testing.T) {
	idp := newTestIdP(t)
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newOneSlotEnv(t, dbURL)
		w := newSignInWorld(t, e, idp)
		other := e.OtherWorkspaceAdmin(w.tok, "Other")
		d := e.MustGQL(other, `mutation($i: String!) { createConnection(input: {name: "Other IdP", protocol: OIDC,
			oidcConfig: {issuerUrl: $i, clientId: "c", clientSecret: "s"}}) { connection { id } errors { message } } }`,
			map[string]any{"i": idp.srv.URL})
		otherConn := str(d, "createConnection", "connection", "id")
		if otherConn == "" {
			t.Fatalf("createConnection in the other workspace: %v", d)
		}
		entered, release := make(chan struct{}, 8), make(chan struct{})
		var once sync.Once
		idp.set(func(p *testIdP) { p.discoveryHook = func() { entered <- struct{}{}; <-release } })
		t.Cleanup(func() { once.Do(func() { close(release) }); idp.set(func(p *testIdP) { p.discoveryHook = nil }) })
		test := func(tok, conn string) <-chan int {
			answered := make(chan int, 1)
			go func() {
				d := e.GQL(tok, `mutation($id: ID!) { testConnection(input: {id: $id}) { success } }`, map[string]any{"id": conn})
				answered <- d.Status
			}()
			return answered
		}
		waiting := test(w.tok, w.conn)
		select {
		case <-entered:
		case status := <-waiting:
			t.Fatalf("the first connection test answered %d before reaching the IdP", status)
		}
		audits := countRows(t, e, "SELECT count(*) FROM audit_events")
		refused := e.GQL(w.tok, `mutation($id: ID!) { testConnection(input: {id: $id}) { success } }`, map[string]any{"id": w.conn})
		if refused.Status != http.StatusServiceUnavailable || len(refused.Errors) != 1 || refused.Errors[0].Extensions["code"] != "UNAVAILABLE" {
			t.Errorf("a second connection test of the workspace while its first waits: %d %s, want 503 UNAVAILABLE", refused.Status, refused.Raw)
		}
		if n := countRows(t, e, "SELECT count(*) FROM audit_events"); n != audits {
			t.Errorf("the refused connection test wrote %d audit events", n-audits)
		}
		otherWaiting := test(other, otherConn)
		select {
		case <-entered:
		case status := <-otherWaiting:
			t.Errorf("another workspace's connection test answered %d before reaching the IdP", status)
		}
		listed := adminAPIStatus(t, e.URL, w.tok)
		once.Do(func() { close(release) })
		if listed != http.StatusOK {
			t.Errorf("the admin API while connection tests wait on the IdP: %d, want 200", listed)
		}
		if status := <-waiting; status != http.StatusOK {
			t.Errorf("the first connection test once the IdP answered: %d", status)
		}
		if status := <-otherWaiting; status != http.StatusOK {
			t.Errorf("the other workspace's connection test once the IdP answered: %d", status)
		}
	})
}

// holdSlot sends a GraphQL POST whose body stalls: once admitted it holds the only admission
// slot until the returned func ends the body.
func holdSlot(t *testing.T, e *testEnv, tok string) (end func()) {
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql/v1", pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write([]byte(`{"query":"{ __typename `))
	return func() { pw.Write([]byte(`}"}`)); pw.Close(); <-done }
}

// A connection test whose IdP answered after the server's only slot was taken by another
// request waits for the slot up to its deadline; not getting it, it answers as a busy server
// does, REST 503 unavailable and GraphQL 503 UNAVAILABLE with Retry-After, and writes nothing
// (the connection's status and the audit log stay as they were).
func TestConnectionTestWithNoSlotBackIsUnavailable(t *testing.T) {
	idp := newTestIdP(t)
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL, func(c *app.Config) {
			c.Guard = guard.Config{RequestTimeout: 3 * time.Second, MaxConcurrent: 1, PriorityConcurrent: 2,
				QueueTimeout: 200 * time.Millisecond}
		})
		w := newSignInWorld(t, e, idp)
		for _, via := range []string{"rest", "graphql"} {
			audits := countRows(t, e, "SELECT count(*) FROM audit_events")
			entered, release := hangDiscovery(t, idp)
			type ans struct {
				status int
				hdr    http.Header
				body   string
			}
			tested := make(chan ans, 1)
			go func() {
				var req *http.Request
				if via == "rest" {
					req, _ = http.NewRequest(http.MethodPost, e.URL+"/api/v1/sso/connections/"+w.conn+"/test", nil)
				} else {
					req, _ = http.NewRequest(http.MethodPost, e.URL+"/graphql/v1", strings.NewReader(`{"query":"mutation { testConnection(input: {id: \"`+w.conn+`\"}) { success errors { message } } }"}`))
					req.Header.Set("Content-Type", "application/json")
				}
				req.Header.Set("Authorization", "Bearer "+w.tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					tested <- ans{}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				tested <- ans{resp.StatusCode, resp.Header, string(b)}
			}()
			<-entered
			end := holdSlot(t, e, w.tok)
			held := false // the holder admitted: the API is refused after the queue timeout
			for i := 0; !held && i < 50; i++ {
				if held = adminAPIStatus(t, e.URL, w.tok) == http.StatusServiceUnavailable; !held {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if !held {
				t.Fatal("the stalled request did not take the only slot")
			}
			start := time.Now()
			release()
			a := <-tested
			end()
			if a.status != http.StatusServiceUnavailable || a.hdr.Get("Retry-After") == "" ||
				!strings.Contains(a.body, map[string]string{"rest": `"type":"unavailable"`, "graphql": `"code":"UNAVAILABLE"`}[via]) {
				t.Errorf("%s: the connection test with no slot free again: %d %q %s, want 503 unavailable with Retry-After", via, a.status, a.hdr.Get("Retry-After"), a.body)
			}
			if waited := time.Since(start); waited < time.Second {
				t.Errorf("%s: answered %s after the IdP, want after waiting for the slot", via, waited)
			}
			if n := countRows(t, e, "SELECT count(*) FROM audit_events"); n != audits {
				t.Errorf("%s: the unavailable connection test wrote %d audit events", via, n-audits)
			}
			var st string
			if err := e.App.Store().RawScan(t.Context(), &st, "SELECT status FROM connections WHERE id = ?", w.conn); err != nil {
				t.Fatal(err)
			}
			if st != "active" {
				t.Errorf("%s: the connection's status after the unavailable test: %s, want active", via, st)
			}
		}
	})
}
