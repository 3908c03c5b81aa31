package store

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/store/storetest"
)

// TestBindOwnerProbePlan checks, with PostgreSQL's planner, that a single binding reads the
// identity's owner through the whole identity key (workspace, connection, identifier): the
// probe's Index Cond names connection_id. Given the connection as a column of the join
// (o.connection_id = k.id, bd47273's form), the planner probed on workspace and identifier
// alone and filtered the connection, reading every identity of the workspace per binding: in
// the bind benchmark's first second, while credentials grew unanalysed, and here, with 300
// of them (that form fails this test). The plan checked is the generic one a pooled session
// caches.
func TestBindOwnerProbePlan(t *testing.T) {
	s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
	ws := uuid.New()
	seed(t, s, ws,
		`INSERT INTO workspaces (id, name, created_at) VALUES (@ws, 'plans', now()) RETURNING 1`,
		`INSERT INTO connections (id, workspace_id, name, name_key, slug, protocol, status, version, created_at, updated_at)
		VALUES (gen_random_uuid(), @ws, 'C', 'c', 'c', 'oidc', 'active', 1, now(), now()) RETURNING 1`,
		`INSERT INTO user_accounts (id, workspace_id, email, email_key, first_name, last_name, active, version,
			created_at, updated_at, scim_data)
		SELECT gen_random_uuid(), @ws, 'u' || g || '@example.com', 'u' || g || '@example.com', 'F', 'L', true, 1,
			now(), now(), '{}' FROM generate_series(1, 300) g RETURNING 1`,
		`ANALYZE user_accounts`,
		// credentials stays unanalysed, as a table is while it grows between two ANALYZEs.
		`INSERT INTO credentials (id, workspace_id, user_account_id, connection_id, identifier, identifier_key,
			secret_hash, created_at, updated_at)
		SELECT gen_random_uuid(), @ws, u.id, k.id, u.email, u.email_key, '', now(), now()
		FROM user_accounts u CROSS JOIN connections k WHERE u.workspace_id = @ws AND k.workspace_id = @ws RETURNING 1`)
	plan := genericPlan(t, s, bindAccountSQL)
	text := strings.Join(plan, "\n")
	// The probe's node and the lines under it (a bitmap scan's index scan among them), up to
	// the next node of the plan: the index it reads and its Index Cond.
	var index, cond string
	for i, line := range plan {
		if !strings.Contains(line, " on credentials o ") {
			continue
		}
		for j, l := range plan[i:] {
			if j > 0 && strings.Contains(l, "->") && !strings.Contains(l, "Bitmap Index Scan") {
				break
			}
			if _, after, ok := strings.Cut(l, " using "); ok {
				index, _, _ = strings.Cut(after, " ")
			} else if _, after, ok := strings.Cut(l, "Bitmap Index Scan on "); ok {
				index, _, _ = strings.Cut(after, " ")
			}
			if _, c, ok := strings.Cut(l, "Index Cond: "); ok {
				cond = c
			}
		}
	}
	if index != "ux_credentials_identity" || cond == "" {
		t.Fatalf("the owner is not read through ux_credentials_identity (index %q):\n%s", index, text)
	}
	for _, column := range []string{"workspace_id", "connection_id", "identifier_key"} {
		if !strings.Contains(cond, column+" = ") {
			t.Errorf("the owner's probe does not use %s: Index Cond %s\n%s", column, cond, text)
		}
	}
}
