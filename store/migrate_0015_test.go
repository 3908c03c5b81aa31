package store

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration15StoresEmailType: the backfill stores exactly the type the SCIM filter and
// document derived before (an email set outside SCIM on an account whose SCIM document holds
// no emails is "work"), on both dialects, and agrees with models.EmailTypeFor.
func TestMigration15StoresEmailType(t *testing.T) {
	cases := []struct {
		email, emailType, data, want string
	}{
		{"graphql@x.example", "", "{}", "work"},                                                     // set outside SCIM
		{"blank@x.example", "", "", "work"},                                                         // no document at all
		{"scim@x.example", "", `{"emails":[{"value":"scim@x.example"}]}`, ""},                       // the IdP sent no type
		{"home@x.example", "home", `{"emails":[{"value":"home@x.example","type":"home"}]}`, "home"}, // the IdP's type
		{"", "", "{}", ""},                         // no email
		{"", "work", `{"emails":[]}`, "work"},      // kept as stored
		{"kept@x.example", "other", "{}", "other"}, // a stored type stays
	}
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 14)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		if err := s.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		users := make([]*models.UserAccount, len(cases))
		for i, c := range cases {
			name := NewID().String()
			users[i] = &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, Email: c.email, EmailKey: models.Key(c.email),
				EmailType: c.emailType, SCIMData: c.data, UserName: name, UserNameKey: name, Active: true, Version: 1,
				CreatedAt: now, UpdatedAt: now}
			if err := createInOldTable(ctx, s, users[i]); err != nil {
				t.Fatal(err)
			}
		}
		migrateTwice(t, s)
		for i, c := range cases {
			var got string
			if err := s.RawScan(ctx, &got, "SELECT email_type FROM user_accounts WHERE id = ?", users[i].ID); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("email %q type %q document %s: stored %q, want %q", c.email, c.emailType, c.data, got, c.want)
			}
			if c.emailType == "" && c.email != "" { // what SetEmail stores for the same account
				if w := models.EmailTypeFor(c.data, c.email, c.emailType); w != c.want {
					t.Errorf("EmailTypeFor(%s, %q) = %q, migration stored %q", c.data, c.email, w, c.want)
				}
			}
		}
	})
}
