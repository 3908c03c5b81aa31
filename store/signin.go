package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
)

// Application finds an application by id within a workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) Application(ctx context.Context, ws, id uuid.UUID) (*models.Application, error) {
	var a models.Application
	if err := first(s.scoped(ctx, ws).Where("id = ?", id), &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ApplicationByClientID finds an application by its client_id in any workspace: the authorize
// and token endpoints know only the client_id.
// Errors: ErrNotFound when no row matches.
func (s *Store) ApplicationByClientID(ctx context.Context, clientID string) (*models.Application, error) {
	var a models.Application
	if err := first(s.db(ctx).Where("client_id = ?", clientID), &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Applications lists a brand's applications, oldest first.
// Errors: none of the contract; no match is an empty result.
func (s *Store) Applications(ctx context.Context, ws, brandID uuid.UUID) ([]*models.Application, error) {
	var as []*models.Application
	err := s.scoped(ctx, ws).Where("brand_id = ?", brandID).Order("created_at, id").Find(&as).Error
	return as, translate(err)
}

// UpdateApplication saves an application's name, redirect URIs, secret, id_token algorithm and
// PKCE requirement if its version is still a.Version, then bumps it.
// Errors: ErrStale when the version moved or the application is gone.
func (s *Store) UpdateApplication(ctx context.Context, a *models.Application) error {
	now := s.now()
	res := s.scoped(ctx, a.WorkspaceID).Model(&models.Application{}).Where("id = ? AND version = ?", a.ID, a.Version).
		Updates(map[string]any{"name": a.Name, "redirect_uris": a.RedirectURIsJSON,
			"post_logout_redirect_uris": a.PostLogoutRedirectURIsJSON, "secret_hash": a.SecretHash,
			"id_token_signed_response_alg": a.IDTokenSignedResponseAlg, "require_pkce": a.RequirePKCE,
			"version": a.Version + 1, "updated_at": now})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrStale
	}
	a.Version++
	a.UpdatedAt = now
	return nil
}

// DeleteApplication deletes an application with its flows and grants (their tokens stop
// working at userinfo). Its sign-in events stay.
// Errors: ErrNotFound when the application is gone.
func (s *Store) DeleteApplication(ctx context.Context, a *models.Application) error {
	db := s.db(ctx)
	if err := db.Where("application_id = ?", a.ID).Delete(&models.SignInFlow{}).Error; err != nil {
		return translate(err)
	}
	if err := db.Where("application_id = ?", a.ID).Delete(&models.Grant{}).Error; err != nil {
		return translate(err)
	}
	res := s.scoped(ctx, a.WorkspaceID).Where("id = ?", a.ID).Delete(&models.Application{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// ConnectionByVerifiedDomain finds the live connection of the workspace for which the domain
// name (normalised) is verified.
// Errors: ErrNotFound when no row matches.
func (s *Store) ConnectionByVerifiedDomain(ctx context.Context, ws uuid.UUID, name string) (*models.Connection, error) {
	var c models.Connection
	q := s.scoped(ctx, ws).Where("deleted_at IS NULL AND id IN (?)",
		s.db(ctx).Model(&models.Domain{}).Select("connection_id").
			Where("workspace_id = ? AND name = ? AND status = ?", ws, name, models.DomainVerified))
	if err := first(q, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// ClaimFlow marks the flow whose upstream state hashes to stateHash as answered, if it is
// bound to one of browserHashes (the hashes of the sign-in cookies the browser sent; the
// caller bounds them), unanswered and unexpired, and returns it. Anything else is ErrNotFound:
// a replayed, tampered, expired or stolen state, or no browser hash at all.
// Errors: ErrNotFound, as above.
func (s *Store) ClaimFlow(ctx context.Context, stateHash string, browserHashes []string, now time.Time) (*models.SignInFlow, error) {
	if len(browserHashes) == 0 {
		return nil, ErrNotFound
	}
	return s.queryFlow(ctx, `UPDATE sign_in_flows SET claimed_at = ?
		WHERE upstream_state_hash = ? AND browser_hash IN `+inList(len(browserHashes))+` AND claimed_at IS NULL AND expires_at > ? RETURNING `+flowList,
		claimArgs(now, stateHash, browserHashes)...)
}

// claimArgs are the arguments of a claim's statement: the time claimed, the state's hash, the
// browser's hashes (the IN list), the time again (the expiry check).
func claimArgs(now time.Time, stateHash string, browserHashes []string) []any {
	args := make([]any, 0, len(browserHashes)+3)
	args = append(args, now, stateHash)
	for _, h := range browserHashes {
		args = append(args, h)
	}
	return append(args, now)
}

// FinishFlow marks a flow no browser has claimed as answered, whether or not it has expired,
// and reports whether this call did: a failure found before any claim (an answer the ACS
// refused, a callback without the flow's cookie, an expired flow) finishes its flow once, so
// that its event is written once however often the same answer comes again.
// Errors: none of the contract; no unclaimed flow with the id is false.
func (s *Store) FinishFlow(ctx context.Context, flowID uuid.UUID, now time.Time) (bool, error) {
	res := s.db(ctx).Model(&models.SignInFlow{}).Where("id = ? AND claimed_at IS NULL", flowID).
		Update("claimed_at", now)
	return res.RowsAffected == 1, translate(res.Error)
}

// RekeyFlow gives an unclaimed flow a new upstream state (its hash): the key of the
// browser's continuation of a SAML flow the ACS found by InResponseTo, when the IdP sent no
// RelayState.
// Errors: ErrNotFound when no unclaimed flow has the id; ErrAlreadyExists "upstream_state"
// when another flow has the state.
func (s *Store) RekeyFlow(ctx context.Context, flowID uuid.UUID, stateHash string) error {
	res := s.db(ctx).Model(&models.SignInFlow{}).Where("id = ? AND claimed_at IS NULL", flowID).
		Update("upstream_state_hash", stateHash)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// FlowByUpstreamState finds a flow by the hash of its upstream state, whatever its state (to
// explain a refused callback).
// Errors: ErrNotFound when no row matches.
func (s *Store) FlowByUpstreamState(ctx context.Context, stateHash string) (*models.SignInFlow, error) {
	return s.queryFlow(ctx, "SELECT "+flowList+" FROM sign_in_flows WHERE upstream_state_hash = ? LIMIT 1", stateHash)
}

// queryFlow runs a statement returning flowList and scans its first row by hand (GORM's
// reflective Scan cost more than the statement); no row is ErrNotFound.
func (s *Store) queryFlow(ctx context.Context, q string, args ...any) (*models.SignInFlow, error) {
	return queryRow(ctx, s, flowTable, q, args...)
}

// queryRow runs a statement returning tb's columns and scans its first row; no row is
// ErrNotFound.
func queryRow[T any](ctx context.Context, s *Store, tb *table[T], q string, args ...any) (*T, error) {
	r := new(T)
	err := s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(tb.dest(r)...) }, q, args...)
	if err != nil {
		return nil, err
	}
	tb.scanned(r)
	return r, nil
}

// queryOne runs a query and scans its first row with scan; no row is ErrNotFound.
func (s *Store) queryOne(ctx context.Context, scan func(rows *sql.Rows) error, q string, args ...any) error {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return translate(err)
		}
		return ErrNotFound
	}
	if err := scan(rows); err != nil {
		return translate(err)
	}
	return translate(rows.Close())
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// FlowByUpstreamRequest finds a flow by the ID of the request Gatehouse sent the identity
// provider (a SAML AuthnRequest ID, the response's InResponseTo).
// Errors: ErrNotFound when no row matches.
func (s *Store) FlowByUpstreamRequest(ctx context.Context, requestID string) (*models.SignInFlow, error) {
	var f models.SignInFlow
	if err := first(s.db(ctx).Where("upstream_request_id = ? AND upstream_request_id <> ''", requestID), &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// RedeemGrant marks the grant of a code redeemed, if it was issued to clientID (the client
// that authenticated the request), is unredeemed, unrevoked and unexpired, its application
// still exists, its user account is still there and active, and still bound to the identity it
// signed in by (grantStillBound), and returns it. The application is read here, not only
// through the callers' 2 s cache: a replica that still caches a just-deleted application can
// make a code for it after deleteApplication answered (grants hold no foreign key, migration
// 11), and that code must issue nothing, anywhere. A code of clientID's that was redeemed already is
// a replay: the grant is revoked (so the tokens the first redemption issued stop working) and
// the returned error is ErrStale. Anything else is ErrNotFound: another client's code, which
// is neither spent nor revoked by whoever presents it (any public client's client_id
// authenticates, so a leaked code would otherwise be anyone's to void, and the answer would
// tell them it was live); a person deactivated (or deleted) in the minute between the
// sign-in's decision and the redemption, who gets no tokens, as userinfo refuses them
// afterwards, also once reactivated (models.UserAccount.SetActive); a person whose credential
// was removed or rebound in that minute.
// Errors: ErrStale (a replay) and ErrNotFound, as above.
func (s *Store) RedeemGrant(ctx context.Context, codeHash, clientID string, now time.Time) (*models.Grant, error) {
	g, err := queryRow(ctx, s, grantTable, `UPDATE grants SET redeemed_at = ?
		WHERE code_hash = ? AND client_id = ? AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > ?
		AND EXISTS (SELECT 1 FROM applications a WHERE a.id = grants.application_id)
		AND EXISTS (SELECT 1 FROM user_accounts u WHERE u.id = grants.user_account_id AND u.active
			AND (u.activated_at IS NULL OR u.activated_at <= grants.created_at)) AND `+grantStillBound+` RETURNING `+grantList,
		now, codeHash, clientID, now)
	if !errors.Is(err, ErrNotFound) {
		return g, err
	}
	res := s.db(ctx).Model(&models.Grant{}).Where("code_hash = ? AND client_id = ? AND redeemed_at IS NOT NULL", codeHash, clientID).
		Update("revoked_at", now)
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if res.RowsAffected > 0 {
		return nil, ErrStale
	}
	return nil, ErrNotFound
}

// grantStillBound is the condition, on a grant, that the account is still bound at the
// grant's connection to the identifier it signed in by. A grant dies with its binding: once
// the person's credential there is removed, or rebound to another identifier (a mis-binding
// corrected, a SCIM rename), the sign-in it stands for no longer holds, and neither its code
// nor its access token may answer for the account. Read where a grant is used (RedeemGrant,
// BoundGrant), not written where bindings change: the writers of credentials (GraphQL, REST,
// SCIM, bulk binding) stay as they are, and none can forget it. A grant from before
// migration 33 (no connection) is not checked.
//
// A connection's status is not part of it: deactivating a connection blocks new sign-ins,
// not the ones made (WorldFlow: "Existing sessions are not terminated, but new logins are
// blocked"), and a connection goes back to inactive when an admin changes a setting its test
// checks, a routine certificate change among them.
//
// The account bound to the grant's identity, as a scalar subquery: one probe of the
// credentials' identity index (unique) per grant. Written as EXISTS under the OR, PostgreSQL
// may plan it as a hashed subplan that reads the whole credentials table at every redemption.
const grantStillBound = `(grants.connection_id IS NULL OR grants.user_account_id = (SELECT c.user_account_id FROM credentials c
		WHERE c.workspace_id = grants.workspace_id AND c.connection_id = grants.connection_id AND c.identifier_key = grants.identifier_key))`

// BoundGrant finds a grant by id within a workspace, if the account is still bound to the
// identity it was issued for (grantStillBound).
// Errors: ErrNotFound when no row matches, or the binding no longer holds.
func (s *Store) BoundGrant(ctx context.Context, ws, id uuid.UUID) (*models.Grant, error) {
	var g models.Grant
	if err := first(s.scoped(ctx, ws).Where("id = ? AND "+grantStillBound, id), &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// PruneSignInState deletes flows that expired before cutoff (ix_sign_in_flows_expires) and
// grants created before grantCutoff (ix_grants_created: a code expires a minute after it is
// created, so those expired even earlier; one index fewer on the table every sign-in writes).
// Each deleted flow that was never claimed nor finished (claimed_at NULL: no answer ended it)
// and had no failure recorded while it stayed open (failed_at NULL, MarkFlowFailed), so no
// event was recorded for it, becomes a failed sign-in event with the public reason and
// the private cause given, atomically with its deletion: its workspace, application (none for
// a test flow: the nil id), client id, brand (none when nil), connection with its live slug,
// request id and test flag, no identifier, the flow's id (a v7 UUID like any other) and its
// expiry as the time. It deletes pruneBatch flows (or grants) a statement until none is left,
// so that a backlog (a busy hour's flows, or the prune not run for a while) is never one
// statement that outlasts the serving statement_timeout, and so is never pruned at all. On
// PostgreSQL each batch of flows is one statement (the event is inserted from the deleted row,
// so a flow finished concurrently, whose deletion returns it finished, gets none); on SQLite a
// transaction, the insert then the delete of the same batch. It returns how many flows and
// grants it deleted.
// Errors: none of the contract.
func (s *Store) PruneSignInState(ctx context.Context, cutoff, grantCutoff time.Time, reason, cause string) (int64, error) {
	args := []any{cutoff.UTC(), pruneBatch, models.SignInOutcomeFailed, reason, cause}
	flows, err := s.pruneBatches(ctx, func(ctx context.Context) (int64, error) {
		var n int64
		if s.dialect == Postgres {
			err := s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(&n) }, pruneFlowsSQL, args...)
			return n, err
		}
		err := s.InTx(ctx, func(ctx context.Context) error {
			if err := s.exec(ctx, abandonedFlowsSQLite, args[2], args[3], args[4], args[0], args[1]); err != nil {
				return err
			}
			res := s.db(ctx).Exec(deleteExpiredFlowsSQLite, args[0], args[1])
			n = res.RowsAffected
			return translate(res.Error)
		})
		return n, err
	})
	if err != nil {
		return 0, err
	}
	deleteGrants := batchDeleteSQL(s.dialect, "grants", "id", expiredGrants)
	grants, err := s.pruneBatches(ctx, func(ctx context.Context) (int64, error) {
		r := s.db(ctx).Exec(deleteGrants, grantCutoff, pruneBatch)
		return r.RowsAffected, translate(r.Error)
	})
	return flows + grants, err
}

// batchDeleteSQL deletes from table the rows whose key (a column, or the row's address: ctid,
// rowid) the query batch selects, one batch of a pruneBatches loop. On PostgreSQL the batch is
// an array, which the delete reads by key (an index or Tid scan); as key IN (batch), the
// planner could hash the batch and read the whole table at each batch, as it did for
// PruneSignInState's flows.
func batchDeleteSQL(dialect, table, key, batch string) string {
	if dialect == Postgres {
		return `DELETE FROM ` + table + ` WHERE ` + key + ` = ANY(ARRAY(` + batch + `))`
	}
	return `DELETE FROM ` + table + ` WHERE ` + key + ` IN (` + batch + `)`
}

// pruneBatches runs batch, which deletes at most pruneBatch rows, until it deletes fewer, and
// returns how many rows it deleted.
func (s *Store) pruneBatches(ctx context.Context, batch func(ctx context.Context) (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := batch(ctx)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// The failed event of an abandoned flow (PruneSignInState), selected from the flows f (the
// deleted rows on PostgreSQL): ? are the outcome, the reason and the cause. A test flow has
// the nil application id, and maybe the nil brand id: the event has none, as s.event writes.
// The slug is a subquery on the connection's primary key: as a join, PostgreSQL, which cannot
// estimate how many deleted rows are abandoned, expected a few and compared each with every
// connection (a batch of 300,000 abandoned flows and 200 connections took 31 s).
const (
	abandonedEventColumns = `INSERT INTO sign_in_events (id, workspace_id, application_id, client_id, brand_id,
		connection_id, connection_slug, identifier, outcome, reason, cause, request_id, test, created_at)
	SELECT f.id, f.workspace_id, NULLIF(f.application_id, '` + nilID + `'), f.client_id, NULLIF(f.brand_id, '` + nilID + `'),
		f.connection_id, COALESCE((SELECT c.slug FROM connections c WHERE c.id = f.connection_id
			AND c.workspace_id = f.workspace_id AND c.deleted_at IS NULL), ''), '', ?, ?, ?, f.request_id, f.test, f.expires_at
	FROM `
	abandonedEventWhere = ` WHERE f.claimed_at IS NULL AND f.failed_at IS NULL`
	nilID               = "00000000-0000-0000-0000-000000000000"
	// expiredFlows selects one batch of the flows that expired before ?, at most ? of them, in
	// an order of their own, so that SQLite's insert and delete select the same ones.
	expiredFlows = `SELECT id FROM sign_in_flows WHERE expires_at < ? ORDER BY expires_at, id LIMIT ?`
	// pruneFlowsSQL deletes one batch of expired flows and inserts the events of the abandoned
	// ones in one statement (a data-modifying CTE) and answers how many flows it deleted.
	// (As id = ANY of an array, the batch is deleted through the primary key; as id IN, the
	// planner hashed it and read the whole table at each batch.)
	pruneFlowsSQL = `WITH f AS (DELETE FROM sign_in_flows WHERE id = ANY(ARRAY(` + expiredFlows + `))
		RETURNING id, workspace_id, application_id, brand_id, connection_id, client_id, request_id, test, claimed_at, failed_at, expires_at),
	e AS (` + abandonedEventColumns + `f` + abandonedEventWhere + `)
	SELECT count(*) FROM f`
	// abandonedFlowsSQLite inserts the events of the abandoned flows of the batch that the
	// delete that follows it, in its transaction, removes.
	abandonedFlowsSQLite     = abandonedEventColumns + `sign_in_flows f` + abandonedEventWhere + ` AND f.id IN (` + expiredFlows + `)`
	deleteExpiredFlowsSQLite = `DELETE FROM sign_in_flows WHERE id IN (` + expiredFlows + `)`
	// expiredGrants selects one batch of the grants created before ?, at most ? of them.
	expiredGrants = `SELECT id FROM grants WHERE created_at < ? ORDER BY created_at LIMIT ?`
)

// MarkFlowFailed records that a failure of the open flow id is being recorded (its event
// written, in the same transaction) while the flow stays open for the browser that started it,
// and reports whether this call marked it: only the first does, also among concurrent ones (on
// PostgreSQL the condition is evaluated on the row as it is when written), so that one attempt
// has one event.
// Errors: none of the contract; a missing flow reports false.
func (s *Store) MarkFlowFailed(ctx context.Context, id uuid.UUID, now time.Time) (bool, error) {
	res := s.db(ctx).Exec("UPDATE sign_in_flows SET failed_at = ? WHERE id = ? AND failed_at IS NULL", now.UTC(), id)
	return res.RowsAffected == 1, translate(res.Error)
}

// PruneSignInEvents deletes the sign-in events created before the cutoff and returns how many.
// Errors: none of the contract.
func (s *Store) PruneSignInEvents(ctx context.Context, before time.Time) (int64, error) {
	return pruneBefore(s, ctx, &models.SignInEvent{}, before)
}

// SignInEventFilter selects sign-in events. Nil fields do not filter.
type SignInEventFilter struct {
	ConnectionID *uuid.UUID
	BrandID      *uuid.UUID
	Outcome      string
}

// SignInEventsPage returns one page of a workspace's sign-in events, newest first, and the
// number of events matching.
// Errors: none of the contract; no match is an empty result.
func (s *Store) SignInEventsPage(ctx context.Context, ws uuid.UUID, f SignInEventFilter, offset, limit int) ([]*models.SignInEvent, int64, error) {
	var total int64
	if err := signInEvents(s.db(ctx), ws, f).Count(&total).Error; err != nil {
		return nil, 0, translate(err)
	}
	var es []*models.SignInEvent
	err := signInEvents(s.db(ctx), ws, f).Order(signInEventsOrder).Offset(offset).Limit(limit).Find(&es).Error
	return es, total, translate(err)
}

// signInEvents selects a workspace's sign-in events matching f on db. Each filter is searched
// through an index that begins (workspace_id, that column): ix_sign_in_events_connection,
// ix_sign_in_events_brand (migration 34); outcome is filtered along the workspace's index.
func signInEvents(db *gorm.DB, ws uuid.UUID, f SignInEventFilter) *gorm.DB {
	q := db.Model(&models.SignInEvent{}).Where("workspace_id = ?", ws)
	if f.ConnectionID != nil {
		q = q.Where("connection_id = ?", *f.ConnectionID)
	}
	if f.BrandID != nil {
		q = q.Where("brand_id = ?", *f.BrandID)
	}
	if f.Outcome != "" {
		q = q.Where("outcome = ?", f.Outcome)
	}
	return q
}

// signInEventsOrder is the order of SignInEventsPage: newest first.
const signInEventsOrder = "created_at DESC, id DESC"

// RevokeGrant revokes a grant (its access token stops working at userinfo).
// Errors: none of the contract; a missing grant is no error.
func (s *Store) RevokeGrant(ctx context.Context, id uuid.UUID, now time.Time) error {
	return translate(s.db(ctx).Model(&models.Grant{}).Where("id = ?", id).Update("revoked_at", now).Error)
}

// VoidGrant ends a grant whose redemption was refused after RedeemGrant marked it (a wrong
// redirect_uri or code_verifier): revoked, and unredeemed again, since no token was issued.
// Presenting its code again is then no replay (RedeemGrant: ErrNotFound, not ErrStale), so
// neither the log nor the application is told of one that did not happen.
// Errors: none of the contract; a missing grant is no error.
func (s *Store) VoidGrant(ctx context.Context, id uuid.UUID, now time.Time) error {
	return translate(s.db(ctx).Model(&models.Grant{}).Where("id = ?", id).
		Updates(map[string]any{"redeemed_at": nil, "revoked_at": now}).Error)
}

// RevokeGrantsOf revokes the grants of an application to an account created up to
// createdBy and not revoked yet (a code not redeemed yet included): the access tokens they
// issued are refused at userinfo from now on. It returns how many it revoked.
// Errors: none of the contract; no grant revokes nothing.
func (s *Store) RevokeGrantsOf(ctx context.Context, ws, applicationID, accountID uuid.UUID, createdBy, now time.Time) (int64, error) {
	res := s.scoped(ctx, ws).Model(&models.Grant{}).
		// In UTC, as every time is written: SQLite compares times as text, so a bound in another
		// zone (an id_token's iat reads in the server's) would move by its offset.
		Where("application_id = ? AND user_account_id = ? AND created_at <= ? AND revoked_at IS NULL", applicationID, accountID, createdBy.UTC()).
		Update("revoked_at", now)
	return res.RowsAffected, translate(res.Error)
}

// MarkProfileOwner records that the connection owns the account's profile (JIT created it).
// Errors: none of the contract; a missing account is no error.
func (s *Store) MarkProfileOwner(ctx context.Context, ws, userID, connectionID uuid.UUID) error {
	return translate(s.scoped(ctx, ws).Model(&models.UserAccount{}).Where("id = ?", userID).
		UpdateColumn("idp_connection_id", connectionID).Error)
}

// RefreshOwnedProfile sets the names and email of u from its identity provider's claims, in
// one versioned update of userTable's idpRefresh columns that changes nothing unless the
// connection owns the profile, a value differs, and no other account has the email (nor, when
// the userName follows it, models.UserAccount.ChangeEmail, has it as userName). It reports
// whether the row changed (u is updated then). An account changed since u was read (its version
// moved) is left as the other writer left it: the next sign-in refreshes it.
// Errors: none of the contract; no change reports false.
func (s *Store) RefreshOwnedProfile(ctx context.Context, u *models.UserAccount, connectionID uuid.UUID, first, last, email string) (bool, error) {
	now := s.now()
	next := *u
	next.FirstName, next.LastName = first, last
	next.ChangeEmail(email)
	args := append(versionedArgs(&next, idpRefresh, now), connectionID, first, last, email, u.WorkspaceID, next.EmailKey,
		next.UserNameKey, u.ID)
	res := s.db(ctx).Exec(refreshOwnedProfileSQL, args...)
	if res.Error != nil {
		return false, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	next.Version, next.UpdatedAt = u.Version+1, now
	*u = next
	return true, nil
}

// refreshOwnedProfileSQL is the versioned update of the idpRefresh columns, only for an owned
// profile that differs and whose new email (and userName) no other account of the workspace has.
var refreshOwnedProfileSQL = userTable.update(idpRefresh) + versionedWhere +
	` AND idp_connection_id = ? AND (first_name <> ? OR last_name <> ? OR email <> ?)` +
	` AND NOT EXISTS (SELECT 1 FROM user_accounts o WHERE o.workspace_id = ? AND (o.email_key = ? OR (o.user_name_key = ? AND o.user_name_key <> '')) AND o.id <> ?)`

// UserAccountByIdentity finds the account bound to the identity (connection, identifier key)
// in one query (the credential joined to its account, scanned by hand): the first thing every
// sign-in asks. derivedEmail is the email a just-in-time sign-in derived for the account
// (migration 14), "" when none.
// Errors: ErrNotFound when no account is bound to the identity.
func (s *Store) UserAccountByIdentity(ctx context.Context, ws, connectionID uuid.UUID, identifierKey string) (u *models.UserAccount, derivedEmail string, err error) {
	return s.identityUser(ctx, `JOIN credentials ON credentials.user_account_id = user_accounts.id
		WHERE credentials.workspace_id = ? AND credentials.connection_id = ? AND credentials.identifier_key = ? LIMIT 1`,
		ws, connectionID, identifierKey)
}

// UserAccountByLiveIdentity is UserAccountByIdentity through a live connection: the account
// bound to the identity, found only while the connection is active and not deleted. One query
// both finds a returning person and proves the connection live (the sign-in's fast path).
// Errors: ErrNotFound when no account is bound to the identity through a live connection.
func (s *Store) UserAccountByLiveIdentity(ctx context.Context, ws, connectionID uuid.UUID, identifierKey string) (u *models.UserAccount, derivedEmail string, err error) {
	return s.identityUser(ctx, userByLiveIdentity, ws, connectionID, identifierKey)
}

// userByLiveIdentity is UserAccountByLiveIdentity's query after FROM user_accounts.
var userByLiveIdentity = liveIdentity("?", "?", "?")

// liveIdentity is the rule of UserAccountByLiveIdentity, to follow FROM user_accounts: the
// account bound to the identifier key key at connection conn of workspace ws (SQL expressions)
// while that connection is active and not deleted. ClaimSAMLFlow runs it inside its statement.
func liveIdentity(ws, conn, key string) string {
	return `JOIN credentials ON credentials.user_account_id = user_accounts.id
		JOIN connections ON connections.id = credentials.connection_id AND connections.workspace_id = credentials.workspace_id
		WHERE credentials.workspace_id = ` + ws + ` AND credentials.connection_id = ` + conn + ` AND credentials.identifier_key = ` + key + `
		AND connections.status = '` + string(models.StatusActive) + `' AND connections.deleted_at IS NULL LIMIT 1`
}

// identityUser runs SELECT userSelect, derived_email FROM user_accounts <tail> and scans the
// first row; none is ErrNotFound.
func (s *Store) identityUser(ctx context.Context, tail string, args ...any) (*models.UserAccount, string, error) {
	u := &models.UserAccount{}
	var derived string
	err := s.queryOne(ctx, func(rows *sql.Rows) error { return scanUser(rows, u, &derived) },
		"SELECT "+userSelect+", user_accounts.derived_email FROM user_accounts "+tail, args...)
	if err != nil {
		return nil, "", err
	}
	return u, derived, nil
}

// The rows every browser sign-in writes are inserted with statements built from their
// tables: GORM's reflective Create costs more than the insert itself.
var (
	flowTable = newTable("sign_in_flows",
		col("id", func(f *models.SignInFlow) *uuid.UUID { return &f.ID }),
		col("workspace_id", func(f *models.SignInFlow) *uuid.UUID { return &f.WorkspaceID }),
		col("application_id", func(f *models.SignInFlow) *uuid.UUID { return &f.ApplicationID }),
		col("brand_id", func(f *models.SignInFlow) *uuid.UUID { return &f.BrandID }),
		col("connection_id", func(f *models.SignInFlow) *uuid.UUID { return &f.ConnectionID }),
		col("browser_hash", func(f *models.SignInFlow) *string { return &f.BrowserHash }),
		col("client_id", func(f *models.SignInFlow) *string { return &f.ClientID }),
		col("redirect_uri", func(f *models.SignInFlow) *string { return &f.RedirectURI }),
		col("scope", func(f *models.SignInFlow) *string { return &f.Scope }),
		col("state", func(f *models.SignInFlow) *string { return &f.State }),
		col("nonce", func(f *models.SignInFlow) *string { return &f.Nonce }),
		col("code_challenge", func(f *models.SignInFlow) *string { return &f.CodeChallenge }),
		col("prompt", func(f *models.SignInFlow) *string { return &f.Prompt }),
		col("hint_subject", func(f *models.SignInFlow) *string { return &f.HintSubject }),
		col("max_age", func(f *models.SignInFlow) *string { return &f.MaxAge }),
		col("response_mode", func(f *models.SignInFlow) *string { return &f.ResponseMode }),
		col("upstream_state_hash", func(f *models.SignInFlow) *string { return &f.UpstreamStateHash }),
		col("upstream_nonce", func(f *models.SignInFlow) *string { return &f.UpstreamNonce }),
		col("upstream_verifier_enc", func(f *models.SignInFlow) *[]byte { return &f.UpstreamVerifierEnc }),
		col("upstream_request_id", func(f *models.SignInFlow) *string { return &f.UpstreamRequestID }),
		col("request_id", func(f *models.SignInFlow) *string { return &f.RequestID }),
		col("test", func(f *models.SignInFlow) *bool { return &f.Test }),
		col("claimed_at", func(f *models.SignInFlow) **time.Time { return &f.ClaimedAt }),
		col("failed_at", func(f *models.SignInFlow) **time.Time { return &f.FailedAt }),
		col("expires_at", func(f *models.SignInFlow) *time.Time { return &f.ExpiresAt }),
		col("created_at", func(f *models.SignInFlow) *time.Time { return &f.CreatedAt }),
	)
	grantTable = newTable("grants",
		col("id", func(g *models.Grant) *uuid.UUID { return &g.ID }),
		col("workspace_id", func(g *models.Grant) *uuid.UUID { return &g.WorkspaceID }),
		col("application_id", func(g *models.Grant) *uuid.UUID { return &g.ApplicationID }),
		col("client_id", func(g *models.Grant) *string { return &g.ClientID }),
		col("code_hash", func(g *models.Grant) *string { return &g.CodeHash }),
		col("redirect_uri", func(g *models.Grant) *string { return &g.RedirectURI }),
		col("code_challenge", func(g *models.Grant) *string { return &g.CodeChallenge }),
		col("scope", func(g *models.Grant) *string { return &g.Scope }),
		col("nonce", func(g *models.Grant) *string { return &g.Nonce }),
		col("user_account_id", func(g *models.Grant) *uuid.UUID { return &g.UserAccountID }),
		col("connection_id", func(g *models.Grant) **uuid.UUID { return &g.ConnectionID }),
		col("identifier_key", func(g *models.Grant) *string { return &g.IdentifierKey }),
		col("claims", func(g *models.Grant) *string { return &g.Claims }),
		col("auth_time", func(g *models.Grant) *time.Time { return &g.AuthTime }),
		col("expires_at", func(g *models.Grant) *time.Time { return &g.ExpiresAt }),
		col("redeemed_at", func(g *models.Grant) **time.Time { return &g.RedeemedAt }),
		col("revoked_at", func(g *models.Grant) **time.Time { return &g.RevokedAt }),
		col("created_at", func(g *models.Grant) *time.Time { return &g.CreatedAt }),
	)
	eventTable = newTable("sign_in_events",
		col("id", func(e *models.SignInEvent) *uuid.UUID { return &e.ID }),
		col("workspace_id", func(e *models.SignInEvent) *uuid.UUID { return &e.WorkspaceID }),
		col("application_id", func(e *models.SignInEvent) **uuid.UUID { return &e.ApplicationID }),
		col("client_id", func(e *models.SignInEvent) *string { return &e.ClientID }),
		col("brand_id", func(e *models.SignInEvent) **uuid.UUID { return &e.BrandID }),
		col("connection_id", func(e *models.SignInEvent) **uuid.UUID { return &e.ConnectionID }),
		col("connection_slug", func(e *models.SignInEvent) *string { return &e.ConnectionSlug }),
		col("identifier", func(e *models.SignInEvent) *string { return &e.Identifier }),
		col("outcome", func(e *models.SignInEvent) *string { return &e.Outcome }),
		col("reason", func(e *models.SignInEvent) *string { return &e.Reason }),
		col("cause", func(e *models.SignInEvent) *string { return &e.Cause }),
		col("request_id", func(e *models.SignInEvent) *string { return &e.RequestID }),
		col("test", func(e *models.SignInEvent) *bool { return &e.Test }),
		col("created_at", func(e *models.SignInEvent) *time.Time { return &e.CreatedAt }),
	)
	flowList    = flowTable.list
	grantList   = grantTable.list
	flowInsert  = flowTable.plainInsert()
	grantInsert = grantTable.plainInsert()
	eventInsert = eventTable.plainInsert()
)

// exec runs one statement written with ? placeholders on the transaction or pool of ctx.
func (s *Store) exec(ctx context.Context, sql string, args ...any) error {
	db, err := s.handle(ctx, true)
	if err != nil {
		return err
	}
	return s.execOn(ctx, db, sql, args...)
}

// execOn runs one statement written with ? placeholders on db.
func (s *Store) execOn(ctx context.Context, db *gorm.DB, sql string, args ...any) error {
	if s.dialect == Postgres {
		sql = pgPlaceholders(sql)
		args = pgArgs(args)
	}
	_, err := db.Statement.ConnPool.ExecContext(ctx, sql, args...)
	return translate(err)
}

// CreateFlow inserts a sign-in flow.
// Errors: ErrAlreadyExists "id" or "upstream_state".
func (s *Store) CreateFlow(ctx context.Context, f *models.SignInFlow) error {
	return s.exec(ctx, flowInsert, flowTable.args(f)...)
}

// CreateGrant inserts a grant.
// Errors: ErrAlreadyExists "id" or "code".
func (s *Store) CreateGrant(ctx context.Context, g *models.Grant) error {
	return s.exec(ctx, grantInsert, grantTable.args(g)...)
}

// CreateSignInEvent inserts a sign-in event.
// Errors: ErrAlreadyExists "id".
func (s *Store) CreateSignInEvent(ctx context.Context, e *models.SignInEvent) error {
	return s.exec(ctx, eventInsert, eventTable.args(e)...)
}

// CreateAuditEvent inserts an audit event with a fixed statement (every sign-in writes one).
// Errors: ErrAlreadyExists "id"; ErrMissingReference when the workspace is gone.
func (s *Store) CreateAuditEvent(ctx context.Context, e *models.AuditEvent) error {
	return s.exec(ctx, auditInsert, auditTable.args(e)...)
}

// RecordSignIn writes what a browser sign-in's decision leads to: the rows it provisioned (p;
// nil when it provisioned none, or wrote them itself), its audit event, its grant (nil when
// refused) and its sign-in event. On PostgreSQL it is one statement (a data-modifying CTE, as
// BindAccountCredential; the foreign keys are checked at its end): one round trip instead of
// up to six; on SQLite, where a round trip is a function call, a statement per row in a
// transaction (the caller's, if any). Either way the rows commit together, so a decision that
// wrote nothing else needs no transaction of its own around it: provision's returning fast
// path, and a first sign-in in InTxFromFirstWrite, where this is the last statement. On
// PostgreSQL in a transaction, the statement also writes the counters the transaction moved
// (InTx would write them at commit), and those p moves.
// Errors: those of CreateProvisionedUser, CreateAuditEvent, CreateGrant and
// CreateSignInEvent; nothing is written then.
func (s *Store) RecordSignIn(ctx context.Context, p *ProvisionedUser, a *models.AuditEvent, g *models.Grant, e *models.SignInEvent) error {
	if s.dialect != Postgres {
		return s.InTx(ctx, func(ctx context.Context) error {
			if p != nil {
				if err := s.CreateProvisionedUser(ctx, p); err != nil {
					return err
				}
			}
			if err := s.CreateAuditEvent(ctx, a); err != nil {
				return err
			}
			if g != nil {
				if err := s.CreateGrant(ctx, g); err != nil {
					return err
				}
			}
			return s.CreateSignInEvent(ctx, e)
		})
	}
	if p == nil && g != nil && !countsMoved(ctx) { // a returning sign-in: its fixed text
		return s.execLast(ctx, recordSignInGrantSQL, append(append(auditTable.args(a), grantTable.args(g)...), eventTable.args(e)...)...)
	}
	var b strings.Builder
	var args []any
	b.WriteString("WITH ")
	part := func(name, sql string, vals ...any) {
		b.WriteString(name + " AS (" + sql + "), ")
		args = append(args, vals...)
	}
	c, _ := ctx.Value(countsKey{}).(*counts)
	if p != nil {
		if p.Account != nil {
			part("pa", accountInsert, accountTable.args(p.Account)...)
		}
		part("pu", ownedUserInsert, p.userValues()...)
		part("pc", upsertCredentialSQL, credentialArgs(p.Credential)...)
		if c == nil { // outside a transaction: this statement writes the counters it moves
			ctx, c = withCounts(ctx)
		}
		if err := s.countCreated(ctx, p.User); err != nil {
			return err
		}
	}
	part("a", auditInsert, auditTable.args(a)...)
	if g != nil {
		part("g", grantInsert, grantTable.args(g)...)
	}
	// In a transaction, the counters it moved so far (a first sign-in's new user) are written
	// by this statement, the decision's last, rather than by one more at commit: their rows
	// are locked as late as before, and nothing is waited for while they are held.
	if c != nil {
		for i, r := range c.rows() {
			part("n"+strconv.Itoa(i), counterUpsertPlain, counterTable.args(r)...)
		}
		c.m = nil
	}
	sql := strings.TrimSuffix(b.String(), ", ") + " " + eventInsert
	return s.execLast(ctx, sql, append(args, eventTable.args(e)...)...)
}

// countsMoved reports whether ctx's transaction moved counters it has not written yet.
func countsMoved(ctx context.Context) bool {
	c, ok := ctx.Value(countsKey{}).(*counts)
	return ok && len(c.m) > 0
}

var (
	recordSignInGrantSQL = "WITH a AS (" + auditInsert + "), g AS (" + grantInsert + ") " + eventInsert
	// counterUpsertPlain is counterUpsertSQL with ? placeholders.
	counterUpsertPlain = counterTable.plainInsert() + " ON CONFLICT (workspace_id, kind, bucket, shard) DO UPDATE SET n = " + counterMerge
)

// The rows a first sign-in provisions, inserted with fixed statements.
var (
	accountInsert   = accountTable.plainInsert()
	ownedUserInsert = userTable.plainInsert("idp_connection_id", "derived_email")
	provisionSQL    = "WITH u AS (" + ownedUserInsert + ") " + upsertCredentialSQL
	provisionInSQL  = "WITH a AS (" + accountInsert + "), u AS (" + ownedUserInsert + ") " + upsertCredentialSQL
)

// ProvisionedUser is what a just-in-time sign-in provisions: the account (nil when placement
// chose an existing one), the user account, whose profile the connection of its credential
// owns (MarkProfileOwner), and the credential.
type ProvisionedUser struct {
	Account    *models.Account
	User       *models.UserAccount
	Credential *models.Credential
	// DerivedEmail is User's email when the sign-in derived it (the identity provider sent
	// none), else "".
	DerivedEmail string
}

// userValues normalises the user account as Create would and returns the values of
// ownedUserInsert.
func (p *ProvisionedUser) userValues() []any {
	u := p.User
	defaultSCIMData(u)
	if u.Role == "" { // as GORM does: a zero field with a default takes it
		u.Role = defaultUserRole
	}
	return append(userArgs(u), p.Credential.ConnectionID, p.DerivedEmail)
}

// CreateProvisionedUser inserts what a just-in-time sign-in provisions (ProvisionedUser). On
// PostgreSQL it is one statement (a data-modifying CTE; the foreign keys are checked at its
// end); on SQLite, three. The unique violations are those of Create and UpsertCredential.
// p.Credential binds a new account, which the identity rule (models.DecideBind) lets bind
// unless the identity has an owner: the sign-in found none before deciding to provision, and
// one bound since is the identity index's refusal ("identity"), so the plain upsert needs no
// decision of its own. RecordSignIn can write the same rows with the decision's records.
// Errors: ErrAlreadyExists "email", "user_name" or "identity"; ErrMissingReference when a referenced row is gone.
// Run it in a transaction: on SQLite a refused row does not undo the rows before it.
func (s *Store) CreateProvisionedUser(ctx context.Context, p *ProvisionedUser) error {
	userVals := p.userValues()
	if s.dialect != Postgres {
		if p.Account != nil {
			if err := s.exec(ctx, accountInsert, accountTable.args(p.Account)...); err != nil {
				return err
			}
		}
		if err := s.exec(ctx, ownedUserInsert, userVals...); err != nil {
			return err
		}
		if err := s.exec(ctx, upsertCredentialSQL, credentialArgs(p.Credential)...); err != nil {
			return err
		}
	} else {
		sql, args := provisionSQL, userVals
		if p.Account != nil {
			sql, args = provisionInSQL, append(accountTable.args(p.Account), userVals...)
		}
		if err := s.exec(ctx, sql, append(args, credentialArgs(p.Credential)...)...); err != nil {
			return err
		}
	}
	return s.countCreated(ctx, p.User)
}

// FirstSignIn is what the decision of a sign-in that found nobody bound to its identity reads
// before it writes (FirstSignInReads).
type FirstSignIn struct {
	// Connection is the live connection, as Connection reads it.
	Connection *models.Connection
	// EmailTaken: an account of the workspace has the email key (UserAccountByEmail finds it).
	EmailTaken bool
	// Configuration is the brand's configuration for the connection, as
	// IdentityProviderConfiguration reads it; nil when there is none.
	Configuration *models.IdentityProviderConfiguration
}

// FirstSignInReads reads in one query what a first sign-in's decision reads in three:
// Connection(ws, connectionID), whether UserAccountByEmail(ws, emailKey) finds an account (an
// empty key: never), and
// IdentityProviderConfiguration(ws, brandID, connectionID). Two round trips fewer for every
// first sign-in; TestFirstSignInReadsOracle holds it to the three reads.
// Errors: ErrNotFound when the connection is not found (deleted, or in another workspace).
func (s *Store) FirstSignInReads(ctx context.Context, ws, brandID, connectionID uuid.UUID, emailKey string) (*FirstSignIn, error) {
	r := &FirstSignIn{Connection: &models.Connection{}}
	cfg, found := &models.IdentityProviderConfiguration{}, false
	err := s.queryOne(ctx, func(rows *sql.Rows) error {
		dest := connectionTable.dest(r.Connection, &r.EmailTaken)
		return rows.Scan(append(dest, idpConfigurationTable.destOrNull(cfg, &found)...)...)
	}, firstSignInSQL, ws, emailKey, brandID, ws, connectionID)
	if err != nil {
		return nil, err
	}
	connectionTable.scanned(r.Connection)
	if found {
		idpConfigurationTable.scanned(cfg)
		r.Configuration = cfg
	}
	return r, nil
}

// firstSignInSQL: the connection, whether the email is taken (email_key <> ” lets a generic
// plan use the partial unique index; an empty key is never taken) and the configuration.
var firstSignInSQL = "SELECT " + connectionTable.qualified("c") +
	", EXISTS (SELECT 1 FROM user_accounts WHERE workspace_id = ? AND email_key = ? AND email_key <> ''), " +
	idpConfigurationTable.qualified("i") + ` FROM connections c
	LEFT JOIN identity_provider_configurations i ON i.workspace_id = c.workspace_id AND i.brand_id = ? AND i.connection_id = c.id
	WHERE c.workspace_id = ? AND c.id = ? AND c.deleted_at IS NULL LIMIT 1`
