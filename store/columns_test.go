package store

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/schema"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// Every table description names each column GORM writes for its model, bound to the very
// field GORM uses; a model field added without a description entry fails here.
func TestTablesCoverTheModels(t *testing.T) {
	checkCoverage(t, userTable)
	checkCoverage(t, activityTable)
	checkCoverage(t, counterTable)
	checkCoverage(t, credentialTable)
	checkCoverage(t, connectionTable)
}

func checkCoverage[T any](t *testing.T, tb *table[T]) {
	t.Helper()
	sch := gormSchema(t, new(T))
	var want []string
	for _, f := range sch.Fields {
		if f.DBName != "" && (f.Creatable || f.Updatable) { // read-only fields come from joins
			want = append(want, f.DBName)
		}
	}
	got := slices.Clone(tb.names)
	sort.Strings(want)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: described columns %v\nGORM's columns      %v", tb.name, got, want)
	}
	row := new(T)
	rv := reflect.ValueOf(row).Elem()
	for _, c := range tb.cols {
		f := sch.LookUpField(c.name)
		if f == nil {
			continue // reported above
		}
		want := rv.FieldByIndex(f.StructField.Index).Addr()
		if got := reflect.ValueOf(c.field(row)); got.Type() != want.Type() || got.Pointer() != want.Pointer() {
			t.Errorf("%s.%s is described as another field than GORM's %s", tb.name, c.name, f.Name)
		}
	}
}

func gormSchema(t *testing.T, model any) *schema.Schema {
	t.Helper()
	sch, err := schema.Parse(model, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// The statements built from the descriptions write what GORM reads and read what GORM writes,
// for every column, on both databases; the versioned updates write exactly their columns.
func TestTablesMatchGorm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, allMigrations)
		now := time.Now().UTC().Truncate(time.Microsecond)
		// parents creates a workspace with an account, two connections and two users to refer
		// to, and returns the columns that must hold their ids.
		parents := func() map[string]any {
			ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
			acct := &models.Account{ID: NewID(), WorkspaceID: ws.ID, Name: "A", Type: models.AccountCompany, CreatedAt: now, UpdatedAt: now}
			conn := &models.Connection{ID: NewID(), WorkspaceID: ws.ID, Name: "C", NameKey: "c", Slug: "c-" + NewID().String(),
				Protocol: models.ProtocolOIDC, Status: models.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
			user := &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, Email: "p@x", EmailKey: "p@x", UserName: "p", UserNameKey: "p",
				Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
			for _, v := range []any{ws, acct, conn, user} {
				if err := s.Create(ctx, v); err != nil {
					t.Fatal(err)
				}
			}
			return map[string]any{"workspace_id": ws.ID, "account_id": &acct.ID, "connection_id": conn.ID, "user_account_id": user.ID}
		}
		roundTrip(t, s, userTable, parents)
		roundTrip(t, s, activityTable, parents)
		roundTrip(t, s, counterTable, parents)
		roundTrip(t, s, credentialTable, parents)
		roundTrip(t, s, connectionTable, parents)

		// The versioned updates of an account write exactly these columns, with the next
		// version and the time of the save.
		fixed := parents()
		for _, c := range []struct {
			name string
			sql  string
			set  updateSet
			cols []string
		}{
			{"SCIM", scimUserUpdateSQL, scimWrite, []string{"email", "email_key", "first_name", "last_name", "external_id",
				"active", "user_name", "user_name_key", "display_name", "title", "user_type", "employee_number", "department",
				"organization", "cost_center", "division", "manager_id", "scim_data", "email_type", "version", "updated_at"}},
			{"profile", profileUpdateSQL, profileWrite, []string{"email", "email_key", "first_name", "last_name", "external_id",
				"active", "email_type", "version", "updated_at"}},
		} {
			orig := filled[models.UserAccount](t, 1, fixed, now)
			if err := s.Create(ctx, orig); err != nil {
				t.Fatal(err)
			}
			mod := filled[models.UserAccount](t, 2, fixed, now)
			mod.ID, mod.Version, mod.Active = orig.ID, orig.Version, false
			saved := now.Add(time.Hour)
			if err := s.db(ctx).Exec(c.sql, versionedArgs(mod, c.set, saved)...).Error; err != nil {
				t.Fatalf("%s update: %v", c.name, err)
			}
			want := *orig
			wv, mv := reflect.ValueOf(&want).Elem(), reflect.ValueOf(mod).Elem()
			for _, name := range c.cols {
				f := gormSchema(t, &want).LookUpField(name)
				wv.FieldByIndex(f.StructField.Index).Set(mv.FieldByIndex(f.StructField.Index))
			}
			want.Version, want.UpdatedAt = orig.Version+1, saved
			got := gormRead(t, s, orig)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("%s update wrote\n%+v\nwant\n%+v", c.name, *got, want)
			}
		}
	})
}

