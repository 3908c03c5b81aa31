package store

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestCompaniesPagePlan checks that a page of Companies, the first and one after an id, is
// read through ix_companies_workspace (migration 35) on both databases. Through the primary
// key, a workspace with three companies among 20,000 of another read all of them for a page
// (PostgreSQL, 110,000 companies: 128 ms). PostgreSQL's plan is the generic one a pooled
// session caches, which does not know how many companies the workspace has.
func TestCompaniesPagePlan(t *testing.T) {
	after := uuid.New()
	pages := func(s *Store, ws uuid.UUID) []string {
		var cs []*models.Company
		return []string{
			statementOf(s, func(db *gorm.DB) *gorm.DB { return companiesPage(db, ws, nil, 51, &cs) }),
			statementOf(s, func(db *gorm.DB) *gorm.DB { return companiesPage(db, ws, &after, 51, &cs) }),
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "sqlite"), allMigrations)
		for _, q := range pages(s, uuid.New()) {
			if plan := queryPlan(t, s, q, uuid.New(), after); !strings.Contains(plan, "ix_companies_workspace") {
				t.Errorf("%s\ndoes not search ix_companies_workspace:\n%s", q, plan)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
		ws := uuid.New()
		seed(t, s, ws,
			`INSERT INTO workspaces (id, name, created_at) VALUES (@ws, 'plans', now()), (gen_random_uuid(), 'big', now()) RETURNING 1`,
			`INSERT INTO companies (id, workspace_id, name, name_key, created_at, updated_at)
			SELECT gen_random_uuid(), CASE WHEN g <= 3 THEN @ws ELSE (SELECT id FROM workspaces WHERE name = 'big') END,
				'C' || g, 'c' || g, now(), now()
			FROM generate_series(1, 20003) g RETURNING 1`,
			`VACUUM ANALYZE companies`)
		for _, q := range pages(s, ws) {
			plan := strings.Join(genericPlan(t, s, q), "\n")
			if !strings.Contains(plan, "ix_companies_workspace") {
				t.Errorf("%s\ndoes not search ix_companies_workspace:\n%s", q, plan)
			}
		}
	})
}
