// Package graphiql serves the GraphiQL playground for the GraphQL API from
// assets embedded in the binary; it must not load anything from the internet.
//
// Two handlers are exported and are meant to be mounted side by side:
//
//	mux.Handle("GET /graphql/v1", graphiql.Page("/graphql/v1", "/graphql/v1/assets/", "/oauth/token"))
//	mux.Handle("GET /graphql/v1/assets/", graphiql.Assets("/graphql/v1/assets/"))
//
// Page serves the HTML page at whatever path it is mounted on. The page loads
// its scripts and styles from assetBase, which must be the prefix Assets is
// mounted at. Assets serves the embedded files below that prefix; the page asks
// for each one with a "?v=<content hash>" query, and such requests are cached by
// browsers for a year, so a new build never mixes with stale cached files.
//
// The page has a sign-in bar above GraphiQL: an admin enters an integration
// client's id and secret, and the page performs the client-credentials grant
// itself against the token endpoint, sends the token as "Authorization: Bearer
// <token>" (unless the Headers editor sets Authorization), and renews it
// before it expires. The secret stays in the page's memory; the token and its
// expiry are kept in sessionStorage (gone with the tab), never localStorage, and
// so are GraphiQL's own tabs and history.
// Until sign-in GraphiQL does not introspect and runs nothing, so the first
// screen shows the sign-in bar and the example operations (Examples), not an
// UNAUTHENTICATED error.
//
// The third-party files in assets/ (GraphiQL 3, React 18 UMD builds) are
// listed with their versions in assets/VERSIONS.txt, licenses in
// assets/licenses/.
package graphiql

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var embedded embed.FS

// Examples is the default tab's content: example operations, among them the
// mutations of the vendor documents Gatehouse implements.
//
//go:embed examples.graphql
var Examples string

// The files the page loads, in load order. Only these are served by Assets.
const (
	reactJS     = "react.production.min.js"
	reactDOMJS  = "react-dom.production.min.js"
	graphiqlJS  = "graphiql.min.js"
	graphiqlCSS = "graphiql.min.css"
	pageJS      = "gatehouse-graphiql.js"
	pageCSS     = "gatehouse-graphiql.css"
)

var servedFiles = []string{reactJS, reactDOMJS, graphiqlJS, graphiqlCSS, pageJS, pageCSS}

// asset is one embedded file ready to serve.
type asset struct {
	name        string
	contentType string
	body        []byte
	hash        string // hex prefix of the SHA-256 of body

	gzipOnce sync.Once
	gzipped  []byte // nil when compression does not pay
}

// gz returns the gzip-compressed body, computed on first use, or nil when
// compressing does not make the file smaller.
func (a *asset) gz() []byte {
	a.gzipOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(a.body)
		zw.Close()
		if buf.Len() < len(a.body) {
			a.gzipped = buf.Bytes()
		}
	})
	return a.gzipped
}

