package webpage

import "net/http"

// SignInCookie is the browser sign-in's cookie (name and secure from
// provision.Service.SignInCookieName and SecureCookies): HttpOnly, SameSite=Lax, Path=/.
func SignInCookie(name, value string, secure bool) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
}

// CookieValue is the value of the request's cookie name, "" when it has none.
func CookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}
