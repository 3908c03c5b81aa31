package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/store"
)

func (e *env) group(name string) *models.Group {
	g := &models.Group{ID: store.NewID(), WorkspaceID: e.ws, DisplayName: name, DisplayNameKey: models.Key(name),
		Version: 1, CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, g))
	return g
}

func testGroups(e *env) {
	g, h := e.group("Eng"), e.group("Ops")
	a, b := e.user("a"), e.user("b")
	got, err := e.s.Group(e.ctx, e.ws, g.ID, false)
	e.ok(err)
	e.check(got.DisplayName == "Eng", "group %+v", got)
	_, err = e.s.Group(e.ctx, e.ws, store.NewID(), true)
	e.is(err, store.ErrNotFound, "missing group")
	gs, total, err := e.s.SCIMGroups(e.ctx, e.ws, store.SCIMList{Count: 10})
	e.ok(err)
	e.check(total == 2 && len(gs) == 2, "groups %d of %d", len(gs), total)
	e.exists(e.s.Create(e.ctx, &models.Group{ID: store.NewID(), WorkspaceID: e.ws, DisplayName: "ENG", DisplayNameKey: "eng",
		Version: 1, CreatedAt: e.now, UpdatedAt: e.now}), "display_name", "duplicate group")

	g.ExternalID = ptr("ext")
	savesVersioned(e, g, func(g *models.Group) int { return g.Version }, func(g *models.Group) error { return e.s.SaveGroup(e.ctx, g) }, "SaveGroup")
	h.DisplayName, h.DisplayNameKey = "ENG", "eng"
	e.exists(e.s.SaveGroup(e.ctx, h), "display_name", "group name taken")

	existing, err := e.s.ExistingUserIDs(e.ctx, e.ws, []uuid.UUID{a.ID, b.ID, store.NewID()})
	e.ok(err)
	e.check(len(existing) == 2 && existing[a.ID] && existing[b.ID], "existing %v", existing)
	// On PostgreSQL a user it found cannot be deleted before its transaction ends (a member
	// about to be added); SQLite runs one write at a time.
	doomed := e.user("doomed")
	e.waits("DeleteUserAccount after ExistingUserIDs", func(ctx context.Context) error {
		found, err := e.s.ExistingUserIDs(ctx, e.ws, []uuid.UUID{doomed.ID})
		if err != nil || !found[doomed.ID] {
			return fmt.Errorf("ExistingUserIDs: %v %v", found, err)
		}
		return nil
	}, func() error {
		_, err := e.s.DeleteUserAccount(e.ctx, e.ws, doomed.ID)
		return err
	})
	// A user whose membership changes moves to its next version (its SCIM groups show the
	// group); one whose membership stays keeps it. versions checks each user's version moved by
	// its step since the last call.
	was := map[uuid.UUID]int{a.ID: a.Version, b.ID: b.Version}
	versions := func(what string, steps map[*models.UserAccount]int) {
		for _, u := range []*models.UserAccount{a, b} {
			got, err := e.s.UserAccount(e.ctx, e.ws, u.ID)
			e.ok(err)
			e.check(got.Version == was[u.ID]+steps[u], "%s: user %s at version %d, was %d", what, u.UserName, got.Version, was[u.ID])
			was[u.ID] = got.Version
		}
	}
	// members applies a membership change that must report changed as want.
	members := func(want bool, clearAll bool, remove, add []uuid.UUID) {
		e.t.Helper()
		changed, err := e.s.ChangeMembers(e.ctx, e.ws, g.ID, clearAll, remove, add)
		e.ok(err)
		e.check(changed == want, "ChangeMembers(%v, %v, %v) reported changed %v", clearAll, remove, add, changed)
	}
	members(true, false, nil, []uuid.UUID{a.ID, b.ID})
	versions("added", map[*models.UserAccount]int{a: 1, b: 1})
	members(true, false, []uuid.UUID{b.ID}, []uuid.UUID{a.ID}) // adding a member again changes nothing
	versions("one removed, one added again", map[*models.UserAccount]int{b: 1})
	_, err = e.s.ChangeMembers(e.ctx, e.ws, g.ID, false, nil, []uuid.UUID{store.NewID()})
	e.is(err, store.ErrMissingReference, "missing member")
	members(false, true, nil, []uuid.UUID{a.ID})  // a replacement keeping a
	members(false, false, []uuid.UUID{b.ID}, nil) // removing a non-member
	versions("members replaced by the same", nil)
	e.ok(e.s.TouchMembersOf(e.ctx, e.ws, g.ID))
	versions("TouchMembersOf", map[*models.UserAccount]int{a: 1})
	e.ok(e.s.TouchMembersOf(e.ctx, e.ws, store.NewID()))
	versions("TouchMembersOf a missing group", nil)
	ms, err := e.s.GroupMembers(e.ctx, e.ws, []uuid.UUID{g.ID, h.ID})
	e.ok(err)
	e.check(len(ms[g.ID]) == 1 && ms[g.ID][0].UserAccountID == a.ID && ms[g.ID][0].Display == a.UserName,
		"members %v", ms[g.ID])
	of, err := e.s.GroupsOfUsers(e.ctx, e.ws, []uuid.UUID{a.ID, b.ID})
	e.ok(err)
	e.check(len(of[a.ID]) == 1 && of[a.ID][0].GroupID == g.ID && len(of[b.ID]) == 0, "groups of users %v", of)
	members(true, true, nil, nil)
	ms, _ = e.s.GroupMembers(e.ctx, e.ws, []uuid.UUID{g.ID})
	e.check(len(ms[g.ID]) == 0, "cleared group has members")
	versions("cleared", map[*models.UserAccount]int{a: 1})

	members(true, false, nil, []uuid.UUID{b.ID})
	versions("added", map[*models.UserAccount]int{b: 1})
	e.deletesOnce(func() (bool, error) { return e.s.DeleteGroup(e.ctx, e.ws, g.ID) }, "DeleteGroup")
	versions("group deleted", map[*models.UserAccount]int{b: 1})
}

