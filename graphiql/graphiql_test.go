package graphiql

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

const (
	testEndpoint  = "/graphql/v1"
	testAssetBase = "/graphql/v1/assets/"
	testTokenURL  = "/oauth/token"
)

// newMux mounts the handlers the way the main server does.
func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET "+testEndpoint, Page(testEndpoint, testAssetBase, testTokenURL))
	mux.Handle("GET "+testAssetBase, Assets(testAssetBase))
	return mux
}

func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var refRE = regexp.MustCompile(`(?:src|href)="([^"]*)"`)

// pageRefs returns the src and href attribute values of the page.
func pageRefs(t *testing.T, page string) []string {
	t.Helper()
	var refs []string
	for _, m := range refRE.FindAllStringSubmatch(page, -1) {
		if m[1] == "data:," { // the empty favicon, which saves a request
			continue
		}
		refs = append(refs, m[1])
	}
	if len(refs) != len(servedFiles) {
		t.Fatalf("page references %d assets, want %d: %q", len(refs), len(servedFiles), refs)
	}
	return refs
}

func TestPage(t *testing.T) {
	mux := newMux()
	rec := do(t, mux, http.MethodGet, testEndpoint, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`data-endpoint="/graphql/v1"`,
		`data-token-endpoint="/oauth/token"`,
		`id="gatehouse-client-id"`,
		`id="gatehouse-client-secret"`,
		"mutation UpdateUserAccountCredentials",
		"createIdentityProviderConfiguration(input:",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("page contains an absolute URL (CDN?):\n%s", body)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Errorf("page has inline script or style, which the CSP forbids")
	}
	for _, ref := range pageRefs(t, body) {
		if !strings.HasPrefix(ref, testAssetBase) {
			t.Errorf("asset %q not under %q", ref, testAssetBase)
		}
	}

	h := rec.Header()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "connect-src 'self';", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("CSP too lax: %q", csp)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", got)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options %q", got)
	}

	head := do(t, mux, http.MethodHead, testEndpoint, nil)
	if head.Code != http.StatusOK || head.Body.Len() != 0 {
		t.Errorf("HEAD: status %d, %d body bytes", head.Code, head.Body.Len())
	}
	if post := do(t, Page(testEndpoint, testAssetBase, testTokenURL), http.MethodPost, testEndpoint, nil); post.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST to Page: status %d, want 405", post.Code)
	}
}

func TestPageEscapesAndNormalises(t *testing.T) {
	rec := do(t, Page(`/q?a="b"&c=<d>`, "/static", "/oauth/token"), http.MethodGet, "/anything", nil)
	body := rec.Body.String()
	if strings.Contains(body, `"b"`) || strings.Contains(body, "<d>") {
		t.Errorf("endpoint not escaped:\n%s", body)
	}
	if !strings.Contains(body, `src="/static/graphiql.min.js?v=`) {
		t.Errorf("asset base without trailing slash not normalised:\n%s", body)
	}

	rec = do(t, Page("https://api.example.test/graphql", "/a/", "https://api.example.test/oauth/token"), http.MethodGet, "/", nil)
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' https://api.example.test;") {
		t.Errorf("CSP for absolute endpoint: %q", csp)
	}
	rec = do(t, Page("/graphql", "/a/", "https://login.example.test/oauth/token"), http.MethodGet, "/", nil)
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' https://login.example.test;") {
		t.Errorf("CSP for an absolute token endpoint: %q", csp)
	}
}

func TestAssetsServedWithContentType(t *testing.T) {
	mux := newMux()
	page := do(t, mux, http.MethodGet, testEndpoint, nil).Body.String()
	for _, ref := range pageRefs(t, page) {
		rec := do(t, mux, http.MethodGet, ref, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d", ref, rec.Code)
			continue
		}
		want := "text/javascript; charset=utf-8"
		if strings.Contains(ref, ".css?") {
			want = "text/css; charset=utf-8"
		}
		if ct := rec.Header().Get("Content-Type"); ct != want {
			t.Errorf("%s: Content-Type %q, want %q", ref, ct, want)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", ref, got)
		}
		if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q, want long-lived", ref, cc)
		}
		if rec.Header().Get("Content-Encoding") != "" {
			t.Errorf("%s: encoded although the client did not ask", ref)
		}
		if rec.Body.Len() < 100 {
			t.Errorf("%s: only %d bytes", ref, rec.Body.Len())
		}
	}
}

func TestAssetsNoCDNInOwnFiles(t *testing.T) {
	for _, name := range []string{pageJS, pageCSS} {
		body := loadAssets()[name].body
		if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) {
			t.Errorf("%s contains an absolute URL", name)
		}
	}
}

func TestAssetsGzipAndConditional(t *testing.T) {
	mux := newMux()
	target := testAssetBase + graphiqlJS
	rec := do(t, mux, http.MethodGet, target, map[string]string{"Accept-Encoding": "br, gzip"})
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("status %d, Content-Encoding %q", rec.Code, rec.Header().Get("Content-Encoding"))
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("unversioned request: Cache-Control %q, want no-cache", cc)
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, loadAssets()[graphiqlJS].body) {
		t.Error("gunzipped body differs from the embedded file")
	}

	etag := rec.Header().Get("ETag")
	rec = do(t, mux, http.MethodGet, target, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": etag})
	if rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec.Code)
	}

	rec = do(t, mux, http.MethodGet, target, map[string]string{"Accept-Encoding": "gzip;q=0"})
	if rec.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent although q=0")
	}
}

func TestAssetsNotFound(t *testing.T) {
	mux := newMux()
	for _, p := range []string{
		testAssetBase,
		testAssetBase + "VERSIONS.txt",
		testAssetBase + "licenses/react.LICENSE",
		testAssetBase + "nope.js",
		testAssetBase + "../graphiql.go",
		testAssetBase + "%2e%2e/graphiql.go",
		"/elsewhere/" + graphiqlJS,
	} {
		// Straight to the handler: ServeMux would redirect the ".." paths.
		if rec := do(t, Assets(testAssetBase), http.MethodGet, p, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, rec.Code)
		}
	}
	if rec := do(t, mux, http.MethodGet, testAssetBase+"nope.css", nil); rec.Code != http.StatusNotFound {
		t.Errorf("via mux: status %d, want 404", rec.Code)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for in, want := range map[string]bool{
		"":                 false,
		"gzip":             true,
		"GZIP":             true,
		"deflate, gzip":    true,
		"gzip;q=0":         false,
		"gzip; q=0.000":    false,
		"gzip;q=0.5, br":   true,
		"br, x-gzip":       false,
		"identity;q=1, *":  false,
		"deflate,gzip;q=1": true,
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if in != "" {
			r.Header.Set("Accept-Encoding", in)
		}
		if got := acceptsGzip(r); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", in, got, want)
		}
	}
}

// The page keeps the session in sessionStorage and the secret in memory: it never writes
// localStorage (it only removes the token earlier versions left there).
func TestPageScriptNeverWritesLocalStorage(t *testing.T) {
	body := string(loadAssets()[pageJS].body)
	if strings.Contains(body, "localStorage.setItem") || !strings.Contains(body, "sessionStorage.setItem") {
		t.Errorf("%s: storage use changed", pageJS)
	}
}
