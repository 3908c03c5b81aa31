package store

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration23KeepsOIDCConnectionsOnTheirClientSecret: the OIDC connections that exist when
// migration 23 runs keep authenticating to their IdP with their client secret; a connection
// stored with private_key_jwt reads back with it. On both dialects, migrating twice.
func TestMigration23KeepsOIDCConnectionsOnTheirClientSecret(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 22)
		conn := connectionFixtures(t, s)
		old := conn("Okta OIDC", models.ProtocolOIDC)
		old.OIDCClientSecretEnc = []byte("sealed")
		if err := createInOldTable(ctx, s, old); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		keyed := conn("Entra OIDC", models.ProtocolOIDC)
		keyed.OIDCClientAuthMethod = string(models.ClientAuthPrivateKeyJWT)
		if err := s.Create(ctx, keyed); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			conn   *models.Connection
			method models.ClientAuthMethod
		}{{old, models.ClientAuthSecret}, {keyed, models.ClientAuthPrivateKeyJWT}} {
			got, err := s.Connection(ctx, c.conn.WorkspaceID, c.conn.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.ClientAuthMethod() != c.method || string(got.OIDCClientSecretEnc) != string(c.conn.OIDCClientSecretEnc) {
				t.Errorf("%s: client authentication %q (secret %q), want %q", c.conn.Name, got.ClientAuthMethod(), got.OIDCClientSecretEnc, c.method)
			}
		}
	})
}