func testSCIMUsers(e *env) {
	a, b := e.user("a"), e.user("b")
	g := e.group("G")
	_, err := e.s.ChangeMembers(e.ctx, e.ws, g.ID, false, nil, []uuid.UUID{a.ID})
	e.ok(err)
	got, groups, err := e.s.SCIMUser(e.ctx, e.ws, a.ID, true)
	e.ok(err)
	e.check(got.ID == a.ID && got.Version == a.Version+1 && len(groups) == 1 && groups[0].DisplayName == "G", "scim user %v %v", got, groups)
	a = got // at version 2, which its new group gave it
	_, _, err = e.s.SCIMUser(e.ctx, e.ws, store.NewID(), false)
	e.is(err, store.ErrNotFound, "missing SCIM user")
	us, byUser, total, err := e.s.SCIMUsers(e.ctx, e.ws, store.SCIMList{Count: 1}, true)
	e.ok(err)
	e.check(len(us) == 1 && total == 2 && len(byUser[a.ID]) == 1, "page %v of %d, groups %v", us, total, byUser)

	for what, read := range map[string]func(context.Context, uuid.UUID, uuid.UUID) (*models.UserAccount, error){
		"UserAccountForUpdate": e.s.UserAccountForUpdate, "UserAccountWithGroupsForUpdate": e.s.UserAccountWithGroupsForUpdate} {
		var locked *models.UserAccount
		e.ok(e.s.InTx(e.ctx, func(ctx context.Context) error {
			locked, err = read(ctx, e.ws, a.ID)
			return err
		}))
		e.check(locked.ID == a.ID, "%s: %v", what, locked.ID)
		_, err = read(e.ctx, e.ws, store.NewID())
		e.is(err, store.ErrNotFound, what+" of a missing account")
	}

	a.Title = "Engineer"
	stale, gone := savesUser(e, a, func(u *models.UserAccount) error { return e.s.SaveSCIMUser(e.ctx, u) }, "SaveSCIMUser",
		"user_name", func(u *models.UserAccount) { u.UserName, u.UserNameKey = b.UserName, b.UserNameKey })

	act := func() *models.SCIMActivity { return e.activity(models.SCIMOpUpdate, a.ID.String(), e.now) }
	activities := func() int64 {
		_, n, err := e.s.SCIMActivities(e.ctx, e.ws, store.SCIMActivityFilter{}, 0, 1)
		e.ok(err)
		return n
	}
	a.Title = "Lead"
	e.ok(e.s.SaveSCIMUserWith(e.ctx, a, act()))
	e.check(a.Version == 4 && activities() == 1, "SaveSCIMUserWith: version %d, %d activities", a.Version, activities())
	e.is(e.s.SaveSCIMUserWith(e.ctx, &stale, act()), store.ErrStale, "stale SaveSCIMUserWith")
	e.is(e.s.SaveSCIMUserWith(e.ctx, &gone, act()), store.ErrNotFound, "SaveSCIMUserWith of a missing account")
	e.check(activities() == 1, "a refused save wrote its activity")

	other := e.group("Other")
	_, err = e.s.ChangeMembers(e.ctx, e.ws, other.ID, false, nil, []uuid.UUID{b.ID})
	e.ok(err)
	e.ok(e.s.TouchGroupsOf(e.ctx, e.ws, b.ID))
	e.ok(e.s.TouchGroupsOf(e.ctx, e.ws, store.NewID())) // no account, no group
	other.Version++
	e.deletesOnce(func() (bool, error) { return e.s.DeleteUserAccount(e.ctx, e.ws, a.ID) }, "DeleteUserAccount")
	_, _, err = e.s.SCIMUser(e.ctx, e.ws, a.ID, false)
	e.is(err, store.ErrNotFound, "deleted account")
	// The groups the account was in changed members: their versions (SCIM ETags) move.
	for _, v := range []struct {
		g       *models.Group
		version int
	}{{g, 2}, {other, 2}} { // other: TouchGroupsOf, not the deletion
		got, err := e.s.Group(e.ctx, e.ws, v.g.ID, false)
		e.ok(err)
		e.check(got.Version == v.version, "group %s: version %d, want %d", got.DisplayName, got.Version, v.version)
	}

	// Lock order (PostgreSQL): the deletion waits for the groups of the account before it
	// locks the account, and once it holds the account waits for no group: a group a concurrent
	// write holds is store.ErrBusy at once, for DeleteUserAccount as for TouchGroupsOf.
	e.waits("UserAccountWithGroupsForUpdate after Group", func(ctx context.Context) error {
		_, err := e.s.Group(ctx, e.ws, other.ID, true)
		return err
	}, func() error {
		return e.s.InTx(e.ctx, func(ctx context.Context) error {
			_, err := e.s.UserAccountWithGroupsForUpdate(ctx, e.ws, b.ID)
			return err
		})
	})
	if e.s.Dialect() == store.Postgres {
		e.ok(e.s.InTx(e.ctx, func(ctx context.Context) error {
			if _, err := e.s.Group(ctx, e.ws, other.ID, true); err != nil {
				return err
			}
			for what, write := range map[string]func(ctx context.Context) error{
				"DeleteUserAccount": func(ctx context.Context) error {
					_, err := e.s.DeleteUserAccount(ctx, e.ws, b.ID)
					return err
				},
				"TouchGroupsOf": func(ctx context.Context) error { return e.s.TouchGroupsOf(ctx, e.ws, b.ID) },
			} {
				done := make(chan error, 1)
				go func() { done <- e.s.InTx(e.ctx, write) }()
				select {
				case err := <-done:
					if !errors.Is(err, store.ErrBusy) {
						return fmt.Errorf("%s of a member of a locked group: %v, want ErrBusy", what, err)
					}
				case <-time.After(2 * time.Second):
					return fmt.Errorf("%s waited for a locked group", what)
				}
			}
			return nil
		}))
	}
	e.deletesOnce(func() (bool, error) { return e.s.DeleteUserAccount(e.ctx, e.ws, b.ID) }, "DeleteUserAccount of a member")
}

