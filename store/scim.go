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

// ScimTokenFilter narrows a token listing; empty fields do not filter.
type ScimTokenFilter struct {
	Status string // active, revoked, expired
	Name   string // substring, case-insensitive
}

func (s *Store) filterScimTokens(ctx context.Context, ws uuid.UUID, f ScimTokenFilter, now time.Time) *gorm.DB {
	q := s.scoped(ctx, ws).Model(&models.ScimToken{})
	switch f.Status {
	case models.ScimTokenActive:
		q = q.Where("revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)", now)
	case models.ScimTokenRevoked:
		q = q.Where("revoked_at IS NOT NULL")
	case models.ScimTokenExpired:
		q = q.Where("revoked_at IS NULL AND expires_at IS NOT NULL AND expires_at <= ?", now)
	}
	if f.Name != "" {
		q = q.Where("lower(name) LIKE ? ESCAPE '\\'", "%"+escapeLike(models.Key(f.Name))+"%")
	}
	return q
}

// ScimTokens lists one page of a workspace's tokens, newest first, and the total matching.
// Errors: none of the contract; no match is an empty result.
func (s *Store) ScimTokens(ctx context.Context, ws uuid.UUID, f ScimTokenFilter, now time.Time, offset, limit int) ([]*models.ScimToken, int64, error) {
	var total int64
	if err := s.filterScimTokens(ctx, ws, f, now).Count(&total).Error; err != nil {
		return nil, 0, translate(err)
	}
	var ts []*models.ScimToken
	err := s.filterScimTokens(ctx, ws, f, now).Order("id DESC").Offset(offset).Limit(limit).Find(&ts).Error
	return ts, total, translate(err)
}

// ScimToken finds a token by id within a workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) ScimToken(ctx context.Context, ws, id uuid.UUID) (*models.ScimToken, error) {
	var t models.ScimToken
	if err := first(s.scoped(ctx, ws).Where("id = ?", id), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ScimTokenByHash finds a token by the hash of its value, in any workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) ScimTokenByHash(ctx context.Context, hash string) (*models.ScimToken, error) {
	var t models.ScimToken
	if err := first(s.db(ctx).Where("token_hash = ?", hash), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// RevokeScimToken marks a token revoked; it reports whether the token was not revoked before.
// Errors: none of the contract; a missing or revoked token reports false.
func (s *Store) RevokeScimToken(ctx context.Context, ws, id uuid.UUID, now time.Time) (bool, error) {
	res := s.scoped(ctx, ws).Model(&models.ScimToken{}).Where("id = ? AND revoked_at IS NULL", id).
		Updates(map[string]any{"revoked_at": now, "updated_at": now})
	return res.RowsAffected > 0, translate(res.Error)
}

// DeleteScimToken removes a token and its activity log.
// Errors: none of the contract; a missing token is no error.
func (s *Store) DeleteScimToken(ctx context.Context, ws, id uuid.UUID) error {
	if err := s.scoped(ctx, ws).Where("token_id = ?", id).Delete(&models.ScimActivity{}).Error; err != nil {
		return translate(err)
	}
	return translate(s.scoped(ctx, ws).Where("id = ?", id).Delete(&models.ScimToken{}).Error)
}

// ScimActivityFilter narrows an activity listing; zero fields do not filter.
type ScimActivityFilter struct {
	Operation    string
	ResourceType string
	Status       string
	Start, End   *time.Time // created_at >= Start, created_at < End
}

func (s *Store) filterActivities(ctx context.Context, ws uuid.UUID, f ScimActivityFilter) *gorm.DB {
	q := s.scoped(ctx, ws).Model(&models.ScimActivity{})
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

// ScimActivities lists one page of a workspace's SCIM activity, newest first, and the total.
// Errors: none of the contract; no match is an empty result.
func (s *Store) ScimActivities(ctx context.Context, ws uuid.UUID, f ScimActivityFilter, offset, limit int) ([]*models.ScimActivity, int64, error) {
	var total int64
	if err := s.filterActivities(ctx, ws, f).Count(&total).Error; err != nil {
		return nil, 0, translate(err)
	}
	var as []*models.ScimActivity
	err := s.filterActivities(ctx, ws, f).Order("created_at DESC, id DESC").Offset(offset).Limit(limit).Find(&as).Error
	return as, total, translate(err)
}

// PruneScimActivities deletes activity older than before, in every workspace, in batches so
// that no statement holds locks for long. It returns the number of rows deleted.
// Errors: none of the contract.
func (s *Store) PruneScimActivities(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		sub := s.db(ctx).Model(&models.ScimActivity{}).Select("id").Where("created_at < ?", before).Limit(5000)
		res := s.db(ctx).Where("id IN (?)", sub).Delete(&models.ScimActivity{})
		if res.Error != nil {
			return total, translate(res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < 5000 {
			return total, nil
		}
	}
}

// ScimStatistics computes the statistics of one workspace with indexed queries: the totals
// from the sharded counters (migration 8, at most 16 rows each), the day's counts from the
// hourly counters plus the activity rows of the oldest, partial hour.
// Errors: none of the contract.
func (s *Store) ScimStatistics(ctx context.Context, ws uuid.UUID, now time.Time) (*models.ScimStatistics, error) {
	st := &models.ScimStatistics{}
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
	err = s.scoped(ctx, ws).Model(&models.ScimActivity{}).Where("created_at >= ? AND created_at < ?", since, edgeEnd).
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
	err = s.scoped(ctx, ws).Model(&models.ScimToken{}).
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
