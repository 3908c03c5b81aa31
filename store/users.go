package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

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

// UserAccountsByIDs loads accounts by id within a workspace, in no particular order. In a
// transaction on PostgreSQL it also holds a key-share lock on the accounts it finds until the
// transaction ends, so that none of them can be deleted before the caller binds it: a
// concurrent deletion waits for the caller's commit (and takes the bindings with the account)
// or commits first, and the account is not found. Without the lock, the deletion could commit
// between this read and the insert, whose foreign key then failed. SQLite runs one write at a
// time anyway.
// Errors: none of the contract; missing ids are left out.
func (s *Store) UserAccountsByIDs(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) ([]*models.UserAccount, error) {
	var us []*models.UserAccount
	q := s.scoped(ctx, ws).Where("id IN ?", ids)
	if s.dialect == Postgres && inTx(ctx) {
		q = q.Clauses(clause.Locking{Strength: "KEY SHARE"})
	}
	err := q.Find(&us).Error
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

// filterUsers selects the accounts of workspace ws matching f on db, for a page (UserAccounts)
// or for their count, and names the column of their ids, which orders them.
//
// Filtered by connection (authModule) and by no indexed column of the account (email,
// externalId), the accounts are read from the connection's credentials in account order
// (ix_credentials_connection_user, migration 36), each account through its primary key: a page
// reads about as many credentials as it shows accounts, or the connection's few. For a page the
// join order is forced (PostgreSQL: a LATERAL subquery the planner cannot flatten; SQLite: CROSS
// JOIN): the generic plan a pooled session caches for the prepared statement knows neither the
// connection nor how many accounts it has, and walked the workspace's accounts in id order
// beside the credentials, which for a connection of 100 accounts among 200,000 read half the
// accounts (175 ms). The connection is found by its slug in the same statement. A count with no
// condition on the account reads the connection's credentials alone (an index-only scan).
func filterUsers(db *gorm.DB, dialect string, ws uuid.UUID, f UserAccountFilter, page bool) (q *gorm.DB, id string) {
	id = "user_accounts.id"
	if f.AuthModule != "" && f.EmailKey == "" && f.ExternalID == "" {
		from := "credentials AS m JOIN user_accounts ON user_accounts.id = m.user_account_id"
		if !page && f.Active == nil {
			// A count with no condition on the account counts the connection's credentials
			// of the workspace: one each of its accounts bound there (ux_credentials_account),
			// which is the credential's workspace (every binding writes the account's).
			from = "credentials AS m"
		} else if page && dialect == Postgres {
			from = "credentials AS m CROSS JOIN LATERAL (SELECT * FROM user_accounts WHERE user_accounts.id = m.user_account_id OFFSET 0) AS user_accounts"
		} else if page {
			from = "credentials AS m CROSS JOIN user_accounts ON user_accounts.id = m.user_account_id"
		}
		q = db.Table(from).Where("m.workspace_id = ? AND m.connection_id = (SELECT k.id FROM connections AS k WHERE k.workspace_id = ? AND k.slug = ? AND k.deleted_at IS NULL)", ws, ws, f.AuthModule)
		if f.IdentifierKey != "" {
			q = q.Where("m.identifier_key = ?", f.IdentifierKey)
		}
		if from != "credentials AS m" {
			q = q.Where("user_accounts.workspace_id = ?", ws)
		}
		id = "m.user_account_id"
	} else {
		q = db.Model(&models.UserAccount{}).Where("user_accounts.workspace_id = ?", ws)
		if f.AuthModule != "" || f.IdentifierKey != "" {
			sub := db.Table("credentials AS c").Select("1").
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
	}
	if f.EmailKey != "" {
		q = q.Where("user_accounts.email_key = ?", f.EmailKey)
	}
	if f.ExternalID != "" {
		q = q.Where("user_accounts.external_id = ?", f.ExternalID)
	}
	if f.Active != nil {
		q = q.Where("user_accounts.active = ?", *f.Active)
	}
	return q, id
}

// UserAccounts lists up to limit accounts after the given id (keyset pagination in id order,
// which is creation order for v7 UUIDs).
// Errors: none of the contract; no match is an empty result.
func (s *Store) UserAccounts(ctx context.Context, ws uuid.UUID, f UserAccountFilter, after *uuid.UUID, limit int) ([]*models.UserAccount, error) {
	var us []*models.UserAccount
	err := userAccountsPage(s.db(ctx), s.dialect, ws, f, after, limit, &us).Error
	return us, translate(err)
}

// userAccountsPage reads a page of UserAccounts into us on db.
func userAccountsPage(db *gorm.DB, dialect string, ws uuid.UUID, f UserAccountFilter, after *uuid.UUID, limit int, us *[]*models.UserAccount) *gorm.DB {
	q, id := filterUsers(db, dialect, ws, f, true)
	if after != nil {
		q = q.Where(id+" > ?", *after)
	}
	return q.Select("user_accounts.*").Order(id).Limit(limit).Find(us)
}

// CountUserAccounts counts the accounts matching f.
// Errors: none of the contract.
func (s *Store) CountUserAccounts(ctx context.Context, ws uuid.UUID, f UserAccountFilter) (int64, error) {
	var n int64
	q, _ := filterUsers(s.db(ctx), s.dialect, ws, f, false)
	err := q.Count(&n).Error
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
