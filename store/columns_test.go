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
	for _, d := range descriptions {
		d.cover(t)
	}
}

// descriptions are every table description, each with the tests of its type.
var descriptions = []description{describe(userTable), describe(activityTable), describe(counterTable),
	describe(credentialTable), describe(connectionTable), describe(flowTable), describe(grantTable),
	describe(eventTable), describe(auditTable), describe(accountTable), describe(companyTable), describe(idpConfigurationTable),
	describe(assertionTable), describe(answerTable)}

type description struct {
	cover     func(t *testing.T)
	roundTrip func(t *testing.T, s *Store, parents func() map[string]any)
}

func describe[T any](tb *table[T]) description {
	return description{
		cover:     func(t *testing.T) { checkCoverage(t, tb) },
		roundTrip: func(t *testing.T, s *Store, parents func() map[string]any) { roundTrip(t, s, tb, parents) },
	}
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
		// parents creates a workspace with a company, an account, a brand, a connection and a
		// user to refer to, and returns the columns that must hold their ids.
		parents := func() map[string]any {
			ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
			company := &models.Company{ID: NewID(), WorkspaceID: ws.ID, Name: "Co", NameKey: "co", CreatedAt: now, UpdatedAt: now}
			acct := &models.Account{ID: NewID(), WorkspaceID: ws.ID, Name: "A", Type: models.AccountCompany, CreatedAt: now, UpdatedAt: now}
			brand := &models.Brand{ID: NewID(), WorkspaceID: ws.ID, Name: "B", NameKey: "b", Slug: "b", Version: 1, CreatedAt: now, UpdatedAt: now}
			conn := &models.Connection{ID: NewID(), WorkspaceID: ws.ID, Name: "C", NameKey: "c", Slug: "c-" + NewID().String(),
				Protocol: models.ProtocolOIDC, Status: models.StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}
			user := &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, Email: "p@x", EmailKey: "p@x", UserName: "p", UserNameKey: "p",
				Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
			for _, v := range []any{ws, company, acct, brand, conn, user} {
				if err := s.Create(ctx, v); err != nil {
					t.Fatal(err)
				}
			}
			return map[string]any{"workspace_id": ws.ID, "account_id": acct.ID, "default_account_id": acct.ID,
				"company_id": company.ID, "brand_id": brand.ID, "connection_id": conn.ID, "user_account_id": user.ID}
		}
		for _, d := range descriptions {
			d.roundTrip(t, s, parents)
		}

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
				"active", "activated_at", "user_name", "user_name_key", "display_name", "title", "user_type", "employee_number", "department",
				"organization", "cost_center", "division", "manager_id", "scim_data", "email_type", "version", "updated_at"}},
			{"profile", profileUpdateSQL, profileWrite, []string{"email", "email_key", "first_name", "last_name", "external_id",
				"active", "activated_at", "user_name", "user_name_key", "email_type", "version", "updated_at"}},
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

// roundTrip writes a row of every column through tb (by its INSERT … VALUES in both spellings
// and by its INSERT … SELECT) and reads it with GORM, then writes one with GORM and reads it through tb:
// each must come back as written. The table's columns in the database are the described ones
// (and, for accounts, those only targeted statements write).
func roundTrip[T any](t *testing.T, s *Store, tb *table[T], parents func() map[string]any) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)

	for variant, write := range map[int]func(r *T) error{
		1: func(r *T) error { return s.exec(ctx, tb.insert(), tb.args(r)...) },
		4: func(r *T) error { return s.exec(ctx, tb.plainInsert(), tb.args(r)...) },
		3: func(r *T) error { is := tb.insertSelect(0, nil); return s.exec(ctx, is.sql, is.args(nil, r, false)...) },
	} {
		ours := filled[T](t, variant, parents(), now)
		if err := write(ours); err != nil {
			t.Fatalf("%s: insert %d: %v", tb.name, variant, err)
		}
		if got := gormRead(t, s, ours); !reflect.DeepEqual(got, ours) {
			t.Errorf("%s: written by the description (%d), GORM reads\n%+v\nwant\n%+v", tb.name, variant, got, ours)
		}
	}

	cols, err := s.query(ctx, "SELECT * FROM "+tb.name+" WHERE 1 = 0")
	if err != nil {
		t.Fatal(err)
	}
	names, err := cols.Columns()
	cols.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(tb.names), targetedColumns[tb.name]...)
	sort.Strings(names)
	sort.Strings(want)
	if !reflect.DeepEqual(names, want) {
		t.Errorf("%s: the database's columns %v\ndescribed and targeted %v", tb.name, names, want)
	}

	fixed := parents()
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

