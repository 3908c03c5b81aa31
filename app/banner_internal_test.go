package app

import (
	"strings"
	"testing"
)

// The banner's curl reaches the server: the public URL, or, when that was left to its default
// on another port, the listen address (localhost when it listens on every interface).
func TestBootstrapBannerCurl(t *testing.T) {
	for _, c := range []struct {
		addr, public, want string
	}{
		{":8080", "", "http://localhost:8080/oauth/token"},
		{":9090", "", "http://localhost:9090/oauth/token"},
		{"0.0.0.0:9090", "", "http://localhost:9090/oauth/token"},
		{"[::]:9090", "", "http://localhost:9090/oauth/token"},
		{"10.0.0.5:9090", "", "http://10.0.0.5:9090/oauth/token"},
		{"[::1]:9090", "", "http://[::1]:9090/oauth/token"},
		{":9090", "https://sso.example.com", "https://sso.example.com/oauth/token"},
	} {
		cfg, err := LoadConfig(func(name string) string {
			return map[string]string{"GATEHOUSE_ADDR": c.addr, "GATEHOUSE_PUBLIC_URL": c.public}[name]
		})
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		printBootstrap(&out, cfg, "ghc_x", "ghs_y")
		if !strings.Contains(out.String(), "-d grant_type=client_credentials "+c.want+"\n") {
			t.Errorf("GATEHOUSE_ADDR=%q GATEHOUSE_PUBLIC_URL=%q: %s", c.addr, c.public, out.String())
		}
		if note := strings.Contains(out.String(), "GATEHOUSE_PUBLIC_URL is unset"); note != (c.public == "" && c.addr != ":8080") {
			t.Errorf("GATEHOUSE_ADDR=%q GATEHOUSE_PUBLIC_URL=%q: note %v", c.addr, c.public, note)
		}
	}
}
