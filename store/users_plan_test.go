package store

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestUserAccountsByConnectionPlan checks that a page of UserAccounts filtered by connection
// (authModule), the first and one after an id, alone or with identifier or active besides, reads
// the connection's credentials in account order (ix_credentials_connection_user, migration 36)
// and each account by its primary key, on both databases, rather than the workspace's accounts
// in id order (ix_user_accounts_workspace) looking for the connection's. PostgreSQL's plan is
// the generic one a pooled session caches, which knows neither the connection nor its number
// of accounts: with the slug joined to the credentials, or the connection's id looked up first,
// it walked the accounts beside the credentials, half of 200,000 accounts for a connection of
// 100 (175-537 ms a page). The count of a connection's accounts counts its credentials in the
// index (it read every account: 470 ms for 200,000 in the generic plan).
func TestUserAccountsByConnectionPlan(t *testing.T) {
	after, inactive := uuid.New(), false
	filters := []UserAccountFilter{{AuthModule: "c1"}, {AuthModule: "c1", IdentifierKey: "u7@example.com"},
		{AuthModule: "c2", Active: &inactive}}
	pages := func(s *Store, ws uuid.UUID) []string {
		var qs []string
		for _, f := range filters {
			for _, a := range []*uuid.UUID{nil, &after} {
				var us []*models.UserAccount
				qs = append(qs, statementOf(s, func(db *gorm.DB) *gorm.DB { return userAccountsPage(db, s.dialect, ws, f, a, 51, &us) }))
			}
		}
		return qs
	}
	t.Run("sqlite", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "sqlite"), allMigrations)
		for _, q := range pages(s, uuid.New()) {
			plan := queryPlan(t, s, q, uuid.New(), uuid.New(), "c1", "u7@example.com", uuid.New(), after, false)
			if !regexp.MustCompile(`^SEARCH m USING (COVERING )?INDEX (ix_credentials_connection_user|ux_credentials_identity) \((workspace_id=\? AND )?connection_id=\?`).MatchString(plan) ||
				!regexp.MustCompile(`SEARCH user_accounts USING INDEX \w+ \((workspace_id=\? AND )?id=\?\)`).MatchString(plan) ||
				strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("%s\ndoes not read the connection's credentials, then each account:\n%s", q, plan)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
		ws := uuid.New()
		// 3,000 accounts: c1 holds every one, c2 one in a thousand, c3 none.
		seed(t, s, ws,
			`INSERT INTO workspaces (id, name, created_at) VALUES (@ws, 'plans', now()) RETURNING 1`,
			`INSERT INTO connections (id, workspace_id, name, name_key, slug, protocol, status, version, created_at, updated_at)
			SELECT gen_random_uuid(), @ws, 'C' || g, 'c' || g, 'c' || g, 'oidc', 'active', 1, now(), now()
			FROM generate_series(1, 3) g RETURNING 1`,
			`INSERT INTO user_accounts (id, workspace_id, email, email_key, active, version, created_at, updated_at, scim_data)
			SELECT gen_random_uuid(), @ws, 'u' || g || '@example.com', 'u' || g || '@example.com', true, 1, now(), now(), '{}'
			FROM generate_series(1, 3000) g RETURNING 1`,
			`INSERT INTO credentials (id, workspace_id, user_account_id, connection_id, identifier, identifier_key, created_at, updated_at)
			SELECT gen_random_uuid(), @ws, u.id, k.id, u.email, u.email_key, now(), now()
			FROM (SELECT id, email, email_key, row_number() OVER (ORDER BY id) AS n FROM user_accounts) u
			JOIN connections k ON k.slug = 'c1' OR (k.slug = 'c2' AND u.n % 1000 = 0) RETURNING 1`,
			`VACUUM ANALYZE`)
		// The count of a connection's accounts, with no condition on the account, counts
		// its credentials and reads no account. Here c1 has half the credentials, so the
		// index-only scan wins only while VACUUM could mark the table's pages all-visible,
		// which it cannot while another session's transaction is open (CI runs packages side
		// by side): then a sequential scan of these 3,000 rows is the cheaper plan, and right.
		var n int64
		count := statementOf(s, func(db *gorm.DB) *gorm.DB {
			q, _ := filterUsers(db, s.dialect, ws, UserAccountFilter{AuthModule: "c1"}, false)
			return q.Count(&n)
		})
		if plan := strings.Join(genericPlan(t, s, count), "\n"); !strings.Contains(plan, "Index Only Scan using ix_credentials_connection_user") &&
			!strings.Contains(plan, "Seq Scan on credentials") || strings.Contains(plan, "user_accounts") {
			t.Errorf("%s\ndoes not count the connection's credentials alone:\n%s", count, plan)
		}
		for _, q := range pages(s, ws) {
			plan := strings.Join(genericPlan(t, s, q), "\n")
			if !regexp.MustCompile(`(ix_credentials_connection_user|ux_credentials_identity) on credentials m [^\n]*\n\s+Index Cond: \(\((workspace_id = \$1\) AND \()?connection_id = \$0\)`).MatchString(plan) ||
				!strings.Contains(plan, "user_accounts_pkey on user_accounts") {
				t.Errorf("%s\ndoes not read the connection's credentials, then each account:\n%s", q, plan)
			}
			for _, not := range []string{"ix_user_accounts_workspace", "Seq Scan on user_accounts", "Seq Scan on credentials", "Merge", "Hash"} {
				if strings.Contains(plan, not) {
					t.Errorf("%s\nplan has %s:\n%s", q, not, plan)
				}
			}
		}
	})
}
