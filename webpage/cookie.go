package webpage

import (
	"iter"
	"net/http"

	"gatehouse/provision"
)

// SetSignInCookie sets the sign-in cookies of a flow that made a new browser secret (names and
// value from st, Secure from provision.Service.SecureCookies): HttpOnly, SameSite=Lax, Path=/.
// A flow that adopted a cookie the browser sent sets none.
func SetSignInCookie(w http.ResponseWriter, st *provision.FlowStart, secure bool) {
	for _, name := range st.CookieNames {
		http.SetCookie(w, &http.Cookie{Name: name, Value: st.BrowserSecret, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	}
}

// Cookies are the request's cookies as name, value pairs, in the order the browser sent them
// (for provision.Service.SignInBrowser, which picks its own).
func Cookies(r *http.Request) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, c := range r.Cookies() {
			if !yield(c.Name, c.Value) {
				return
			}
		}
	}
}
