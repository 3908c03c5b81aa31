package store

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration31KeepsSAMLConnectionsAcceptingSHA1: the SAML connections stored before
// migration 31 accept SHA-1 signatures after it, as they did; an OIDC connection is left as it
// was; a SAML connection stored after it refuses them unless told, and an update turning them
// off reads back. On both dialects, migrating twice (the second run must not turn them on
// again for a connection that turned them off in between).
func TestMigration31KeepsSAMLConnectionsAcceptingSHA1(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 30)
		conn := connectionFixtures(t, s)
		old, oidc := conn("ADFS", models.ProtocolSAML), conn("Okta OIDC", models.ProtocolOIDC)
		for _, c := range []*models.Connection{old, oidc} {
			if err := createInOldTable(ctx, s, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		fresh := conn("Okta SAML", models.ProtocolSAML)
		if err := s.Create(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		read := func(c *models.Connection) *models.Connection {
			t.Helper()
			got, err := s.Connection(ctx, c.WorkspaceID, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		for _, c := range []struct {
			conn *models.Connection
			want bool
		}{{old, true}, {oidc, false}, {fresh, false}} {
			if got := read(c.conn); got.SAMLAcceptSHA1 != c.want {
				t.Errorf("%s: accepts SHA-1 %v, want %v", c.conn.Name, got.SAMLAcceptSHA1, c.want)
			}
		}
		tightened := read(old)
		tightened.SAMLAcceptSHA1 = false
		if err := s.UpdateConnection(ctx, tightened); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		if got := read(old); got.SAMLAcceptSHA1 {
			t.Error("ADFS: accepts SHA-1 again after migrating again")
		}
	})
}
