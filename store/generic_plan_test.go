package store

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// genericPlan returns PostgreSQL's generic plan of statement q ($1…$n parameters), one line
// per node: the plan a pooled session caches for a prepared statement once its custom plans
// cost no less, whatever the values it is then run with.
func genericPlan(t *testing.T, s *Store, q string) []string {
	t.Helper()
	var plan []string
	err := s.InTx(context.Background(), func(ctx context.Context) error {
		db := s.db(ctx)
		for _, q := range []string{`SET LOCAL plan_cache_mode = force_generic_plan`, `PREPARE generic_plan AS ` + q} {
			if err := db.Exec(q).Error; err != nil {
				return err
			}
		}
		// A generic plan does not depend on the values: NULL for each of $1…$n.
		n := 0
		for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(q, -1) {
			k, _ := strconv.Atoi(m[1])
			n = max(n, k)
		}
		nulls := strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ")
		if n > 0 {
			nulls = "(" + nulls + ")"
		}
		if err := db.Raw(`EXPLAIN EXECUTE generic_plan` + nulls).Scan(&plan).Error; err != nil {
			return err
		}
		return db.Exec(`DEALLOCATE generic_plan`).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// statementOf returns the statement query runs on s's database, with its parameters as the
// driver sends them ($1…$n on PostgreSQL), without running it.
func statementOf(s *Store, query func(db *gorm.DB) *gorm.DB) string {
	return query(s.gdb.Session(&gorm.Session{DryRun: true})).Statement.SQL.String()
}
