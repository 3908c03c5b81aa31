package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestPruneSignInStateInBatches prunes a backlog of 10,001 expired flows (half of them
// abandoned) and as many old grants on PostgreSQL, whose triggers refuse any statement that
// deletes more than pruneBatch rows of either table. Deleting every expired flow in one
// statement, a backlog (300,000 abandoned flows of a busy hour, or of a prune not run for a
// while) outlasted the serving statement_timeout (31 s against the default 16 s), so that the
// prune was cancelled at every run and the backlog only grew.
func TestPruneSignInStateInBatches(t *testing.T) {
	s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
	ctx := context.Background()
	now := time.Now().UTC()
	ws := uuid.New()
	seed(t, s, ws, append(backlog, oneBatch("sign_in_flows", "grants")...)...)
	n, err := s.PruneSignInState(ctx, now, now, "reason", "cause")
	if err != nil || n != 2*backlogRows {
		t.Fatalf("pruned %d, %v; want %d", n, err, 2*backlogRows)
	}
	var left []int64
	if err := s.RawScan(ctx, &left, `SELECT count(*) FROM sign_in_flows UNION ALL SELECT count(*) FROM grants
		UNION ALL SELECT count(*) FROM sign_in_events WHERE outcome = 'failed' AND connection_slug <> ''`); err != nil {
		t.Fatal(err)
	}
	if left[0] != 0 || left[1] != 0 || left[2] != backlogRows/2+1 {
		t.Errorf("left %d flows and %d grants, recorded %d events; want 0, 0 and %d", left[0], left[1], left[2], backlogRows/2+1)
	}
}

// oneBatch returns the statements that make PostgreSQL refuse any statement deleting more
// than pruneBatch rows of one of the tables.
func oneBatch(tables ...string) []string {
	q := []string{`CREATE FUNCTION one_batch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			IF (SELECT count(*) FROM old) > ` + fmt.Sprint(pruneBatch) + ` THEN
				RAISE EXCEPTION 'one statement deleted % rows of %', (SELECT count(*) FROM old), TG_TABLE_NAME;
			END IF;
			RETURN NULL;
		END $$`}
	for _, table := range tables {
		q = append(q, `CREATE TRIGGER one_batch AFTER DELETE ON `+table+` REFERENCING OLD TABLE AS old
			FOR EACH STATEMENT EXECUTE FUNCTION one_batch()`)
	}
	return q
}

// backlogRows is the backlog's number of flows and of grants: two full batches and one more.
const backlogRows = 2*pruneBatch + 1

// backlog seeds @ws with 200 connections and backlogRows expired flows (the odd ones abandoned:
// never claimed) and grants, analysed, as the tables are once a backlog has built up.
var backlog = []string{
	`INSERT INTO workspaces (id, name, created_at) VALUES (@ws, 'prune', now()) RETURNING 1`,
	`INSERT INTO connections (id, workspace_id, name, name_key, slug, protocol, status, version, created_at, updated_at)
	SELECT gen_random_uuid(), @ws, 'C' || g, 'c' || g, 'c' || g, 'oidc', 'active', 1, now(), now()
	FROM generate_series(1, 200) g RETURNING 1`,
	`INSERT INTO sign_in_flows (id, workspace_id, application_id, brand_id, connection_id, browser_hash, client_id,
		redirect_uri, scope, upstream_state_hash, claimed_at, expires_at, created_at)
	SELECT gen_random_uuid(), @ws, gen_random_uuid(), gen_random_uuid(), c.id, 'b', 'c', 'https://app/cb', 'openid',
		'state' || g, CASE WHEN g % 2 = 0 THEN now() END, now() - g * interval '1 second', now() - interval '1 hour'
	FROM generate_series(1, ` + fmt.Sprint(backlogRows) + `) g
	JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM connections) c ON c.n = g % 200 RETURNING 1`,
	`INSERT INTO grants (id, workspace_id, application_id, client_id, code_hash, redirect_uri, scope, user_account_id,
		auth_time, expires_at, created_at)
	SELECT gen_random_uuid(), @ws, gen_random_uuid(), 'c', 'code' || g, 'https://app/cb', 'openid', gen_random_uuid(),
		now(), now(), now() - g * interval '1 second'
	FROM generate_series(1, ` + fmt.Sprint(backlogRows) + `) g RETURNING 1`,
	`ANALYZE`,
}

// TestPruneSignInStatePlan checks that each batch of PruneSignInState is chosen through the
// expiry index (flows) or the creation index (grants) and deleted through the primary key, on
// both databases, rather than read from the whole table at each batch (as id IN (…),
// PostgreSQL hashed the batch and scanned the table).
func TestPruneSignInStatePlan(t *testing.T) {
	now := time.Now().UTC()
	grants := "DELETE FROM grants WHERE id IN (" + expiredGrants + ")"
	t.Run("sqlite", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "sqlite"), allMigrations)
		for q, args := range map[string][]any{
			deleteExpiredFlowsSQLite: {now, pruneBatch},
			abandonedFlowsSQLite:     {models.SignInOutcomeFailed, "reason", "cause", now, pruneBatch},
			grants:                   {now, pruneBatch},
		} {
			plan := queryPlan(t, s, q, args...)
			for _, want := range []string{"(id=?)", "USING INDEX ix_sign_in_flows_expires (expires_at<?)"} {
				if q == grants {
					want = strings.ReplaceAll(want, "sign_in_flows_expires (expires_at", "grants_created (created_at")
				}
				if !strings.Contains(plan, want) {
					t.Errorf("%s\nplan does not have %s:\n%s", q, want, plan)
				}
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
		seed(t, s, uuid.New(), backlog...)
		for q, args := range map[string][]any{
			pruneFlowsSQL: {now, pruneBatch, models.SignInOutcomeFailed, "reason", "cause"},
			"DELETE FROM grants WHERE id = ANY(ARRAY(" + expiredGrants + "))": {now, pruneBatch},
		} {
			plan := queryPlan(t, s, q, args...)
			for _, want := range []string{"Limit", "_pkey", "_expires", "Seq Scan on sign_in_flows", "Seq Scan on grants"} {
				if strings.HasPrefix(q, "DELETE FROM grants") && want == "_expires" {
					want = "ix_grants_created"
				}
				if strings.HasPrefix(want, "Seq Scan") == strings.Contains(plan, want) {
					t.Errorf("%s\nplan has or lacks %s:\n%s", q, want, plan)
				}
			}
		}
	})
}
