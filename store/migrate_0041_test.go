package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration41EmptyExternalIDIsNone: user accounts and SCIM groups stored with an empty
// externalId have none (NULL) after migration 41, with their versions as they were; those with
// an externalId, or none, keep it. On both dialects, migrated twice.
func TestMigration41EmptyExternalIDIsNone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 40)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		if err := s.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		empty, set := "", "00u1abc"
		user := func(name string, ext *string) *models.UserAccount {
			u := &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, UserName: name, UserNameKey: models.Key(name),
				ExternalID: ext, SCIMData: "{}", Active: true, Role: models.DefaultRole, Version: 3, CreatedAt: now, UpdatedAt: now}
			if err := createInOldTable(ctx, s, u); err != nil {
				t.Fatal(err)
			}
			return u
		}
		group := func(name string, ext *string) *models.Group {
			g := &models.Group{ID: NewID(), WorkspaceID: ws.ID, DisplayName: name, DisplayNameKey: models.Key(name),
				ExternalID: ext, Version: 2, CreatedAt: now, UpdatedAt: now}
			if err := createInOldTable(ctx, s, g); err != nil {
				t.Fatal(err)
			}
			return g
		}
		// Two of each with "": no index makes them clash when both become NULL.
		users := []*models.UserAccount{user("a", &empty), user("b", &empty), user("c", &set), user("d", nil)}
		groups := []*models.Group{group("A", &empty), group("B", &empty), group("C", &set), group("D", nil)}

		migrateTwice(t, s)
		show := func(ext *string) string {
			if ext == nil {
				return "NULL"
			}
			return strconv.Quote(*ext)
		}
		want := func(ext *string) string { return show(models.ExternalIDOf(ext)) }
		for _, u := range users {
			got, err := s.UserAccount(ctx, ws.ID, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if show(got.ExternalID) != want(u.ExternalID) || got.Version != u.Version {
				t.Errorf("user %s stored with externalId %s: %s, version %d; want %s, version %d", u.UserName, show(u.ExternalID),
					show(got.ExternalID), got.Version, want(u.ExternalID), u.Version)
			}
		}
		for _, g := range groups {
			got, err := s.Group(ctx, ws.ID, g.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			if show(got.ExternalID) != want(g.ExternalID) || got.Version != g.Version {
				t.Errorf("group %s stored with externalId %s: %s, version %d; want %s, version %d", g.DisplayName, show(g.ExternalID),
					show(got.ExternalID), got.Version, want(g.ExternalID), g.Version)
			}
		}
	})
}
