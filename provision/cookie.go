package provision

// The sign-in cookie binds a flow to the browser that started it. Its name and whether it is
// Secure are decided here only; webpage.SignInCookie builds it with these values and the
// transports (the OpenID Provider, the upstream sign-ins, the test sign-in page) read it by
// this name.

// SignInCookieName is the cookie's name: with an https public URL it carries the __Host-
// prefix, which browsers accept only with Secure, Path=/ and no Domain (a sibling subdomain
// cannot plant it: cookie fixation).
func (s *Service) SignInCookieName() string {
	if s.SecureCookies() {
		return "__Host-" + SignInCookie
	}
	return SignInCookie
}
