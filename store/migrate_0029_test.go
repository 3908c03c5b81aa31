package store

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration29KeepsOIDCConnectionsTakingUnmarkedEmails: the OIDC connections that exist when
// migration 29 runs keep taking an email the IdP does not mark unverified, as they signed people
// in before; a connection stored requiring verified emails reads back with it. On both
// dialects, migrating twice.
func TestMigration29KeepsOIDCConnectionsTakingUnmarkedEmails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 28)
		conn := connectionFixtures(t, s)
		old := conn("Entra OIDC", models.ProtocolOIDC)
		if err := createInOldTable(ctx, s, old); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		strict := conn("Zitadel OIDC", models.ProtocolOIDC)
		strict.OIDCRequireVerifiedEmail = true
		if err := s.Create(ctx, strict); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			conn *models.Connection
			want bool
		}{{old, false}, {strict, true}} {
			got, err := s.Connection(ctx, c.conn.WorkspaceID, c.conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.OIDCRequireVerifiedEmail != c.want {
				t.Errorf("%s: requires verified emails %v, want %v", c.conn.Name, got.OIDCRequireVerifiedEmail, c.want)
			}
		}
	})
}