// loadAssets reads the served files out of the embedded FS once.
var loadAssets = sync.OnceValue(func() map[string]*asset {
	m := make(map[string]*asset, len(servedFiles))
	for _, name := range servedFiles {
		body, err := fs.ReadFile(embedded, "assets/"+name)
		if err != nil {
			panic("graphiql: embedded asset missing: " + err.Error())
		}
		sum := sha256.Sum256(body)
		// Set explicitly rather than via package mime, whose table the
		// machine's mime.types files can change.
		ct := "application/octet-stream"
		switch path.Ext(name) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		}
		m[name] = &asset{
			name:        name,
			contentType: ct,
			body:        body,
			hash:        hex.EncodeToString(sum[:8]),
		}
	}
	return m
})

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Gatehouse GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{.GraphiQLCSS}}">
<link rel="stylesheet" href="{{.PageCSS}}">
</head>
<body>
<div class="gatehouse-bar">
<strong>Gatehouse GraphQL</strong>
<!-- method="post": were the script not to run, the secret must not land in a URL (the CSP's
form-action 'none' blocks the submission anyway). -->
<form id="gatehouse-signin" class="gatehouse-signin" method="post" autocomplete="off">
<label for="gatehouse-client-id">Client ID</label>
<input id="gatehouse-client-id" name="client_id" autocomplete="off" spellcheck="false" required placeholder="ghc_…">
<label for="gatehouse-client-secret">Client secret</label>
<input id="gatehouse-client-secret" name="client_secret" type="password" autocomplete="off" spellcheck="false" required>
<button id="gatehouse-signin-button" type="submit">Sign in</button>
<span class="gatehouse-hint">the page gets an access token with these and renews it; the secret is never stored</span>
</form>
<div id="gatehouse-session" class="gatehouse-session" hidden>
<span id="gatehouse-whoami"></span>
<button id="gatehouse-signout" type="button">Sign out</button>
</div>
<span id="gatehouse-status" class="gatehouse-status" role="status" aria-live="polite"></span>
</div>
<div id="graphiql" data-endpoint="{{.Endpoint}}" data-token-endpoint="{{.TokenEndpoint}}" data-examples="{{.Examples}}">Loading GraphiQL…</div>
<script src="{{.ReactJS}}"></script>
<script src="{{.ReactDOMJS}}"></script>
<script src="{{.GraphiQLJS}}"></script>
<script src="{{.PageJS}}"></script>
</body>
</html>
`))

// Page returns a handler that serves the GraphiQL HTML page for GET and HEAD
// requests, whatever the request path. endpoint is the URL of the GraphQL API
// the playground sends queries to; it should be a same-origin path such as
// "/graphql/v1" (an absolute http(s) URL also works: its origin is then added
// to the page's connect-src). assetBase is the URL path prefix Assets is
// mounted at, such as "/graphql/v1/assets/"; a missing trailing slash is added.
// tokenEndpoint is the OAuth token endpoint the sign-in bar uses, such as
// "/oauth/token" (same rules as endpoint).
//
// Responses carry a strict Content-Security-Policy (scripts only from 'self',
// no inline scripts), X-Content-Type-Options: nosniff, X-Frame-Options: DENY
// and Referrer-Policy: no-referrer.
func Page(endpoint, assetBase, tokenEndpoint string) http.Handler {
	if !strings.HasSuffix(assetBase, "/") {
		assetBase += "/"
	}
	assets := loadAssets()
	ref := func(name string) string {
		return assetBase + name + "?v=" + assets[name].hash
	}
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, map[string]string{
		"Endpoint":      endpoint,
		"TokenEndpoint": tokenEndpoint,
		"Examples":      Examples,
		"ReactJS":       ref(reactJS),
		"ReactDOMJS":    ref(reactDOMJS),
		"GraphiQLJS":    ref(graphiqlJS),
		"GraphiQLCSS":   ref(graphiqlCSS),
		"PageJS":        ref(pageJS),
		"PageCSS":       ref(pageCSS),
	})
	if err != nil {
		panic("graphiql: rendering page: " + err.Error())
	}
	page := buf.Bytes()

	origins := []string{"'self'"}
	for _, e := range []string{endpoint, tokenEndpoint} {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		if o := u.Scheme + "://" + u.Host; !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	connect := strings.Join(origins, " ")
	csp := "default-src 'self'; script-src 'self'; " +
		"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
		"connect-src " + connect + "; " +
		"object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(page))
	})
}

// Assets returns a handler that serves the embedded scripts and stylesheets
// the page needs, for GET and HEAD requests whose path is prefix followed by a
// file name, such as "/graphql/v1/assets/graphiql.min.js". Any other path
// (unknown files, directories) is answered 404 Not Found; there are no
// directory listings.
//
// Requests whose "v" query matches the file's content hash (as the page makes
// them) may be cached for a year; others must revalidate (an ETag is sent).
// Files are gzip-compressed for clients that accept it.
func Assets(prefix string) http.Handler {
	assets := loadAssets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, prefix)
		a := assets[name]
		if !ok || a == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Vary", "Accept-Encoding")
		if r.URL.Query().Get("v") == a.hash {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		body, etag := a.body, `"`+a.hash+`"`
		if acceptsGzip(r) && r.Header.Get("Range") == "" {
			if gz := a.gz(); gz != nil {
				body, etag = gz, `"`+a.hash+`-gz"`
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("ETag", etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(p, "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q == 0 {
						return false
					}
				}
			}
			return true
		}
	}
	return false
}
