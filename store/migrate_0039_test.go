package store

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration39KeepsRedirect: a SAML connection stored before migration 39 sends its
// AuthnRequests by HTTP-Redirect after it, as before; one set to HTTP-POST reads back so, and
// migrating again leaves it so. On both dialects.
func TestMigration39KeepsRedirect(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 38)
		conn := connectionFixtures(t, s)
		old := conn("Okta", models.ProtocolSAML)
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
		if got.SSOBinding() != models.SAMLBindingRedirect {
			t.Fatalf("after migration 39: binding %q; want HTTP-Redirect", got.SSOBinding())
		}
		got.SAMLSSOBinding = string(models.SAMLBindingPost)
		if err := s.UpdateConnection(ctx, got); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		if got, err := s.Connection(ctx, old.WorkspaceID, old.ID); err != nil || got.SSOBinding() != models.SAMLBindingPost {
			t.Fatalf("after migrating again: %v, %v; want HTTP-POST", got, err)
		}
	})
}
