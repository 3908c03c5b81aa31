package conformance

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

func testLifecycle(e *env) {
	d := e.s.Dialect()
	e.check(d == store.SQLite || d == store.Postgres, "dialect %q", d)
	e.ok(e.s.Ping(e.ctx))
	e.check(e.s.DB() != nil, "DB: nil pool")
	var n []struct{ N int }
	e.ok(e.s.RawScan(e.ctx, &n, "SELECT 1 AS n"))
	e.check(len(n) == 1 && n[0].N == 1, "RawScan: %v", n)
	before, err := e.s.SchemaVersion(e.ctx)
	e.ok(err)
	e.check(before >= 14, "schema version %d", before)
	e.ok(e.s.Migratable(e.ctx)) // this release's database
	e.ok(e.s.Migrate(e.ctx))    // a migrated database migrates again
	after, err := e.s.SchemaVersion(e.ctx)
	e.ok(err)
	e.check(after == before, "schema version moved from %d to %d", before, after)
	// The suite's databases fold every letter (SQLite through its own function, PostgreSQL by
	// its LC_CTYPE or a collation): nothing to warn of (store.TestLowerCollation has the rest).
	e.check(e.s.CaseFoldingWarning() == "", "CaseFoldingWarning: %q", e.s.CaseFoldingWarning())
	e.ok(e.s.Close())
	e.check(e.s.Ping(e.ctx) != nil, "Ping after Close succeeded")
}

// testAsyncCommit: on PostgreSQL, what a context marked with store.AsyncCommit writes, outside
// and inside a transaction, goes through sessions that commit asynchronously, visible at once
// to every other session; everything else keeps the server's setting. SQLite has one pool.
func testAsyncCommit(e *env) {
	pools := e.s.Pools()
	e.check(pools["gatehouse"] == e.s.DB(), "Pools: %v, DB %v", pools, e.s.DB())
	if e.s.Dialect() != store.Postgres {
		e.check(len(pools) == 1, "Pools on %s: %v", e.s.Dialect(), pools)
		return
	}
	e.check(len(pools) == 2 && pools["gatehouse_async"] != nil, "Pools: %v", pools)
	setting := func(ctx context.Context) string {
		var r []struct{ V string }
		e.ok(e.s.RawScan(ctx, &r, "SELECT current_setting('synchronous_commit') AS v"))
		return r[0].V
	}
	async := store.AsyncCommit(e.ctx)
	e.check(setting(async) == "off", "AsyncCommit: synchronous_commit %q", setting(async))
	e.check(setting(e.ctx) != "off", "plain: synchronous_commit %q", setting(e.ctx))
	e.ok(e.s.InTx(async, func(ctx context.Context) error {
		e.check(setting(ctx) == "off", "AsyncCommit transaction: synchronous_commit %q", setting(ctx))
		return nil
	}))
	e.ok(e.s.InTx(e.ctx, func(ctx context.Context) error {
		e.check(setting(ctx) != "off", "plain transaction: synchronous_commit %q", setting(ctx))
		return nil
	}))
	u := e.newUser("async")
	e.ok(e.s.Create(async, u))
	_, err := e.s.UserAccount(e.ctx, e.ws, u.ID)
	e.ok(err)
}

func testCreate(e *env) {
	u := e.user("alice")
	got, err := e.s.UserAccount(e.ctx, e.ws, u.ID)
	e.ok(err)
	e.check(got.Email == u.Email && got.SCIMData == "{}", "created %+v", got)
	dup := e.newUser("ALICE")
	dup.UserName, dup.UserNameKey = "other", "other"
	e.exists(e.s.Create(e.ctx, dup), "email", "duplicate email")
	again := e.newUser("bob")
	again.ID = u.ID
	e.exists(e.s.Create(e.ctx, again), "id", "duplicate id")
	orphan := e.newUser("orphan")
	orphan.WorkspaceID = store.NewID()
	e.is(e.s.Create(e.ctx, orphan), store.ErrMissingReference, "missing workspace")

	// CreateAll is atomic: a refused row takes the others with it.
	carol, dupBob := e.newUser("carol"), e.newUser("dave")
	dupBob.UserName, dupBob.UserNameKey = u.UserName, u.UserNameKey
	e.exists(e.s.CreateAll(e.ctx, carol, dupBob), "user_name", "CreateAll duplicate userName")
	_, err = e.s.UserAccount(e.ctx, e.ws, carol.ID)
	e.is(err, store.ErrNotFound, "row of a refused CreateAll")
	carol, eve := e.newUser("carol"), e.newUser("eve")
	e.ok(e.s.CreateAll(e.ctx, carol, eve, e.activity(models.SCIMOpCreate, carol.ID.String(), e.now)))
	us, err := e.s.UserAccountsByIDs(e.ctx, e.ws, []uuid.UUID{carol.ID, eve.ID})
	e.ok(err)
	e.check(len(us) == 2, "CreateAll wrote %d accounts", len(us))
}

