package store_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// The storage contract, run against every dialect: migrations are repeatable, missing rows are
// ErrNotFound, unique indexes surface as ErrAlreadyExists naming the field, transactions roll back.
func TestStoreContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st, err := store.Open(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		// A database not migrated yet holds no integration client, and asking is no error: a
		// start asks before it migrates (app.New, of bootstrap credentials it would refuse).
		if has, err := st.HasIntegrationClients(ctx); has || err != nil {
			t.Fatalf("HasIntegrationClients before migrating: %v, %v", has, err)
		}
		for i := 0; i < 2; i++ {
			if err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate #%d: %v", i+1, err)
			}
		}
		if v, err := st.SchemaVersion(ctx); err != nil || v < 2 {
			t.Fatalf("schema version %d, %v", v, err)
		}
		now := time.Now().UTC()
		ws := &models.Workspace{ID: store.NewID(), Name: "W", CreatedAt: now}
		if err := st.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		if _, err := st.UserAccount(ctx, ws.ID, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing account: %v", err)
		}
		u := func(email string) *models.UserAccount {
			return &models.UserAccount{ID: store.NewID(), WorkspaceID: ws.ID, Email: email, EmailKey: models.Key(email),
				Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
		}
		if err := st.Create(ctx, u("a@x.io")); err != nil {
			t.Fatal(err)
		}
		if err := st.Create(ctx, u("A@X.io")); !store.IsAlreadyExists(err, "email") {
			t.Fatalf("duplicate email: %v", err)
		}
		// A failed transaction leaves nothing behind.
		b := u("b@x.io")
		err = st.InTx(ctx, func(ctx context.Context) error {
			if err := st.Create(ctx, b); err != nil {
				return err
			}
			return errors.New("abort")
		})
		if err == nil {
			t.Fatal("transaction error lost")
		}
		if _, err := st.UserAccount(ctx, ws.ID, b.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rolled-back row visible: %v", err)
		}
		// Optimistic versions.
		acct := u("c@x.io")
		st.Create(ctx, acct)
		stale := *acct
		acct.FirstName = "C"
		if err := st.UpdateUserAccount(ctx, acct); err != nil || acct.Version != 2 {
			t.Fatalf("update: %v (version %d)", err, acct.Version)
		}
		if err := st.UpdateUserAccount(ctx, &stale); !errors.Is(err, store.ErrStale) {
			t.Fatalf("stale update: %v", err)
		}
		// A write that refers to a missing row is ErrMissingReference, and changes nothing.
		conn := &models.Connection{ID: store.NewID(), WorkspaceID: ws.ID, Name: "C", NameKey: "c", Slug: "c",
			Protocol: models.ProtocolOIDC, Status: models.StatusInactive, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := st.Create(ctx, conn); err != nil {
			t.Fatal(err)
		}
		cred := &models.Credential{ID: store.NewID(), WorkspaceID: ws.ID, UserAccountID: store.NewID(), ConnectionID: conn.ID,
			Identifier: "x", IdentifierKey: "x", CreatedAt: now, UpdatedAt: now}
		ev := &models.AuditEvent{ID: store.NewID(), WorkspaceID: ws.ID, ActorType: "client", ActorID: "t", Action: "a",
			TargetType: "user_account", TargetID: "x", Summary: "{}", CreatedAt: now}
		if err := st.BindCredential(ctx, cred, ev); !errors.Is(err, store.ErrMissingReference) {
			t.Fatalf("bind to a missing account: %v", err)
		}
		if evs, _ := st.AuditEvents(ctx, ws.ID, nil, 10); len(evs) != 0 {
			t.Fatalf("audit event written for a failed bind: %v", evs)
		}
		// Binding writes the credential and its audit event together.
		cred.UserAccountID = acct.ID
		if err := st.BindCredential(ctx, cred, ev); err != nil {
			t.Fatal(err)
		}
		if evs, _ := st.AuditEvents(ctx, ws.ID, nil, 10); len(evs) != 1 {
			t.Fatalf("audit events: %v", evs)
		}
		// Workspace scoping: another workspace cannot read the row.
		other := &models.Workspace{ID: store.NewID(), Name: "O", CreatedAt: now}
		st.Create(ctx, other)
		if _, err := st.UserAccount(ctx, other.ID, acct.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cross-workspace read: %v", err)
		}
	})
}

// A SQLite path may contain characters that URIs reserve.
func TestSQLitePathWithReservedCharacters(t *testing.T) {
	path := t.TempDir() + "/a#b?c%d.db"
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %s: %v", path, err)
	}
}

// openMigrated opens the database at dbURL, migrates it and closes it when the test ends.
func openMigrated(t *testing.T, dbURL string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}
