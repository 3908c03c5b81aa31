package store

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration40UserNameFollowsEmail: an account created outside SCIM whose email changed
// while its userName stayed the first address has its email as userName after migration 40;
// an account a SCIM request wrote, one whose email is another account's userName, and one
// without an email keep theirs. On both dialects, migrated twice.
func TestMigration40UserNameFollowsEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 39)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		if err := s.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		user := func(userName, email, scimData string) *models.UserAccount {
			u := &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, UserName: userName, UserNameKey: models.Key(userName),
				Email: email, EmailKey: models.Key(email), SCIMData: scimData, Active: true, Role: models.DefaultRole,
				Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := createInOldTable(ctx, s, u); err != nil {
				t.Fatal(err)
			}
			return u
		}
		moved := user("jane@contso.com", "Jane@Contoso.com", "{}")
		scim := user("bob", "bob@contoso.com", `{"userName":"bob"}`)
		blocked := user("ann@contoso.com", "ann.lee@contoso.com", "{}")
		user("ANN.LEE@contoso.com", "ann@other.example", `{"userName":"ANN.LEE@contoso.com"}`)
		same := user("max@contoso.com", "max@contoso.com", "{}")
		noEmail := user("okta-7", "", "{}")

		migrateTwice(t, s)
		for _, c := range []struct {
			u    *models.UserAccount
			want string
		}{{moved, "Jane@Contoso.com"}, {scim, "bob"}, {blocked, "ann@contoso.com"}, {same, "max@contoso.com"}, {noEmail, "okta-7"}} {
			got, err := s.UserAccount(ctx, ws.ID, c.u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.UserName != c.want || got.UserNameKey != models.Key(c.want) || got.Email != c.u.Email {
				t.Errorf("%s (email %s): userName %q (key %q), email %q; want userName %q", c.u.UserName, c.u.Email,
					got.UserName, got.UserNameKey, got.Email, c.want)
			}
		}
	})
}
