package store

import (
	"context"
	"testing"
	"time"

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
		now := time.Now().UTC()
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		brand := &models.Brand{ID: NewID(), WorkspaceID: ws.ID, Name: "B", NameKey: "b", Slug: "b", Version: 1, CreatedAt: now, UpdatedAt: now}
		for _, row := range []any{ws, brand} {
			if err := translate(s.db(ctx).Create(row).Error); err != nil {
				t.Fatal(err)
			}
		}
		app := func(clientID string) *models.Application {
			return &models.Application{ID: NewID(), WorkspaceID: ws.ID, BrandID: brand.ID, ClientID: clientID, Name: clientID,
				Type: models.ApplicationConfidential, RedirectURIsJSON: `["https://app/cb"]`, PostLogoutRedirectURIsJSON: "[]",
				IDTokenSignedResponseAlg: models.IDTokenRS256, Version: 1, CreatedAt: now, UpdatedAt: now}
		}
		// Omitted: the column this migration adds, which a version-26 table lacks.
		if err := translate(s.db(ctx).Omit("IDTokenSignedResponseAlg").Create(app("gha_before")).Error); err != nil {
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
