package store

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration30KeepsApplicationsWithoutPKCE: an application stored before migration 30 does
// not require PKCE after it, as it did not; one stored requiring it after the migration, or
// updated to, reads back with it. On both dialects, migrating twice.
func TestMigration30KeepsApplicationsWithoutPKCE(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 29)
		fixture := applicationFixtures(t, s, models.IDTokenES256)
		app := func(clientID string) *models.Application {
			a := fixture(clientID)
			a.RequirePKCE = true
			return a
		}
		before := app("gha_before")
		if err := createInOldTable(ctx, s, before); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		if err := s.Create(ctx, app("gha_after")); err != nil {
			t.Fatal(err)
		}
		for clientID, want := range map[string]bool{"gha_before": false, "gha_after": true} {
			a, err := s.ApplicationByClientID(ctx, clientID)
			if err != nil || a == nil || a.RequirePKCE != want {
				t.Errorf("application %s: %+v %v, want requirePkce %v", clientID, a, err, want)
			}
		}
		before.RequirePKCE = true
		if err := s.UpdateApplication(ctx, before); err != nil {
			t.Fatal(err)
		}
		if a, err := s.ApplicationByClientID(ctx, "gha_before"); err != nil || !a.RequirePKCE {
			t.Errorf("gha_before after an update requiring PKCE: %+v %v", a, err)
		}
	})
}
