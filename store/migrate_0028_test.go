package store

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration28RevokesTokensOfDeletedConnections: a token tied to a connection deleted before
// migration 28 is revoked as of the deletion (to PostgreSQL's microsecond); a token tied to a
// live connection, an untied one and one revoked already are left as they are. On both
// dialects, migrating twice.
func TestMigration28RevokesTokensOfDeletedConnections(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 27)
		now := time.Now().UTC().Truncate(time.Second)
		ws := &models.Workspace{ID: NewID(), Name: "w", CreatedAt: now}
		if err := s.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		connection := func(name string) *models.Connection {
			c := &models.Connection{ID: NewID(), WorkspaceID: ws.ID, Name: name, NameKey: models.Key(name), Slug: models.Slugify(name),
				Protocol: models.ProtocolOIDC, Status: models.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := createInOldTable(ctx, s, c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		gone, live := connection("Gone"), connection("Live")
		token := func(name string, c *models.Connection, revoked *time.Time) *models.SCIMToken {
			tok := &models.SCIMToken{ID: NewID(), WorkspaceID: ws.ID, Name: name, TokenHash: "hash-" + name, MaskedValue: "****",
				ScopeString: "users:read", RevokedAt: revoked, CreatedAt: now, UpdatedAt: now}
			if c != nil {
				tok.ConnectionID = &c.ID
			}
			if err := s.Create(ctx, tok); err != nil {
				t.Fatal(err)
			}
			return tok
		}
		earlier := now.Add(-time.Hour)
		tied, tiedRevoked, tiedLive, untied := token("tied", gone, nil), token("tied-revoked", gone, &earlier), token("tied-live", live, nil), token("untied", nil, nil)
		// Deleted as the store did before migration 28: the tied tokens stay active.
		if err := s.DeleteConnection(ctx, gone); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		want := map[*models.SCIMToken]*time.Time{tied: gone.DeletedAt, tiedRevoked: &earlier, tiedLive: nil, untied: nil}
		for tok, revokedAt := range want {
			got, err := s.SCIMToken(ctx, ws.ID, tok.ID)
			if err != nil {
				t.Fatal(err)
			}
			if (got.RevokedAt == nil) != (revokedAt == nil) || got.RevokedAt != nil && !got.RevokedAt.Truncate(time.Microsecond).Equal(revokedAt.Truncate(time.Microsecond)) {
				t.Errorf("%s: revoked at %v, want %v", tok.Name, got.RevokedAt, revokedAt)
			}
		}
	})
}
