package store

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration32LeavesProvisioningAsItWas: a connection stored before migration 32 does not
// restrict automatic provisioning to its verified domains after it, as before; a connection
// turned to restrict it reads back so, and migrating again leaves it so. On both dialects.
func TestMigration32LeavesProvisioningAsItWas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 31)
		conn := connectionFixtures(t, s)
		old := conn("Google", models.ProtocolOIDC)
		old.JITProvisioning = true
		if err := createInOldTable(ctx, s, old); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := s.Connection(ctx, old.WorkspaceID, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.JITVerifiedDomainsOnly || !got.JITProvisioning {
			t.Fatalf("after migration 32: verified domains only %v, JIT %v; want false, true", got.JITVerifiedDomainsOnly, got.JITProvisioning)
		}
		got.JITVerifiedDomainsOnly = true
		if err := s.UpdateConnection(ctx, got); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		if got, err := s.Connection(ctx, old.WorkspaceID, old.ID); err != nil || !got.JITVerifiedDomainsOnly {
			t.Fatalf("after migrating again: %v, %v; want restricted", got, err)
		}
	})
}
