package store

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestSignInEventsBrandPlan checks that SignInEventsPage's brandId filter, the page and the
// count of its total, searches ix_sign_in_events_brand (migration 34) on both databases. With
// the workspace's index alone, the count read every event of the workspace and a brand with
// no events was a sequential scan of every workspace's (PostgreSQL, 2M events: 575 ms for an
// empty page).
func TestSignInEventsBrandPlan(t *testing.T) {
	// A brand with a fifth of the events, and one with none.
	brand, none := uuid.MustParse("00000000-0000-4000-8000-000000000003"), uuid.New()
	conn := uuid.MustParse("00000000-0000-4000-8000-000000000001")
	checkSignInEventsPlan(t, []SignInEventFilter{{BrandID: &brand}, {BrandID: &none},
		{BrandID: &brand, Outcome: models.SignInOutcomeFailed}, {BrandID: &none, ConnectionID: &conn}},
		func(f SignInEventFilter, plan string) bool {
			// With an outcome too, the outcome's index (migration 38) serves as well.
			return strings.Contains(plan, "ix_sign_in_events_brand") ||
				f.Outcome != "" && strings.Contains(plan, "ix_sign_in_events_outcome")
		}, "ix_sign_in_events_brand")
}

// TestSignInEventsOutcomePlan checks that SignInEventsPage's outcome filter alone, the page and
// the count of its total, searches ix_sign_in_events_outcome (migration 38) on both databases,
// for an outcome a twentieth of the events have and for one none has. With the workspace's
// index alone the count read every event of the workspace, and a page of an outcome no event
// has read them all too (PostgreSQL, 1.5 million events: 1.5 s).
func TestSignInEventsOutcomePlan(t *testing.T) {
	checkSignInEventsPlan(t, []SignInEventFilter{{Outcome: models.SignInOutcomeFailed}, {Outcome: models.SignInOutcomeRefused}},
		func(_ SignInEventFilter, plan string) bool {
			return strings.Contains(plan, "ix_sign_in_events_outcome")
		},
		"ix_sign_in_events_outcome")
}

// checkSignInEventsPlan checks, on both databases, that the count and a page of
// SignInEventsPage for each of filters has a plan searched accepts (named index, the index
// the message names) and no sequential scan of sign_in_events. PostgreSQL's planner is given
// 100,000 vacuumed and analysed events, a fifth of them the workspace's, of five brands and
// three connections, a twentieth failed.
func checkSignInEventsPlan(t *testing.T, filters []SignInEventFilter, searched func(f SignInEventFilter, plan string) bool, index string) {
	check := func(t *testing.T, s *Store, ws uuid.UUID, scan string) {
		for _, f := range filters {
			var n int64
			var es []*models.SignInEvent
			for _, q := range []string{
				s.gdb.ToSQL(func(db *gorm.DB) *gorm.DB { return signInEvents(db, ws, f).Count(&n) }),
				s.gdb.ToSQL(func(db *gorm.DB) *gorm.DB {
					return signInEvents(db, ws, f).Order(signInEventsOrder).Offset(40).Limit(20).Find(&es)
				}),
			} {
				if plan := queryPlan(t, s, q); !searched(f, plan) || strings.Contains(plan, scan) {
					t.Errorf("%s\ndoes not search %s:\n%s", q, index, plan)
				}
			}
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		check(t, openTestStore(t, storetest.URL(t, "sqlite"), allMigrations), uuid.New(), "SCAN sign_in_events")
	})
	t.Run("postgres", func(t *testing.T) {
		s := openTestStore(t, storetest.URL(t, "postgres"), allMigrations)
		ws := uuid.New()
		seed(t, s, ws,
			`INSERT INTO workspaces (id, name, created_at) VALUES (@ws, 'plans', now()) RETURNING 1`,
			`INSERT INTO sign_in_events (id, workspace_id, brand_id, connection_id, outcome, created_at)
			SELECT gen_random_uuid(), CASE WHEN g % 5 = 0 THEN @ws ELSE w.id END,
				('00000000-0000-4000-8000-00000000000' || g % 7 % 5)::uuid, ('00000000-0000-4000-8000-00000000000' || g % 3)::uuid,
				CASE WHEN g % 20 = 0 THEN 'failed' ELSE 'existing_identity' END, now() - g * interval '1 second'
			FROM generate_series(1, 100000) g, (SELECT gen_random_uuid() AS id) w RETURNING 1`,
			`VACUUM ANALYZE sign_in_events`)
		check(t, s, ws, "Seq Scan on sign_in_events")
	})
}
