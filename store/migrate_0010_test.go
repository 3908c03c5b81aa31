package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration10KeepsLogRows: dropping the workspace keys of the activity log and the counters
// (a table rebuild on SQLite) keeps every row and index, and rows no longer need a workspace
// row, on both dialects.
func TestMigration10KeepsLogRows(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 9)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		tok := NewID()
		act := &models.SCIMActivity{ID: NewID(), WorkspaceID: ws.ID, TokenID: &tok, Operation: "create", ResourceType: "user",
			ResourceID: "r1", Status: "error", ErrorMessage: "boom", Details: `{"httpStatus":409}`, CreatedAt: now}
		for _, row := range []any{ws, act, &scimCounter{WorkspaceID: ws.ID, Kind: "users", Bucket: 0, Shard: 3, N: 42}} {
			if err := s.Create(ctx, row); err != nil {
				t.Fatal(err)
			}
		}
		// Before: a row of an unknown workspace is refused.
		if err := s.Create(ctx, &models.SCIMActivity{ID: NewID(), WorkspaceID: uuid.New(), Operation: "read", ResourceType: "user",
			Status: "error", Details: "{}", CreatedAt: now}); err == nil {
			t.Fatal("version 9 accepted an activity row of no workspace")
		}
		migrateTwice(t, s)
		var acts []models.SCIMActivity
		if err := s.gdb.Find(&acts).Error; err != nil || len(acts) != 1 {
			t.Fatalf("activities after the rebuild: %v %v", acts, err)
		}
		a := acts[0]
		if a.ID != act.ID || a.WorkspaceID != ws.ID || *a.TokenID != tok || a.ResourceID != "r1" || a.ErrorMessage != "boom" ||
			a.Details != act.Details || !a.CreatedAt.Equal(now) {
			t.Fatalf("activity changed: %+v, want %+v", a, act)
		}
		var counters []scimCounter // the row written above, and the hourly error count the activity row added
		if err := s.gdb.Order("kind").Find(&counters).Error; err != nil || len(counters) != 2 ||
			counters[0].Kind != "errors" || counters[0].N != 1 || counters[1].Kind != "users" || counters[1].N != 42 || counters[1].Shard != 3 {
			t.Fatalf("counters after the rebuild: %+v %v", counters, err)
		}
		// The keys are gone; the primary keys and indexes are not.
		if err := s.Create(ctx, &models.SCIMActivity{ID: NewID(), WorkspaceID: uuid.New(), Operation: "read", ResourceType: "user",
			Status: "error", Details: "{}", CreatedAt: now}); err != nil {
			t.Fatalf("an activity row still needs its workspace: %v", err)
		}
		if err := s.Create(ctx, &scimCounter{WorkspaceID: ws.ID, Kind: "users", Bucket: 0, Shard: 3, N: 1}); err == nil {
			t.Fatalf("duplicate counter row: %v", err)
		}
		for _, ix := range []string{"ix_scim_activities_workspace_time", "ix_scim_activities_token"} {
			q := "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
			if s.dialect == Postgres {
				q = "SELECT count(*) FROM pg_indexes WHERE indexname = ?"
			}
			var n int
			if err := s.RawScan(ctx, &n, q, ix); err != nil || n != 1 {
				t.Fatalf("index %s: %d %v", ix, n, err)
			}
		}
	})
}
