package store

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// SCIMUsers' hand-written scan and group aggregate read exactly what GORM reads.
func TestSCIMUsersReadsWhatGormReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, allMigrations)
		now := time.Now().UTC().Truncate(time.Microsecond)
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		acct := &models.Account{ID: NewID(), WorkspaceID: ws.ID, Name: "Acme", Type: models.AccountCompany, CreatedAt: now, UpdatedAt: now}
		ext := "00u1"
		full := &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, Email: "Full@Example.com", EmailKey: "full@example.com",
			FirstName: "F", LastName: "L", ExternalID: &ext, Active: false, AccountID: &acct.ID, Role: "admin", Version: 3,
			CreatedAt: now, UpdatedAt: now.Add(time.Second), UserName: "Full", UserNameKey: "full", EmailType: "work",
			DisplayName: "Full L", Title: "T", UserType: "Employee", EmployeeNumber: "7", Department: "D",
			Organization: "O", CostCenter: "C", Division: "V", ManagerID: "m", SCIMData: `{"locale":"en"}`}
		bare := &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, Email: "bare@example.com", EmailKey: "bare@example.com",
			Active: true, Version: 1, CreatedAt: now, UpdatedAt: now, UserName: "bare", UserNameKey: "bare"}
		g1 := &models.Group{ID: NewID(), WorkspaceID: ws.ID, DisplayName: "Zeta \"quoted\"", DisplayNameKey: "zeta", Version: 1, CreatedAt: now, UpdatedAt: now}
		g2 := &models.Group{ID: NewID(), WorkspaceID: ws.ID, DisplayName: "Alpha", DisplayNameKey: "alpha", Version: 1, CreatedAt: now, UpdatedAt: now}
		for _, v := range []any{ws, acct, full, bare, g1, g2,
			&models.GroupMember{GroupID: g2.ID, UserAccountID: full.ID, WorkspaceID: ws.ID, CreatedAt: now},
			&models.GroupMember{GroupID: g1.ID, UserAccountID: full.ID, WorkspaceID: ws.ID, CreatedAt: now}} {
			if err := s.Create(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		got, groups, total, err := s.SCIMUsers(ctx, ws.ID, SCIMList{Count: 10}, true)
		if err != nil || total != 2 || len(got) != 2 {
			t.Fatalf("SCIMUsers: %d users, total %d, %v", len(got), total, err)
		}
		for _, u := range got {
			var want models.UserAccount
			if err := first(s.scoped(ctx, ws.ID).Where("id = ?", u.ID), &want); err != nil {
				t.Fatal(err)
			}
			want.CreatedAt, want.UpdatedAt = want.CreatedAt.UTC(), want.UpdatedAt.UTC()
			if !reflect.DeepEqual(*u, want) {
				t.Errorf("hand scan %+v\nGORM scan  %+v", *u, want)
			}
		}
		wantGroups := []models.GroupRef{{UserAccountID: full.ID, GroupID: g1.ID, DisplayName: g1.DisplayName}, {UserAccountID: full.ID, GroupID: g2.ID, DisplayName: g2.DisplayName}}
		sort.Slice(wantGroups, func(i, j int) bool { return wantGroups[i].GroupID.String() < wantGroups[j].GroupID.String() })
		if !reflect.DeepEqual(groups[full.ID], wantGroups) || len(groups[bare.ID]) != 0 {
			t.Fatalf("groups %+v, want %+v for the full user and none for the bare one", groups, wantGroups)
		}
		if _, g, _, err := s.SCIMUsers(ctx, ws.ID, SCIMList{Count: 10}, false); err != nil || g != nil {
			t.Fatalf("without groups: %v, %v", g, err)
		}
		if _, _, n, err := s.SCIMUsers(ctx, uuid.New(), SCIMList{Count: 10}, true); err != nil || n != 0 {
			t.Fatalf("another workspace sees %d users (%v)", n, err)
		}
	})
}
