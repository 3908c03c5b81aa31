// Package route answers at the edges of the server's route table, where net/http's ServeMux
// would otherwise answer itself in plain text or HTML: which methods a path allows (so that
// an API writes its own 405), and requests under an API prefix whose path is not in canonical
// form (which the mux redirects). It knows nothing of any API's error format.
package route

import (
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Allowed lists the methods for which mux routes r's path to a handler of its own, other than
// the fallback patterns (an API's catch-alls), in the order an Allow header lists them; HEAD
// comes with GET, as the mux serves it. None for an unknown path or one not in canonical form.
func Allowed(mux *http.ServeMux, r *http.Request, fallback ...string) []string {
	if p := r.URL.EscapedPath(); clean(p) != p {
		return nil
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
		if _, pattern := mux.Handler(probe); pattern != "" && !slices.Contains(fallback, pattern) {
			allow = append(allow, m)
		}
	}
	return allow
}

// Canonical serves mux, except for a request whose path starts with one of prefixes (an
// API's root such as "/scim/v2", written without its trailing slash) and is not in canonical
// form, which the mux would redirect with a 307 and an HTML body that no API client expects:
//
//   - Under merge, a path whose only fault is runs of slashes is served as its cleaned path: a
//     SCIM client configured with a base URL ending in "/" asks for "/scim/v2//Users".
//   - Any other such path (dot segments, "/api/v1//sso/connections") goes to the prefix's
//     catch-all ("/api/v1/"), which answers not found in the API's own format. Serving it
//     cleaned would let a path reach what a proxy in front filters by its raw path (a
//     prefix it forbids, or "/scim/v2/../api/v1/…" past one that allows only "/scim/v2/").
//
// A path that does not start with a prefix ("//scim/v2/Users") is the mux's, as before.
func Canonical(mux *http.ServeMux, merge string, prefixes ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		prefix := prefixOf(p, prefixes)
		c := clean(p)
		if prefix == "" || c == p || r.Method == http.MethodConnect {
			mux.ServeHTTP(w, r)
			return
		}
		if prefix != merge || collapse(p) != c {
			h, pattern := mux.Handler(&http.Request{Method: r.Method, Host: r.Host, URL: &url.URL{Path: prefix + "/"}})
			r.Pattern = pattern
			h.ServeHTTP(w, r)
			return
		}
		u := *r.URL
		u.RawPath = c
		u.Path, _ = url.PathUnescape(c) // c is cleaned from a valid escaped path
		if u.EscapedPath() != c {
			u.RawPath = ""
		}
		inner := r.WithContext(r.Context())
		inner.URL = &u
		mux.ServeHTTP(w, inner)
		r.Pattern = inner.Pattern // the access log and the span read the route from r
	})
}

// prefixOf returns the prefix p is, or is under, or "".
func prefixOf(p string, prefixes []string) string {
	for _, prefix := range prefixes {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return prefix
		}
	}
	return ""
}

// collapse replaces each run of slashes in p with one.
func collapse(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

// clean is the canonical form of an escaped path as ServeMux computes it: path.Clean,
// keeping a trailing slash.
func clean(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
