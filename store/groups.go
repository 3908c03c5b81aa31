package store

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"gatehouse/models"
)

var forUpdate = clause.Locking{Strength: "UPDATE"}

// Group finds a group by id within a workspace; forUpdate locks the row on PostgreSQL.
// Errors: ErrNotFound when no row matches.
func (s *Store) Group(ctx context.Context, ws, id uuid.UUID, lock bool) (*models.Group, error) {
	q := s.scoped(ctx, ws).Where("id = ?", id)
	if lock && s.dialect == Postgres {
		q = q.Clauses(forUpdate)
	}
	var g models.Group
	if err := first(q, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// SCIMGroups lists groups matching a SCIM filter in id order, and the total.
// Errors: none of the contract; a filter it cannot compile is reported as filterSQL does.
func (s *Store) SCIMGroups(ctx context.Context, ws uuid.UUID, l SCIMList) ([]*models.Group, int64, error) {
	return scimPage[models.Group](ctx, s, ws, l, "group", "groups")
}

// SaveGroup writes a group's attributes if its version is still g.Version, then bumps it.
// Errors: ErrStale when the version moved or the group is gone; ErrAlreadyExists "display_name".
func (s *Store) SaveGroup(ctx context.Context, g *models.Group) error {
	now := s.now()
	res := s.scoped(ctx, g.WorkspaceID).Model(&models.Group{}).Where("id = ? AND version = ?", g.ID, g.Version).
		Updates(map[string]any{"display_name": g.DisplayName, "display_name_key": g.DisplayNameKey,
			"external_id": g.ExternalID, "version": g.Version + 1, "updated_at": now})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrStale
	}
	g.Version++
	g.UpdatedAt = now
	return nil
}

// DeleteGroup removes a group and its memberships; it reports whether it existed. Its members
// move to their next version: their SCIM groups no longer show it (touchUsers). Call it
// holding the group's lock (Group with lock).
// Errors: none of the contract; a missing group reports false.
func (s *Store) DeleteGroup(ctx context.Context, ws, id uuid.UUID) (bool, error) {
	var members []uuid.UUID
	if err := s.db(ctx).Raw("DELETE FROM group_members WHERE workspace_id = ? AND group_id = ? RETURNING user_account_id",
		ws, id).Scan(&members).Error; err != nil {
		return false, translate(err)
	}
	if err := s.touchUsers(ctx, ws, members); err != nil {
		return false, err
	}
	res := s.scoped(ctx, ws).Where("id = ?", id).Delete(&models.Group{})
	if res.Error != nil || res.RowsAffected == 0 {
		return false, translate(res.Error)
	}
	return true, s.addCount(ctx, ws, counterGroups, 0, -res.RowsAffected)
}

// Lock order: a transaction that locks both a group and a user account takes the group's lock
// first. A group's POST, PUT or PATCH locks the group (Group with lock) and then key-shares the
// users it adds (ExistingUserIDs). A user's deletion changes its groups too (their members,
// hence their versions, which are the ETags SCIM clients cache), so it locks them before the
// user (UserAccountWithGroupsForUpdate), and once it holds the user takes only the group locks
// it can have at once (DeleteUserAccount). In the other order, PostgreSQL would deadlock: the deletion
// holding the user and waiting for a group whose PATCH holds it and waits to key-share the user.
//
// A group's write also moves the versions of the users whose groups it changes (a User's SCIM
// representation lists its groups, with their displayName): holding the group, it locks those
// users in id order (touchUsers, TouchMembersOf). Two group writes sharing users then wait for
// each other instead of deadlocking, and a user's own write never waits for a group while it
// holds its user (it locks the user's groups first, or takes only the group locks it can
// have at once: DeleteUserAccount, TouchGroupsOf).

// ExistingUserIDs returns which of ids are user accounts of the workspace, in chunks of 1000.
// On PostgreSQL it also holds a key-share lock on the users it finds until the transaction
// ends, so that a user it found cannot be deleted before the caller adds it to a group: a
// concurrent deletion either waits for the caller's commit (and takes the membership with the
// user) or commits first, and the user is not found. Without the lock, the deletion could
// commit between this read and the insert, whose foreign key then failed. SQLite runs one
// write at a time anyway.
// Errors: none of the contract; no match is an empty result.
func (s *Store) ExistingUserIDs(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	out := make(map[uuid.UUID]bool, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		var found []uuid.UUID
		q := s.scoped(ctx, ws).Model(&models.UserAccount{}).Where("id IN ?", ids[:n])
		if s.dialect == Postgres {
			q = q.Clauses(clause.Locking{Strength: "KEY SHARE"})
		}
		if err := q.Pluck("id", &found).Error; err != nil {
			return nil, translate(err)
		}
		for _, id := range found {
			out[id] = true
		}
		ids = ids[n:]
	}
	return out, nil
}

// ChangeMembers applies a membership change to one group: optionally clear all members,
// then remove some and add others (adding an existing member changes nothing). Each step is one
// statement per 1000 ids. A user whose membership changed (added, or removed and not added
// back) moves to its next version: its SCIM groups show the group (touchUsers). Call it
// holding the group's lock (Group with lock). It reports whether a membership changed: a
// replacement by the same members, or a removal of non-members, changes none.
// Errors: ErrMissingReference when the group or an added user is gone.
func (s *Store) ChangeMembers(ctx context.Context, ws, groupID uuid.UUID, clearAll bool, remove, add []uuid.UUID) (bool, error) {
	removed := map[uuid.UUID]bool{}
	deleted := func(where string, args ...any) error {
		var ids []uuid.UUID
		if err := s.db(ctx).Raw("DELETE FROM group_members WHERE workspace_id = ? AND group_id = ?"+where+
			" RETURNING user_account_id", append([]any{ws, groupID}, args...)...).Scan(&ids).Error; err != nil {
			return translate(err)
		}
		for _, id := range ids {
			removed[id] = true
		}
		return nil
	}
	if clearAll {
		if err := deleted(""); err != nil {
			return false, err
		}
	}
	for len(remove) > 0 {
		n := min(len(remove), 1000)
		if err := deleted(" AND user_account_id IN ?", remove[:n]); err != nil {
			return false, err
		}
		remove = remove[n:]
	}
	var changed []uuid.UUID
	now := s.now()
	for len(add) > 0 {
		n := min(len(add), 1000)
		args := make([]any, 0, 4*n)
		for _, id := range add[:n] {
			args = append(args, groupID, id, ws, now)
		}
		var ids []uuid.UUID
		if err := s.db(ctx).Raw("INSERT INTO group_members (group_id, user_account_id, workspace_id, created_at) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", n), ", ")+" ON CONFLICT DO NOTHING RETURNING user_account_id",
			args...).Scan(&ids).Error; err != nil {
			return false, translate(err)
		}
		for _, id := range ids {
			if removed[id] { // cleared and added back: its groups read as before
				delete(removed, id)
			} else {
				changed = append(changed, id)
			}
		}
		add = add[n:]
	}
	for id := range removed {
		changed = append(changed, id)
	}
	return len(changed) > 0, s.touchUsers(ctx, ws, changed)
}

