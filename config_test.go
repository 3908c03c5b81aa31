package main

import (
	"testing"
	"time"

	"gatehouse/app"
)

func TestSCIMRetentionConfig(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS" {
				return v
			}
			return ""
		}
	}
	c, err := app.LoadConfig(env(""))
	if err != nil || c.SCIMActivityRetention != 90*24*time.Hour {
		t.Fatalf("default: %v %v", c.SCIMActivityRetention, err)
	}
	if c, err = app.LoadConfig(env("7")); err != nil || c.SCIMActivityRetention != 7*24*time.Hour {
		t.Fatalf("7: %v %v", c.SCIMActivityRetention, err)
	}
	if c, err = app.LoadConfig(env("36500")); err != nil || c.SCIMActivityRetention != 36500*24*time.Hour {
		t.Fatalf("36500: %v %v", c.SCIMActivityRetention, err)
	}
	for _, bad := range []string{"0", "-1", "ninety", "36501", "213600"} {
		if _, err := app.LoadConfig(env(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Unset, the public URL follows the listen address's port; set, it is taken as written.
func TestPublicURLFollowsTheListenPort(t *testing.T) {
	for _, c := range []struct{ addr, public, want string }{
		{"", "", "http://localhost:8080"},
		{":9090", "", "http://localhost:9090"},
		{"127.0.0.1:18082", "", "http://localhost:18082"},
		{"127.0.0.1:0", "", "http://localhost:8080"},
		{":9090", "https://sso.example.com", "https://sso.example.com"},
	} {
		cfg, err := app.LoadConfig(func(name string) string {
			return map[string]string{"GATEHOUSE_ADDR": c.addr, "GATEHOUSE_PUBLIC_URL": c.public}[name]
		})
		if err != nil || cfg.PublicURL != c.want {
			t.Errorf("GATEHOUSE_ADDR=%q GATEHOUSE_PUBLIC_URL=%q: %q, %v; want %q", c.addr, c.public, cfg.PublicURL, err, c.want)
		}
	}
}