func testInTx(e *env) {
	u := e.newUser("rolled-back")
	err := e.s.InTx(e.ctx, func(ctx context.Context) error {
		e.ok(e.s.Create(ctx, u))
		// A nested call joins the transaction: the row is visible to it.
		return e.s.InTx(ctx, func(ctx context.Context) error {
			if _, err := e.s.UserAccount(ctx, e.ws, u.ID); err != nil {
				return err
			}
			return errors.New("abort")
		})
	})
	e.check(err != nil && err.Error() == "abort", "fn's error changed: %v", err)
	_, err = e.s.UserAccount(e.ctx, e.ws, u.ID)
	e.is(err, store.ErrNotFound, "row of a rolled-back transaction")
	e.ok(e.s.InTx(e.ctx, func(ctx context.Context) error { return e.s.Create(ctx, u) }))
	_, err = e.s.UserAccount(e.ctx, e.ws, u.ID)
	e.ok(err)
}

// testFirstWrite: InTxFromFirstWrite commits or rolls back fn's writes as InTx does, its reads
// see what committed before them, and a RecordSignIn that is fn's only write commits with its
// provisioned rows, or writes nothing when one row is refused. On PostgreSQL that statement
// commits alone, and no write may follow it; on SQLite, where InTxFromFirstWrite is InTx, one
// may.
func testFirstWrite(e *env) {
	u := e.newUser("first-write-rolled-back")
	err := e.s.InTxFromFirstWrite(e.ctx, func(ctx context.Context) error {
		_, err := e.s.UserAccount(ctx, e.ws, u.ID) // before any write
		e.is(err, store.ErrNotFound, "read before the write")
		e.ok(e.s.Create(ctx, u))
		_, err = e.s.UserAccount(ctx, e.ws, u.ID) // in the transaction, which has the row
		e.ok(err)
		return errors.New("abort")
	})
	e.check(err != nil && err.Error() == "abort", "fn's error changed: %v", err)
	_, err = e.s.UserAccount(e.ctx, e.ws, u.ID)
	e.is(err, store.ErrNotFound, "row of a rolled-back transaction")
	// A nested InTx joins it: its write rolls back with fn.
	v := e.newUser("first-write-nested")
	err = e.s.InTxFromFirstWrite(e.ctx, func(ctx context.Context) error {
		e.ok(e.s.InTx(ctx, func(ctx context.Context) error { return e.s.Create(ctx, v) }))
		return errors.New("abort")
	})
	e.check(err != nil, "fn's error lost")
	_, err = e.s.UserAccount(e.ctx, e.ws, v.ID)
	e.is(err, store.ErrNotFound, "row of a nested InTx in a rolled-back transaction")
	e.ok(e.s.InTxFromFirstWrite(e.ctx, func(ctx context.Context) error { return e.s.Create(ctx, u) }))
	_, err = e.s.UserAccount(e.ctx, e.ws, u.ID)
	e.ok(err)
	// The ctx of one that only read (a plain read: no transaction began), used after it
	// returned, begins nothing and writes nothing (as InTx's).
	var escaped context.Context
	e.ok(e.s.InTxFromFirstWrite(e.ctx, func(ctx context.Context) error {
		escaped = ctx
		_, _, err := e.s.UserAccountByLiveIdentity(ctx, e.ws, store.NewID(), "nobody")
		e.is(err, store.ErrNotFound, "a plain read")
		return nil
	}))
	late := e.newUser("first-write-late")
	e.check(e.s.Create(escaped, late) != nil, "a write with the context of a finished transaction was accepted")
	_, err = e.s.UserAccount(e.ctx, e.ws, late.ID)
	e.is(err, store.ErrNotFound, "row written with the context of a finished transaction")
	// Nor does a store method that takes s.db(ctx).Statement.ConnPool (UpsertCredential).
	lateConn := e.connection("first-write-late")
	e.check(e.s.UpsertCredential(escaped, e.credential(u, lateConn, "late")) != nil,
		"UpsertCredential with the context of a finished transaction was accepted")
	cs, err := e.s.CredentialsForAccounts(e.ctx, e.ws, []uuid.UUID{u.ID})
	e.ok(err)
	e.check(len(cs[u.ID]) == 0, "credential written with the context of a finished transaction: %d", len(cs[u.ID]))

	// RecordSignIn as fn's only write, with the rows a first sign-in provisions.
	conn := e.connection("first-write")
	w := e.newUser("first-write-provisioned")
	acct := &models.Account{ID: store.NewID(), WorkspaceID: e.ws, Name: "jit", Type: models.AccountIndividual, CreatedAt: e.now, UpdatedAt: e.now}
	w.AccountID = &acct.ID
	ev := e.signInEvent("provisioned")
	e.ok(e.s.InTxFromFirstWrite(e.ctx, func(ctx context.Context) error {
		_, err := e.s.FirstSignInReads(ctx, e.ws, store.NewID(), conn.ID, models.Key(w.Email))
		e.ok(err)
		p := &store.ProvisionedUser{Account: acct, User: w, Credential: e.credential(w, conn, "W-Id"), DerivedEmail: w.Email}
		if err := e.s.RecordSignIn(ctx, p, e.audit("sign_in"), nil, ev); err != nil {
			return err
		}
		err = e.s.CreateAuditEvent(ctx, e.audit("after the last"))
		if e.s.Dialect() == store.Postgres {
			e.check(err != nil, "a write after the statement that committed alone was accepted")
			// Also through a method that takes s.db(ctx).Statement.ConnPool.
			e.check(e.s.UpsertCredential(ctx, e.credential(u, conn, "after-last")) != nil,
				"UpsertCredential after the statement that committed alone was accepted")
			return nil
		}
		return err
	}))
	got, derived, err := e.s.UserAccountByIdentity(e.ctx, e.ws, conn.ID, "w-id")
	e.ok(err)
	e.check(got.ID == w.ID && *got.AccountID == acct.ID && derived == w.Email, "provisioned by RecordSignIn: %+v %q", got, derived)
	_, err = e.s.Account(e.ctx, e.ws, acct.ID)
	e.ok(err)
	es, total, err := e.s.SignInEventsPage(e.ctx, e.ws, store.SignInEventFilter{Outcome: "provisioned"}, 0, 10)
	e.ok(err)
	e.check(total == 1 && es[0].ID == ev.ID, "sign-in events %d", total)
	// A refused row refuses them all: the event's id is taken.
	x := e.newUser("first-write-refused")
	e.exists(e.s.InTxFromFirstWrite(e.ctx, func(ctx context.Context) error {
		p := &store.ProvisionedUser{User: x, Credential: e.credential(x, conn, "x")}
		return e.s.RecordSignIn(ctx, p, e.audit("sign_in"), nil, ev)
	}), "id", "RecordSignIn with a duplicate event")
	_, err = e.s.UserAccount(e.ctx, e.ws, x.ID)
	e.is(err, store.ErrNotFound, "account of a refused RecordSignIn")
	// So is the identity bound already.
	y := e.newUser("first-write-identity")
	e.exists(e.s.RecordSignIn(e.ctx, &store.ProvisionedUser{User: y, Credential: e.credential(y, conn, "W-ID")},
		e.audit("sign_in"), nil, e.signInEvent("provisioned")), "identity", "RecordSignIn provisioning a bound identity")
	_, err = e.s.UserAccount(e.ctx, e.ws, y.ID)
	e.is(err, store.ErrNotFound, "account of a refused RecordSignIn")
}

