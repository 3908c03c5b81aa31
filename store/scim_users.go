package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
	"gatehouse/scimquery"
)

// SCIMList is a SCIM list request: a parsed filter (nil: everything), a 0-based offset and a
// page size (0: count only).
type SCIMList struct {
	Filter scimquery.Expr
	Offset int
	Count  int
	// BoundAt is the connection of a token tied to one: a userName eq/ne filter then also
	// matches the account bound at that connection with userName as its identifier, which is
	// how an IdP finds a person bound ahead of time (the SCIM userName is that identifier).
	BoundAt *uuid.UUID
	// Base is the URL of the SCIM endpoint, which the references ($ref) a filter may compare
	// start with.
	Base string
}

func (s *Store) listQuery(q *gorm.DB, l SCIMList, resource string) (*gorm.DB, error) {
	if l.Filter == nil {
		return q, nil
	}
	sql, args, err := filterSQL(l.Filter, resource, s.dialect, s.lowerCollation, l.Base, nil)
	if err != nil {
		return nil, err
	}
	return q.Where(sql, args...), nil
}

// SCIMUsers lists user accounts matching a SCIM filter in a stable order (id, which is
// creation order) and returns the total matching; with withGroups, each listed account's groups
// come from the same query. A first page that is not full is its own total, so the common
// `userName eq` lookup is one query.
// Errors: none of the contract; a filter it cannot compile is an invalidFilter (filterSQL).
func (s *Store) SCIMUsers(ctx context.Context, ws uuid.UUID, l SCIMList, withGroups bool) ([]*models.UserAccount, map[uuid.UUID][]models.GroupRef, int64, error) {
	where, args := "user_accounts.workspace_id = ?", []any{ws}
	if l.Filter != nil {
		var b *binding
		if l.BoundAt != nil {
			b = &binding{workspace: ws, connection: *l.BoundAt}
		}
		f, fargs, err := filterSQL(l.Filter, "user", s.dialect, s.lowerCollation, l.Base, b)
		if err != nil {
			return nil, nil, 0, err
		}
		where += " AND " + f
		args = append(args, fargs...)
	}
	var users []*models.UserAccount
	var groups map[uuid.UUID][]models.GroupRef
	if l.Count > 0 {
		tail, targs := s.usersPage(ws, where, args, l)
		var err error
		users, groups, err = s.queryUsers(ctx, tail, targs, withGroups)
		if err != nil {
			return nil, nil, 0, err
		}
		if l.Offset == 0 && len(users) < l.Count {
			return users, groups, int64(len(users)), nil
		}
	}
	var total int64
	if err := s.db(ctx).Raw("SELECT count(*) FROM user_accounts WHERE "+where, args...).Scan(&total).Error; err != nil { // rare: a full page
		return nil, nil, 0, translate(err)
	}
	return users, groups, total, nil
}

// usersPage is the tail (after FROM user_accounts) of the query of a page of SCIMUsers, and
// its arguments, for the accounts of workspace ws matching where (with args). A page after the first reads its
// ids first, then their rows: PostgreSQL computes a row's selected columns, the groups'
// subquery and the heap fetch included, before OFFSET drops it, so the page at startIndex
// 100,001 computed the groups of the 100,000 accounts before it; the ids alone come from the
// (workspace_id, id) index (an index-only scan once the table is vacuumed). The order, and so
// the page, is the same; a first page, the IdPs' lookups, keeps the one-level query.
func (s *Store) usersPage(ws uuid.UUID, where string, args []any, l SCIMList) (string, []any) {
	page := "WHERE " + where + " ORDER BY " + s.listOrder("user_accounts", l) + " LIMIT ? OFFSET ?"
	args = append(args[:len(args):len(args)], l.Count, l.Offset)
	if l.Offset == 0 {
		return page, args
	}
	// The inner user_accounts hides the outer one, so the filter's columns are the page's own.
	return "WHERE user_accounts.workspace_id = ? AND user_accounts.id IN (SELECT user_accounts.id FROM user_accounts " + page +
		") ORDER BY user_accounts.id", append([]any{ws}, args...)
}

