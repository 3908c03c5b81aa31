package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
)

// defaultSCIMData stores an empty JSON object for accounts inserted without SCIM attributes.
// (Which userName an account gets is provision's rule: its email unless SCIM names one.)
func defaultSCIMData(v any) {
	fill := func(u *models.UserAccount) {
		if u.SCIMData == "" {
			u.SCIMData = "{}"
		}
	}
	switch x := v.(type) {
	case *models.UserAccount:
		fill(x)
	case []*models.UserAccount:
		for _, u := range x {
			fill(u)
		}
	}
}

// SCIMTokenFilter narrows a token listing; empty fields do not filter.
type SCIMTokenFilter struct {
	Status string // active, revoked, expired
	Name   string // substring, case-insensitive
}

func (s *Store) filterSCIMTokens(ctx context.Context, ws uuid.UUID, f SCIMTokenFilter, now time.Time) *gorm.DB {
	q := s.scoped(ctx, ws).Model(&models.SCIMToken{})
	switch f.Status {
	case models.SCIMTokenActive:
		q = q.Where("revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", now)
	case models.SCIMTokenRevoked:
		q = q.Where("revoked_at IS NOT NULL")
	case models.SCIMTokenExpired:
		q = q.Where("revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ?", now)
	}
	if f.Name != "" {
		q = q.Where(s.lower("name")+" LIKE ? ESCAPE '\\'", "%"+escapeLike(models.Key(f.Name))+"%")
	}
	return q
}

// SCIMTokens lists one page of a workspace's tokens, newest first, and the total matching.
// Errors: none of the contract; no match is an empty result.
func (s *Store) SCIMTokens(ctx context.Context, ws uuid.UUID, f SCIMTokenFilter, now time.Time, offset, limit int) ([]*models.SCIMToken, int64, error) {
	var total int64
	if err := s.filterSCIMTokens(ctx, ws, f, now).Count(&total).Error; err != nil {
		return nil, 0, translate(err)
	}
	var ts []*models.SCIMToken
	err := s.filterSCIMTokens(ctx, ws, f, now).Order("id DESC").Offset(offset).Limit(limit).Find(&ts).Error
	return ts, total, translate(err)
}

