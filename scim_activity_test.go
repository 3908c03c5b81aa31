package main

import (
	"context"
	"testing"
	"time"
)

func TestScimActivityRetention(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.adminToken()
		tok, _ := e.scimToken(admin, allScopes("idp"))
		old := e.scimUser(tok, map[string]any{"userName": "old"})
		e.scimUser(tok, map[string]any{"userName": "new"})
		var n []int
		if err := e.app.store.RawScan(context.Background(), &n, "UPDATE scim_activities SET created_at = ? WHERE resource_id = ?",
			time.Now().Add(-91*24*time.Hour).UTC(), old); err != nil {
			t.Fatal(err)
		}
		deleted, err := e.app.svc.PruneScimActivities(context.Background(), 90*24*time.Hour)
		if err != nil || deleted != 1 {
			t.Fatalf("pruned %d, %v", deleted, err)
		}
		r := e.call("GET", "/api/v1/scim/activities", admin, nil).must(t, 200)
		if get(r.Body, "total") != 1.0 || str(r.Body, "activities", 0, "details", "userName") != "new" {
			t.Fatalf("after prune: %s", r.Raw)
		}
	})
}

func TestScimRetentionConfig(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS" {
				return v
			}
			return ""
		}
	}
	c, err := loadConfig(env(""))
	if err != nil || c.ScimActivityRetention != 90*24*time.Hour {
		t.Fatalf("default: %v %v", c.ScimActivityRetention, err)
	}
	if c, err = loadConfig(env("7")); err != nil || c.ScimActivityRetention != 7*24*time.Hour {
		t.Fatalf("7: %v %v", c.ScimActivityRetention, err)
	}
	for _, bad := range []string{"0", "-1", "ninety"} {
		if _, err := loadConfig(env(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
