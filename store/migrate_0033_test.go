package store

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration33LeavesOldGrantsUnchecked: a grant stored before migration 33 records no
// binding after it (no connection, no identifier key), so the binding rule does not reach it
// and its code still redeems; a grant stored after it keeps the binding it was given. On both
// dialects, migrating twice.
func TestMigration33LeavesOldGrantsUnchecked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 32)
		conn := connectionFixtures(t, s)("Okta", models.ProtocolOIDC)
		if err := createInOldTable(ctx, s, conn); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		u := &models.UserAccount{ID: NewID(), WorkspaceID: conn.WorkspaceID, UserName: "jo@example.com", UserNameKey: "jo@example.com",
			Active: true, Role: "member", Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		app := storedApplication(t, s, conn.WorkspaceID)
		grant := func(code string) *models.Grant {
			return &models.Grant{ID: NewID(), WorkspaceID: conn.WorkspaceID, ApplicationID: app, ClientID: "c", CodeHash: code,
				RedirectURI: "https://app/cb", Scope: "openid", UserAccountID: u.ID, Claims: `{"connection":"okta"}`, AuthTime: now,
				ExpiresAt: now.Add(time.Minute), CreatedAt: now}
		}
		old := grant("old-code")
		if err := createInOldTable(ctx, s, old); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		got, err := s.BoundGrant(ctx, conn.WorkspaceID, old.ID)
		if err != nil || got.ConnectionID != nil || got.IdentifierKey != "" {
			t.Fatalf("the old grant after migration 33: %+v %v; want no binding", got, err)
		}
		if _, err := s.RedeemGrant(ctx, "old-code", "c", now); err != nil {
			t.Fatalf("the old grant's code: %v", err)
		}
		fresh := grant("new-code")
		fresh.ConnectionID, fresh.IdentifierKey = &conn.ID, "jo"
		if err := s.CreateGrant(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		// Nobody is bound to "jo" at the connection: the new grant does not hold.
		if _, err := s.BoundGrant(ctx, conn.WorkspaceID, fresh.ID); err != ErrNotFound {
			t.Fatalf("a new grant whose binding does not exist: %v, want ErrNotFound", err)
		}
	})
}