// GroupMembers loads the members of the given groups (with their userName) in one query.
// Errors: none of the contract; no match is an empty result.
func (s *Store) GroupMembers(ctx context.Context, ws uuid.UUID, groupIDs []uuid.UUID) (map[uuid.UUID][]*models.GroupMember, error) {
	out := map[uuid.UUID][]*models.GroupMember{}
	if len(groupIDs) == 0 {
		return out, nil
	}
	var ms []*models.GroupMember
	err := s.db(ctx).Table("group_members").
		Select("group_members.*, user_accounts.user_name AS display").
		Joins("JOIN user_accounts ON user_accounts.id = group_members.user_account_id").
		Where("group_members.workspace_id = ? AND group_members.group_id IN ?", ws, groupIDs).
		Order("group_members.user_account_id").Find(&ms).Error
	if err != nil {
		return nil, translate(err)
	}
	for _, m := range ms {
		out[m.GroupID] = append(out[m.GroupID], m)
	}
	return out, nil
}

// TouchGroupsOf moves the version of the groups account id is a member of: their members
// changed how they read (a new userName, which members[].display shows). Call it holding the
// account's lock, taken after its groups' (UserAccountWithGroupsForUpdate).
// Errors: ErrBusy as touchGroups.
func (s *Store) TouchGroupsOf(ctx context.Context, ws, id uuid.UUID) error {
	var groups []uuid.UUID
	if err := s.scoped(ctx, ws).Model(&models.GroupMember{}).Where("user_account_id = ?", id).
		Pluck("group_id", &groups).Error; err != nil {
		return translate(err)
	}
	return s.touchGroups(ctx, ws, groups)
}

// touchGroups moves the version of the groups ids, whose members changed, in chunks of 1000.
// Its caller holds a user's lock, so on PostgreSQL it takes only the group locks it can have at
// once (SKIP LOCKED; its own it has): waiting for one could deadlock (see the lock order above).
// Errors: ErrBusy when a concurrent write holds one of the groups.
func (s *Store) touchGroups(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) error {
	lock := ""
	if s.dialect == Postgres {
		lock = " ORDER BY id FOR UPDATE SKIP LOCKED"
	}
	now := s.now()
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		res := s.db(ctx).Exec("UPDATE groups SET version = version + 1, updated_at = ? WHERE id IN "+
			"(SELECT id FROM groups WHERE workspace_id = ? AND id IN ?"+lock+")", now, ws, ids[:n])
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected < int64(n) {
			return ErrBusy
		}
		ids = ids[n:]
	}
	return nil
}

// TouchMembersOf moves the version of every member of group id: their SCIM groups show the
// group's displayName, which changed. One statement; call it holding the group's lock.
// Errors: none of the contract; a group without members changes nothing.
func (s *Store) TouchMembersOf(ctx context.Context, ws, id uuid.UUID) error {
	return translate(s.db(ctx).Exec(touchUsersSQL(s.dialect, "SELECT user_account_id FROM group_members WHERE workspace_id = ? AND group_id = ?"),
		s.now(), ws, ws, id).Error)
}

// touchUsers moves the version (and lastModified) of the accounts ids, whose groups read
// differently, in chunks of 1000 in id order. Its caller holds a group's lock (see the lock
// order above). An account gone meanwhile is skipped.
// Errors: none of the contract.
func (s *Store) touchUsers(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) error {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) // PostgreSQL's uuid order
	now := s.now()
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		if err := s.db(ctx).Exec(touchUsersSQL(s.dialect, "?"), now, ws, ids[:n]).Error; err != nil {
			return translate(err)
		}
		ids = ids[n:]
	}
	return nil
}

// touchUsersSQL is the statement of touchUsers and TouchMembersOf: its arguments are the time,
// the workspace, then those of in, which selects the ids. On PostgreSQL it locks the accounts
// in id order first: without the order, two group writes sharing members deadlocked.
func touchUsersSQL(dialect, in string) string {
	lock := ""
	if dialect == Postgres {
		lock = " ORDER BY id FOR NO KEY UPDATE"
	}
	return "UPDATE user_accounts SET version = version + 1, updated_at = ? WHERE id IN " +
		"(SELECT id FROM user_accounts WHERE workspace_id = ? AND id IN (" + in + ")" + lock + ")"
}
