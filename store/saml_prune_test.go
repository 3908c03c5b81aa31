package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/store/storetest"
)

// expiredTables are the tables pruneExpired prunes, and their expiry indexes.
var expiredTables = map[string]string{
	"saml_assertions": "ix_saml_assertions_expires",
	"saml_answers":    "ix_saml_answers_expires",
	"test_sign_ins":   "ix_test_sign_ins_expires",
}

// expiredBacklog seeds backlogRows expired rows in each of expiredTables, and one that has not
// expired (for an hour: a test slowed down past a second would otherwise see it expire too),
// analysed.
var expiredBacklog = []string{
	`INSERT INTO workspaces (id, name, created_at) VALUES (@ws, 'prune', now()) RETURNING 1`,
	`INSERT INTO saml_assertions (connection_id, assertion_id, expires_at)
	SELECT gen_random_uuid(), 'a' || g, CASE g WHEN 0 THEN now() + interval '1 hour' ELSE now() - g * interval '1 second' END
	FROM generate_series(0, ` + fmt.Sprint(backlogRows) + `) g RETURNING 1`,
	`INSERT INTO saml_answers (flow_id, identity_enc, expires_at)
	SELECT gen_random_uuid(), '\x00', CASE g WHEN 0 THEN now() + interval '1 hour' ELSE now() - g * interval '1 second' END
	FROM generate_series(0, ` + fmt.Sprint(backlogRows) + `) g RETURNING 1`,
	`INSERT INTO test_sign_ins (id, workspace_id, connection_id, token_hash, status, expires_at, created_at, updated_at)
	SELECT gen_random_uuid(), @ws, gen_random_uuid(), 't' || g, 'pending', CASE g WHEN 0 THEN now() + interval '1 hour' ELSE now() - g * interval '1 second' END, now(), now()
	FROM generate_series(0, ` + fmt.Sprint(backlogRows) + `) g RETURNING 1`,
	`ANALYZE`,
}

// TestPruneExpiredInBatches prunes a backlog of 10,001 expired SAML assertion IDs, as many SAML
// answers and as many test sign-ins on PostgreSQL, whose triggers refuse any statement that
// deletes more than pruneBatch rows of these tables. Each table was pruned in one statement
// (300,000 rows: 0.26-0.34 s each, longer as the backlog grows), which a backlog past the
// serving statement_timeout would have failed at every run, and which on SQLite held the
// write lock every sign-in needs for all of it.
func TestPruneExpiredInBatches(t *testing.T) {
	s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
	ctx := context.Background()
	seed(t, s, uuid.New(), append(expiredBacklog, oneBatch("saml_assertions", "saml_answers", "test_sign_ins")...)...)
	now := time.Now().UTC()
	if n, err := s.PruneSAMLAssertions(ctx, now); err != nil || n != 2*backlogRows {
		t.Fatalf("pruned %d assertions and answers, %v; want %d", n, err, 2*backlogRows)
	}
	if n, err := s.PruneTestSignIns(ctx, now); err != nil || n != backlogRows {
		t.Fatalf("pruned %d test sign-ins, %v; want %d", n, err, backlogRows)
	}
	var left []int64
	if err := s.RawScan(ctx, &left, `SELECT count(*) FROM saml_assertions UNION ALL SELECT count(*) FROM saml_answers
		UNION ALL SELECT count(*) FROM test_sign_ins`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 3 || left[0] != 1 || left[1] != 1 || left[2] != 1 {
		t.Errorf("left %v; want the one unexpired row of each table", left)
	}
}

// TestPruneExpiredPlan checks that each batch of pruneExpired is chosen through the table's
// expiry index and deleted by the rows' addresses, on both databases (PostgreSQL: the generic
// plan, which does not know how many rows expired), rather than read from the whole table.
func TestPruneExpiredPlan(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "sqlite"), allMigrations)
		for table, index := range expiredTables {
			q := pruneExpiredSQL(s.dialect, table)
			plan := queryPlan(t, s, q, time.Now(), pruneBatch)
			for _, want := range []string{"SEARCH " + table + " USING INTEGER PRIMARY KEY (rowid=?)", "INDEX " + index + " (expires_at<?)"} {
				if !strings.Contains(plan, want) {
					t.Errorf("%s\nplan lacks %s:\n%s", q, want, plan)
				}
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
		seed(t, s, uuid.New(), expiredBacklog...)
		for table, index := range expiredTables {
			q := strings.ReplaceAll(pruneExpiredSQL(s.dialect, table), "?", "$1")
			q = strings.Replace(q, "LIMIT $1", "LIMIT $2", 1)
			plan := strings.Join(genericPlan(t, s, q), "\n")
			if !strings.Contains(plan, "Tid Scan on "+table) || !strings.Contains(plan, "Index Scan using "+index) ||
				strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s\ndoes not choose the batch through %s and delete it by address:\n%s", q, index, plan)
			}
		}
	})
}
