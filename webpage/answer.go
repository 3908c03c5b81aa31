package webpage

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"

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
{{end}}<noscript><p>Your browser runs no JavaScript: press Continue to go on.</p>
<button type="submit">Continue</button></noscript>
</form>
</main>
<script>` + submitScript + `</script>
</body></html>
`))

type formField struct{ Name, Value string }

// Answer delivers an answer to the application's redirect URI (provision.Answer), the one way
// a browser goes back to an application: a redirect (Redirect) with the parameters in the query, or, for
// response_mode=form_post (OAuth 2.0 Form Post Response Mode §2), a page whose form POSTs them
// there as it loads. The page is not stored (it holds the code), runs only its own script and
// cannot be framed. Its Referer and Origin are Gatehouse's origin alone: Gatehouse's callback
// URL carries the identity provider's answer, and "no-referrer" would send "Origin: null",
// which an application that checks the Origin of its callback refuses.
//
// No form-action directive: the form's one action is the registered redirect URI, escaped,
// and the page holds no other markup to inject. The directive would only break sign-ins: a
// CSP source cannot name an IPv6 host or one with an underscore (both valid redirect URIs),
// and browsers apply it to the redirects that follow the POST too (an application whose
// callback redirects to another origin).
func Answer(w http.ResponseWriter, r *http.Request, a *provision.Answer) {
	if !a.FormPost() {
		Redirect(w, r, a.Location())
		return
	}
	FormPost(w, a.RedirectURI, a.Params)
}

// FormPost writes the page whose form POSTs params (in the order of their names) to action as
// it loads: Answer's form_post, and an AuthnRequest sent by SAML's HTTP-POST binding. The page
// runs only its own script, allowed by its hash (a constant page needs no nonce, and a hash
// cannot be reused by markup a value smuggles in), with a Continue button where no script
// runs; every value is HTML-escaped, the page is not stored and cannot be framed, and its
// Referer and Origin are Gatehouse's origin alone (Answer says why).
func FormPost(w http.ResponseWriter, action string, params url.Values) {
	var fields []formField
	for _, k := range slices.Sorted(maps.Keys(params)) {
		for _, v := range params[k] {
			fields = append(fields, formField{k, v})
		}
	}
	Headers(w, "default-src 'none'; script-src "+submitHash+"; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Referrer-Policy", "origin")
	w.WriteHeader(http.StatusOK)
	_ = formPostPage.Execute(w, map[string]any{"Action": action, "Fields": fields})
}