// SCIMToken finds a token by id within a workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) SCIMToken(ctx context.Context, ws, id uuid.UUID) (*models.SCIMToken, error) {
	var t models.SCIMToken
	if err := first(s.scoped(ctx, ws).Where("id = ?", id), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// SCIMTokenByHash finds a token by the hash of its value, in any workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) SCIMTokenByHash(ctx context.Context, hash string) (*models.SCIMToken, error) {
	var t models.SCIMToken
	if err := first(s.db(ctx).Where("token_hash = ?", hash), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// RevokeSCIMToken marks a token revoked; it reports whether the token was not revoked before.
// Errors: none of the contract; a missing or revoked token reports false.
func (s *Store) RevokeSCIMToken(ctx context.Context, ws, id uuid.UUID, now time.Time) (bool, error) {
	res := s.scoped(ctx, ws).Model(&models.SCIMToken{}).Where("id = ? AND revoked_at IS NULL", id).
		Updates(map[string]any{"revoked_at": now, "updated_at": now})
	return res.RowsAffected > 0, translate(res.Error)
}

// SCIMTokensOfConnection lists the tokens tied to a connection that are not revoked (active or
// expired), in id order.
// Errors: none of the contract; no match is an empty result.
func (s *Store) SCIMTokensOfConnection(ctx context.Context, ws, connectionID uuid.UUID) ([]*models.SCIMToken, error) {
	var ts []*models.SCIMToken
	err := s.scoped(ctx, ws).Where("connection_id = ? AND revoked_at IS NULL", connectionID).Order("id").Find(&ts).Error
	return ts, translate(err)
}

// DeleteSCIMTokenActivity deletes the activity log of token id of workspace ws, pruneBatch rows
// a statement (pruneBatches) through ix_scim_activities_token, and returns how many rows it
// deleted. Outside a transaction each batch is committed on its own: a log of millions of rows
// is never one statement past the serving statement_timeout, and what a cancelled call
// deleted stays deleted, so that the next one finishes it (DeleteSCIMToken then deletes what
// the token logged meanwhile).
// Errors: none of the contract; a token without activity deletes nothing.
func (s *Store) DeleteSCIMTokenActivity(ctx context.Context, ws, id uuid.UUID) (int64, error) {
	q := tokenActivityBatchSQL(s.dialect)
	return s.pruneBatches(ctx, func(ctx context.Context) (int64, error) {
		res := s.db(ctx).Exec(q, id, ws, pruneBatch)
		return res.RowsAffected, translate(res.Error)
	})
}

// tokenActivityBatchSQL deletes one batch of a token's activity, through the primary key: ?
// are the token, the workspace and the batch's size.
func tokenActivityBatchSQL(dialect string) string {
	return batchDeleteSQL(dialect, "scim_activities", "id",
		`SELECT id FROM scim_activities WHERE token_id = ? AND workspace_id = ? LIMIT ?`)
}

// DeleteSCIMToken removes a token and its activity log; it reports whether the token existed.
// The log is one statement: a caller deletes it first with DeleteSCIMTokenActivity, so that
// only what the token logged since is left to it.
// Errors: none of the contract; a missing token reports false.
func (s *Store) DeleteSCIMToken(ctx context.Context, ws, id uuid.UUID) (bool, error) {
	if err := s.scoped(ctx, ws).Where("token_id = ?", id).Delete(&models.SCIMActivity{}).Error; err != nil {
		return false, translate(err)
	}
	res := s.scoped(ctx, ws).Where("id = ?", id).Delete(&models.SCIMToken{})
	return res.RowsAffected > 0, translate(res.Error)
}

// SCIMActivityFilter narrows an activity listing; zero fields do not filter.
type SCIMActivityFilter struct {
	Operation    string
	ResourceType string
	Status       string
	Start, End   *time.Time // created_at >= Start, created_at < End
}

func (s *Store) filterActivities(ctx context.Context, ws uuid.UUID, f SCIMActivityFilter) *gorm.DB {
	q := s.scoped(ctx, ws).Model(&models.SCIMActivity{})
	if f.Operation != "" {
		q = q.Where("operation = ?", f.Operation)
	}
	if f.ResourceType != "" {
		q = q.Where("resource_type = ?", f.ResourceType)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Start != nil {
		q = q.Where("created_at >= ?", *f.Start)
	}
	if f.End != nil {
		q = q.Where("created_at < ?", *f.End)
	}
	return q
}

// SCIMActivities lists one page of a workspace's SCIM activity, newest first, and the total.
// Errors: none of the contract; no match is an empty result.
func (s *Store) SCIMActivities(ctx context.Context, ws uuid.UUID, f SCIMActivityFilter, offset, limit int) ([]*models.SCIMActivity, int64, error) {
	var total int64
	if err := s.filterActivities(ctx, ws, f).Count(&total).Error; err != nil {
		return nil, 0, translate(err)
	}
	var as []*models.SCIMActivity
	err := s.filterActivities(ctx, ws, f).Order("created_at DESC, id DESC").Offset(offset).Limit(limit).Find(&as).Error
	return as, total, translate(err)
}

// PruneSCIMActivities deletes activity older than before, in every workspace, in batches so
// that no statement holds locks for long. It returns the number of rows deleted.
// Errors: none of the contract.
func (s *Store) PruneSCIMActivities(ctx context.Context, before time.Time) (int64, error) {
	return pruneBefore(s, ctx, &models.SCIMActivity{}, before)
}

// pruneBatch is how many rows one statement of pruneBefore deletes: small enough that no
// statement holds its locks, or grows the WAL, for long.
const pruneBatch = 5000

// pruneBefore deletes the rows of a log table (id, workspace_id, created_at) created before
// the cutoff, in batches, and returns how many it deleted. The log tables are indexed by
// (workspace_id, created_at), so it prunes one workspace at a time: each batch is a range of
// that index, where a cutoff alone would scan the whole table at every run.
func pruneBefore[T any](s *Store, ctx context.Context, model *T, before time.Time) (int64, error) {
	var workspaces []uuid.UUID
	if err := s.db(ctx).Model(&models.Workspace{}).Order("id").Pluck("id", &workspaces).Error; err != nil {
		return 0, translate(err)
	}
	var total int64
	for _, ws := range workspaces {
		for {
			sub := s.db(ctx).Model(model).Select("id").Where("workspace_id = ? AND created_at < ?", ws, before).Limit(pruneBatch)
			res := s.db(ctx).Where("id IN (?)", sub).Delete(model)
			if res.Error != nil {
				return total, translate(res.Error)
			}
			total += res.RowsAffected
			if res.RowsAffected < pruneBatch {
				break
			}
		}
	}
	return total, nil
}

// SCIMStatistics computes the statistics of one workspace with indexed queries: the totals
// from the sharded counters (migration 8, at most 16 rows each), the day's counts from the
// hourly counters plus the activity rows of the oldest, partial hour.
// Errors: none of the contract.
func (s *Store) SCIMStatistics(ctx context.Context, ws uuid.UUID, now time.Time) (*models.SCIMStatistics, error) {
	st := &models.SCIMStatistics{}
	var err error
	if st.TotalUsers, err = s.count(ctx, ws, counterUsers); err != nil {
		return nil, err
	}
	if st.TotalGroups, err = s.count(ctx, ws, counterGroups); err != nil {
		return nil, err
	}
	// The day is the edge hour's tail, read from the activity rows, plus the later whole
	// hours, read from the hourly counters: exact, and bounded by one hour of rows.
	since := now.Add(-24 * time.Hour)
	edgeEnd := since.Truncate(time.Hour).Add(time.Hour)
	edge := make([]int64, len(activityStats))
	dest := make([]any, len(activityStats))
	for i := range edge {
		dest[i] = &edge[i]
	}
	err = s.scoped(ctx, ws).Model(&models.SCIMActivity{}).Where("created_at >= ? AND created_at < ?", since, edgeEnd).
		Select(activitySumsSQL).Row().Scan(dest...)
	if err != nil {
		return nil, translate(err)
	}
	hours, err := s.hourlyCounts(ctx, ws, edgeEnd, now)
	if err != nil {
		return nil, err
	}
	for i, as := range activityStats {
		*as.field(st) = edge[i] + hours[as.metric]
	}
	if st.LastSyncAt, err = s.lastSync(ctx, ws); err != nil {
		return nil, err
	}
	err = s.scoped(ctx, ws).Model(&models.SCIMToken{}).
		Where("revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", now).Count(&st.ActiveTokens).Error
	return st, translate(err)
}

// escapeLike escapes LIKE wildcards so user input matches literally (with ESCAPE '\').
func escapeLike(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '%', '_', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
