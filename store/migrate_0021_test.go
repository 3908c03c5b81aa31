package store

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration21KeepsOIDCConnectionsOnTheSharedCallback: the OIDC connections that exist when
// migration 21 runs are registered at their IdPs with the shared redirect URI, so they keep it;
// a connection stored with its own redirect URI reads back with it. On both dialects,
// migrating twice.
func TestMigration21KeepsOIDCConnectionsOnTheSharedCallback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 20)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		if err := s.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		conn := func(name string) *models.Connection {
			return &models.Connection{ID: NewID(), WorkspaceID: ws.ID, Name: name, NameKey: models.Key(name), Slug: models.Slugify(name),
				Protocol: models.ProtocolOIDC, Status: models.StatusActive, SAMLAttributeMapping: "{}", DefaultRole: models.DefaultRole,
				Version: 1, CreatedAt: now, UpdatedAt: now}
		}
		old := conn("Okta OIDC")
		// Omitted: the column this migration adds, which a version-20 table lacks.
		if err := translate(s.db(ctx).Omit("OIDCOwnCallback").Create(old).Error); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		own := conn("Entra OIDC")
		own.OIDCOwnCallback = true
		if err := s.Create(ctx, own); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			conn *models.Connection
			own  bool
		}{{old, false}, {own, true}} {
			got, err := s.Connection(ctx, ws.ID, c.conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.OIDCOwnCallback != c.own {
				t.Errorf("%s: own callback %v, want %v", c.conn.Name, got.OIDCOwnCallback, c.own)
			}
		}
	})
}