// scimPage lists the rows of model T in a workspace that match a SCIM filter (kind names the
// resource's attribute whitelist), ordered by table's stable list order, and returns the total
// matching. A first page that is not full is its own total, which saves the count query.
func scimPage[T any](ctx context.Context, s *Store, ws uuid.UUID, l SCIMList, kind, table string) ([]*T, int64, error) {
	base := func() (*gorm.DB, error) {
		return s.listQuery(s.scoped(ctx, ws).Model(new(T)), l, kind)
	}
	var rows []*T
	if l.Count > 0 {
		q, err := base()
		if err != nil {
			return nil, 0, err
		}
		if err := q.Order(s.listOrder(table, l)).Offset(l.Offset).Limit(l.Count).Find(&rows).Error; err != nil {
			return nil, 0, translate(err)
		}
		if l.Offset == 0 && len(rows) < l.Count {
			return rows, int64(len(rows)), nil
		}
	}
	q, err := base()
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, translate(err)
	}
	return rows, total, nil
}

// listOrder is the stable order of a SCIM list: by id. With a filter, SQLite is told not to
// walk the (workspace_id, id) index for the order (the unary + hides the column from it), so it
// searches the filter's index and sorts the few matches instead of scanning the workspace.
func (s *Store) listOrder(table string, l SCIMList) string {
	if l.Filter != nil && s.dialect == SQLite {
		return "+" + table + ".id"
	}
	return table + ".id"
}

