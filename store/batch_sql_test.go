package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// The statements batch.go builds for the hot rows are the statements GORM builds, with the
// same values: a column added to a model cannot be silently left out.
func TestHotStatementsMatchGorm(t *testing.T) {
	if len(storetest.Dialects()) < 2 {
		t.Skip("needs PostgreSQL (GATEHOUSE_TEST_POSTGRES_URL) for GORM's PostgreSQL statements")
	}
	s, err := Open(context.Background(), storetest.URL(t, Postgres))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	ext, acct, tok := "x", NewID(), NewID()
	rows := []any{
		&models.UserAccount{ID: NewID(), WorkspaceID: NewID(), Email: "a@b.c", EmailKey: "a@b.c", FirstName: "F", LastName: "L",
			ExternalID: &ext, Active: true, AccountID: &acct, Role: "admin", Version: 3, CreatedAt: now, UpdatedAt: now,
			UserName: "U", UserNameKey: "u", EmailType: "work", DisplayName: "D", Title: "T", UserType: "Y", EmployeeNumber: "E",
			Department: "P", Organization: "O", CostCenter: "C", Division: "V", ManagerID: "M", SCIMData: "{}"},
		// Zero values: GORM fills in the columns' defaults (role).
		&models.UserAccount{ID: NewID(), WorkspaceID: NewID(), CreatedAt: now, UpdatedAt: now},
		&models.SCIMActivity{ID: NewID(), WorkspaceID: NewID(), CreatedAt: now},
		&models.SCIMActivity{ID: NewID(), WorkspaceID: NewID(), TokenID: &tok, Operation: "create", ResourceType: "user",
			ResourceID: "r", Status: "error", ErrorMessage: "m", Details: "{}", CreatedAt: now},
	}
	for _, r := range rows {
		sql, vars, ok := hotInsert(r)
		st := s.dry().Create(r).Statement
		if !ok || sql != st.SQL.String() || !reflect.DeepEqual(vars, st.Vars) {
			t.Errorf("%T:\nours %s %v\nGORM %s %v", r, sql, vars, st.SQL.String(), st.Vars)
		}
	}
	c := &scimCounter{WorkspaceID: NewID(), Kind: "users", Bucket: 7, Shard: 3, N: 2}
	st := s.countersInsert(s.dry(), []*scimCounter{c}).Statement
	if vars := []any{c.WorkspaceID, c.Kind, c.Bucket, c.Shard, c.N}; counterUpsertSQL != st.SQL.String() || !reflect.DeepEqual(vars, st.Vars) {
		t.Errorf("counters:\nours %s %v\nGORM %s %v", counterUpsertSQL, vars, st.SQL.String(), st.Vars)
	}
	// scimUserUpdate's text is scimUserUpdateSQL numbered; TestTablesMatchGorm proves what it writes.
	if sql, _ := scimUserUpdate(rows[0].(*models.UserAccount), now); sql != numberPlaceholders(scimUserUpdateSQL) {
		t.Errorf("update: %s", sql)
	}
}

func TestRenumber(t *testing.T) {
	for _, c := range []struct {
		in     string
		offset int
		want   string
	}{
		{`VALUES ($1,$2,$10)`, 3, `VALUES ($4,$5,$13)`},
		{`x = $1 AND y = '$' AND z = $`, 9, `x = $10 AND y = '$' AND z = $`},
		{`VALUES ($1)`, 0, `VALUES ($1)`},
	} {
		if got := renumber(c.in, c.offset); got != c.want {
			t.Errorf("renumber(%q, %d) = %q, want %q", c.in, c.offset, got, c.want)
		}
	}
}
