package scim_test

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/app"
	"gatehouse/models"
)

func TestSCIMActivityRetention(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		old := e.SCIMUser(tok, map[string]any{"userName": "old"})
		e.SCIMUser(tok, map[string]any{"userName": "new"})
		var n []int
		if err := e.App.Store().RawScan(context.Background(), &n, "UPDATE scim_activities SET created_at = ? WHERE resource_id = ?",
			time.Now().Add(-91*24*time.Hour).UTC(), old); err != nil {
			t.Fatal(err)
		}
		// A retention that is not positive would delete everything: refused.
		if _, err := e.App.Service().PruneSCIMActivities(context.Background(), 0); err == nil {
			t.Fatal("a zero retention was accepted")
		}
		// The server's pruner prunes at start.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			e.App.Maintain(ctx, app.Retention{SCIMActivity: 90 * 24 * time.Hour, SignInEvents: 90 * 24 * time.Hour}, slog.New(slog.DiscardHandler))
			close(done)
		}()
		var r *apiResponse
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			r = e.Call("GET", "/api/v1/scim/activities", admin, nil).Must(t, 200)
			if get(r.Body, "total") == 1.0 || time.Now().After(deadline) {
				break
			}
		}
		cancel()
		<-done
		if get(r.Body, "total") != 1.0 || str(r.Body, "activities", 0, "details", "userName") != "new" {
			t.Fatalf("after prune: %s", r.Raw)
		}
		if deleted, err := e.App.Service().PruneSCIMActivities(context.Background(), 90*24*time.Hour); err != nil || deleted != 0 {
			t.Fatalf("second prune: %d, %v", deleted, err)
		}
	})
}

func TestSCIMStatisticsCounters(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		ids := []string{e.SCIMUser(tok, map[string]any{"userName": "a"}), e.SCIMUser(tok, map[string]any{"userName": "b"})}
		e.CreateUser(admin, "graphql@example.com")
		e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "g1"}).Must(t, 201)
		g2 := str(e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "g2"}).Must(t, 201).Body, "id")
		e.Call("DELETE", "/scim/v2/Users/"+ids[0], tok, nil).Must(t, 204)
		e.Call("DELETE", "/scim/v2/Groups/"+g2, tok, nil).Must(t, 204)
		e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "B"}).Must(t, 409) // a failed create counts nothing
		stats := func() (float64, float64) {
			r := e.Call("GET", "/api/v1/scim/statistics", admin, nil).Must(t, 200)
			return get(r.Body, "totalUsers").(float64), get(r.Body, "totalGroups").(float64)
		}
		if u, g := stats(); u != 2 || g != 1 {
			t.Fatalf("totals %v users, %v groups; want 2, 1", u, g)
		}
		// lastSyncAt is the newest success, not the newest failure.
		r := e.Call("GET", "/api/v1/scim/activities?status=success&pageSize=1", admin, nil).Must(t, 200)
		newest, _ := time.Parse(time.RFC3339Nano, str(r.Body, "activities", 0, "timestamp"))
		r = e.Call("GET", "/api/v1/scim/statistics", admin, nil).Must(t, 200)
		last, _ := time.Parse(time.RFC3339Nano, str(r.Body, "lastSyncAt"))
		if d := newest.Sub(last); d < 0 || d >= time.Microsecond {
			t.Fatalf("lastSyncAt %v, newest success %v", last, newest)
		}
		// A row written behind the store's back drifts the counter until reconciliation.
		var n []int
		if err := e.App.Store().RawScan(context.Background(), &n, "DELETE FROM user_accounts WHERE id = ?", ids[1]); err != nil {
			t.Fatal(err)
		}
		if err := e.App.Service().ReconcileSCIMCounts(context.Background()); err != nil {
			t.Fatal(err)
		}
		if u, g := stats(); u != 1 || g != 1 {
			t.Fatalf("after reconcile %v users, %v groups; want 1, 1", u, g)
		}
	})
}

