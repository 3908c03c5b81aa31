package store

import (
	"context"
	"math"
	"testing"
)

// openTestStore opens dbURL (a storetest database) for this package's own tests, closed when
// the test ends, migrated up to version last (allMigrations: every step).
func openTestStore(t *testing.T, dbURL string, last int) *Store {
	t.Helper()
	s, err := Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.migrateTo(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	return s
}

const allMigrations = math.MaxInt

// migrateTwice applies the migrations not yet applied, then again: a migrated database can
// always be migrated again.
func migrateTwice(t *testing.T, s *Store) {
	t.Helper()
	for i := 0; i < 2; i++ {
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
}
