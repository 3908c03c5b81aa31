package graphiql_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatehouse/app/apptest"
	"gatehouse/graphiql"
	"gatehouse/store/storetest"
)

// browserTokenLifetime is the lifetime the test's front door announces for access tokens, so
// that the page's renewal (after 80% of it) happens within the test.
const browserTokenLifetime = 4

// reloadTokenLifetime is the lifetime it announces for the token a reloaded page must keep: a
// reloaded page drops a session with under a second left, and under load (a CI run beside
// other work) sign-in and reload took over the 3 s browserTokenLifetime left, so the page
// showed the sign-in form and the test waited for its sign-out button until its deadline.
const reloadTokenLifetime = 20

// graphiqlFront stands between Chromium and the server: it passes every request through, and
// records what the test checks (token requests, the bearer tokens GraphQL requests carry),
// announcing a short expires_in for tokens so the page renews them during the test.
type graphiqlFront struct {
	mu            sync.Mutex
	tokensIssued  int
	lifetime      int      // expires_in announced, in seconds (browserTokenLifetime, then reloadTokenLifetime)
	graphqlBearer []string // the Authorization header of each POST /graphql/v1, in order
}

func (f *graphiqlFront) handler(t *testing.T, backend string) http.Handler {
	u, _ := url.Parse(backend)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path != "/oauth/token" || resp.StatusCode != http.StatusOK {
			return nil
		}
		var body map[string]any
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(raw, &body); err != nil {
			return err
		}
		f.mu.Lock()
		body["expires_in"] = f.lifetime
		f.mu.Unlock()
		raw, _ = json.Marshal(body)
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		resp.ContentLength = int64(len(raw))
		resp.Header.Set("Content-Length", strconv.Itoa(len(raw)))
		f.mu.Lock()
		f.tokensIssued++
		f.mu.Unlock()
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/graphql/v1" {
			f.mu.Lock()
			f.graphqlBearer = append(f.graphqlBearer, r.Header.Get("Authorization"))
			f.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	})
}

func (f *graphiqlFront) counts() (tokens int, bearers []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokensIssued, append([]string(nil), f.graphqlBearer...)
}

