// Package webpage renders the few HTML pages people see during a browser sign-in (errors and
// refusals) for the transports that need them (oauth, sso), and delivers the answers to the
// applications (Answer). A page shows a safe message and the request id, never the cause,
// which belongs in the log and the sign-in event.
package webpage

import (
	"html/template"
	"net/http"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body><main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .RequestID}}<p>Request id: <code>{{.RequestID}}</code></p>{{end}}
</main></body></html>
`))

// Write writes a short HTML page with status, a title, a safe message and the request id.
func Write(w http.ResponseWriter, status int, title, message, requestID string) {
	Headers(w, "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = page.Execute(w, map[string]string{"Title": title, "Message": message, "RequestID": requestID})
}

// SignInUnavailable writes the page of a sign-in request the database could not answer in
// time (models.EUNAVAILABLE): nothing was written, and the same request reloaded once it
// answers goes on. 503 with Retry-After, as every other surface answers an unavailable
// database, not a 500 that reads as final.
func SignInUnavailable(w http.ResponseWriter) {
	unavailable(w, "Sign-in paused", "finish signing in")
}

// SignOutUnavailable is SignInUnavailable for a sign-out.
func SignOutUnavailable(w http.ResponseWriter) {
	unavailable(w, "Sign-out paused", "finish signing out")
}

func unavailable(w http.ResponseWriter, title, finish string) {
	w.Header().Set("Retry-After", "5")
	Write(w, http.StatusServiceUnavailable, title,
		"Gatehouse is briefly unavailable. Reload this page in a moment to "+finish+".", RequestID(w))
}

// Headers sets what every HTML page of a sign-in carries: HTML, never stored (a page may hold a
// state, a code or an identity), the page's Content-Security-Policy csp, which must forbid
// framing (frame-ancestors 'none'; X-Frame-Options says the same to browsers that predate it,
// RFC 9700 §4.16), no MIME sniffing, and no Referer: a page's URL may hold a state, a PKCE
// challenge or an id_token_hint, which the next site (an identity provider) has no use for
// (RFC 9700 §4.2.4). A page that must send its origin (Answer's form_post) says so after.
func Headers(w http.ResponseWriter, csp string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// Redirect sends the browser on to location: 302 after a GET, as RFC 6749 §4.1.2 shows it,
// and 303 after a POST (the email page's form, a POSTed authorization or logout request),
// which every user agent follows with a GET and without the body (RFC 9700 §4.12).
func Redirect(w http.ResponseWriter, r *http.Request, location string) {
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, location, status)
}

// RequestID is the id the server's request middleware gave the request: it sets the
// X-Request-Id response header before any handler runs.
func RequestID(w http.ResponseWriter) string { return w.Header().Get("X-Request-Id") }
