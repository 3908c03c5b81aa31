package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/store/storetest"
)

// TestMigrateRefusesAnotherReleasesDatabase: a database that records a migration this release
// does not have (a later release migrated it: a rollback, or a replica not yet upgraded that
// restarts), or one of this release's versions under another name (a build whose steps were
// numbered otherwise), is refused with a message that says so, and nothing is migrated. On
// both dialects.
func TestMigrateRefusesAnotherReleasesDatabase(t *testing.T) {
	last := migrations[len(migrations)-1]
	name20 := ""
	for _, m := range migrations {
		if m.version == 20 {
			name20 = m.name
		}
	}
	cases := []struct {
		name    string
		upTo    int    // migrated up to this version first
		version int    // then this row is recorded
		record  string // under this name
		want    string
	}{
		{"a later release's", 20, last.version + 1, "from_a_later_release", "migrated by a later release of Gatehouse"},
		{"another name", 20, 20, "not_" + name20, `records migration 20 as "not_`},
	}
	for _, dialect := range storetest.Dialects() {
		for _, c := range cases {
			t.Run(dialect+"/"+c.name, func(t *testing.T) {
				s := openTestStore(t, storetest.URL(t, dialect), c.upTo)
				ctx := context.Background()
				if c.version == c.upTo {
					if err := s.db(ctx).Exec("UPDATE schema_migrations SET name = ? WHERE version = ?", c.record, c.version).Error; err != nil {
						t.Fatal(err)
					}
				} else if err := s.db(ctx).Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
					c.version, c.record, time.Now().UTC()).Error; err != nil {
					t.Fatal(err)
				}
				// Migratable says so first, reading only (a start asks before it makes a key file).
				if err := s.Migratable(ctx); err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("Migratable: %v, want an error saying %q", err, c.want)
				}
				err := s.Migrate(ctx)
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "restore a backup") {
					t.Fatalf("Migrate: %v, want an error saying %q and what to do", err, c.want)
				}
				var n int64
				if err := s.RawScan(ctx, &n, "SELECT count(*) FROM schema_migrations WHERE version > ? AND version <= ?", c.upTo, last.version); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Fatalf("%d migrations applied to a refused database", n)
				}
			})
		}
	}
}

// TestMigrateRefusesAnotherProductsDatabase: GATEHOUSE_DATABASE_URL naming another product's
// database (tables, no schema_migrations) is refused with a message that says so, and none of
// Gatehouse's tables is created in it (before, every migration ran there, or the first one
// whose table name the product also uses failed halfway). An empty database is migrated. On
// both dialects.
func TestMigrateRefusesAnotherProductsDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s, err := Open(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, stmt := range []string{"CREATE TABLE orders (id integer PRIMARY KEY)", "CREATE TABLE accounts (id integer PRIMARY KEY)"} {
			if err := s.db(ctx).Exec(stmt).Error; err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Migratable(ctx); err == nil || !strings.Contains(err.Error(), "the database is not Gatehouse's: it has tables (accounts, orders)") {
			t.Fatalf("Migratable on another product's database: %v", err)
		}
		err = s.Migrate(ctx)
		if err == nil || !strings.Contains(err.Error(), "the database is not Gatehouse's: it has tables (accounts, orders)") ||
			!strings.Contains(err.Error(), "GATEHOUSE_DATABASE_URL") {
			t.Fatalf("Migrate on another product's database: %v", err)
		}
		for _, table := range []string{"schema_migrations", "workspaces"} {
			if s.gdb.Migrator().HasTable(table) {
				t.Fatalf("the refused database has the table %s", table)
			}
		}
		for _, stmt := range []string{"DROP TABLE orders", "DROP TABLE accounts"} {
			if err := s.db(ctx).Exec(stmt).Error; err != nil {
				t.Fatal(err)
			}
		}
		migrateTwice(t, s)
	})
}

// A PostgreSQL database that an extension has equipped with a table of its own in the schema
// (PostGIS's spatial_ref_sys, created by CREATE EXTENSION postgis before the first start) is
// still an empty database to Gatehouse, and migrates; a table of the same name that no
// extension owns is another product's, and is refused. plpgsql, in every database, stands in
// for PostGIS: the table is made a member of it as CREATE EXTENSION makes its own members.
func TestMigrateAcceptsAnExtensionsTables(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, storetest.URL(t, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.db(ctx).Exec("CREATE TABLE spatial_ref_sys (srid integer PRIMARY KEY)").Error; err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "it has tables (spatial_ref_sys)") {
		t.Fatalf("Migrate beside a table no extension owns: %v", err)
	}
	if err := s.db(ctx).Exec("ALTER EXTENSION plpgsql ADD TABLE spatial_ref_sys").Error; err != nil {
		t.Fatal(err)
	}
	migrateTwice(t, s)
}