func testSetSCIMUserActive(e *env) {
	a := e.user("a")
	act := func() *models.SCIMActivity { return e.activity(models.SCIMOpUpdate, a.ID.String(), e.now) }
	u, _, err := e.s.SetSCIMUserActive(e.ctx, e.ws, a.ID, false, 0, act(), false)
	e.ok(err)
	e.check(!u.Active && u.Version == 2 && u.ActivatedAt == nil, "deactivated %+v", u)
	_, _, err = e.s.SetSCIMUserActive(e.ctx, e.ws, a.ID, true, 1, act(), false)
	e.is(err, store.ErrStale, "stale version")
	u, _, err = e.s.SetSCIMUserActive(e.ctx, e.ws, a.ID, true, 2, act(), true)
	e.ok(err)
	e.check(u.Active && u.Version == 3 && u.ActivatedAt != nil, "reactivated %+v", u)
	// Activating an active account is no reactivation: the time stays.
	was := *u.ActivatedAt
	u, _, err = e.s.SetSCIMUserActive(e.ctx, e.ws, a.ID, true, 3, act(), false)
	e.ok(err)
	e.check(u.ActivatedAt != nil && u.ActivatedAt.Equal(was), "activated again %+v", u)
	_, _, err = e.s.SetSCIMUserActive(e.ctx, e.ws, store.NewID(), true, 0, act(), false)
	e.is(err, store.ErrNotFound, "missing account")
	noName := e.newUser("nameless")
	noName.UserName, noName.UserNameKey = "", ""
	e.ok(e.s.Create(e.ctx, noName))
	u, _, err = e.s.SetSCIMUserActive(e.ctx, e.ws, noName.ID, false, 0, act(), false)
	e.ok(err)
	e.check(u == nil, "an account without userName was written: %+v", u)
	_, n, err := e.s.SCIMActivities(e.ctx, e.ws, store.SCIMActivityFilter{}, 0, 1)
	e.ok(err)
	e.check(n == 3, "%d activities for 3 writes", n)
}

