package provision

import (
	"iter"
	"slices"
	"strings"

	"gatehouse/secret"
)

// The sign-in cookies bind a flow to the browser that started it. Their names, which of a
// request's cookies are read, and whether they are Secure are decided here only;
// webpage.SetSignInCookie builds a cookie with these values and the transports (the OpenID
// Provider, the upstream sign-ins, the test sign-in page) hand a request's cookies to
// SignInBrowser.
//
// A start that makes a new browser secret sets it under a name of its own (the base name, "_"
// and a random tag): two tabs that start sign-ins at once, neither with a cookie yet (a browser
// restoring its tabs, applications that redirect on load), would otherwise overwrite each
// other's cookie, and the first tab's sign-in would fail at its callback. A start whose
// browser sends a sign-in cookie adopts it and sets none, so a browser normally holds one value
// (under two names: newSignInCookieNames).

// maxSignInCookies bounds the sign-in cookies of a request that are read. A browser gets a
// second one only from starts that race, so a few are plenty; the bound keeps a request that
// carries many (planted, or from a very long session) from costing more than a short IN list
// in the claim's one statement, and the statement from taking a new shape for each count.
const maxSignInCookies = 8

// SignInCookieName is the base of the cookies' names: with an https public URL it carries the
// __Host- prefix, which browsers accept only with Secure, Path=/ and no Domain (a sibling
// subdomain cannot plant it: cookie fixation). A cookie of exactly this name is one set before
// each start had a name of its own; it is still read, so the sign-ins it started finish.
func (s *Service) SignInCookieName() string {
	if s.SecureCookies() {
		return "__Host-" + SignInCookie
	}
	return SignInCookie
}

// newSignInCookieNames are the names a new browser secret is set under: its own, the base
// name, "_" and 8 random base64url characters (48 bits: concurrent starts never pick the same
// one), and the base name itself. Replicas of the versions before the tags read the base name
// alone: during a rolling upgrade, a sign-in started on an upgraded replica may be answered on
// one of those, which finds it there (as it did before, the last start's). Once no replica of
// those versions runs, the base name need not be set any more.
func (s *Service) newSignInCookieNames() []string {
	return []string{s.SignInCookieName() + "_" + secret.Token("", 6), s.SignInCookieName()}
}

// Browser is a browser as its sign-in cookies show it: the secrets of the flows it started
// (at most maxSignInCookies, each of randomValue's form). The zero value holds none.
type Browser struct{ secrets []string }

// SignInBrowser reads a request's cookies (name and value, in the order the browser sent them):
// those named SignInCookieName, or that followed by "_" and a tag, whose value has the form
// Gatehouse makes (anything else, mangled or made up, is ignored and never adopted; a value of
// that form planted over http is indistinguishable, which the __Host- prefix prevents on
// https). Browsers send older cookies first; past maxSignInCookies the newest are kept.
func (s *Service) SignInBrowser(cookies iter.Seq2[string, string]) Browser {
	base := s.SignInCookieName()
	var b Browser
	for name, value := range cookies {
		if name != base && !strings.HasPrefix(name, base+"_") || !validChallenge(value) || slices.Contains(b.secrets, value) {
			continue
		}
		if len(b.secrets) == maxSignInCookies {
			b.secrets = append(b.secrets[:0], b.secrets[1:]...)
		}
		b.secrets = append(b.secrets, value)
	}
	return b
}

// HasCookie reports whether the browser sent a sign-in cookie.
func (b Browser) HasCookie() bool { return len(b.secrets) > 0 }

// hashes are the stored forms of the browser's secrets (a flow's browser_hash is one of them).
func (b Browser) hashes() []string {
	hs := make([]string, len(b.secrets))
	for i, v := range b.secrets {
		hs[i] = secret.Hash(v)
	}
	return hs
}

// owns reports whether one of the browser's secrets hashes to hash (in constant time for each).
func (b Browser) owns(hash string) bool {
	found := false
	for _, v := range b.secrets {
		found = secret.Equal(v, hash) || found
	}
	return found
}
