package store

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration20KeepsSAMLConnectionsOnTheSharedEntityID: the SAML connections that exist
// when migration 20 runs are registered at their IdPs under the shared SP entity ID, so they
// keep it (saml_shared_entity_id); OIDC connections, and every connection created after,
// do not have it. On both dialects, migrating twice.
func TestMigration20KeepsSAMLConnectionsOnTheSharedEntityID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 19)
		conn := connectionFixtures(t, s)
		saml, oidc := conn("Okta SAML", models.ProtocolSAML), conn("Okta OIDC", models.ProtocolOIDC)
		for _, c := range []*models.Connection{saml, oidc} {
			if err := createInOldTable(ctx, s, c); err != nil {
				t.Fatal(err)
			}
		}
		migrateTwice(t, s)
		fresh := conn("New SAML", models.ProtocolSAML)
		if err := s.Create(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			conn   *models.Connection
			shared bool
		}{{saml, true}, {oidc, false}, {fresh, false}} {
			got, err := s.Connection(ctx, c.conn.WorkspaceID, c.conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.SAMLSharedEntityID != c.shared {
				t.Errorf("%s: shared entity ID %v, want %v", c.conn.Name, got.SAMLSharedEntityID, c.shared)
			}
		}
	})
}