// TestSCIMStatisticsDayWindow: the 24-hour counts are exact at the window's old edge, where
// they come from activity rows rather than the hourly counters.
func TestSCIMStatisticsDayWindow(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		e.Call("GET", "/scim/v2/Users/nope", tok, nil).Must(t, 404) // one error now
		var ws []struct{ WorkspaceID uuid.UUID }
		if err := e.App.Store().RawScan(context.Background(), &ws, "SELECT workspace_id FROM scim_activities"); err != nil || len(ws) != 1 {
			t.Fatalf("%v %v", ws, err)
		}
		since := time.Now().UTC().Add(-24 * time.Hour)
		edge := since.Add(since.Truncate(time.Hour).Add(time.Hour).Sub(since) / 2) // inside the partial oldest hour
		for i, at := range []time.Time{edge, since.Add(-time.Hour)} {
			if err := e.App.Store().Create(context.Background(), &models.SCIMActivity{
				ID:          uuid.MustParse([]string{"0190c7e5-0000-7000-8000-0000000000a1", "0190c7e5-0000-7000-8000-0000000000a2"}[i]),
				WorkspaceID: ws[0].WorkspaceID, Operation: "create", ResourceType: "user", Status: "error", ErrorMessage: "old",
				Details: "{}", CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		r := e.Call("GET", "/api/v1/scim/statistics", admin, nil).Must(t, 200)
		if get(r.Body, "errorCount24h") != 2.0 {
			t.Fatalf("errorCount24h: %s", r.Raw)
		}
	})
}

// TestSCIMActivityFilters: the activity log's filters, date range and pages, the same through
// REST and GraphQL. Two rows are moved to the edge of yesterday: the last microsecond of the
// day before (ann's creation) and midnight (the group's creation).
func TestSCIMActivityFilters(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		now := time.Now().UTC()
		ann := e.SCIMUser(tok, map[string]any{"userName": "ann"})
		ben := e.SCIMUser(tok, map[string]any{"userName": "ben"})
		g := str(e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "g"}).Must(t, 201).Body, "id")
		e.Call("PATCH", "/scim/v2/Users/"+ann, tok, `{"Operations":[{"op":"replace","path":"title","value":"Boss"}]}`).Must(t, 200)
		e.Call("DELETE", "/scim/v2/Users/"+ben, tok, nil).Must(t, 204)
		e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "ANN"}).Must(t, 409)

		// Each row's label: operation and the resource's name, or "error".
		names := map[string]string{ann: "ann", ben: "ben", g: "g"}
		labels := map[string]string{} // activity id → label
		r := e.Call("GET", "/api/v1/scim/activities?pageSize=100", admin, nil).Must(t, 200)
		for _, a := range get(r.Body, "activities").([]any) {
			name := names[str(a, "resourceId")]
			if str(a, "status") == "error" {
				name = "error"
			}
			labels[str(a, "id")] = str(a, "operation") + " " + name
		}
		if len(labels) != 6 {
			t.Fatalf("activities: %s", r.Raw)
		}
		midnight := now.Truncate(24 * time.Hour)
		edge := midnight.Add(-24 * time.Hour) // yesterday, 00:00 UTC
		for id, label := range labels {
			at := map[string]time.Time{"create ann": edge.Add(-time.Microsecond), "create g": edge}[label]
			if at.IsZero() {
				continue
			}
			var n []int
			if err := e.App.Store().RawScan(context.Background(), &n, "UPDATE scim_activities SET created_at = ? WHERE id = ?", at, id); err != nil {
				t.Fatal(err)
			}
		}

		// list returns the labels of the rows a filter selects, newest first, after checking
		// that REST and GraphQL agree and that total counts them.
		list := func(f map[string]string) string {
			t.Helper()
			q := url.Values{"pageSize": {"100"}}
			vars := map[string]any{}
			for k, v := range f {
				q.Set(k, v)
				vars[k] = v
			}
			r := e.Call("GET", "/api/v1/scim/activities?"+q.Encode(), admin, nil).Must(t, 200)
			d := e.MustGQL(admin, `query($f: ScimActivityFilter) { scimActivities(filter: $f, pageSize: 100) { total activities { id } } }`,
				map[string]any{"f": vars})
			var rest, gql []string
			for _, a := range get(r.Body, "activities").([]any) {
				rest = append(rest, labels[str(a, "id")])
			}
			for _, a := range get(d, "scimActivities", "activities").([]any) {
				gql = append(gql, labels[str(a, "id")])
			}
			if !slices.Equal(rest, gql) || get(r.Body, "total") != float64(len(rest)) || get(d, "scimActivities", "total") != float64(len(gql)) {
				t.Fatalf("%v: REST %q (%s), GraphQL %q (%v)", f, rest, r.Raw, gql, d)
			}
			return strings.Join(rest, ", ")
		}
		const (
			recent = "create error, delete ben, update ann, create ben" // made now
			old    = "create g, create ann"                             // moved to the edge of yesterday
			all    = recent + ", " + old
		)
		day := func(t time.Time) string { return t.Format(time.DateOnly) }
		stamp := func(t time.Time) string { return t.Format(time.RFC3339Nano) }
		before, yesterday, today, tomorrow := day(edge.Add(-time.Hour)), day(edge), day(now), day(now.Add(24*time.Hour))
		for _, c := range []struct {
			name string
			f    map[string]string
			want string
		}{
			{"no filter", nil, all},
			{"the document's filters", map[string]string{"operation": "create", "resourceType": "user", "status": "success"}, "create ben, create ann"},
			{"errors", map[string]string{"status": "error"}, "create error"},
			{"groups", map[string]string{"resourceType": "group"}, "create g"},
			{"startDate: a date, from its midnight", map[string]string{"startDate": yesterday}, recent + ", create g"},
			{"startDate: the day before", map[string]string{"startDate": before}, all},
			{"startDate: a date-time, inclusive", map[string]string{"startDate": stamp(edge)}, recent + ", create g"},
			{"startDate: a date-time with fraction, inclusive", map[string]string{"startDate": stamp(edge.Add(-time.Microsecond))}, all},
			{"startDate: a date-time with an offset", map[string]string{"startDate": edge.In(time.FixedZone("", 2*3600)).Format(time.RFC3339)}, recent + ", create g"},
			{"startDate: an hour ago", map[string]string{"startDate": stamp(now.Add(-time.Hour))}, recent},
			{"startDate: tomorrow", map[string]string{"startDate": tomorrow}, ""},
			{"endDate: a date, to the end of that day", map[string]string{"endDate": before}, "create ann"},
			{"endDate: yesterday", map[string]string{"endDate": yesterday}, old},
			{"endDate: today, including now", map[string]string{"endDate": today}, all},
			{"endDate: a date-time, exclusive", map[string]string{"endDate": stamp(edge)}, "create ann"},
			{"endDate: an hour ago", map[string]string{"endDate": stamp(now.Add(-time.Hour))}, old},
			{"endDate: in an hour", map[string]string{"endDate": stamp(now.Add(time.Hour))}, all},
			{"one day", map[string]string{"startDate": yesterday, "endDate": yesterday}, "create g"},
			{"an empty range", map[string]string{"startDate": stamp(edge), "endDate": stamp(edge)}, ""},
			// The last dates there are: a bound past 9999-12-31 (the day after it, or an offset
			// that moves a date-time into year 10000) selects the same rows on both databases.
			{"endDate: the last day of year 9999", map[string]string{"endDate": "9999-12-31"}, all},
			{"endDate: in year 10000 by its offset", map[string]string{"endDate": "9999-12-31T23:00:00-12:00"}, all},
			{"startDate: in year 10000 by its offset", map[string]string{"startDate": "9999-12-31T23:00:00-12:00"}, ""},
			{"dates and filters", map[string]string{"operation": "create", "resourceType": "user", "startDate": stamp(now.Add(-time.Hour)), "endDate": today},
				"create error, create ben"},
		} {
			if got := list(c.f); got != c.want {
				t.Errorf("%s %v: got %q, want %q", c.name, c.f, got, c.want)
			}
		}

		// The document's request, exactly as written.
		r = e.Call("GET", "/api/v1/scim/activities?operation=create&resourceType=user&status=success", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 2.0 || get(r.Body, "page") != 1.0 || get(r.Body, "pageSize") != 20.0 ||
			str(r.Body, "activities", 0, "resourceId") != ben || str(r.Body, "activities", 1, "resourceId") != ann {
			t.Fatalf("the document's query: %s", r.Raw)
		}
		for _, a := range get(r.Body, "activities").([]any) {
			if str(a, "operation") != "create" || str(a, "resourceType") != "user" || str(a, "status") != "success" ||
				get(a, "errorMessage") != nil || str(a, "details", "userName") != names[str(a, "resourceId")] || str(a, "timestamp") == "" {
				t.Fatalf("the document's query: entry %v", a)
			}
		}
		for _, bad := range []string{"endDate=2025-02-30", "endDate=2025-01-15T10:00:00", "startDate=tomorrow"} {
			e.Call("GET", "/api/v1/scim/activities?"+bad, admin, nil).Must(t, 400)
		}
		if r := e.GQL(admin, `{ scimActivities(filter: {endDate: "2025-02-30"}) { total } }`, nil); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "INVALID" ||
			!strings.HasPrefix(r.Errors[0].Message, "endDate must be") {
			t.Fatalf("GraphQL invalid endDate: %s", r.Raw)
		}

		// Pages: page 2 of size 1 is the second newest row, with the total of all rows.
		r = e.Call("GET", "/api/v1/scim/activities?page=2&pageSize=1", admin, nil).Must(t, 200)
		d := e.MustGQL(admin, `{ scimActivities(page: 2, pageSize: 1) { total page pageSize activities { id } } }`, nil)
		if get(r.Body, "total") != 6.0 || get(r.Body, "page") != 2.0 || get(r.Body, "pageSize") != 1.0 ||
			len(get(r.Body, "activities").([]any)) != 1 || labels[str(r.Body, "activities", 0, "id")] != "delete ben" {
			t.Fatalf("REST page 2: %s", r.Raw)
		}
		if get(d, "scimActivities", "total") != 6.0 || get(d, "scimActivities", "page") != 2.0 || get(d, "scimActivities", "pageSize") != 1.0 ||
			len(get(d, "scimActivities", "activities").([]any)) != 1 || labels[str(d, "scimActivities", "activities", 0, "id")] != "delete ben" {
			t.Fatalf("GraphQL page 2: %v", d)
		}
		d = e.MustGQL(admin, `{ scimActivities(page: 7, pageSize: 1) { total activities { id } } }`, nil)
		if get(d, "scimActivities", "total") != 6.0 || len(get(d, "scimActivities", "activities").([]any)) != 0 {
			t.Fatalf("GraphQL page past the end: %v", d)
		}
	})
}

