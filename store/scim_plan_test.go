package store

import (
	"context"
	"strings"
	"testing"

	filter "github.com/scim2/filter-parser/v2"

	"gatehouse/store/storetest"
)

// TestScimFilterIndexes checks, with SQLite's planner, that the IdP's hot lookups (userName,
// externalId, emails, group displayName eq) search an index instead of scanning a workspace.
func TestScimFilterIndexes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, storetest.URL(t, "sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ filter, resource, table, index string }{
		{`userName eq "bjensen@example.com"`, "user", "user_accounts", "ux_user_accounts_user_name"},
		{`externalId eq "00ujl29u0le5T6Aj10h7"`, "user", "user_accounts", "ix_user_accounts_external_id"},
		{`emails eq "bjensen@example.com"`, "user", "user_accounts", "ux_user_accounts_email"},
		{`emails[value eq "bjensen@example.com"]`, "user", "user_accounts", "ux_user_accounts_email"},
		{`displayName eq "Engineering"`, "group", "groups", "ux_groups_display_name"},
	} {
		e, err := filter.ParseFilter([]byte(c.filter))
		if err != nil {
			t.Fatal(err)
		}
		where, args, err := filterSQL(e, c.resource)
		if err != nil {
			t.Fatal(err)
		}
		var plan []struct{ Detail string }
		q := "EXPLAIN QUERY PLAN SELECT * FROM " + c.table + " WHERE workspace_id = ? AND " + where + " ORDER BY " + s.listOrder(c.table, ScimList{Filter: e}) + " LIMIT 100"
		if err := s.RawScan(ctx, &plan, q, append([]any{"ws"}, args...)...); err != nil {
			t.Fatal(err)
		}
		if len(plan) == 0 || !strings.Contains(plan[0].Detail, "USING INDEX "+c.index) {
			t.Errorf("%s: plan %+v, want a search of %s", c.filter, plan, c.index)
		}
	}
}
