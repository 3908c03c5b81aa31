package store_test

import (
	"context"
	"strings"
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
		// Both binding statements are refused by the identity rule, not by the unique index:
		// the transaction they run in stays usable (a unique violation aborts a PostgreSQL one).
		err = st.InTx(ctx, func(ctx context.Context) error {
			taken := &models.Credential{ID: store.NewID(), WorkspaceID: ws.ID, UserAccountID: b.ID, ConnectionID: conn.ID,
				Identifier: "jane@X.IO", IdentifierKey: models.Key("jane@X.IO"), CreatedAt: now, UpdatedAt: now}
			if err := st.UpsertCredential(ctx, taken); !store.IsAlreadyExists(err, "identity") {
				t.Errorf("UpsertCredential of an identity of another account: %v", err)
			}
			ev := &models.AuditEvent{ID: store.NewID(), WorkspaceID: ws.ID, ActorType: "client", ActorID: "t",
				Action: "bind", TargetType: "user_account", TargetID: b.ID.String(), Summary: "{}", CreatedAt: now}
			taken.ID = store.NewID()
			if _, _, err := st.BindAccountCredential(ctx, "c", taken, ev); !store.IsAlreadyExists(err, "identity") {
				t.Errorf("BindAccountCredential of an identity of another account: %v", err)
			}
			_, err := st.CredentialsForAccounts(ctx, ws.ID, []uuid.UUID{b.ID})
			return err
		})
		if err != nil {
			t.Fatalf("the transaction after a refused binding: %v", err)
		}
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

// The identity rule's two forms agree: models.BindDecisionSQL, evaluated by each database over
// every state the rule reads, answers what models.DecideBind answers in Go.
func TestBindDecisionSQL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		st := openMigrated(t, dbURL)
		// The ids as each database stores them: uuid on PostgreSQL, text on SQLite.
		state := `SELECT CAST($1 AS text) AS owner, CAST($2 AS text) AS account, CAST($3 AS boolean) AS bound`
		if strings.HasPrefix(dbURL, "postgres") {
			state = `SELECT CAST($1 AS uuid) AS owner, CAST($2 AS uuid) AS account, CAST($3 AS boolean) AS bound`
		}
		q := `SELECT ` + models.BindDecisionSQL("s.owner", "s.account", "s.bound") + ` FROM (` + state + `) s`
		a, b := store.NewID(), store.NewID()
		seen := map[models.BindOutcome]bool{}
		for _, owner := range []uuid.UUID{uuid.Nil, a, b} {
			for _, bound := range []bool{false, true} {
				var ownerArg any
				if owner != uuid.Nil {
					ownerArg = owner.String()
				}
				var got int
				if err := st.DB().QueryRow(q, ownerArg, a.String(), bound).Scan(&got); err != nil {
					t.Fatal(err)
				}
				want := models.DecideBind(owner, a, bound)
				if models.BindOutcome(got) != want {
					t.Errorf("owner %v (account %v), bound %v: SQL decides %d, Go %d", owner, a, bound, got, want)
				}
				seen[want] = true
			}
		}
		if len(seen) != 3 {
			t.Errorf("the states cover outcomes %v, want all three", seen)
		}
	})
}
