package store

import (
	"context"
	"testing"

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
		conn := connectionFixtures(t, s)
		old := conn("Okta OIDC", models.ProtocolOIDC)
		if err := createInOldTable(ctx, s, old); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		own := conn("Entra OIDC", models.ProtocolOIDC)
		own.OIDCOwnCallback = true
		if err := s.Create(ctx, own); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			conn *models.Connection
			own  bool
		}{{old, false}, {own, true}} {
			got, err := s.Connection(ctx, c.conn.WorkspaceID, c.conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.OIDCOwnCallback != c.own {
				t.Errorf("%s: own callback %v, want %v", c.conn.Name, got.OIDCOwnCallback, c.own)
			}
		}
	})
}
