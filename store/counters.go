package store

import (
	"context"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
)

// Counter kinds.
const (
	counterUsers  = "users"
	counterGroups = "groups"
	// counterLastSync holds the time of the newest successful SCIM change (Unix microseconds):
	// its shards keep a maximum, not a sum.
	counterLastSync = "last_sync"
)

const counterShards = 16

// scimCounter is one shard of a per-workspace counter (migration 8).
type scimCounter struct {
	WorkspaceID uuid.UUID
	Kind        string
	Bucket      int64 // 0 for totals; hours since the Unix epoch for hourly counts
	Shard       int
	N           int64
}

func (scimCounter) TableName() string { return "scim_counters" }

// counterTable describes the counters, which every SCIM write moves (counterUpsertSQL).
var counterTable = newTable("scim_counters",
	col("workspace_id", func(c *scimCounter) *uuid.UUID { return &c.WorkspaceID }),
	col("kind", func(c *scimCounter) *string { return &c.Kind }),
	col("bucket", func(c *scimCounter) *int64 { return &c.Bucket }),
	col("shard", func(c *scimCounter) *int { return &c.Shard }),
	col("n", func(c *scimCounter) *int64 { return &c.N }),
)

// addCount adds delta to a workspace counter. Inside a transaction the change is batched
// and written once at commit (one statement, row locks held only at the end).
func (s *Store) addCount(ctx context.Context, ws uuid.UUID, kind string, bucket, delta int64) error {
	if delta == 0 {
		return nil
	}
	if b, ok := ctx.Value(countsKey{}).(*counts); ok {
		b.add(ws, kind, bucket, delta)
		return nil
	}
	return s.writeCounts(ctx, []*scimCounter{{WorkspaceID: ws, Kind: kind, Bucket: bucket, N: delta, Shard: rand.IntN(counterShards)}})
}

type countsKey struct{}

// counts collects the counter changes of one transaction.
type counts struct {
	m map[scimCounter]int64 // (workspace, kind, bucket) → delta
}

func (c *counts) add(ws uuid.UUID, kind string, bucket, delta int64) {
	if c.m == nil {
		c.m = map[scimCounter]int64{}
	}
	k := scimCounter{WorkspaceID: ws, Kind: kind, Bucket: bucket}
	if kind == counterLastSync {
		c.m[k] = max(c.m[k], delta)
		return
	}
	c.m[k] += delta
}

func withCounts(ctx context.Context) (context.Context, *counts) {
	c := &counts{}
	return context.WithValue(ctx, countsKey{}, c), c
}

