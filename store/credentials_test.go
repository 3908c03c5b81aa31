package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// BindAccountCredential's contract on every dialect: a missing account or connection binds
// nothing and records nothing; a binding writes the credential and its audit event together; an
// identity bound to another account is ux_credentials_identity; a rebind replaces.
func TestBindAccountCredential(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := openMigrated(t, dbURL)
		now := time.Now().UTC().Truncate(time.Microsecond)
		ws := &models.Workspace{ID: store.NewID(), Name: "W", CreatedAt: now}
		other := &models.Workspace{ID: store.NewID(), Name: "O", CreatedAt: now}
		st.Create(ctx, ws)
		st.Create(ctx, other)
		user := func(email string) *models.UserAccount {
			u := &models.UserAccount{ID: store.NewID(), WorkspaceID: ws.ID, Email: email, EmailKey: models.Key(email),
				FirstName: "F", Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := st.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
			return u
		}
		a, b := user("a@x.io"), user("b@x.io")
		conn := &models.Connection{ID: store.NewID(), WorkspaceID: ws.ID, Name: "C", NameKey: "c", Slug: "c",
			Protocol: models.ProtocolOIDC, Status: models.StatusInactive, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := st.Create(ctx, conn); err != nil {
			t.Fatal(err)
		}
		bind := func(wsID, accountID uuid.UUID, slug, identifier string) (*models.UserAccount, bool, *models.Credential, error) {
			c := &models.Credential{ID: store.NewID(), WorkspaceID: wsID, UserAccountID: accountID, Identifier: identifier,
				IdentifierKey: models.Key(identifier), CreatedAt: now, UpdatedAt: now}
			ev := &models.AuditEvent{ID: store.NewID(), WorkspaceID: c.WorkspaceID, ActorType: "client", ActorID: "t",
				Action: "bind", TargetType: "user_account", TargetID: c.UserAccountID.String(), Summary: "{}", CreatedAt: now}
			u, ok, err := st.BindAccountCredential(ctx, slug, c, ev)
			return u, ok, c, err
		}
		events := func(n int) {
			t.Helper()
			if evs, _ := st.AuditEvents(ctx, ws.ID, nil, 100); len(evs) != n {
				t.Fatalf("audit events: %d, want %d", len(evs), n)
			}
		}
		if u, ok, _, err := bind(ws.ID, store.NewID(), "c", "x"); u != nil || ok || err != nil {
			t.Fatalf("missing account: %v %v %v", u, ok, err)
		}
		if u, ok, _, err := bind(other.ID, a.ID, "c", "x"); u != nil || ok || err != nil {
			t.Fatalf("account of another workspace: %v %v %v", u, ok, err)
		}
		if u, ok, _, err := bind(ws.ID, a.ID, "nope", "x"); u == nil || u.ID != a.ID || ok || err != nil {
			t.Fatalf("missing connection: %v %v %v", u, ok, err)
		}
		events(0)
		u, ok, c, err := bind(ws.ID, a.ID, "c", "Jane@X.io")
		if err != nil || !ok || c.ConnectionID != conn.ID {
			t.Fatalf("bind: %v %v %v", ok, c.ConnectionID, err)
		}
		if u.ID != a.ID || u.Email != "a@x.io" || u.FirstName != "F" || !u.CreatedAt.Equal(now) || u.WorkspaceID != ws.ID {
			t.Fatalf("account row: %+v", u)
		}
		events(1)
		if _, _, _, err := bind(ws.ID, b.ID, "c", "JANE@x.io"); !store.IsAlreadyExists(err, "identity") {
			t.Fatalf("identity of another account: %v", err)
		}
		events(1)
		if _, ok, _, err := bind(ws.ID, a.ID, "c", "j2@x.io"); err != nil || !ok {
			t.Fatalf("rebind: %v %v", ok, err)
		}
		creds, err := st.CredentialsForAccounts(ctx, ws.ID, []uuid.UUID{a.ID})
		if err != nil || len(creds[a.ID]) != 1 || creds[a.ID][0].Identifier != "j2@x.io" {
			t.Fatalf("credentials: %v %v", creds, err)
		}
		events(2)
	})
}
