package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/scimquery"
	"gatehouse/store/storetest"
)

// planCase is an IdP hot lookup and what its plan must search instead of scanning a workspace.
type planCase struct {
	filter          scimquery.Expr
	resource, table string
	bound           bool     // as a token tied to a connection asks it
	indexes         []string // each must appear in the plan
}

var hotLookups = []planCase{
	{cmp("userName", scimquery.Eq, "bjensen@example.com"), "user", "user_accounts", false, []string{"ux_user_accounts_user_name"}},
	{cmp("externalId", scimquery.Eq, "00ujl29u0le5T6Aj10h7"), "user", "user_accounts", false, []string{"ix_user_accounts_external_id"}},
	{cmp("emails", scimquery.Eq, "bjensen@example.com"), "user", "user_accounts", false, []string{"ux_user_accounts_email"}},
	{where("emails", cmp("value", scimquery.Eq, "bjensen@example.com")), "user", "user_accounts", false, []string{"ux_user_accounts_email"}},
	// Entra's emails[type eq "work"].value eq "…", as the scim transport rewrites it.
	{where("emails", and(cmp("type", scimquery.Eq, "work"), cmp("value", scimquery.Eq, "bjensen@example.com"))), "user", "user_accounts", false, []string{"ux_user_accounts_email"}},
	{cmp("displayName", scimquery.Eq, "Engineering"), "group", "groups", false, []string{"ux_groups_display_name"}},
	// A tied token's userName also matches identifiers bound at its connection: two lookups.
	{cmp("userName", scimquery.Eq, "bjensen@example.com"), "user", "user_accounts", true, []string{"ux_user_accounts_user_name", "ux_credentials_identity"}},
}

// explain returns the plan of one hot lookup, as the list queries shape it, one line per node.
func explain(t *testing.T, s *Store, c planCase, ws uuid.UUID) string {
	t.Helper()
	e := c.filter
	var b *binding
	if c.bound {
		b = &binding{workspace: ws, connection: uuid.New()}
	}
	where, args, err := filterSQL(e, c.resource, s.dialect, s.lowerCollation, "", b)
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT * FROM " + c.table + " WHERE " + c.table + ".workspace_id = ? AND " + where +
		" ORDER BY " + s.listOrder(c.table, SCIMList{Filter: e}) + " LIMIT 100"
	return queryPlan(t, s, q, append([]any{ws}, args...)...)
}

// queryPlan returns the plan of statement q, one line per node: EXPLAIN's on PostgreSQL,
// EXPLAIN QUERY PLAN's on SQLite. Neither runs q.
func queryPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	var rows []map[string]any
	prefix := "EXPLAIN QUERY PLAN "
	if s.dialect == Postgres {
		prefix = "EXPLAIN "
	}
	if err := s.RawScan(context.Background(), &rows, prefix+q, args...); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range rows {
		for k, v := range r {
			if k == "detail" || k == "QUERY PLAN" {
				lines = append(lines, fmt.Sprint(v))
			}
		}
	}
	return strings.Join(lines, "\n")
}

// seed runs statements on s, binding @ws to ws in those that name it.
func seed(t *testing.T, s *Store, ws uuid.UUID, statements ...string) {
	t.Helper()
	var n []int
	for _, q := range statements {
		var args []any
		if strings.Contains(q, "@ws") {
			args = append(args, map[string]any{"ws": ws})
		}
		if err := s.RawScan(context.Background(), &n, q, args...); err != nil {
			t.Fatal(err)
		}
	}
}

func checkPlan(t *testing.T, c planCase, plan string, scan string) {
	t.Helper()
	for _, ix := range c.indexes {
		if !strings.Contains(plan, ix) {
			t.Errorf("%s (bound %v): plan does not use %s:\n%s", c.filter, c.bound, ix, plan)
		}
	}
	if strings.Contains(plan, scan) {
		t.Errorf("%s (bound %v): plan scans %s:\n%s", c.filter, c.bound, c.table, plan)
	}
}

// TestSCIMFilterIndexes checks, with SQLite's planner, that the IdP's hot lookups (userName,
// externalId, emails, group displayName eq) search an index instead of scanning a workspace.
func TestSCIMFilterIndexes(t *testing.T) {
	s := openTestStore(t, storetest.URL(t, "sqlite"), allMigrations)
	for _, c := range hotLookups {
		plan := explain(t, s, c, uuid.New())
		checkPlan(t, c, plan, "SCAN "+c.table)
		// Not merely the workspace index (workspace_id=?), which reads every row of it.
		if strings.Contains(plan, "ix_"+c.table+"_workspace (workspace_id=?)") {
			t.Errorf("%s (bound %v): plan reads the whole workspace:\n%s", c.filter, c.bound, plan)
		}
	}
}

// TestSCIMFilterIndexesPostgres checks the same lookups with PostgreSQL's planner, on a
// workspace of 20,000 analysed users (an empty table would make any plan look cheap).
func TestSCIMFilterIndexesPostgres(t *testing.T) {
	s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
	ws := uuid.New()
	seed(t, s, ws,
		`INSERT INTO workspaces (id, name, created_at) VALUES (@ws, 'plans', now()) RETURNING 1`,
		`INSERT INTO user_accounts (id, workspace_id, email, email_key, user_name, user_name_key, external_id,
			first_name, last_name, active, version, created_at, updated_at, scim_data)
		SELECT gen_random_uuid(), @ws, 'u' || g || '@example.com', 'u' || g || '@example.com', 'u' || g || '@example.com',
			'u' || g || '@example.com', 'x' || g, 'First', 'Last', true, 1, now(), now(), '{}'
		FROM generate_series(1, 20000) g RETURNING 1`,
		`INSERT INTO groups (id, workspace_id, display_name, display_name_key, version, created_at, updated_at)
		SELECT gen_random_uuid(), @ws, 'g' || g, 'g' || g, 1, now(), now() FROM generate_series(1, 5000) g RETURNING 1`,
		`ANALYZE`)
	for _, c := range hotLookups {
		if c.bound { // credentials is empty here, so its lookup may scan; the account is then found by id
			c.indexes = []string{"ux_user_accounts_user_name", "user_accounts_pkey"}
		}
		checkPlan(t, c, explain(t, s, c, ws), "Seq Scan on "+c.table)
	}
}