func testWorkspaces(e *env) {
	w, err := e.s.Workspace(e.ctx, e.ws)
	e.ok(err)
	e.check(w.ID == e.ws, "workspace %v", w.ID)
	_, err = e.s.Workspace(e.ctx, store.NewID())
	e.is(err, store.ErrNotFound, "missing workspace")
	before := e.ws // an id just below ours: decrement with borrow (a last byte of 0 wraps)
	for i := 15; i >= 0; i-- {
		before[i]--
		if before[i] != 0xff {
			break
		}
	}
	list, err := e.s.Workspaces(e.ctx, &before, 1)
	e.ok(err)
	e.check(len(list) == 1 && list[0].ID == e.ws, "Workspaces after %v: %v", before, list)
	list, err = e.s.Workspaces(e.ctx, &e.ws, 1000)
	e.ok(err)
	e.check(!ids(list, func(w *models.Workspace) uuid.UUID { return w.ID })[e.ws], "Workspaces after itself lists it")
}

func testIntegrationClients(e *env) {
	n0, err := e.s.CountIntegrationClients(e.ctx)
	e.ok(err)
	c := &models.IntegrationClient{ID: store.NewID(), WorkspaceID: e.ws, ClientID: unique("client-"), Name: "C",
		SecretHash: "h", ScopeString: "graphql", PlatformAdmin: true, CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, c))
	n1, err := e.s.CountIntegrationClients(e.ctx)
	e.ok(err)
	e.check(n1 == n0+1, "count %d then %d", n0, n1)
	has, err := e.s.HasIntegrationClients(e.ctx)
	e.ok(err)
	e.check(has, "HasIntegrationClients: false with a client")
	_, err = e.s.PlatformAdminWorkspace(e.ctx)
	e.ok(err)

	dup := *c
	dup.ID = store.NewID()
	e.exists(e.s.Create(e.ctx, &dup), "client_id", "duplicate client_id")

	got, err := e.s.IntegrationClientByClientID(e.ctx, c.ClientID)
	e.ok(err)
	e.check(got.ID == c.ID, "by client_id: %v", got.ID)
	_, err = e.s.IntegrationClientByClientID(e.ctx, "missing")
	e.is(err, store.ErrNotFound, "missing client_id")
	_, err = e.s.IntegrationClient(e.ctx, e.ws, c.ClientID)
	e.ok(err)
	_, err = e.s.IntegrationClient(e.ctx, e.workspace().ID, c.ClientID)
	e.is(err, store.ErrNotFound, "client of another workspace")
	list, err := e.s.IntegrationClients(e.ctx, e.ws)
	e.ok(err)
	e.check(len(list) == 1, "clients %v", list)

	c.Name = "renamed"
	e.ok(e.s.UpdateIntegrationClient(e.ctx, c))
	got, _ = e.s.IntegrationClient(e.ctx, e.ws, c.ClientID)
	e.check(got.Name == "renamed", "update lost: %q", got.Name)
	gone := *c
	gone.ID = store.NewID()
	e.is(e.s.UpdateIntegrationClient(e.ctx, &gone), store.ErrNotFound, "update of a missing client")

	// A copy read before a revocation is not saved over it: the revocation stays.
	stale := *c
	now := e.now
	c.RevokedAt = &now
	e.ok(e.s.UpdateIntegrationClient(e.ctx, c))
	stale.SecretHash = "rotated"
	e.is(e.s.UpdateIntegrationClient(e.ctx, &stale), store.ErrStale, "a write read before the revocation")
	got, _ = e.s.IntegrationClient(e.ctx, e.ws, c.ClientID)
	e.check(got.RevokedAt != nil && got.SecretHash != "rotated", "the revocation was lost: %+v", got)
	e.is(e.s.UpdateIntegrationClient(e.ctx, c), store.ErrStale, "a second write of a revoked client")

	// LockBootstrap: on PostgreSQL, another bootstrap's lock waits for the locking transaction
	// (SQLite runs one write at a time).
	e.waits("LockBootstrap after LockBootstrap", e.s.LockBootstrap, func() error {
		return e.s.InTx(e.ctx, e.s.LockBootstrap)
	})
	e.ok(e.s.LockBootstrap(e.ctx)) // outside a transaction: nothing lasting
}

