package provision

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// MaxBulkItems bounds one bulk binding request.
const MaxBulkItems = 1000

// MaxBulkSecrets bounds the items of one bulk binding request that carry a secret. Each is
// hashed with bcrypt (secret.HashPassword), tens of milliseconds of a core: 200 of them took
// 21 s on a 2-core host, past the request deadline (GATEHOUSE_REQUEST_TIMEOUT, 15 s by
// default), so that the request answered 503 "retry later" and bound nothing, however often it
// was retried. 50 take a few seconds.
const MaxBulkSecrets = 50

// BindResult is the outcome of one item of a bulk binding: the account on success, or the
// problems (labels are prefixed with the item's index, e.g. "items.3.identifier").
type BindResult struct {
	UserAccount *models.UserAccount
	Errors      models.Errors
}

// BulkUpdateUserAccountCredentials applies many bindings in one transaction, with the same
// rules and the same outcome as applying them one after another with
// UpdateUserAccountCredentials: an item with a problem changes nothing and the others still
// apply. It costs a handful of statements whatever the number of items.
func (s *Service) BulkUpdateUserAccountCredentials(ctx context.Context, items []CredentialInput) ([]BindResult, error) {
	return s.bulkBindItems(ctx, items, false)
}

// CheckUserAccountCredentials is BulkUpdateUserAccountCredentials's dry run: it decides every
// item exactly as that would now, by the same code, and writes nothing (no binding, no audit
// event, no secret hashed). Each successful result holds the account as it is. It needs the
// same access as the real request, so that a dry run passes only callers the real one would.
func (s *Service) CheckUserAccountCredentials(ctx context.Context, items []CredentialInput) ([]BindResult, error) {
	return s.bulkBindItems(ctx, items, true)
}

func (s *Service) bulkBindItems(ctx context.Context, items []CredentialInput, dryRun bool) ([]BindResult, error) {
	p, err := s.authorize(ctx, accessWrite)
	if err != nil {
		return nil, err
	}
	if len(items) > MaxBulkItems {
		return nil, models.FieldError(models.EINVALID, "items", "", "at most 1000 items per request")
	}
	secrets := 0
	for _, in := range items {
		if models.SecretGiven(in.Secret) {
			secrets++
		}
	}
	if secrets > MaxBulkSecrets {
		// Before anything is hashed, and in a dry run too, which answers as the real request.
		return nil, models.FieldError(models.EINVALID, "items", "", fmt.Sprintf(
			"at most %d items with a secret per request (%d have one): each secret is hashed with bcrypt, which takes time; send them in several requests",
			MaxBulkSecrets, secrets))
	}
	// A bulk request holds a few MB while it runs; a couple at a time keep the database busy,
	// more would only add memory. The others wait their turn.
	select {
	case s.bulkSlots <- struct{}{}:
		defer func() { <-s.bulkSlots }()
	case <-ctx.Done():
		return nil, internal("bulk bind", ctx.Err())
	}
	results := make([]BindResult, len(items))
	idents := make([]string, len(items))
	hashes := make([]string, len(items))
	for i, in := range items {
		idents[i], hashes[i], results[i].Errors = in.validate(!dryRun)
	}
	var out []BindResult
	if dryRun {
		// Reads only, so no transaction: it would take SQLite's write lock (BEGIN IMMEDIATE)
		// and hold a connection through the whole decision, and cost PostgreSQL a BEGIN and a
		// COMMIT, for nothing written.
		out = append([]BindResult(nil), results...)
		if err := s.bulkBind(ctx, p, items, idents, hashes, out, true); err != nil {
			return nil, internal("bulk bind dry run", err)
		}
		return s.bulkResults(ctx, p, out)
	}
	// A concurrent writer can win a unique index between our reads and our writes; the
	// transaction then rolls back whole and is decided again from fresh reads.
	m := mutation{op: "bulk bind", again: func(err error) bool {
		var ue *store.ErrAlreadyExists
		return errors.As(err, &ue)
	}}
	// Bulk bindings of the workspace run side by side (a shared lock), except a last run,
	// which runs alone (exclusive) once those running have ended: bulk bindings that overlap
	// (the same request sent again while the first still runs) could otherwise lose to one
	// another on every run, and answer an internal error.
	runs := 0
	err = s.transact(ctx, m, func(ctx context.Context) error {
		runs++
		if err := s.store.LockBulkBinding(ctx, p.WorkspaceID, runs == staleAttempts); err != nil {
			return err
		}
		out = append([]BindResult(nil), results...)
		return s.bulkBind(ctx, p, items, idents, hashes, out, false)
	})
	if err != nil {
		return nil, err
	}
	return s.bulkResults(ctx, p, out)
}

// bulkResults attaches the accounts' credentials to the results and prefixes each item's
// labels with its index.
func (s *Service) bulkResults(ctx context.Context, p *Principal, out []BindResult) ([]BindResult, error) {
	var accounts []*models.UserAccount
	for _, r := range out {
		if r.UserAccount != nil {
			accounts = append(accounts, r.UserAccount)
		}
	}
	if err := s.attachCredentials(ctx, p.WorkspaceID, accounts); err != nil {
		return nil, err
	}
	for i := range out {
		for _, e := range out[i].Errors {
			e.Field = "items." + strconv.Itoa(i) + "." + e.Field
		}
	}
	return out, nil
}

type identityKey struct {
	conn uuid.UUID
	key  string
}

type accountConn struct{ account, conn uuid.UUID }

