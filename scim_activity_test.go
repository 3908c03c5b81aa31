package main

import (
	"context"
	"log/slog"
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
		// A retention that is not positive would delete everything: refused.
		if _, err := e.app.svc.PruneScimActivities(context.Background(), 0); err == nil {
			t.Fatal("a zero retention was accepted")
		}
		// The server's pruner prunes at start.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			pruneScimActivities(ctx, e.app.svc, 90*24*time.Hour, slog.New(slog.DiscardHandler))
			close(done)
		}()
		var r *apiResponse
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			r = e.call("GET", "/api/v1/scim/activities", admin, nil).must(t, 200)
			if get(r.Body, "total") == 1.0 || time.Now().After(deadline) {
				break
			}
		}
		cancel()
		<-done
		if get(r.Body, "total") != 1.0 || str(r.Body, "activities", 0, "details", "userName") != "new" {
			t.Fatalf("after prune: %s", r.Raw)
		}
		if deleted, err := e.app.svc.PruneScimActivities(context.Background(), 90*24*time.Hour); err != nil || deleted != 0 {
			t.Fatalf("second prune: %d, %v", deleted, err)
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

func TestScimStatisticsCounters(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.adminToken()
		tok, _ := e.scimToken(admin, allScopes("idp"))
		ids := []string{e.scimUser(tok, map[string]any{"userName": "a"}), e.scimUser(tok, map[string]any{"userName": "b"})}
		e.createUser(admin, "graphql@example.com")
		e.call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "g1"}).must(t, 201)
		g2 := str(e.call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "g2"}).must(t, 201).Body, "id")
		e.call("DELETE", "/scim/v2/Users/"+ids[0], tok, nil).must(t, 204)
		e.call("DELETE", "/scim/v2/Groups/"+g2, tok, nil).must(t, 204)
		e.call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "B"}).must(t, 409) // a failed create counts nothing
		stats := func() (float64, float64) {
			r := e.call("GET", "/api/v1/scim/statistics", admin, nil).must(t, 200)
			return get(r.Body, "totalUsers").(float64), get(r.Body, "totalGroups").(float64)
		}
		if u, g := stats(); u != 2 || g != 1 {
			t.Fatalf("totals %v users, %v groups; want 2, 1", u, g)
		}
		// lastSyncAt is the newest success, not the newest failure.
		r := e.call("GET", "/api/v1/scim/activities?status=success&pageSize=1", admin, nil).must(t, 200)
		newest, _ := time.Parse(time.RFC3339Nano, str(r.Body, "activities", 0, "timestamp"))
		r = e.call("GET", "/api/v1/scim/statistics", admin, nil).must(t, 200)
		last, _ := time.Parse(time.RFC3339Nano, str(r.Body, "lastSyncAt"))
		if d := newest.Sub(last); d < 0 || d >= time.Microsecond {
			t.Fatalf("lastSyncAt %v, newest success %v", last, newest)
		}
		// A row written behind the store's back drifts the counter until reconciliation.
		var n []int
		if err := e.app.store.RawScan(context.Background(), &n, "DELETE FROM user_accounts WHERE id = ?", ids[1]); err != nil {
			t.Fatal(err)
		}
		if err := e.app.svc.ReconcileScimCounts(context.Background()); err != nil {
			t.Fatal(err)
		}
		if u, g := stats(); u != 1 || g != 1 {
			t.Fatalf("after reconcile %v users, %v groups; want 1, 1", u, g)
		}
	})
}

// TestScimStatisticsDayWindow: the 24-hour counts are exact at the window's old edge, where
// they come from activity rows rather than the hourly counters.
func TestScimStatisticsDayWindow(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.adminToken()
		tok, _ := e.scimToken(admin, allScopes("idp"))
		e.call("GET", "/scim/v2/Users/nope", tok, nil).must(t, 404) // one error now
		var ws []struct{ WorkspaceID string }
		if err := e.app.store.RawScan(context.Background(), &ws, "SELECT workspace_id FROM scim_activities"); err != nil || len(ws) != 1 {
			t.Fatalf("%v %v", ws, err)
		}
		since := time.Now().UTC().Add(-24 * time.Hour)
		edge := since.Add(since.Truncate(time.Hour).Add(time.Hour).Sub(since) / 2) // inside the partial oldest hour
		var n []int
		for i, at := range []time.Time{edge, since.Add(-time.Hour)} {
			if err := e.app.store.RawScan(context.Background(), &n, `INSERT INTO scim_activities (id, workspace_id, operation, resource_type,
				resource_id, status, error_message, details, created_at) VALUES (?, ?, 'create', 'user', '', 'error', 'old', '{}', ?)`,
				[]string{"0190c7e5-0000-7000-8000-0000000000a1", "0190c7e5-0000-7000-8000-0000000000a2"}[i], ws[0].WorkspaceID, at); err != nil {
				t.Fatal(err)
			}
		}
		r := e.call("GET", "/api/v1/scim/statistics", admin, nil).must(t, 200)
		if get(r.Body, "errorCount24h") != 2.0 {
			t.Fatalf("errorCount24h: %s", r.Raw)
		}
	})
}
