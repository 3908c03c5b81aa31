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
