package store

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration27KeepsApplicationsOnES256: an application stored before migration 27 signs its
// id_tokens with ES256 after it, as it did; one stored after it keeps the algorithm it was
// given. On both dialects, migrating twice.
func TestMigration27KeepsApplicationsOnES256(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 26)
		app := applicationFixtures(t, s, models.IDTokenRS256)
		if err := createInOldTable(ctx, s, app("gha_before")); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		if err := s.Create(ctx, app("gha_after")); err != nil {
			t.Fatal(err)
		}
		for clientID, want := range map[string]models.IDTokenAlg{"gha_before": models.IDTokenES256, "gha_after": models.IDTokenRS256} {
			a, err := s.ApplicationByClientID(ctx, clientID)
			if err != nil || a == nil || a.IDTokenSignedResponseAlg != want {
				t.Errorf("application %s: %+v %v, want %s", clientID, a, err, want)
			}
		}
	})
}
