package webpage

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"gatehouse/provision"
)

// submitScript submits the form of the form_post page. It is the page's only script, allowed
// by its hash (submitHash): no other script runs there, whatever an answer's values hold.
const submitScript = `document.forms[0].submit();`

var submitHash = func() string {
	sum := sha256.Sum256([]byte(submitScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signing in</title></head>
<body><main>
<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><p>Your browser runs no JavaScript: continue to the application yourself.</p>
<button type="submit">Continue</button></noscript>
</form>
</main>
<script>` + submitScript + `</script>
</body></html>
`))

type formField struct{ Name, Value string }

// Answer delivers an answer to the application's redirect URI (provision.Answer), the one way
// a browser goes back to an application: a 302 with the parameters in the query, or, for
// response_mode=form_post (OAuth 2.0 Form Post Response Mode §2), a page whose form POSTs them
// there as it loads. The page is not stored (it holds the code), runs only its own script, and
// may submit its form only to the redirect URI; it sends no Referer (Gatehouse's callback URL
// carries the identity provider's answer).
func Answer(w http.ResponseWriter, r *http.Request, a *provision.Answer) {
	if !a.FormPost() {
		http.Redirect(w, r, a.Location(), http.StatusFound)
		return
	}
	var fields []formField
	for _, k := range slices.Sorted(maps.Keys(a.Params)) {
		for _, v := range a.Params[k] {
			fields = append(fields, formField{k, v})
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src "+submitHash+"; form-action "+formAction(a.RedirectURI)+
		"; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(http.StatusOK)
	_ = formPostPage.Execute(w, map[string]any{"Action": a.RedirectURI, "Fields": fields})
}

// formAction is the CSP source expression of a redirect URI (CSP Level 3 §2.3.1): its
// scheme, host, port and path, which a form's action must match exactly; the query is no
// part of a source. The ';' and ',' that separate directives and policies are
// percent-encoded, as the path is matched decoded.
func formAction(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Host == "" { // registered URIs are absolute; this cannot happen
		return "'none'"
	}
	path := strings.NewReplacer(";", "%3B", ",", "%2C").Replace(u.EscapedPath())
	return u.Scheme + "://" + u.Host + path
}
