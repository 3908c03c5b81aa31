package store

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/store/storetest"
)

// TestDeleteSCIMTokenActivityPlan checks that each batch of DeleteSCIMTokenActivity is at most
// pruneBatch rows deleted through the primary key, chosen through ix_scim_activities_token on
// SQLite, on both databases (PostgreSQL: the generic plan, with 20,000 analysed activity rows
// of four tokens), rather than the whole table read at each batch (as id IN the batch,
// PostgreSQL may hash it and scan the table).
func TestDeleteSCIMTokenActivityPlan(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "sqlite"), allMigrations)
		q := tokenActivityBatchSQL(s.dialect)
		plan := queryPlan(t, s, q, uuid.New(), uuid.New(), pruneBatch)
		for _, want := range []string{"INDEX ix_scim_activities_token (token_id=?)", "(id=?)"} {
			if !strings.Contains(plan, want) || strings.Contains(plan, "SCAN scim_activities") {
				t.Errorf("%s\nplan lacks %s, or scans:\n%s", q, want, plan)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
		seed(t, s, uuid.New(),
			`INSERT INTO workspaces (id, name, created_at) VALUES (@ws, 'plans', now()) RETURNING 1`,
			`INSERT INTO scim_activities (id, workspace_id, token_id, operation, resource_type, status, created_at)
			SELECT gen_random_uuid(), @ws, ('00000000-0000-4000-8000-00000000000' || g % 4)::uuid, 'create', 'User', 'success',
				now() - g * interval '1 second'
			FROM generate_series(1, 20000) g RETURNING 1`,
			`VACUUM ANALYZE scim_activities`)
		q := tokenActivityBatchSQL(s.dialect)
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", "$"+string(rune('0'+i)), 1)
		}
		plan := strings.Join(genericPlan(t, s, q), "\n")
		// The batch itself may be read along the table: with few tokens, PostgreSQL expects a
		// batch's rows within its first pages, and they are (the oldest rows, whose dead
		// predecessors the batches before pruned from the pages they read: 750,000 rows of
		// one token among 1,000,000 deleted in 151 batches of at most 0.33 s).
		if !regexp.MustCompile(`InitPlan 1[^\n]*\n\s+->  Limit`).MatchString(plan) ||
			!regexp.MustCompile(`Index Scan on scim_activities_pkey|Index Scan using scim_activities_pkey on scim_activities\s`).MatchString(plan) {
			t.Errorf("%s\ndoes not delete a limited batch through the primary key:\n%s", q, plan)
		}
	})
}