// rows returns the collected changes as counter rows on random shards, in a fixed order so
// that concurrent transactions lock counter rows in the same order.
func (c *counts) rows() []*scimCounter {
	rows := make([]*scimCounter, 0, len(c.m))
	for k, n := range c.m {
		if n != 0 {
			rows = append(rows, &scimCounter{WorkspaceID: k.WorkspaceID, Kind: k.Kind, Bucket: k.Bucket, N: n,
				Shard: rand.IntN(counterShards)})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.WorkspaceID != b.WorkspaceID {
			return a.WorkspaceID.String() < b.WorkspaceID.String()
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Bucket < b.Bucket
	})
	return rows
}

// flushCounts writes a transaction's counter changes in one statement.
func (s *Store) flushCounts(ctx context.Context, c *counts) error {
	return s.writeCounts(ctx, c.rows())
}

func (s *Store) writeCounts(ctx context.Context, rows []*scimCounter) error {
	if len(rows) == 0 {
		return nil
	}
	return translate(s.countersInsert(s.db(ctx), rows).Error)
}

// count sums a workspace counter's shards (at most 16 rows, one index range).
func (s *Store) count(ctx context.Context, ws uuid.UUID, kind string) (int64, error) {
	var n *int64
	err := s.db(ctx).Model(&scimCounter{}).Select("SUM(n)").Where("workspace_id = ? AND kind = ? AND bucket = 0", ws, kind).Scan(&n).Error
	if err != nil || n == nil {
		return 0, translate(err)
	}
	return *n, nil
}

// countCreated adds inserted users and groups to their workspace counters (store.Create).
func (s *Store) countCreated(ctx context.Context, v any) error {
	switch x := v.(type) {
	case *models.UserAccount:
		return s.addCount(ctx, x.WorkspaceID, counterUsers, 0, 1)
	case []*models.UserAccount:
		per := map[uuid.UUID]int64{}
		for _, u := range x {
			per[u.WorkspaceID]++
		}
		for ws, n := range per {
			if err := s.addCount(ctx, ws, counterUsers, 0, n); err != nil {
				return err
			}
		}
	case *models.Group:
		return s.addCount(ctx, x.WorkspaceID, counterGroups, 0, 1)
	case *models.SCIMActivity:
		if m := activityMetric(x); m != "" {
			if err := s.addCount(ctx, x.WorkspaceID, m, hourBucket(x.CreatedAt), 1); err != nil {
				return err
			}
		}
		if x.Status == models.SCIMStatusSuccess {
			return s.addCount(ctx, x.WorkspaceID, counterLastSync, 0, x.CreatedAt.UnixMicro())
		}
	}
	return nil
}

// Hourly activity counters: kind = metric, bucket = hours since the epoch, so that the 24-hour
// statistics sum at most 25 hours of counters instead of reading every activity row of the day.
func hourBucket(t time.Time) int64 { return t.Unix() / 3600 }

// activityStat is one of the day's SCIM statistics: the activity rows it counts (an empty
// field matches anything) and the field of models.SCIMStatistics it fills. Its metric names
// its hourly counter.
type activityStat struct {
	metric                          string
	status, resourceType, operation string
	field                           func(*models.SCIMStatistics) *int64
}

// activityStats is the one description of the statistics an activity row feeds. It generates
// the Go mapping (activityMetric: the hourly counter a written row adds to), the counters'
// kinds (hourlyMetrics) and the SQL that counts the same rows (activitySumsSQL). The rows
// counted by two entries never overlap (their statuses differ), so the first match in Go and
// the independent sums in SQL agree.
var activityStats = []activityStat{
	{"users_added", models.SCIMStatusSuccess, "user", "create", func(s *models.SCIMStatistics) *int64 { return &s.UsersAdded24h }},
	{"users_removed", models.SCIMStatusSuccess, "user", "delete", func(s *models.SCIMStatistics) *int64 { return &s.UsersRemoved24h }},
	{"groups_added", models.SCIMStatusSuccess, "group", "create", func(s *models.SCIMStatistics) *int64 { return &s.GroupsAdded24h }},
	{"groups_removed", models.SCIMStatusSuccess, "group", "delete", func(s *models.SCIMStatistics) *int64 { return &s.GroupsRemoved24h }},
	{"errors", models.SCIMStatusError, "", "", func(s *models.SCIMStatistics) *int64 { return &s.ErrorCount24h }},
}

func (st *activityStat) matches(a *models.SCIMActivity) bool {
	return (st.status == "" || a.Status == st.status) && (st.resourceType == "" || a.ResourceType == st.resourceType) &&
		(st.operation == "" || a.Operation == st.operation)
}

// condition is matches in SQL (the values are constants of this file, not input).
func (st *activityStat) condition() string {
	var conds []string
	for _, c := range [...]struct{ column, value string }{{"status", st.status}, {"resource_type", st.resourceType}, {"operation", st.operation}} {
		if c.value != "" {
			conds = append(conds, c.column+" = '"+c.value+"'")
		}
	}
	return strings.Join(conds, " AND ")
}

var (
	// hourlyMetrics are the kinds of the hourly counters.
	hourlyMetrics = func() []string {
		out := make([]string, len(activityStats))
		for i, st := range activityStats {
			out[i] = st.metric
		}
		return out
	}()
	// activitySumsSQL counts activity rows per statistic, one column each in activityStats' order.
	activitySumsSQL = func() string {
		sums := make([]string, len(activityStats))
		for i, st := range activityStats {
			sums[i] = "COALESCE(SUM(CASE WHEN " + st.condition() + " THEN 1 ELSE 0 END), 0) AS " + st.metric
		}
		return strings.Join(sums, ", ")
	}()
)

// activityMetric names the statistic an activity row feeds, or "".
func activityMetric(a *models.SCIMActivity) string {
	for i := range activityStats {
		if activityStats[i].matches(a) {
			return activityStats[i].metric
		}
	}
	return ""
}

// hourlyCounts sums the hourly counters of the hours from `from` to `to` (inclusive), by metric.
func (s *Store) hourlyCounts(ctx context.Context, ws uuid.UUID, from, to time.Time) (map[string]int64, error) {
	var rows []struct {
		Kind string
		N    int64
	}
	err := s.db(ctx).Model(&scimCounter{}).Select("kind, SUM(n) AS n").
		Where("workspace_id = ? AND kind IN ? AND bucket >= ? AND bucket <= ?", ws, hourlyMetrics, hourBucket(from), hourBucket(to)).
		Group("kind").Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Kind] += r.N
	}
	return out, nil
}

// lastSync returns the newest successful SCIM change of a workspace, or nil.
func (s *Store) lastSync(ctx context.Context, ws uuid.UUID) (*time.Time, error) {
	var n *int64
	err := s.db(ctx).Model(&scimCounter{}).Select("MAX(n)").
		Where("workspace_id = ? AND kind = ? AND bucket = 0", ws, counterLastSync).Scan(&n).Error
	if err != nil || n == nil {
		return nil, translate(err)
	}
	t := time.UnixMicro(*n).UTC()
	return &t, nil
}

// recountSQL inserts every workspace's counter of kind: its number of rows in table.
func recountSQL(kind, table string) string {
	return counterTable.insertSelect(0, map[string]string{"workspace_id": "workspace_id", "kind": "'" + kind + "'",
		"bucket": "0", "shard": "0", "n": "count(*)"}).sql + " FROM " + table + " GROUP BY workspace_id"
}

// ReconcileCounts recomputes every workspace's counters from the tables, correcting any drift
// (e.g. rows written by code that bypasses Create). It runs with the activity pruner.
// Errors: none of the contract.
func (s *Store) ReconcileCounts(ctx context.Context) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if s.dialect == Postgres {
			// Writers that already counted commit first; later ones wait and count after us.
			if err := db.Exec("LOCK TABLE scim_counters IN EXCLUSIVE MODE").Error; err != nil {
				return translate(err)
			}
		}
		for _, q := range []string{
			"DELETE FROM scim_counters WHERE kind IN ('users', 'groups')",
			recountSQL(counterUsers, "user_accounts"),
			recountSQL(counterGroups, "groups"),
		} {
			if err := db.Exec(q).Error; err != nil {
				return translate(err)
			}
		}
		// Hourly counters older than two days are never read again.
		old := hourBucket(s.now().Add(-48 * time.Hour))
		return translate(db.Exec("DELETE FROM scim_counters WHERE bucket > 0 AND bucket < ?", old).Error)
	})
}