// TestSCIMActivityDateRange: the document's activity query, verbatim, finds the entry of a
// user created through SCIM, with the fields the document lists; startDate and endDate bound it
// as the document describes (a date as endDate includes that whole day, a date-time excludes
// it). endDate=9999-12-31 used to find nothing on SQLite: its end, in year 10000, sorted as
// text before every stored time.
func TestSCIMActivityDateRange(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		id := e.SCIMUser(tok, map[string]any{"userName": "ada@example.com"})
		r := e.Call("GET", "/api/v1/scim/activities?operation=create&resourceType=user&status=success", admin, nil).Must(t, 200)
		a := get(r.Body, "activities", 0)
		if get(r.Body, "total") != 1.0 || str(a, "operation") != "create" || str(a, "resourceType") != "user" ||
			str(a, "resourceId") != id || str(a, "status") != "success" || get(a, "errorMessage") != nil ||
			str(a, "details", "userName") != "ada@example.com" {
			t.Fatalf("the document's query: %s", r.Raw)
		}
		at, err := time.Parse(time.RFC3339, str(a, "timestamp"))
		if err != nil {
			t.Fatalf("timestamp: %s", r.Raw)
		}
		day := at.UTC().Format(time.DateOnly)
		next := at.UTC().AddDate(0, 0, 1).Format(time.DateOnly)
		for q, want := range map[string]float64{
			"startDate=" + day + "&endDate=" + day:                                 1, // a date as endDate is the whole day
			"startDate=" + next:                                                    0,
			"endDate=" + at.UTC().Format(time.RFC3339Nano):                         0, // a date-time as endDate is exclusive
			"endDate=" + url.QueryEscape(at.Add(time.Second).Format(time.RFC3339)): 1,
			"startDate=0001-01-01&endDate=9999-12-31":                              1,
			"endDate=9999-12-31T23:59:59Z":                                         1,
			// An offset as people type it: the '+' is not escaped.
			"startDate=" + at.In(time.FixedZone("", 2*3600)).Format(time.RFC3339): 1,
			"endDate=" + at.In(time.FixedZone("", 2*3600)).Format(time.RFC3339):   0,
		} {
			r := e.Call("GET", "/api/v1/scim/activities?"+q, admin, nil).Must(t, 200)
			if get(r.Body, "total") != want {
				t.Errorf("%s: %s, want total %v", q, r.Raw, want)
			}
		}
	})
}