// bulkBind decides the items that passed validation and, unless dryRun, writes the bindings
// they make with their audit events. A dry run stops after the decisions: they are all made
// from reads, so it answers what the writes would (save a concurrent writer overtaking them,
// which a real run meets as a retry).
func (s *Service) bulkBind(ctx context.Context, p *Principal, items []CredentialInput, idents, hashes []string, out []BindResult, dryRun bool) error {
	ws := p.WorkspaceID
	// Read everything the items refer to, a query per kind.
	var ids []uuid.UUID
	var slugs []string
	accountOf, moduleOf := make([]uuid.UUID, len(items)), make([]string, len(items))
	for i, in := range items {
		if len(out[i].Errors) == 0 {
			accountOf[i], _ = lookupID("accountUuid", in.AccountUUID, "user account") // well-formed: validate checked it
			moduleOf[i] = models.SlugKey(in.AuthModule)
			ids = append(ids, accountOf[i])
			slugs = append(slugs, moduleOf[i])
		}
	}
	if len(ids) == 0 {
		return nil
	}
	users, err := s.store.UserAccountsByIDs(ctx, ws, ids)
	if err != nil {
		return err
	}
	userByID := make(map[uuid.UUID]*models.UserAccount, len(users))
	for _, u := range users {
		userByID[u.ID] = u
	}
	conns, err := s.store.ConnectionsBySlugs(ctx, ws, slugs)
	if err != nil {
		return err
	}
	connBySlug := make(map[string]*models.Connection, len(conns))
	keysByConn := map[uuid.UUID][]string{}
	for _, c := range conns {
		connBySlug[c.Slug] = c
	}
	for i := range items {
		if c := connBySlug[moduleOf[i]]; c != nil && len(out[i].Errors) == 0 {
			keysByConn[c.ID] = append(keysByConn[c.ID], models.Key(idents[i]))
		}
	}
	// Current owners of the identities named, and current bindings of the accounts named.
	owner := map[identityKey]uuid.UUID{}
	bound := map[accountConn]string{}     // account's identity key at the connection
	stored := map[accountConn]uuid.UUID{} // id of the account's credential row at the connection
	for connID, keys := range keysByConn {
		creds, err := s.store.CredentialsByIdentities(ctx, ws, connID, keys)
		if err != nil {
			return err
		}
		for _, c := range creds {
			owner[identityKey{connID, c.IdentifierKey}] = c.UserAccountID
			bound[accountConn{c.UserAccountID, connID}] = c.IdentifierKey
			stored[accountConn{c.UserAccountID, connID}] = c.ID
		}
	}
	byAccount, err := s.store.CredentialsForAccounts(ctx, ws, ids)
	if err != nil {
		return err
	}
	for acct, cs := range byAccount {
		for _, c := range cs {
			bound[accountConn{acct, c.ConnectionID}] = c.IdentifierKey
			owner[identityKey{c.ConnectionID, c.IdentifierKey}] = acct
			stored[accountConn{acct, c.ConnectionID}] = c.ID
		}
	}
	// Decide each item in order by the identity rule (models.DecideBind), against the state
	// the earlier items leave.
	var stale []uuid.UUID // stored credential rows that the batch replaces
	final := map[accountConn]*models.Credential{}
	var order []accountConn
	now := s.now()
	for i, in := range items {
		if len(out[i].Errors) > 0 {
			continue
		}
		u := userByID[accountOf[i]]
		if u == nil {
			out[i].Errors = models.Errors{noSuchAccount("accountUuid", in.AccountUUID)}
			continue
		}
		conn := connBySlug[moduleOf[i]]
		if conn == nil {
			out[i].Errors = models.Errors{noSuchConnection(in.AuthModule)}
			continue
		}
		key := models.Key(idents[i])
		ik, ac := identityKey{conn.ID, key}, accountConn{u.ID, conn.ID}
		old, isBound := bound[ac]
		switch models.DecideBind(owner[ik], u.ID, isBound) {
		case models.BindTaken:
			out[i].Errors = models.Errors{takenError(idents[i])}
			continue
		case models.BindReplace:
			delete(owner, identityKey{conn.ID, old})
			if id, ok := stored[ac]; ok {
				stale = append(stale, id)
				delete(stored, ac)
			}
		}
		owner[ik], bound[ac] = u.ID, key
		if _, seen := final[ac]; !seen {
			order = append(order, ac)
		}
		final[ac] = &models.Credential{ID: store.NewID(), WorkspaceID: ws, UserAccountID: u.ID,
			ConnectionID: conn.ID, Identifier: idents[i], IdentifierKey: key, SecretHash: hashes[i],
			CreatedAt: now, UpdatedAt: now}
		out[i].UserAccount = u
	}
	if dryRun {
		return nil
	}
	// Write: remove replaced bindings, insert the final ones, record the audit events.
	if err := s.store.DeleteCredentials(ctx, ws, stale); err != nil {
		return err
	}
	creds := make([]*models.Credential, 0, len(order))
	events := make([]*models.AuditEvent, 0, len(order))
	slugOf := map[uuid.UUID]string{}
	for _, c := range conns {
		slugOf[c.ID] = c.Slug
	}
	for _, ac := range order {
		c := final[ac]
		creds = append(creds, c)
		events = append(events, s.auditEvent(p, "user_account.credentials.update", "user_account",
			c.UserAccountID.String(), bindSummary(slugOf[c.ConnectionID], c.Identifier, c.SecretHash != "")))
	}
	if len(creds) == 0 {
		return nil
	}
	if err := s.store.Create(ctx, creds); err != nil {
		return err
	}
	return s.store.Create(ctx, events)
}