func testSCIMTokens(e *env) {
	token := func(name string, expires *time.Time) *models.SCIMToken {
		t := &models.SCIMToken{ID: store.NewID(), WorkspaceID: e.ws, Name: name, TokenHash: unique("hash-"), MaskedValue: "****",
			ScopeString: "scim", ExpiresAt: expires, CreatedAt: e.now, UpdatedAt: e.now}
		e.ok(e.s.Create(e.ctx, t))
		return t
	}
	live, expired := token("Live", nil), token("Old", ptr(e.now.Add(-time.Hour)))
	dup := *live
	dup.ID = store.NewID()
	e.exists(e.s.Create(e.ctx, &dup), "token", "duplicate token hash")
	ts, total, err := e.s.SCIMTokens(e.ctx, e.ws, store.SCIMTokenFilter{Status: models.SCIMTokenActive}, e.now, 0, 10)
	e.ok(err)
	e.check(total == 1 && len(ts) == 1 && ts[0].ID == live.ID, "active %v", ts)
	ts, total, err = e.s.SCIMTokens(e.ctx, e.ws, store.SCIMTokenFilter{Name: "ol"}, e.now, 0, 10)
	e.ok(err)
	e.check(total == 1 && ts[0].ID == expired.ID, "by name %v", ts)
	got, err := e.s.SCIMToken(e.ctx, e.ws, live.ID)
	e.ok(err)
	e.check(got.Name == "Live", "token %+v", got)
	_, err = e.s.SCIMToken(e.ctx, e.workspace().ID, live.ID)
	e.is(err, store.ErrNotFound, "token of another workspace")
	got, err = e.s.SCIMTokenByHash(e.ctx, live.TokenHash)
	e.ok(err)
	e.check(got.ID == live.ID, "by hash %v", got.ID)
	_, err = e.s.SCIMTokenByHash(e.ctx, "missing")
	e.is(err, store.ErrNotFound, "missing hash")

	revoked, err := e.s.RevokeSCIMToken(e.ctx, e.ws, live.ID, e.now)
	e.ok(err)
	e.check(revoked, "not revoked")
	revoked, err = e.s.RevokeSCIMToken(e.ctx, e.ws, live.ID, e.now)
	e.ok(err)
	e.check(!revoked, "revoked twice")
	// SCIMTokensOfConnection: the tied tokens not revoked, expired ones included.
	conn, other := e.connection("Okta"), e.connection("Entra")
	tiedTo := func(c *models.Connection, name string, expires *time.Time) *models.SCIMToken {
		t := &models.SCIMToken{ID: store.NewID(), WorkspaceID: e.ws, Name: name, TokenHash: unique("hash-"), MaskedValue: "****",
			ScopeString: "scim", ConnectionID: &c.ID, ExpiresAt: expires, CreatedAt: e.now, UpdatedAt: e.now}
		e.ok(e.s.Create(e.ctx, t))
		return t
	}
	tied, tiedOld, tiedRevoked := tiedTo(conn, "Tied", nil), tiedTo(conn, "Tied old", ptr(e.now.Add(-time.Hour))), tiedTo(conn, "Tied revoked", nil)
	tiedTo(other, "Elsewhere", nil)
	_, err = e.s.RevokeSCIMToken(e.ctx, e.ws, tiedRevoked.ID, e.now)
	e.ok(err)
	ts, err = e.s.SCIMTokensOfConnection(e.ctx, e.ws, conn.ID)
	e.ok(err)
	e.check(len(ts) == 2 && ts[0].ID == tied.ID && ts[1].ID == tiedOld.ID && *ts[0].ConnectionID == conn.ID, "tokens of the connection %v", ts)
	ts, err = e.s.SCIMTokensOfConnection(e.ctx, e.workspace().ID, conn.ID)
	e.ok(err)
	e.check(len(ts) == 0, "tokens of the connection in another workspace %v", ts)

	// DeleteSCIMTokenActivity: the token's log, in its workspace, not another token's.
	mine, others := e.activity(models.SCIMOpRead, "x", e.now), e.activity(models.SCIMOpRead, "y", e.now)
	mine.TokenID, others.TokenID = &live.ID, &expired.ID
	e.ok(e.s.CreateAll(e.ctx, mine, others))
	n, err := e.s.DeleteSCIMTokenActivity(e.ctx, e.workspace().ID, live.ID)
	e.ok(err)
	e.check(n == 0, "deleted %d activities of a token of another workspace", n)
	n, err = e.s.DeleteSCIMTokenActivity(e.ctx, e.ws, live.ID)
	e.ok(err)
	e.check(n == 1, "deleted %d activities of the token, want 1", n)
	as, _, err := e.s.SCIMActivities(e.ctx, e.ws, store.SCIMActivityFilter{}, 0, 10)
	e.ok(err)
	e.check(len(as) == 1 && as[0].ID == others.ID, "activities left %v", as)

	e.ok(e.s.Create(e.ctx, e.activity(models.SCIMOpRead, "x", e.now)))
	e.deletesOnce(func() (bool, error) { return e.s.DeleteSCIMToken(e.ctx, e.ws, live.ID) }, "DeleteSCIMToken")
	_, err = e.s.SCIMToken(e.ctx, e.ws, live.ID)
	e.is(err, store.ErrNotFound, "deleted token")
}

