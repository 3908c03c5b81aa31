package apidocs_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"gatehouse/apidocs"
	"gatehouse/app/apptest"
	"gatehouse/rest"
	"gatehouse/store/storetest"
)

var attrRefRE = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

// TestOpenAPIDocumentServed: the document and its viewer are public; the viewer's page refers
// only to files this server serves, and its policy forbids every other host.
func TestOpenAPIDocumentServed(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		resp, body := e.GetPublic("/api/v1/openapi.json")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(body, rest.OpenAPI()) {
			t.Fatalf("openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var doc struct {
			OpenAPI string         `json:"openapi"`
			Paths   map[string]any `json:"paths"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || doc.OpenAPI != "3.1.0" || doc.Paths["/api/v1/sso/connections"] == nil {
			t.Fatalf("openapi.json: %v %s %d paths", err, doc.OpenAPI, len(doc.Paths))
		}

		resp, page := e.GetPublic("/api/v1/docs")
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") ||
			!strings.Contains(string(page), `data-spec="/api/v1/openapi.json"`) {
			t.Fatalf("docs page: %d %v\n%s", resp.StatusCode, resp.Header, page)
		}
		refs := attrRefRE.FindAllStringSubmatch(string(page), -1)
		if len(refs) < 4 {
			t.Fatalf("docs page refers to %d files: %s", len(refs), page)
		}
		for _, m := range refs {
			ref := m[1]
			if ref == "data:," || ref == "/api/v1/openapi.json" {
				continue
			}
			if !strings.HasPrefix(ref, "/api/v1/docs/") {
				t.Errorf("docs page refers to %q, not a file of this server", ref)
				continue
			}
			resp, body := e.GetPublic(ref)
			if resp.StatusCode != 200 || len(body) == 0 || resp.Header.Get("ETag") == "" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/") {
				t.Errorf("%s: %d %v", ref, resp.StatusCode, resp.Header)
			}
			req, _ := http.NewRequest("GET", e.URL+ref, nil)
			req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
			if again, err := http.DefaultClient.Do(req); err != nil || again.StatusCode != http.StatusNotModified {
				t.Errorf("%s revalidated: %v %v", ref, again, err)
			} else {
				again.Body.Close()
			}
		}
		for _, missing := range []string{"/api/v1/docs/index.html", "/api/v1/docs/..%2fopenapi.yaml", "/api/v1/docs/swagger-ui.css.map"} {
			if resp, _ := e.GetPublic(missing); resp.StatusCode != 404 {
				t.Errorf("%s: %d, want 404", missing, resp.StatusCode)
			}
		}
		// The rest of /api/v1 still needs a token.
		if resp, _ := e.GetPublic("/api/v1/sso/connections"); resp.StatusCode != 401 {
			t.Errorf("connections without a token: %d", resp.StatusCode)
		}
	})
}

// TestAPIDocsInBrowser opens /api/v1/docs in headless Chromium (Debian's package) with the
// page's Content-Security-Policy bypassed, so that a request to another host would be made and
// seen, not just blocked: the page must render the operations from the document, make every
// request to this server only, log no error, and run an operation with a bearer token given to
// "Authorize" (kept out of localStorage). Screenshots go to the test's artifact directory
// (go test -artifacts).
func TestAPIDocsInBrowser(t *testing.T) {
	b := apptest.NewBrowserTab(t, 1280, 1600, 90*time.Second)
	e := apptest.New(t, storetest.URL(t, "sqlite"))
	token := e.AdminToken()
	ctx := b.Ctx

	var mu sync.Mutex
	var requests, problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.Method+" "+ev.Request.URL)
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				problems = append(problems, "console."+string(ev.Type))
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				problems = append(problems, "log: "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}

	js, screenshot := b.JS, b.Screenshot
	waitFor := func(what, predicate string) { t.Helper(); b.WaitFor(what, predicate, 30*time.Second) }
	click := func(sel string) { t.Helper(); b.Do("click "+sel, chromedp.Click(chromedp.CSS(sel))) }

	b.Do("open the docs", chromedp.Navigate(e.URL+"/api/v1/docs"))
	waitFor("the operations", `document.querySelectorAll('.opblock').length >= 20`)
	text := js(`document.body.innerText`)
	for _, want := range []string{"Gatehouse REST API (WorldFlow-compatible)", "/api/v1/sso/connections/{id}/test-sign-in",
		"/api/v1/scim/statistics", "Create a SCIM token"} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	screenshot("1-api-docs.png")

	// Authorize with a bearer token, then run GET /api/v1/scim/statistics from the page.
	click(".auth-wrapper .authorize")
	waitFor("the authorization dialog", `!!document.querySelector('.modal-ux input')`)
	b.Do("type the token", chromedp.SendKeys(chromedp.CSS(".modal-ux input"), token))
	click(".modal-ux .auth-btn-wrapper .authorize")
	click(".modal-ux .btn-done")
	const op = `[id$="-getScimStatistics"]`
	click(op + " .opblock-summary-control")
	waitFor("Try it out", `!!document.querySelector('`+op+` .try-out__btn')`)
	click(op + " .try-out__btn")
	waitFor("Execute", `!!document.querySelector('`+op+` .execute')`)
	click(op + " .execute")
	waitFor("the answer", `document.querySelector('`+op+`').innerText.includes('Response headers')`)
	// The live answer sits between "Server response" and "Response headers" in the operation.
	live := js(`document.querySelector('` + op + `').innerText`)
	live = live[strings.Index(live, "Server response"):strings.Index(live, "Response headers")]
	if !strings.Contains(live, "200") || !strings.Contains(live, `"activeTokens": 0`) {
		t.Errorf("the answer shown: %s", live)
	}
	screenshot("2-try-it-out.png")
	if stored := js(`JSON.stringify({...localStorage})`); strings.Contains(stored, token) {
		t.Errorf("the token is in localStorage")
	}

	mu.Lock()
	defer mu.Unlock()
	fetchedDoc, ranOp := false, false
	for _, r := range requests {
		_, u, _ := strings.Cut(r, " ")
		if !strings.HasPrefix(u, e.URL+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page made a request to another host: %s", r)
		}
		fetchedDoc = fetchedDoc || r == "GET "+e.URL+"/api/v1/openapi.json"
		ranOp = ranOp || r == "GET "+e.URL+"/api/v1/scim/statistics"
	}
	if !fetchedDoc || !ranOp {
		t.Errorf("requests: %q", requests)
	}
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
}

// TestDocsPageCannotBeFramed: the API reference page, where a person pastes a bearer token
// into "Authorize", refuses to be framed both ways, as every other page of Gatehouse does:
// frame-ancestors for current browsers and X-Frame-Options for those that predate it
// (RFC 9700 §4.16), never sniffed, never telling another site its URL. Before, it sent no
// X-Frame-Options.
func TestDocsPageCannotBeFramed(t *testing.T) {
	srv := httptest.NewServer(apidocs.Page("/api/v1/openapi.json", "/api/v1/docs/"))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/docs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	for k, want := range map[string]string{"Content-Type": "text/html; charset=utf-8", "X-Frame-Options": "DENY",
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}
