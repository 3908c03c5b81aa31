package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// CreateAll and SaveSCIMUserWith (one statement on PostgreSQL) are atomic: a refused write
// leaves no activity row and no counter change behind, a stale save writes nothing, and the
// statistics count exactly what was written.
func TestBatchedWritesAreAtomic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := openMigrated(t, dbURL)
		now := time.Now().UTC()
		ws := &models.Workspace{ID: store.NewID(), Name: "W", CreatedAt: now}
		if err := st.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		user := func(name string) *models.UserAccount {
			return &models.UserAccount{ID: store.NewID(), WorkspaceID: ws.ID, Email: name + "@example.com", EmailKey: name + "@example.com",
				UserName: name, UserNameKey: name, Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
		}
		activity := func(op, id string) *models.SCIMActivity {
			return &models.SCIMActivity{ID: store.NewID(), WorkspaceID: ws.ID, Operation: op, ResourceType: models.SCIMResourceUser,
				ResourceID: id, Status: models.SCIMStatusSuccess, Details: "{}", CreatedAt: time.Now().UTC()}
		}
		activities := func() int64 {
			_, n, err := st.SCIMActivities(ctx, ws.ID, store.SCIMActivityFilter{}, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		stats := func() *models.SCIMStatistics {
			s, err := st.SCIMStatistics(ctx, ws.ID, time.Now().UTC())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}

		alice := user("alice")
		if err := st.CreateAll(ctx, alice, activity(models.SCIMOpCreate, alice.ID.String())); err != nil {
			t.Fatal(err)
		}
		if s := stats(); s.TotalUsers != 1 || s.UsersAdded24h != 1 || s.LastSyncAt == nil || activities() != 1 {
			t.Fatalf("after one create: %+v, %d activities", s, activities())
		}

		// A duplicate userName: the unique index refuses the account, and its activity row and
		// counters go with it.
		dup := user("ALICE")
		dup.UserNameKey, dup.EmailKey = "alice", "other@example.com"
		err := st.CreateAll(ctx, dup, activity(models.SCIMOpCreate, dup.ID.String()))
		if !store.IsAlreadyExists(err, "user_name") {
			t.Fatalf("duplicate create: %v", err)
		}
		if s := stats(); s.TotalUsers != 1 || s.UsersAdded24h != 1 || activities() != 1 {
			t.Fatalf("a refused create left traces: %+v, %d activities", s, activities())
		}

		// A save at the current version writes the user and its activity.
		alice.Active = false
		if err := st.SaveSCIMUserWith(ctx, alice, activity(models.SCIMOpUpdate, alice.ID.String())); err != nil {
			t.Fatal(err)
		}
		got, err := st.UserAccount(ctx, ws.ID, alice.ID)
		if err != nil || got.Active || got.Version != 2 || alice.Version != 2 || activities() != 2 {
			t.Fatalf("after save: %+v (%v), %d activities", got, err, activities())
		}
		// A save at an old version is stale and writes nothing.
		stale := *got
		stale.Version, stale.Active = 1, true
		if err := st.SaveSCIMUserWith(ctx, &stale, activity(models.SCIMOpUpdate, alice.ID.String())); !errors.Is(err, store.ErrStale) {
			t.Fatalf("stale save: %v", err)
		}
		if got, _ := st.UserAccount(ctx, ws.ID, alice.ID); got.Active || got.Version != 2 || activities() != 2 {
			t.Fatalf("a stale save wrote: %+v, %d activities", got, activities())
		}
		// A save of a user that is gone is ErrNotFound.
		gone := user("gone")
		if err := st.SaveSCIMUserWith(ctx, gone, activity(models.SCIMOpUpdate, gone.ID.String())); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("save of a missing user: %v", err)
		}
		// A save that breaks a unique index writes nothing either.
		bob := user("bob")
		if err := st.CreateAll(ctx, bob); err != nil {
			t.Fatal(err)
		}
		bob.UserName, bob.UserNameKey = "Alice", "alice"
		if err := st.SaveSCIMUserWith(ctx, bob, activity(models.SCIMOpUpdate, bob.ID.String())); !store.IsAlreadyExists(err, "user_name") {
			t.Fatalf("rename onto a taken userName: %v", err)
		}
		if activities() != 2 || stats().TotalUsers != 2 {
			t.Fatalf("a refused save left traces: %d activities, %+v", activities(), stats())
		}
		// Inside a caller's transaction the writes join it and roll back with it.
		carol := user("carol")
		err = st.InTx(ctx, func(ctx context.Context) error {
			if err := st.CreateAll(ctx, carol, activity(models.SCIMOpCreate, carol.ID.String())); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		if err == nil || activities() != 2 || stats().TotalUsers != 2 {
			t.Fatalf("rolled-back transaction: %v, %d activities, %+v", err, activities(), stats())
		}
	})
}

// Migration 9 leaves room on user_accounts' pages for HOT updates (PostgreSQL).
func TestUserAccountsLeaveRoomForHotUpdates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := openMigrated(t, dbURL)
		if st.Dialect() != store.Postgres {
			t.Skip("a PostgreSQL storage setting")
		}
		var opts string
		if err := st.RawScan(ctx, &opts, "SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'user_accounts'"); err != nil {
			t.Fatal(err)
		}
		if opts != "fillfactor=85" {
			t.Fatalf("user_accounts reloptions %q", opts)
		}
	})
}
