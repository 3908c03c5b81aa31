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
