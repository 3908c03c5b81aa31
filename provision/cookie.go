package provision

import "net/http"

// The sign-in cookie binds a flow to the browser that started it. Its name, its attributes
// and whether it is Secure are decided here only; the transports (the OpenID Provider, the
// upstream sign-ins, the test sign-in page) set and read it through these functions.

// SignInCookieName is the cookie's name: with an https public URL it carries the __Host-
// prefix, which browsers accept only with Secure, Path=/ and no Domain (a sibling subdomain
// cannot plant it: cookie fixation).
func (s *Service) SignInCookieName() string {
	if s.SecureCookies() {
		return "__Host-" + SignInCookie
	}
	return SignInCookie
}

// NewSignInCookie is the cookie holding a flow's browser secret: HttpOnly, SameSite=Lax,
// Secure exactly when the public URL is https.
func (s *Service) NewSignInCookie(value string) *http.Cookie {
	return &http.Cookie{Name: s.SignInCookieName(), Value: value, Path: "/", HttpOnly: true,
		Secure: s.SecureCookies(), SameSite: http.SameSiteLaxMode}
}

// BrowserSecretOf is the value of the request's sign-in cookie, "" when it has none.
func (s *Service) BrowserSecretOf(r *http.Request) string {
	if c, err := r.Cookie(s.SignInCookieName()); err == nil {
		return c.Value
	}
	return ""
}