// targetedColumns are the columns of a described table that no model field holds: only
// targeted statements write them.
var targetedColumns = map[string][]string{"user_accounts": {"idp_connection_id", "derived_email"}}

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
			if id, ok := v.(uuid.UUID); ok && fv.Type() == reflect.TypeOf(&id) {
				v = &id
			}
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

// The SAML statements pass their values by position (a row struct per call would cost an
// allocation on the ACS); what they write is what GORM reads for the described rows.
func TestSAMLStatementsMatchGorm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, allMigrations)
		now := time.Now().UTC().Truncate(time.Microsecond)
		use := &samlAssertion{ConnectionID: NewID(), AssertionID: "a-1", ExpiresAt: now.Add(time.Minute)}
		put := &samlAnswer{FlowID: NewID(), IdentityEnc: []byte("enc-1"), ExpiresAt: now.Add(2 * time.Minute), IdentifierKey: "key-1"}
		accepted := SAMLAnswer{ConnectionID: NewID(), AssertionID: "a-2", AssertionExpires: now.Add(3 * time.Minute),
			FlowID: NewID(), IdentityEnc: []byte("enc-2"), AnswerExpires: now.Add(4 * time.Minute), IdentifierKey: "key-2"}
		if fresh, err := s.UseSAMLAssertion(ctx, use.ConnectionID, use.AssertionID, use.ExpiresAt); err != nil || !fresh {
			t.Fatalf("use: %v %v", fresh, err)
		}
		if fresh, err := s.PutSAMLAnswer(ctx, put.FlowID, put.IdentityEnc, put.ExpiresAt, put.IdentifierKey); err != nil || !fresh {
			t.Fatalf("put: %v %v", fresh, err)
		}
		if a, b, err := s.AcceptSAMLAnswer(ctx, accepted); err != nil || !a || !b {
			t.Fatalf("accept: %v %v %v", a, b, err)
		}
		for _, want := range []any{use, put,
			&samlAssertion{ConnectionID: accepted.ConnectionID, AssertionID: accepted.AssertionID, ExpiresAt: accepted.AssertionExpires},
			&samlAnswer{FlowID: accepted.FlowID, IdentityEnc: accepted.IdentityEnc, ExpiresAt: accepted.AnswerExpires, IdentifierKey: accepted.IdentifierKey}} {
			var got any
			switch w := want.(type) {
			case *samlAssertion:
				got = gormRead(t, s, w)
			case *samlAnswer:
				got = gormRead(t, s, w)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("wrote %+v, GORM reads %+v", want, got)
			}
		}
	})
}

// ReconcileCounts rebuilds the users and groups counters from the tables' rows.
func TestReconcileCounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, allMigrations)
		now := time.Now().UTC()
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		rows := []any{ws, &models.Group{ID: NewID(), WorkspaceID: ws.ID, DisplayName: "g", DisplayNameKey: "g", Version: 1, CreatedAt: now, UpdatedAt: now}}
		for _, n := range []string{"a", "b"} {
			rows = append(rows, &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, Email: n + "@x", EmailKey: n + "@x",
				UserName: n, UserNameKey: n, Active: true, Version: 1, CreatedAt: now, UpdatedAt: now})
		}
		for _, r := range rows {
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.exec(ctx, "UPDATE scim_counters SET n = 7"); err != nil { // drift
			t.Fatal(err)
		}
		if err := s.ReconcileCounts(ctx); err != nil {
			t.Fatal(err)
		}
		for kind, want := range map[string]int64{counterUsers: 2, counterGroups: 1} {
			if n, err := s.count(ctx, ws.ID, kind); err != nil || n != want {
				t.Errorf("%s: %d %v, want %d", kind, n, err, want)
			}
		}
	})
}