// UserAccountForUpdate reads an account inside a transaction, locking the row on PostgreSQL
// so that concurrent PATCHes of one user serialise instead of failing on the version check.
// Errors: ErrNotFound when no row matches.
func (s *Store) UserAccountForUpdate(ctx context.Context, ws, id uuid.UUID) (*models.UserAccount, error) {
	q := s.scoped(ctx, ws).Where("id = ?", id)
	if s.dialect == Postgres {
		q = q.Clauses(forUpdate)
	}
	var u models.UserAccount
	if err := first(q, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// SaveSCIMUser writes every SCIM column of u if its version is still u.Version, then bumps it.
// Errors: ErrStale when the version moved, ErrNotFound when the account is gone; ErrAlreadyExists "user_name" or "email".
func (s *Store) SaveSCIMUser(ctx context.Context, u *models.UserAccount) error {
	now := s.now()
	res := s.db(ctx).Exec(scimUserUpdateSQL, versionedArgs(u, scimWrite, now)...)
	if res.Error != nil {
		return translate(res.Error)
	}
	return s.savedVersion(ctx, u, res.RowsAffected, now)
}

// The versioned updates of an account: the columns of an update set, in the account's
// workspace, only if its version is still the one read.
var (
	scimUserUpdateSQL   = userTable.update(scimWrite) + versionedWhere
	pgSCIMUserUpdateSQL = numberPlaceholders(scimUserUpdateSQL)
	profileUpdateSQL    = userTable.update(profileWrite) + versionedWhere
)

const versionedWhere = " WHERE workspace_id = ? AND id = ? AND version = ?"

// versionedArgs are the arguments of set's versioned update of u: its columns as saved at now
// with the next version, then the workspace, id and version of versionedWhere.
func versionedArgs(u *models.UserAccount, set updateSet, now time.Time) []any {
	next := *u
	next.Version++
	next.UpdatedAt = now
	return append(userTable.setArgs(&next, set), u.WorkspaceID, u.ID, u.Version)
}

// UserAccountWithGroupsForUpdate is UserAccountForUpdate for a write that also changes the
// account's groups (DeleteUserAccount): on PostgreSQL it first locks the groups the account is
// a member of, in id order, because a transaction takes a group's lock before a user's (see
// the lock order in groups.go). One statement more than UserAccountForUpdate, on an index;
// SQLite needs none.
// Errors: ErrNotFound when no row matches.
func (s *Store) UserAccountWithGroupsForUpdate(ctx context.Context, ws, id uuid.UUID) (*models.UserAccount, error) {
	if s.dialect == Postgres {
		var locked []uuid.UUID
		err := s.db(ctx).Raw("SELECT id FROM groups WHERE workspace_id = ? AND id IN (SELECT group_id FROM group_members "+
			"WHERE workspace_id = ? AND user_account_id = ?) ORDER BY id FOR UPDATE", ws, ws, id).Scan(&locked).Error
		if err != nil {
			return nil, translate(err)
		}
	}
	return s.UserAccountForUpdate(ctx, ws, id)
}

// DeleteUserAccount removes an account; its credentials and group memberships go with it
// (ON DELETE CASCADE), and the groups it was a member of move to their next version (their
// members changed: a client holding their old ETag must not hear 304 Not Modified). It reports
// whether the account existed. Call it after UserAccountWithGroupsForUpdate: holding the
// account, it takes no group lock it would have to wait for.
// Errors: ErrBusy when a group that gained the account after UserAccountWithGroupsForUpdate
// locked its groups is held by a concurrent write; a missing account reports false.
func (s *Store) DeleteUserAccount(ctx context.Context, ws, id uuid.UUID) (bool, error) {
	// Explicit deletes keep SQLite and PostgreSQL identical even where cascades are off.
	var groups []uuid.UUID
	if err := s.db(ctx).Raw("DELETE FROM group_members WHERE workspace_id = ? AND user_account_id = ? RETURNING group_id",
		ws, id).Scan(&groups).Error; err != nil {
		return false, translate(err)
	}
	if err := s.touchGroups(ctx, ws, groups); err != nil {
		return false, err
	}
	if err := s.scoped(ctx, ws).Where("user_account_id = ?", id).Delete(&models.Credential{}).Error; err != nil {
		return false, translate(err)
	}
	res := s.scoped(ctx, ws).Where("id = ?", id).Delete(&models.UserAccount{})
	if res.Error != nil || res.RowsAffected == 0 {
		return false, translate(res.Error)
	}
	return true, s.addCount(ctx, ws, counterUsers, 0, -res.RowsAffected)
}

// GroupsOfUsers loads the group memberships of the given accounts in one query.
// Errors: none of the contract; no match is an empty result.
func (s *Store) GroupsOfUsers(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) (map[uuid.UUID][]models.GroupRef, error) {
	out := map[uuid.UUID][]models.GroupRef{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []models.GroupRef
	err := s.db(ctx).Table("group_members AS gm").
		Select("gm.user_account_id AS user_account_id, gm.group_id AS group_id, g.display_name AS display_name").
		Joins("JOIN groups AS g ON g.id = gm.group_id").
		Where("gm.workspace_id = ? AND gm.user_account_id IN ?", ws, ids).
		Order("g.id").Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	for _, r := range rows {
		out[r.UserAccountID] = append(out[r.UserAccountID], r)
	}
	return out, nil
}

// SetSCIMUserActive sets one account's active flag with the next version, and writes act with
// the counters it moves, atomically: the SCIM deactivation (and reactivation) Okta and Entra
// send, which needs no read of the account first. act.Details, a JSON object, gains the saved
// account's "userName" as its last key, as the general PATCH's details have it. ifVersion != 0
// changes only that version (ErrStale otherwise). ErrNotFound: no such account. It returns the
// saved account and, with withGroups, its groups; an account without a userName is left alone
// (a nil account and no error: nothing was written). An account active (or not) already keeps
// its version and updated_at: the write changes nothing of it, and its ETag, which the IdP's
// If-Match names, must stay (provision.edit's rule); act is written all the same, the request's
// record. On PostgreSQL it is one statement.
// Errors: ErrNotFound, ErrStale, as above.
func (s *Store) SetSCIMUserActive(ctx context.Context, ws, id uuid.UUID, active bool, ifVersion int, act *models.SCIMActivity, withGroups bool) (*models.UserAccount, []models.GroupRef, error) {
	now := s.now()
	where := "workspace_id = ? AND id = ? AND user_name_key <> ''"
	args := []any{active, active, now, active, active, now, ws, id}
	if ifVersion != 0 {
		where += " AND version = ?"
		args = append(args, ifVersion)
	}
	// A reactivation records when (models.UserAccount.SetActive); SET reads the row before it.
	update := "UPDATE user_accounts SET active = ?, activated_at = CASE WHEN ? AND NOT active THEN ? ELSE activated_at END, " +
		"version = CASE WHEN active = ? THEN version ELSE version + 1 END, " +
		"updated_at = CASE WHEN active = ? THEN updated_at ELSE ? END WHERE " + where
	var users []*models.UserAccount
	var groups map[uuid.UUID][]models.GroupRef
	if s.dialect != Postgres || inTx(ctx) {
		err := s.InTx(ctx, func(ctx context.Context) error {
			res := s.db(ctx).Exec(update, args...)
			if res.Error != nil || res.RowsAffected == 0 {
				return translate(res.Error)
			}
			var err error
			if users, groups, err = s.queryUsers(ctx, "WHERE user_accounts.workspace_id = ? AND user_accounts.id = ?", []any{ws, id}, withGroups); err != nil {
				return err
			}
			act.Details = withUserName(act.Details, users[0].UserName)
			return s.Create(ctx, act)
		})
		if err != nil {
			return nil, nil, err
		}
	} else {
		var b pgBatch
		if err := b.addSQL(pgPlaceholders(update+" RETURNING "+userTable.list), args, false); err != nil {
			return nil, nil, err
		}
		// The activity row, only if the account was saved, its details completed in SQL.
		prefix := withUserName(act.Details, "")
		prefix = prefix[:len(prefix)-len(`""}`)]
		actVars := []any{act.ID, act.WorkspaceID, act.TokenID, act.Operation, act.ResourceType, act.ResourceID,
			act.Status, act.ErrorMessage, prefix, act.CreatedAt}
		if err := b.addSQL(activityFromW0SQL, actVars, false); err != nil {
			return nil, nil, err
		}
		cctx, c := withCounts(ctx)
		if err := s.countCreated(cctx, act); err != nil {
			return nil, nil, err
		}
		if err := s.addCounts(&b, c, true); err != nil {
			return nil, nil, err
		}
		sel := userTable.qualified("w0")
		if withGroups {
			sel += ", " + pgGroupsOf("w0")
		}
		rows, err := s.gdb.WithContext(ctx).Statement.ConnPool.QueryContext(ctx, b.statement("SELECT "+sel+" FROM w0"), pgArgs(b.vars)...)
		if err != nil {
			return nil, nil, translate(err)
		}
		if users, groups, err = scanUsers(rows, withGroups); err != nil {
			return nil, nil, err
		}
		if len(users) == 1 {
			act.Details = withUserName(act.Details, users[0].UserName)
		}
	}
	if len(users) == 0 {
		return nil, nil, s.whyNotSaved(ctx, ws, id)
	}
	return users[0], groups[id], nil
}

// activityFromW0SQL inserts an activity row for the account w0 saved; $9 is its details up to
// the userName's value, which the statement appends (SetSCIMUserActive).
var activityFromW0SQL = "INSERT INTO scim_activities (" + activityTable.list +
	") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 || to_json(w0.user_name)::text || '}', $10 FROM w0"

// withUserName adds "userName": name as the last key of the JSON object details.
func withUserName(details, name string) string {
	v, _ := json.Marshal(name)
	if strings.TrimSpace(details) == "{}" || details == "" {
		return `{"userName":` + string(v) + "}"
	}
	return strings.TrimSuffix(strings.TrimSpace(details), "}") + `,"userName":` + string(v) + "}"
}

// whyNotSaved explains an UPDATE of one account that matched no row: nil when the account has
// no userName.
func (s *Store) whyNotSaved(ctx context.Context, ws, id uuid.UUID) error {
	var rows []struct{ UserNameKey string }
	if err := s.RawScan(ctx, &rows, "SELECT user_name_key FROM user_accounts WHERE workspace_id = ? AND id = ?", ws, id); err != nil {
		return err
	}
	switch {
	case len(rows) == 0:
		return ErrNotFound
	case rows[0].UserNameKey == "":
		return nil
	}
	return ErrStale
}