// roundTrip writes a row of every column through tb and reads it with GORM, then writes one
// with GORM and reads it through tb: both must come back as written.
func roundTrip[T any](t *testing.T, s *Store, tb *table[T], parents func() map[string]any) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)

	fixed := parents()
	ours := filled[T](t, 1, fixed, now)
	if err := s.exec(ctx, tb.insert(), tb.args(ours)...); err != nil {
		t.Fatalf("%s: insert: %v", tb.name, err)
	}
	if got := gormRead(t, s, ours); !reflect.DeepEqual(got, ours) {
		t.Errorf("%s: written by the description, GORM reads\n%+v\nwant\n%+v", tb.name, got, ours)
	}

	fixed = parents()
	theirs := filled[T](t, 2, fixed, now)
	if err := translate(s.db(ctx).Create(theirs).Error); err != nil {
		t.Fatalf("%s: GORM create: %v", tb.name, err)
	}
	where, args := byKey(t, theirs)
	rows, err := s.query(ctx, "SELECT "+tb.list+" FROM "+tb.name+" WHERE "+where, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := new(T)
	if !rows.Next() {
		t.Fatalf("%s: no row (%v)", tb.name, rows.Err())
	}
	if err := rows.Scan(tb.dest(got)...); err != nil {
		t.Fatal(err)
	}
	tb.scanned(got)
	if !reflect.DeepEqual(got, theirs) {
		t.Errorf("%s: written by GORM, the description reads\n%+v\nwant\n%+v", tb.name, got, theirs)
	}
}

// byKey is a WHERE clause selecting row by its primary key (by every column for a model
// without one).
func byKey[T any](t *testing.T, row *T) (string, []any) {
	var where []string
	var args []any
	rv := reflect.ValueOf(row).Elem()
	sch := gormSchema(t, row)
	key := sch.PrimaryFields
	if len(key) == 0 {
		key = sch.Fields
	}
	for _, f := range key {
		where = append(where, f.DBName+" = ?")
		args = append(args, rv.FieldByIndex(f.StructField.Index).Interface())
	}
	return strings.Join(where, " AND "), args
}

// gormRead reads row again with GORM (by its primary key), times in UTC.
func gormRead[T any](t *testing.T, s *Store, row *T) *T {
	t.Helper()
	where, args := byKey(t, row)
	var rows []*T
	if err := s.db(context.Background()).Where(where, args...).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%T: %d rows for %v", row, len(rows), args)
	}
	inUTC(reflect.ValueOf(rows[0]).Elem())
	return rows[0]
}

// inUTC converts the time fields of struct v to UTC.
func inUTC(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		switch f := v.Field(i); p := f.Addr().Interface().(type) {
		case *time.Time:
			*p = p.UTC()
		case **time.Time:
			*p = utcPtr(*p)
		}
	}
}

// filled returns a row of T with a distinct non-zero value in every column GORM writes
// (variant tells two rows apart), and the given values in the columns of fixed.
func filled[T any](t *testing.T, variant int, fixed map[string]any, now time.Time) *T {
	t.Helper()
	row := new(T)
	rv := reflect.ValueOf(row).Elem()
	for i, f := range gormSchema(t, row).Fields {
		if f.DBName == "" || !(f.Creatable || f.Updatable) {
			continue
		}
		fv := rv.FieldByIndex(f.StructField.Index)
		if v, ok := fixed[f.DBName]; ok {
			fv.Set(reflect.ValueOf(v))
			continue
		}
		text := fmt.Sprintf("%s-%d-%s", f.DBName, variant, NewID())
		at := now.Add(time.Duration(i*10+variant) * time.Second)
		id := NewID()
		switch p := fv.Addr().Interface().(type) {
		case *uuid.UUID:
			*p = id
		case **uuid.UUID:
			*p = &id
		case *time.Time:
			*p = at
		case **time.Time:
			*p = &at
		case **string:
			*p = &text
		case *[]byte:
			*p = []byte(text)
		case *bool:
			*p = true
		default:
			switch fv.Kind() {
			case reflect.String:
				fv.SetString(text)
			case reflect.Int, reflect.Int64:
				fv.SetInt(int64(i*10 + variant))
			default:
				t.Fatalf("%T.%s: no test value for %s", row, f.Name, fv.Type())
			}
		}
	}
	return row
}
