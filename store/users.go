package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
)

// UserAccount finds an account by id within a workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) UserAccount(ctx context.Context, ws, id uuid.UUID) (*models.UserAccount, error) {
	var u models.UserAccount
	if err := first(s.scoped(ctx, ws).Where("id = ?", id), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UserAccountsByIDs loads accounts by id within a workspace, in no particular order.
// Errors: none of the contract; missing ids are left out.
func (s *Store) UserAccountsByIDs(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) ([]*models.UserAccount, error) {
	var us []*models.UserAccount
	err := s.scoped(ctx, ws).Where("id IN ?", ids).Find(&us).Error
	return us, translate(err)
}

// CreateUserAccounts inserts many accounts at once, with the counters they move, atomically:
// for bulk loads (benchmarks preloading a large workspace, imports). Rows are written a few
// hundred per statement, from userTable. Defaults are those of Create.
// Errors: ErrAlreadyExists "email" or "user_name", ErrMissingReference; nothing is written then.
func (s *Store) CreateUserAccounts(ctx context.Context, us []*models.UserAccount) error {
	const perStatement = 500 // 13,000 parameters: under both databases' limits
	return s.InTx(ctx, func(ctx context.Context) error {
		for start := 0; start < len(us); start += perStatement {
			chunk := us[start:min(start+perStatement, len(us))]
			for _, u := range chunk {
				userDefaults(u)
			}
			if err := translate(s.db(ctx).Exec(userTable.insertMany(len(chunk)), userTable.manyArgs(chunk)...).Error); err != nil {
				return err
			}
		}
		return s.countCreated(ctx, us)
	})
}

// UpdateUserAccount saves an account if its version is still u.Version, then bumps it.
// Errors: ErrStale when the version moved, ErrNotFound when the account is gone; ErrAlreadyExists "email" or "user_name".
func (s *Store) UpdateUserAccount(ctx context.Context, u *models.UserAccount) error {
	now := s.now()
	res := s.db(ctx).Exec(profileUpdateSQL, versionedArgs(u, profileWrite, now)...)
	if res.Error != nil {
		return translate(res.Error)
	}
	return s.savedVersion(ctx, u, res.RowsAffected, now)
}

// UserAccountFilter narrows a user account listing. Empty fields do not filter. Keys are
// already normalised with models.Key.
type UserAccountFilter struct {
	EmailKey      string
	AuthModule    string // connection slug
	IdentifierKey string
	ExternalID    string
	Active        *bool
}

func (s *Store) filterUsers(ctx context.Context, ws uuid.UUID, f UserAccountFilter) *gorm.DB {
	q := s.scoped(ctx, ws).Model(&models.UserAccount{})
	if f.EmailKey != "" {
		q = q.Where("email_key = ?", f.EmailKey)
	}
	if f.ExternalID != "" {
		q = q.Where("external_id = ?", f.ExternalID)
	}
	if f.Active != nil {
		q = q.Where("active = ?", *f.Active)
	}
	if f.AuthModule != "" || f.IdentifierKey != "" {
		sub := s.db(ctx).Table("credentials AS c").Select("1").
			Joins("JOIN connections AS k ON k.id = c.connection_id AND k.deleted_at IS NULL").
			Where("c.user_account_id = user_accounts.id AND c.workspace_id = ?", ws)
		if f.AuthModule != "" {
			sub = sub.Where("k.slug = ?", f.AuthModule)
		}
		if f.IdentifierKey != "" {
			sub = sub.Where("c.identifier_key = ?", f.IdentifierKey)
		}
		q = q.Where("EXISTS (?)", sub)
	}
	return q
}

// UserAccounts lists up to limit accounts after the given id (keyset pagination in id order,
// which is creation order for v7 UUIDs).
// Errors: none of the contract; no match is an empty result.
func (s *Store) UserAccounts(ctx context.Context, ws uuid.UUID, f UserAccountFilter, after *uuid.UUID, limit int) ([]*models.UserAccount, error) {
	q := s.filterUsers(ctx, ws, f)
	if after != nil {
		q = q.Where("user_accounts.id > ?", *after)
	}
	var us []*models.UserAccount
	err := q.Order("user_accounts.id").Limit(limit).Find(&us).Error
	return us, translate(err)
}

// CountUserAccounts counts the accounts matching f.
// Errors: none of the contract.
func (s *Store) CountUserAccounts(ctx context.Context, ws uuid.UUID, f UserAccountFilter) (int64, error) {
	var n int64
	err := s.filterUsers(ctx, ws, f).Count(&n).Error
	return n, translate(err)
}

// savedVersion completes a versioned save of u (UPDATE … WHERE version = u.Version) that
// changed rows rows at now: the new version, or ErrStale if u changed meanwhile, or
// ErrNotFound if it is gone.
func (s *Store) savedVersion(ctx context.Context, u *models.UserAccount, rows int64, now time.Time) error {
	if rows == 0 {
		if _, err := s.UserAccount(ctx, u.WorkspaceID, u.ID); err != nil {
			return err
		}
		return ErrStale
	}
	u.Version++
	u.UpdatedAt = now
	return nil
}