func testSigningKeys(e *env) {
	older := &models.SigningKey{ID: unique("kid-"), Algorithm: "ES256", PublicKey: []byte{1}, PrivateKeyEnc: []byte{2},
		CreatedAt: e.now.Add(-time.Hour)}
	newer := &models.SigningKey{ID: unique("kid-"), Algorithm: "ES256", PublicKey: []byte{1}, PrivateKeyEnc: []byte{3},
		CreatedAt: e.now}
	sealed, err := e.s.SealedSigningKey(e.ctx)
	e.ok(err)
	e.check(sealed == nil, "SealedSigningKey with no signing key: %v", sealed)
	e.ok(e.s.Create(e.ctx, older))
	e.ok(e.s.Create(e.ctx, newer))
	sealed, err = e.s.SealedSigningKey(e.ctx)
	e.ok(err)
	e.check(bytes.Equal(sealed, newer.PrivateKeyEnc), "SealedSigningKey: %v, want the newest key's %v", sealed, newer.PrivateKeyEnc)
	e.exists(e.s.Create(e.ctx, &models.SigningKey{ID: newer.ID, Algorithm: "ES256", PublicKey: []byte{1}, PrivateKeyEnc: []byte{2}, CreatedAt: e.now}), "id", "duplicate kid")
	ks, err := e.s.SigningKeys(e.ctx)
	e.ok(err)
	pos := map[string]int{}
	for i, k := range ks {
		pos[k.ID] = i + 1
	}
	e.check(pos[newer.ID] > 0 && pos[older.ID] > pos[newer.ID], "keys not newest first: %v", pos)

	// A promotion retires every key in use but the one kept; deleting the retired ones
	// unpublishes them, and with none left is ErrNotFound. (Only this subtest writes signing
	// keys, so every key it retires or deletes is its own.)
	e.ok(e.s.RetireSigningKeysExcept(e.ctx, []string{newer.ID}, e.now))
	ks, err = e.s.SigningKeys(e.ctx)
	e.ok(err)
	retired := map[string]bool{}
	for _, k := range ks {
		retired[k.ID] = k.RetiredAt != nil
	}
	e.check(retired[older.ID] && !retired[newer.ID], "retired: %v", retired)
	e.ok(e.s.DeleteRetiredSigningKeys(e.ctx))
	ks, err = e.s.SigningKeys(e.ctx)
	e.ok(err)
	left := map[string]bool{}
	for _, k := range ks {
		left[k.ID] = true
	}
	e.check(!left[older.ID] && left[newer.ID], "after deleting the retired keys: %v", left)
	e.is(e.s.DeleteRetiredSigningKeys(e.ctx), store.ErrNotFound, "no retired key left")

	// The first key of an algorithm is added once: not while one of its algorithm is in use.
	added, err := e.s.AddSigningKeyIfNone(e.ctx, &models.SigningKey{ID: store.NewID().String(), Algorithm: "ES256", PublicKey: []byte{1},
		PrivateKeyEnc: []byte{2}, CreatedAt: e.now})
	e.ok(err)
	e.check(!added, "an ES256 key was added beside the one in use")
	rs := &models.SigningKey{ID: store.NewID().String(), Algorithm: "RS256", PublicKey: []byte{1}, PrivateKeyEnc: []byte{2}, CreatedAt: e.now}
	added, err = e.s.AddSigningKeyIfNone(e.ctx, rs)
	e.ok(err)
	e.check(added, "the first RS256 key was not added")
	added, err = e.s.AddSigningKeyIfNone(e.ctx, &models.SigningKey{ID: store.NewID().String(), Algorithm: "RS256", PublicKey: []byte{1},
		PrivateKeyEnc: []byte{2}, CreatedAt: e.now})
	e.ok(err)
	e.check(!added, "a second RS256 key was added beside the first")
	ks, err = e.s.SigningKeys(e.ctx)
	e.ok(err)
	n := 0
	for _, k := range ks {
		if k.Algorithm == "RS256" {
			n++
		}
	}
	e.check(n == 1, "%d RS256 keys", n)

	// LockSigningKeys: on PostgreSQL, a concurrent AddSigningKeyIfNone waits for the locking
	// transaction (SQLite runs one write at a time).
	e.waits("AddSigningKeyIfNone after LockSigningKeys", e.s.LockSigningKeys, func() error {
		_, err := e.s.AddSigningKeyIfNone(e.ctx, &models.SigningKey{ID: store.NewID().String(), Algorithm: "EdDSA",
			PublicKey: []byte{1}, PrivateKeyEnc: []byte{2}, CreatedAt: e.now})
		return err
	})
	e.ok(e.s.LockSigningKeys(e.ctx)) // outside a transaction: nothing lasting
}
