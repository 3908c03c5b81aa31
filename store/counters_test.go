package store

import (
	"context"
	"math"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestActivityStatsAgree: for every kind of activity row, the Go mapping (activityMetric, which
// feeds the hourly counters) and the SQL generated from the same table (activitySumsSQL, over
// the day's partial first hour) count it under the same statistic, on both dialects.
func TestActivityStatsAgree(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, math.MaxInt)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		if err := s.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		for _, status := range []string{models.SCIMStatusSuccess, models.SCIMStatusError} {
			for _, rt := range []string{"user", "group"} {
				for _, op := range []string{"create", "replace", "update", "delete", "read", "list"} {
					a := &models.SCIMActivity{ID: NewID(), WorkspaceID: ws.ID, Operation: op, ResourceType: rt,
						Status: status, Details: "{}", CreatedAt: now}
					if err := s.gdb.Create(a).Error; err != nil { // the row only, no counters
						t.Fatal(err)
					}
					sums := make([]int64, len(activityStats))
					dest := make([]any, len(sums))
					for i := range sums {
						dest[i] = &sums[i]
					}
					if err := s.gdb.Model(&models.SCIMActivity{}).Where("id = ?", a.ID).Select(activitySumsSQL).Row().Scan(dest...); err != nil {
						t.Fatal(err)
					}
					metric := activityMetric(a)
					for i, st := range activityStats {
						if want := st.metric == metric; (sums[i] == 1) != want || sums[i] > 1 {
							t.Errorf("%s %s/%s: SQL counts %d under %s, Go maps it to %q", status, rt, op, sums[i], st.metric, metric)
						}
					}
				}
			}
		}
	})
}
