package store

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/scimquery"
	"gatehouse/store/storetest"
)

// seedPagedUsers creates a workspace of n accounts, every tenth one a member of one group,
// and analyses the tables, as a workspace an IdP imports would be.
func seedPagedUsers(t *testing.T, s *Store, n int) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
	g := &models.Group{ID: NewID(), WorkspaceID: ws.ID, DisplayName: "G", DisplayNameKey: "g", Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := s.Create(ctx, ws); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	users := make([]*models.UserAccount, n)
	for i := range users {
		name := fmt.Sprintf("u%05d@example.com", i)
		users[i] = &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, Email: name, EmailKey: name, EmailType: models.EmailTypeWork,
			UserName: name, UserNameKey: name, Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
	}
	if err := s.CreateUserAccounts(ctx, users); err != nil {
		t.Fatal(err)
	}
	var none []int
	if err := s.RawScan(ctx, &none, "INSERT INTO group_members (group_id, user_account_id, workspace_id, created_at) "+
		"SELECT ?, id, workspace_id, created_at FROM user_accounts WHERE workspace_id = ? AND user_name_key LIKE '%0@%' RETURNING 1", g.ID, ws.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RawScan(ctx, &none, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	return ws.ID
}

// TestSCIMUsersPages: every page of SCIMUsers, the first and the deep ones, with and without
// a filter, is the slice of the whole list at its offset, with the same groups and total; the
// deep pages read their ids first (usersPage) and must not change an answer.
func TestSCIMUsersPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, math.MaxInt)
		const n = 1500
		ws := seedPagedUsers(t, s, n)
		for _, filter := range []scimquery.Expr{nil, cmp("userName", scimquery.Sw, "u01")} {
			all, allGroups, total, err := s.SCIMUsers(ctx, ws, SCIMList{Filter: filter, Count: 10 * n}, true)
			if err != nil {
				t.Fatal(err)
			}
			if int(total) != len(all) || filter == nil && total != n || filter != nil && total != 500 {
				t.Fatalf("filter %v: total %d for %d accounts", filter, total, len(all))
			}
			for _, off := range []int{0, 1, 99, 100, 777, int(total) - 100, int(total) - 1, int(total), int(total) + 5} {
				for _, count := range []int{1, 100} {
					page, groups, pageTotal, err := s.SCIMUsers(ctx, ws, SCIMList{Filter: filter, Offset: off, Count: count}, true)
					if err != nil {
						t.Fatal(err)
					}
					want := all[min(off, len(all)):min(off+count, len(all))]
					if pageTotal != total || len(page) != len(want) {
						t.Fatalf("filter %v, offset %d, count %d: %d accounts of %d, want %d of %d", filter, off, count, len(page), pageTotal, len(want), total)
					}
					for i, u := range page {
						if u.ID != want[i].ID || u.UserName != want[i].UserName || !slices.Equal(groups[u.ID], allGroups[u.ID]) {
							t.Fatalf("filter %v, offset %d: account %d is %s %v, want %s %v", filter, off, i, u.UserName, groups[u.ID],
								want[i].UserName, allGroups[u.ID])
						}
					}
				}
			}
		}
	})
}

// TestSCIMUsersDeepPagePlan: on PostgreSQL, the page at startIndex 2,901 of 3,000 accounts
// computes the groups of its own 100 accounts only, not of the 2,900 it skips (which made a
// page's time grow with its depth: seconds a page at a million accounts). EXPLAIN ANALYZE of
// the statement SCIMUsers runs: no node may run more than once per account of the page.
func TestSCIMUsersDeepPagePlan(t *testing.T) {
	s := openTestStore(t, storetest.URL(t, "postgres"), math.MaxInt)
	ws := seedPagedUsers(t, s, 3000)
	l := SCIMList{Offset: 2900, Count: 100}
	tail, args := s.usersPage(ws, "user_accounts.workspace_id = ?", []any{ws}, l)
	var rows []map[string]any
	if err := s.RawScan(context.Background(), &rows, "EXPLAIN (ANALYZE, TIMING OFF) "+s.usersSQL(tail, true), args...); err != nil {
		t.Fatal(err)
	}
	var plan string
	most := 0
	for _, r := range rows {
		line := fmt.Sprint(r["QUERY PLAN"])
		plan += line + "\n"
		for _, m := range regexp.MustCompile(`loops=(\d+)`).FindAllStringSubmatch(line, -1) {
			n, _ := strconv.Atoi(m[1])
			most = max(most, n)
		}
	}
	if most > l.Count {
		t.Errorf("a node of the page's plan runs %d times for a page of %d:\n%s", most, l.Count, plan)
	}
}