func testSCIMActivity(e *env) {
	old := e.now.AddDate(-10, 0, 0)
	u := e.newUser("a")
	e.ok(e.s.CreateAll(e.ctx, u, e.activity(models.SCIMOpCreate, u.ID.String(), e.now)))
	e.ok(e.s.Create(e.ctx, e.activity(models.SCIMOpRead, "x", old)))
	as, total, err := e.s.SCIMActivities(e.ctx, e.ws, store.SCIMActivityFilter{Operation: models.SCIMOpCreate}, 0, 10)
	e.ok(err)
	e.check(total == 1 && len(as) == 1, "creates %v", as)
	_, total, err = e.s.SCIMActivities(e.ctx, e.ws, store.SCIMActivityFilter{}, 0, 10)
	e.ok(err)
	e.check(total == 2, "all %d", total)

	st, err := e.s.SCIMStatistics(e.ctx, e.ws, clock.Real.Now().UTC())
	e.ok(err)
	e.check(st.TotalUsers == 1 && st.UsersAdded24h == 1 && st.LastSyncAt != nil, "statistics %+v", st)
	e.ok(e.s.ReconcileCounts(e.ctx))
	st, err = e.s.SCIMStatistics(e.ctx, e.ws, clock.Real.Now().UTC())
	e.ok(err)
	e.check(st.TotalUsers == 1, "after reconcile %+v", st)

	n, err := e.s.PruneSCIMActivities(e.ctx, old.Add(time.Hour))
	e.ok(err)
	e.check(n >= 1, "pruned %d", n)
	_, total, err = e.s.SCIMActivities(e.ctx, e.ws, store.SCIMActivityFilter{}, 0, 10)
	e.ok(err)
	e.check(total == 1, "after pruning %d", total)
}
