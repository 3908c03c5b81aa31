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
