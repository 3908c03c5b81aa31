package models

import (
	"strings"
	"testing"
)

// TestValidRedirectURI: what the rule accepts, and for each refusal the words it gives (the
// payload error an administrator reads).
func TestValidRedirectURI(t *testing.T) {
	for _, ok := range []string{
		"https://app.example.com/cb",
		"https://app.example.com:8443/oidc/callback?tenant=a&x=%20y",
		"https://[2001:db8::1]/cb",
		"https://192.0.2.10/cb",
		"https://xn--bcher-kva.example/cb",
		"https://internal_host.corp.example/cb",
		"http://localhost:5173/callback",
		"http://127.0.0.1:8080/cb",
		"http://[::1]/cb",
	} {
		if p := ValidRedirectURI(ok); p != "" {
			t.Errorf("%s: refused: %s", ok, p)
		}
	}
	for uri, want := range map[string]string{
		"https://app.example.com/cb ":          "must not contain spaces",
		"https://app.example.com/c b":          "must not contain spaces",
		"https://app.example.com/cb\n":         "must not contain spaces",
		"https://app.example.com/c\"b":         `must not contain '"'`,
		"https://bücher.example/cb":            "must not contain 'ü'",
		"https://app.example.com/cb?x=<y>":     "must not contain '<'",
		"https://app.example.com:99999/cb":     "port between 1 and 65535",
		"https://app.example.com:0/cb":         "port between 1 and 65535",
		"https://app.example.com:/cb":          "port between 1 and 65535",
		"https://*.example.com/cb":             "no wildcards",
		"https://-/cb":                         "DNS name or IP address",
		"https://app-.example.com/cb":          "DNS name or IP address",
		"https://app..example.com/cb":          "DNS name or IP address",
		"https://app.example.com./cb":          "DNS name or IP address",
		"com.example.app:/cb":                  "must use https",
		"javascript:alert(1)":                  "must use https",
		"ftp://app.example.com/cb":             "must use https",
		"http://app.example.com/cb":            "must use https",
		"https:/cb":                            "with a host",
		"/callback":                            "must be an absolute URL",
		"https://app.example.com/cb#x":         "must not contain a fragment",
		"https://u:p@app.example.com/cb":       "must not contain user information",
		"https://app.example.com/cb?state=x":   "query parameter state",
		"https://app.example.com/%zz":          "must be an absolute URL",
		"https://" + strings.Repeat("a", 2048): "at most 2048 characters",
	} {
		if p := ValidRedirectURI(uri); !strings.Contains(p, want) {
			t.Errorf("%q: %q, want it to say %q", uri, p, want)
		}
	}
}

// Redirect URIs match exactly, but for a public (native) application's loopback IP literal,
// whose port may be any (RFC 8252 §7.3); nothing else about the URI may differ, and neither a
// confidential application nor "localhost" gets the exception.
func TestRegisteredRedirect(t *testing.T) {
	registered := []string{"http://127.0.0.1/callback", "http://[::1]:8080/cb?app=1", "http://localhost:3000/callback", "https://portal.example/cb"}
	public := &Application{Type: ApplicationPublic}
	public.SetRedirectURIs(registered)
	confidential := &Application{Type: ApplicationConfidential}
	confidential.SetRedirectURIs(registered)
	cases := []struct {
		uri                  string
		public, confidential bool
	}{
		{"http://127.0.0.1/callback", true, true},
		{"http://127.0.0.1:53211/callback", true, false},
		{"http://127.0.0.1:1/callback", true, false},
		{"http://[::1]:49152/cb?app=1", true, false},
		{"http://[::1]/cb?app=1", true, false},
		{"https://portal.example/cb", true, true},
		{"http://localhost:3000/callback", true, true},
		// Not the registered URI but for its port: refused.
		{"http://localhost:3001/callback", false, false},
		{"http://127.0.0.1:53211/callback/", false, false},
		{"http://127.0.0.1:53211/callbackx", false, false},
		{"http://127.0.0.1:53211/Callback", false, false},
		{"http://127.0.0.1:53211/callback?x=1", false, false},
		{"http://127.0.0.1:53211/callback#f", false, false},
		{"http://[::1]:49152/cb", false, false},
		{"http://[::1]:49152/callback", false, false},
		{"http://127.0.0.1:53211/cb?app=1", false, false},
		{"http://127.0.0.2:53211/callback", false, false},
		{"http://127.0.0.1.evil.example:53211/callback", false, false},
		{"http://user@127.0.0.1:53211/callback", false, false},
		{"https://127.0.0.1:53211/callback", false, false},
		{"HTTP://127.0.0.1:53211/callback", false, false},
		{"http://127.0.0.1:053211/callback", false, false},
		{"http://127.0.0.1:0/callback", false, false},
		{"http://127.0.0.1:65536/callback", false, false},
		{"http://127.0.0.1:/callback", false, false},
		{"http://127.0.0.1:x/callback", false, false},
		{"https://portal.example:8443/cb", false, false},
	}
	for _, c := range cases {
		if got := public.RegisteredRedirect(c.uri); got != c.public {
			t.Errorf("public application, %s: %v, want %v", c.uri, got, c.public)
		}
		if got := confidential.RegisteredRedirect(c.uri); got != c.confidential {
			t.Errorf("confidential application, %s: %v, want %v", c.uri, got, c.confidential)
		}
	}
}
