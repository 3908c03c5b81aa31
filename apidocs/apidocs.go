// Package apidocs serves a human-readable page for an OpenAPI document (Swagger UI) from assets
// embedded in the binary. The page must not load anything from another host, so that it works
// offline and leaks nothing: scripts, styles and images come from this server or data: URIs,
// and a Content-Security-Policy forbids everything else.
//
// Mount the two handlers side by side:
//
//	mux.Handle("GET /api/v1/docs", apidocs.Page("/api/v1/openapi.json", "/api/v1/docs/"))
//	mux.Handle("GET /api/v1/docs/{file}", apidocs.Assets())
//
// The third-party files in assets/ (swagger-ui-dist) are listed with their version and how to
// update them in assets/VERSIONS.txt, licenses in assets/licenses/.
package apidocs

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"sync"
	"time"
)

//go:embed assets
var embedded embed.FS

// The files the page loads; only these are served.
const (
	bundleJS = "swagger-ui-bundle.js"
	bundleCS = "swagger-ui.css"
	pageJS   = "gatehouse-docs.js"
)

// asset is one embedded file ready to serve.
type asset struct {
	contentType string
	body        []byte
	etag        string
}

var loadAssets = sync.OnceValue(func() map[string]*asset {
	m := map[string]*asset{}
	for _, name := range []string{bundleJS, bundleCS, pageJS} {
		body, err := fs.ReadFile(embedded, "assets/"+name)
		if err != nil {
			panic("apidocs: embedded asset missing: " + err.Error())
		}
		sum := sha256.Sum256(body)
		// Set here rather than by package mime, whose table the machine's files can change.
		ct := "text/javascript; charset=utf-8"
		if path.Ext(name) == ".css" {
			ct = "text/css; charset=utf-8"
		}
		m[name] = &asset{contentType: ct, body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return m
})

// csp allows this server only; Swagger UI sets inline styles and uses data: images.
const csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse REST API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{{.CSS}}">
</head>
<body>
<div id="swagger-ui" data-spec="{{.Spec}}">Loading the API reference… (it needs JavaScript; the raw document is at <a href="{{.Spec}}">{{.Spec}}</a>)</div>
<script src="{{.BundleJS}}"></script>
<script src="{{.PageJS}}"></script>
</body>
</html>
`))

// Page serves the HTML page rendering the OpenAPI document at spec (a same-origin path);
// assetBase is the path prefix Assets is mounted at, ending in "/".
func Page(spec, assetBase string) http.Handler {
	ref := func(name string) string { return assetBase + name }
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, map[string]string{"Spec": spec, "CSS": ref(bundleCS),
		"BundleJS": ref(bundleJS), "PageJS": ref(pageJS)}); err != nil {
		panic("apidocs: rendering page: " + err.Error())
	}
	page := buf.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		// frame-ancestors says it to current browsers; X-Frame-Options to those that predate
		// it (RFC 9700 §4.16): a token is pasted into this page's "Authorize".
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(page))
	})
}

// Assets serves the page's files by the request's {file} path value; any other name is 404.
// The ETag lets browsers revalidate instead of downloading the bundle again.
func Assets() http.Handler {
	assets := loadAssets()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.PathValue("file")]
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