// TestGraphiQLSignInInBrowser drives the real GraphiQL page in headless Chromium: no request
// and no error before sign-in, the example operations in the default tab, sign-in with a
// client id and secret, a query, renewal of the token before it expires, and where the
// session is kept. Screenshots go to the test's artifact directory (go test -artifacts).
func TestGraphiQLSignInInBrowser(t *testing.T) {
	// The whole walk takes under 20 s on a quiet machine; a CI run beside other work (2 cores,
	// Chromium and the server sharing them) took 92 s and met the old 90 s budget mid-step.
	// Each wait inside has its own bound; this one only stops a hung browser.
	b := apptest.NewBrowserTab(t, 1400, 900, 4*time.Minute)
	e := apptest.New(t, storetest.URL(t, "sqlite"))
	front := &graphiqlFront{lifetime: browserTokenLifetime}
	srv := httptest.NewServer(front.handler(t, e.URL))
	t.Cleanup(srv.Close)

	ctx, screenshot, js := b.Ctx, b.Screenshot, b.JS
	b.Detail = func() string {
		_, bearers := front.counts()
		return fmt.Sprintf("status: %q; %d GraphQL requests; response pane: %q",
			js(`document.getElementById('gatehouse-status').textContent`), len(bearers),
			js(`(document.querySelector('.graphiql-response') || document.body).innerText`))
	}
	waitFor := b.WaitFor
	const queryEditor = `document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror`
	// run replaces the editor's content with one operation and runs it. With several
	// operations in the editor the run button opens a menu; GraphiQL notices the new content
	// (and the operation name it sends) after a short debounce.
	run := func(op string) {
		t.Helper()
		js(queryEditor + `.setValue(` + strconv.Quote(op) + `), ''`)
		time.Sleep(500 * time.Millisecond) // GraphiQL's debounce of the operation name
		waitFor("a plain run button", `!document.querySelector('.graphiql-execute-button').hasAttribute('aria-haspopup')`, 5*time.Second)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".graphiql-execute-button"))); err != nil {
			t.Fatal(err)
		}
	}
	const responseText = `(document.querySelector('.graphiql-response .CodeMirror') || {CodeMirror: {getValue: () => ''}}).CodeMirror.getValue()`

	// Before sign-in: the sign-in bar, the examples, and no request to the API at all.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/graphql/v1"),
		chromedp.WaitVisible(chromedp.CSS("#gatehouse-client-id"))); err != nil {
		t.Fatalf("open GraphiQL: %v", err)
	}
	waitFor("the query editor", `!!document.querySelector('.graphiql-query-editor .CodeMirror')`, 20*time.Second)
	time.Sleep(500 * time.Millisecond) // time for an introspection request, were one sent
	editor := js(queryEditor + `.getValue()`)
	for _, want := range []string{"mutation UpdateUserAccountCredentials", "createIdentityProviderConfiguration(input:", "query Viewer"} {
		if !strings.Contains(editor, want) {
			t.Fatalf("default tab lacks %q:\n%s", want, editor)
		}
	}
	page := js(`document.body.innerText`)
	if strings.Contains(page, "UNAUTHENTICATED") || strings.Contains(page, "Error fetching schema") {
		t.Fatalf("error shown before sign-in:\n%s", page)
	}
	if _, bearers := front.counts(); len(bearers) != 0 {
		t.Fatalf("GraphQL requests before sign-in: %d", len(bearers))
	}
	screenshot("1-signed-out.png")
	// Running an operation signed out says what to do, without a request.
	run("query Viewer { viewer { clientId } }")
	waitFor("the signed-out answer", responseText+`.includes('Sign in first')`, 10*time.Second)
	if _, bearers := front.counts(); len(bearers) != 0 {
		t.Fatalf("GraphQL requests while signed out: %d", len(bearers))
	}

	// A wrong secret: the OAuth error, in the bar.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#gatehouse-client-id"), apptest.AdminID),
		chromedp.SendKeys(chromedp.CSS("#gatehouse-client-secret"), "wrong"),
		chromedp.Click(chromedp.CSS("#gatehouse-signin-button"))); err != nil {
		t.Fatal(err)
	}
	waitFor("the sign-in error", `document.getElementById('gatehouse-status').textContent.includes('client authentication failed')`, 10*time.Second)

	// Sign in.
	js(`document.getElementById('gatehouse-client-secret').value = ''`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#gatehouse-client-secret"), apptest.AdminSecret),
		chromedp.Click(chromedp.CSS("#gatehouse-signin-button")),
		chromedp.WaitVisible(chromedp.CSS("#gatehouse-signout"))); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if who := js(`document.getElementById('gatehouse-whoami').textContent`); !strings.Contains(who, apptest.AdminID) {
		t.Fatalf("signed-in bar: %q", who)
	}
	// The token is in sessionStorage, the secret nowhere, localStorage holds neither.
	stored := js(`JSON.stringify({session: {...sessionStorage}, local: {...localStorage}})`)
	var st struct{ Session, Local map[string]string }
	if err := json.Unmarshal([]byte(stored), &st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Session["gatehouse.graphiql.session"], `"token":"ey`) {
		t.Fatalf("sessionStorage: %v", st.Session)
	}
	if strings.Contains(stored, apptest.AdminSecret) || len(st.Local) != 0 {
		t.Fatalf("secret stored, or localStorage used: %s", stored)
	}
	first := "Bearer " + js(`JSON.parse(sessionStorage.getItem('gatehouse.graphiql.session')).token`)

	// Run a query.
	run("query Viewer { viewer { clientId platformAdmin } }")
	waitFor("the query result", responseText+`.includes('"clientId": "`+apptest.AdminID+`"')`, 15*time.Second)
	if resp := js(responseText); strings.Contains(resp, "errors") {
		t.Fatalf("query result: %s", resp)
	}
	screenshot("2-signed-in-query.png")

	// The token is renewed before it expires, and the next request carries the new one.
	waitFor("a renewed token", `JSON.parse(sessionStorage.getItem('gatehouse.graphiql.session')).token !== `+strconv.Quote(strings.TrimPrefix(first, "Bearer ")), 10*time.Second)
	renewed := "Bearer " + js(`JSON.parse(sessionStorage.getItem('gatehouse.graphiql.session')).token`)
	run("query Scopes { viewer { scopes } }")
	waitFor("the second result", responseText+`.includes('"scopes"')`, 15*time.Second)
	tokens, bearers := front.counts()
	if tokens < 2 || len(bearers) < 2 || bearers[0] != first || bearers[len(bearers)-1] != renewed || renewed == first {
		t.Fatalf("tokens issued %d; bearers of GraphQL requests: %d, first %v, last is the renewed one: %v",
			tokens, len(bearers), bearers[0] == first, bearers[len(bearers)-1] == renewed)
	}
	for i, b := range bearers {
		if b == "" {
			t.Fatalf("GraphQL request %d without a token", i)
		}
	}

	// Signing out forgets the session.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#gatehouse-signout")),
		chromedp.WaitVisible(chromedp.CSS("#gatehouse-client-id"))); err != nil {
		t.Fatal(err)
	}
	if s := js(`String(sessionStorage.getItem('gatehouse.graphiql.session'))`); s != "null" {
		t.Fatalf("session kept after sign-out: %s", s)
	}

	// A reload keeps the session (sessionStorage) but not the secret: the page cannot renew,
	// and asks to sign in again when the token expires.
	js(`document.getElementById('gatehouse-client-secret').value = ''`)
	front.mu.Lock()
	front.lifetime = reloadTokenLifetime
	front.mu.Unlock()
	reloadCtx, cancelReload := context.WithTimeout(ctx, reloadTokenLifetime*time.Second)
	defer cancelReload()
	if err := chromedp.Do(reloadCtx, chromedp.SendKeys(chromedp.CSS("#gatehouse-client-secret"), apptest.AdminSecret),
		chromedp.Click(chromedp.CSS("#gatehouse-signin-button")),
		chromedp.WaitVisible(chromedp.CSS("#gatehouse-signout")),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("#gatehouse-signout"))); err != nil {
		t.Fatalf("sign in and reload: %v", err)
	}
	if who := js(`document.getElementById('gatehouse-whoami').textContent`); !strings.Contains(who, apptest.AdminID) || strings.Contains(who, "renews") {
		t.Fatalf("after reload: %q", who)
	}
	waitFor("the expiry notice", `document.getElementById('gatehouse-status').textContent.includes('Sign in again')`, 2*reloadTokenLifetime*time.Second)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#gatehouse-client-id"))); err != nil {
		t.Fatal(err)
	}
}

// TestGraphiQLExamplesRun runs every example operation of GraphiQL's default tab against the
// real server, so that the examples cannot drift from the schema: each must validate, and the
// mutations, whose ids are placeholders, must answer with payload errors only.
func TestGraphiQLExamplesRun(t *testing.T) {
	e := apptest.New(t, storetest.URL(t, "sqlite"))
	admin := e.AdminToken()
	ops := regexp.MustCompile(`(?m)^(query|mutation) (\w+)`).FindAllStringSubmatch(graphiql.Examples, -1)
	if len(ops) < 4 {
		t.Fatalf("examples: %d operations", len(ops))
	}
	for _, op := range ops {
		body, _ := json.Marshal(map[string]any{"query": graphiql.Examples, "operationName": op[2]})
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out apptest.GQLResponse
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(out.Errors) > 0 || out.Data == nil {
			t.Errorf("%s %s: status %d, errors %v", op[1], op[2], resp.StatusCode, out.Errors)
		}
	}
}
