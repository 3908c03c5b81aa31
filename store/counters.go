package store

import (
	"context"
	"math/rand/v2"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"gatehouse/models"
)

// Counter kinds.
const (
	counterUsers  = "users"
	counterGroups = "groups"
)

const counterShards = 16

// scimCounter is one shard of a per-workspace counter (migration 8).
type scimCounter struct {
	WorkspaceID uuid.UUID
	Kind        string
	Shard       int
	N           int64
}

func (scimCounter) TableName() string { return "scim_counters" }

// addCount adds delta to a workspace counter, in the caller's transaction when there is one.
func (s *Store) addCount(ctx context.Context, ws uuid.UUID, kind string, delta int64) error {
	if delta == 0 {
		return nil
	}
	row := &scimCounter{WorkspaceID: ws, Kind: kind, Shard: rand.IntN(counterShards), N: delta}
	err := s.db(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "workspace_id"}, {Name: "kind"}, {Name: "shard"}},
		DoUpdates: clause.Assignments(map[string]any{"n": clause.Expr{SQL: "scim_counters.n + excluded.n"}}),
	}).Create(row).Error
	return translate(err)
}

// count sums a workspace counter's shards (at most 16 rows, one index range).
func (s *Store) count(ctx context.Context, ws uuid.UUID, kind string) (int64, error) {
	var n *int64
	err := s.db(ctx).Model(&scimCounter{}).Select("SUM(n)").Where("workspace_id = ? AND kind = ?", ws, kind).Scan(&n).Error
	if err != nil || n == nil {
		return 0, translate(err)
	}
	return *n, nil
}

// countCreated adds inserted users and groups to their workspace counters (store.Create).
func (s *Store) countCreated(ctx context.Context, v any) error {
	switch x := v.(type) {
	case *models.UserAccount:
		return s.addCount(ctx, x.WorkspaceID, counterUsers, 1)
	case []*models.UserAccount:
		per := map[uuid.UUID]int64{}
		for _, u := range x {
			per[u.WorkspaceID]++
		}
		for ws, n := range per {
			if err := s.addCount(ctx, ws, counterUsers, n); err != nil {
				return err
			}
		}
	case *models.Group:
		return s.addCount(ctx, x.WorkspaceID, counterGroups, 1)
	}
	return nil
}

// ReconcileCounts recomputes every workspace's counters from the tables, correcting any drift
// (e.g. rows written by code that bypasses Create). It runs with the activity pruner.
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
			"DELETE FROM scim_counters",
			"INSERT INTO scim_counters (workspace_id, kind, shard, n) SELECT workspace_id, 'users', 0, count(*) FROM user_accounts GROUP BY workspace_id",
			"INSERT INTO scim_counters (workspace_id, kind, shard, n) SELECT workspace_id, 'groups', 0, count(*) FROM groups GROUP BY workspace_id",
		} {
			if err := db.Exec(q).Error; err != nil {
				return translate(err)
			}
		}
		return nil
	})
}
