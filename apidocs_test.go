package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/rest"
	"gatehouse/store/storetest"
)

// get fetches path from the test server without a token.
func (e *testEnv) getPublic(path string) (*http.Response, []byte) {
	e.t.Helper()
	resp, err := http.Get(e.URL + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

var attrRefRE = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

// TestOpenAPIDocumentServed: the document and its viewer are public; the viewer's page refers
// only to files this server serves, and its policy forbids every other host.
func TestOpenAPIDocumentServed(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		resp, body := e.getPublic("/api/v1/openapi.json")
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

		resp, page := e.getPublic("/api/v1/docs")
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
			resp, body := e.getPublic(ref)
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
			if resp, _ := e.getPublic(missing); resp.StatusCode != 404 {
				t.Errorf("%s: %d, want 404", missing, resp.StatusCode)
			}
		}
		// The rest of /api/v1 still needs a token.
		if resp, _ := e.getPublic("/api/v1/sso/connections"); resp.StatusCode != 401 {
			t.Errorf("connections without a token: %d", resp.StatusCode)
		}
	})
}

// hostRecorder is a forward proxy for the browser: it forwards requests for allowed and
// records and refuses every other host, so a request the page makes elsewhere is seen even
// though this machine has no route out.
type hostRecorder struct {
	allowed string
	mu      sync.Mutex
	seen    []string // "host path" of every request
	foreign []string
}

func (p *hostRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if r.Method == http.MethodConnect || r.URL.Host != "" {
		host = r.URL.Host
		if r.Method == http.MethodConnect {
			host = r.RequestURI
		}
	}
	p.mu.Lock()
	p.seen = append(p.seen, host+" "+r.URL.Path)
	if host != p.allowed {
		p.foreign = append(p.foreign, r.Method+" "+host+" "+r.URL.Path)
	}
	p.mu.Unlock()
	if host != p.allowed || r.Method == http.MethodConnect {
		http.Error(w, "refused by the test proxy", http.StatusForbidden)
		return
	}
	out, _ := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), r.Body)
	out.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// TestAPIDocsRenderOffline opens /api/v1/docs in headless Chromium (Debian's package) with
// every request going through a recording proxy: the page must render the operations and
// make no request to another host. With GATEHOUSE_TEST_ARTIFACTS set, a screenshot is saved
// there. Skipped when chromium is not installed.
func TestAPIDocsRenderOffline(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	if testing.Short() {
		t.Skip("starts a browser")
	}
	e := newTestEnv(t, storetest.URL(t, "sqlite"))
	u, _ := url.Parse(e.URL)
	proxy := &hostRecorder{allowed: u.Host}
	ps := httptest.NewServer(proxy)
	defer ps.Close()

	// browse runs Chromium on target and returns its standard output and its log, which has the
	// page's console messages (a request the page's CSP blocked shows there, not at the proxy).
	browse := func(target string, args ...string) (stdout []byte, log string) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-default-apps", "--no-first-run", "--no-pings", "--disable-domain-reliability",
			"--disable-client-side-phishing-detection", "--disable-features=Translate,OptimizationHints,MediaRouter",
			"--user-data-dir=" + t.TempDir(),
			// Every request, loopback included, goes through the recording proxy.
			"--proxy-server=" + ps.URL, "--proxy-bypass-list=<-loopback>",
			"--virtual-time-budget=20000", "--window-size=1280,1600", "--enable-logging=stderr", "--v=0"}
		cmd := exec.CommandContext(ctx, chromium, append(append(base, args...), target)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, stderr.String())
		}
		return out, stderr.String()
	}
	// Chromium talks to Google on its own (component updates, network time, accounts) even with
	// background networking off. Those hosts, seen on a blank page first, are not the page's.
	browse("about:blank", "--dump-dom")
	proxy.mu.Lock()
	own := map[string]bool{}
	for _, f := range proxy.foreign {
		own[strings.Fields(f)[1]] = true
	}
	proxy.foreign, proxy.seen = nil, nil
	proxy.mu.Unlock()
	t.Logf("Chromium's own requests on a blank page (ignored below): %v", slices.Sorted(maps.Keys(own)))

	out, log := browse(e.URL+"/api/v1/docs", "--dump-dom")
	dom := string(out)
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Content Security Policy") {
			t.Errorf("browser console: %s", line)
		}
	}
	for _, want := range []string{"Gatehouse REST API (WorldFlow-compatible)", "/api/v1/sso/connections/{id}/test-sign-in",
		"/api/v1/scim/statistics", "Create a SCIM token"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %q; DOM:\n%.3000s", want, dom)
		}
	}
	if dir := os.Getenv("GATEHOUSE_TEST_ARTIFACTS"); dir != "" {
		shot := filepath.Join(dir, "api-docs.png")
		browse(e.URL+"/api/v1/docs", "--screenshot="+shot)
		t.Logf("screenshot: %s", shot)
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	for _, f := range proxy.foreign {
		if !own[strings.Fields(f)[1]] {
			t.Errorf("the page made a request to another host: %s", f)
		}
	}
	if !strings.Contains(strings.Join(proxy.seen, "\n"), " /api/v1/openapi.json") {
		t.Errorf("the page never fetched the document through the proxy; requests: %q", proxy.seen)
	}
}
