package store

import (
	"context"
	"database/sql"
	"errors"
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

// UpdateApplication saves an application's name, redirect URIs and secret if its version is
// still a.Version, then bumps it.
// Errors: ErrStale when the version moved or the application is gone.
func (s *Store) UpdateApplication(ctx context.Context, a *models.Application) error {
	now := s.now()
	res := s.scoped(ctx, a.WorkspaceID).Model(&models.Application{}).Where("id = ? AND version = ?", a.ID, a.Version).
		Updates(map[string]any{"name": a.Name, "redirect_uris": a.RedirectURIsJSON, "secret_hash": a.SecretHash,
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
// bound to the browser whose cookie hashes to browserHash, unanswered and unexpired, and
// returns it. Anything else is ErrNotFound: a replayed, tampered, expired or stolen state.
// Errors: ErrNotFound, as above.
func (s *Store) ClaimFlow(ctx context.Context, stateHash, browserHash string, now time.Time) (*models.SignInFlow, error) {
	return s.queryFlow(ctx, `UPDATE sign_in_flows SET claimed_at = ?
		WHERE upstream_state_hash = ? AND browser_hash = ? AND claimed_at IS NULL AND expires_at > ? RETURNING `+flowList,
		now, stateHash, browserHash, now)
}

// FlowByUpstreamState finds a flow by the hash of its upstream state, whatever its state (to
// explain a refused callback).
// Errors: ErrNotFound when no row matches.
func (s *Store) FlowByUpstreamState(ctx context.Context, stateHash string) (*models.SignInFlow, error) {
	return s.queryFlow(ctx, "SELECT "+flowList+" FROM sign_in_flows WHERE upstream_state_hash = ? LIMIT 1", stateHash)
}

// queryFlow runs a statement returning flowColumns and scans its first row by hand (GORM's
// reflective Scan cost more than the statement); no row is ErrNotFound.
func (s *Store) queryFlow(ctx context.Context, q string, args ...any) (*models.SignInFlow, error) {
	f := &models.SignInFlow{}
	err := s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(flowFields(f)...) }, q, args...)
	if err != nil {
		return nil, err
	}
	utcFlow(f)
	return f, nil
}

// flowFields are the scan destinations of flowColumns in f.
func flowFields(f *models.SignInFlow) []any {
	return []any{&f.ID, &f.WorkspaceID, &f.ApplicationID, &f.BrandID, &f.ConnectionID, &f.BrowserHash,
		&f.ClientID, &f.RedirectURI, &f.Scope, &f.State, &f.Nonce, &f.CodeChallenge, &f.UpstreamStateHash,
		&f.UpstreamNonce, &f.UpstreamVerifierEnc, &f.UpstreamRequestID, &f.RequestID, &f.Test, &f.ClaimedAt,
		&f.ExpiresAt, &f.CreatedAt}
}

// utcFlow makes a scanned flow's times UTC.
func utcFlow(f *models.SignInFlow) {
	f.ClaimedAt, f.ExpiresAt, f.CreatedAt = utcPtr(f.ClaimedAt), f.ExpiresAt.UTC(), f.CreatedAt.UTC()
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

// queryGrant is queryFlow for grantColumns.
func (s *Store) queryGrant(ctx context.Context, q string, args ...any) (*models.Grant, error) {
	g := &models.Grant{}
	err := s.queryOne(ctx, func(rows *sql.Rows) error {
		return rows.Scan(&g.ID, &g.WorkspaceID, &g.ApplicationID, &g.ClientID, &g.CodeHash, &g.RedirectURI,
			&g.CodeChallenge, &g.Scope, &g.Nonce, &g.UserAccountID, &g.Claims, &g.AuthTime, &g.ExpiresAt, &g.RedeemedAt,
			&g.RevokedAt, &g.CreatedAt)
	}, q, args...)
	if err != nil {
		return nil, err
	}
	g.AuthTime, g.ExpiresAt, g.CreatedAt = g.AuthTime.UTC(), g.ExpiresAt.UTC(), g.CreatedAt.UTC()
	g.RedeemedAt, g.RevokedAt = utcPtr(g.RedeemedAt), utcPtr(g.RevokedAt)
	return g, nil
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

// RedeemGrant marks the grant of a code redeemed, if it is unredeemed, unrevoked and
// unexpired, and returns it. A code that exists but was redeemed already is a replay: the
// grant is revoked (so the tokens the first redemption issued stop working) and the returned
// error is ErrStale. Anything else is ErrNotFound.
// Errors: ErrStale (a replay) and ErrNotFound, as above.
func (s *Store) RedeemGrant(ctx context.Context, codeHash string, now time.Time) (*models.Grant, error) {
	g, err := s.queryGrant(ctx, `UPDATE grants SET redeemed_at = ?
		WHERE code_hash = ? AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > ? RETURNING `+grantList,
		now, codeHash, now)
	if !errors.Is(err, ErrNotFound) {
		return g, err
	}
	res := s.db(ctx).Model(&models.Grant{}).Where("code_hash = ? AND redeemed_at IS NOT NULL", codeHash).
		Update("revoked_at", now)
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if res.RowsAffected > 0 {
		return nil, ErrStale
	}
	return nil, ErrNotFound
}

// Grant finds a grant by id within a workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) Grant(ctx context.Context, ws, id uuid.UUID) (*models.Grant, error) {
	var g models.Grant
	if err := first(s.scoped(ctx, ws).Where("id = ?", id), &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// PruneSignInState deletes flows that expired before cutoff (ix_sign_in_flows_expires) and
// grants created before grantCutoff (ix_grants_created: a code expires a minute after it is
// created, so those expired even earlier; one index fewer on the table every sign-in writes).
// Errors: none of the contract.
func (s *Store) PruneSignInState(ctx context.Context, cutoff, grantCutoff time.Time) (int64, error) {
	db := s.db(ctx)
	r1 := db.Where("expires_at < ?", cutoff).Delete(&models.SignInFlow{})
	if r1.Error != nil {
		return 0, translate(r1.Error)
	}
	r2 := db.Where("created_at < ?", grantCutoff).Delete(&models.Grant{})
	if r2.Error != nil {
		return 0, translate(r2.Error)
	}
	return r1.RowsAffected + r2.RowsAffected, nil
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
	q := s.scoped(ctx, ws).Model(&models.SignInEvent{})
	if f.ConnectionID != nil {
		q = q.Where("connection_id = ?", *f.ConnectionID)
	}
	if f.BrandID != nil {
		q = q.Where("brand_id = ?", *f.BrandID)
	}
	if f.Outcome != "" {
		q = q.Where("outcome = ?", f.Outcome)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, translate(err)
	}
	var es []*models.SignInEvent
	err := q.Order("created_at DESC, id DESC").Offset(offset).Limit(limit).Find(&es).Error
	return es, total, translate(err)
}

// RevokeGrant revokes a grant (its access token stops working at userinfo).
// Errors: none of the contract; a missing grant is no error.
func (s *Store) RevokeGrant(ctx context.Context, id uuid.UUID, now time.Time) error {
	return translate(s.db(ctx).Model(&models.Grant{}).Where("id = ?", id).Update("revoked_at", now).Error)
}

// MarkProfileOwner records that the connection owns the account's profile (JIT created it).
// Errors: none of the contract; a missing account is no error.
func (s *Store) MarkProfileOwner(ctx context.Context, ws, userID, connectionID uuid.UUID) error {
	return translate(s.scoped(ctx, ws).Model(&models.UserAccount{}).Where("id = ?", userID).
		UpdateColumn("idp_connection_id", connectionID).Error)
}

// RefreshOwnedProfile sets the names and email of u from its identity provider's claims, in
// one statement that changes nothing unless the connection owns the profile, a value differs,
// and no other account has the email. It reports whether the row changed (u is updated then).
// Errors: none of the contract; no change reports false.
func (s *Store) RefreshOwnedProfile(ctx context.Context, u *models.UserAccount, connectionID uuid.UUID, first, last, email string) (bool, error) {
	now := s.now()
	key := models.Key(email)
	emailType := models.EmailTypeFor(u.SCIMData, email, u.EmailType) // as u.SetEmail
	res := s.scoped(ctx, u.WorkspaceID).Model(&models.UserAccount{}).
		Where("id = ? AND idp_connection_id = ? AND (first_name <> ? OR last_name <> ? OR email <> ?)", u.ID, connectionID, first, last, email).
		Where("NOT EXISTS (SELECT 1 FROM user_accounts o WHERE o.workspace_id = ? AND o.email_key = ? AND o.id <> ?)", u.WorkspaceID, key, u.ID).
		UpdateColumns(map[string]any{"first_name": first, "last_name": last, "email": email, "email_key": key,
			"email_type": emailType, "version": gorm.Expr("version + 1"), "updated_at": now})
	if res.Error != nil {
		return false, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	u.FirstName, u.LastName, u.Email, u.EmailKey, u.Version, u.UpdatedAt = first, last, email, key, u.Version+1, now
	u.EmailType = emailType
	return true, nil
}

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
	return s.identityUser(ctx, `JOIN credentials ON credentials.user_account_id = user_accounts.id
		JOIN connections ON connections.id = credentials.connection_id AND connections.workspace_id = credentials.workspace_id
		WHERE credentials.workspace_id = ? AND credentials.connection_id = ? AND credentials.identifier_key = ?
		AND connections.status = ? AND connections.deleted_at IS NULL LIMIT 1`,
		ws, connectionID, identifierKey, string(models.StatusActive))
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

// The rows every browser sign-in writes are inserted with fixed statements: GORM's reflective
// Create costs more than the insert itself. The column lists name every column of the models
// (TestSignInInsertsCoverTheModels checks them against GORM's schema).
var (
	flowColumns = []string{"id", "workspace_id", "application_id", "brand_id", "connection_id", "browser_hash",
		"client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "upstream_state_hash",
		"upstream_nonce", "upstream_verifier_enc", "upstream_request_id", "request_id", "test", "claimed_at",
		"expires_at", "created_at"}
	grantColumns = []string{"id", "workspace_id", "application_id", "client_id", "code_hash", "redirect_uri",
		"code_challenge", "scope", "nonce", "user_account_id", "claims", "auth_time", "expires_at", "redeemed_at",
		"revoked_at", "created_at"}
	eventColumns = []string{"id", "workspace_id", "application_id", "client_id", "brand_id", "connection_id",
		"connection_slug", "identifier", "outcome", "reason", "cause", "request_id", "test", "created_at"}
	auditColumns = []string{"id", "workspace_id", "actor_type", "actor_id", "action", "target_type", "target_id",
		"summary", "created_at"}
	flowList    = strings.Join(flowColumns, ", ")
	grantList   = strings.Join(grantColumns, ", ")
	flowInsert  = plainInsert("sign_in_flows", flowColumns)
	auditInsert = plainInsert("audit_events", auditColumns)
	grantInsert = plainInsert("grants", grantColumns)
	eventInsert = plainInsert("sign_in_events", eventColumns)
)

// plainInsert is an INSERT of cols with ? placeholders (exec numbers them for PostgreSQL).
func plainInsert(table string, cols []string) string {
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(cols)-1) + ")"
}

// exec runs one statement written with ? placeholders on the transaction or pool of ctx.
func (s *Store) exec(ctx context.Context, sql string, args ...any) error {
	if s.dialect == Postgres {
		sql = pgPlaceholders(sql)
		args = pgArgs(args)
	}
	_, err := s.db(ctx).Statement.ConnPool.ExecContext(ctx, sql, args...)
	return translate(err)
}

// CreateFlow inserts a sign-in flow.
// Errors: ErrAlreadyExists "id" or "upstream_state".
func (s *Store) CreateFlow(ctx context.Context, f *models.SignInFlow) error {
	return s.exec(ctx, flowInsert, f.ID, f.WorkspaceID, f.ApplicationID, f.BrandID, f.ConnectionID, f.BrowserHash,
		f.ClientID, f.RedirectURI, f.Scope, f.State, f.Nonce, f.CodeChallenge, f.UpstreamStateHash,
		f.UpstreamNonce, f.UpstreamVerifierEnc, f.UpstreamRequestID, f.RequestID, f.Test, f.ClaimedAt,
		f.ExpiresAt, f.CreatedAt)
}

// CreateGrant inserts a grant.
// Errors: ErrAlreadyExists "id" or "code".
func (s *Store) CreateGrant(ctx context.Context, g *models.Grant) error {
	return s.exec(ctx, grantInsert, grantArgs(g)...)
}

func grantArgs(g *models.Grant) []any {
	return []any{g.ID, g.WorkspaceID, g.ApplicationID, g.ClientID, g.CodeHash, g.RedirectURI,
		g.CodeChallenge, g.Scope, g.Nonce, g.UserAccountID, g.Claims, g.AuthTime, g.ExpiresAt, g.RedeemedAt,
		g.RevokedAt, g.CreatedAt}
}

// CreateSignInEvent inserts a sign-in event.
// Errors: ErrAlreadyExists "id".
func (s *Store) CreateSignInEvent(ctx context.Context, e *models.SignInEvent) error {
	return s.exec(ctx, eventInsert, eventArgs(e)...)
}

func eventArgs(e *models.SignInEvent) []any {
	return []any{e.ID, e.WorkspaceID, e.ApplicationID, e.ClientID, e.BrandID, e.ConnectionID,
		e.ConnectionSlug, e.Identifier, e.Outcome, e.Reason, e.Cause, e.RequestID, e.Test, e.CreatedAt}
}

// CreateAuditEvent inserts an audit event with a fixed statement (every sign-in writes one).
// Errors: ErrAlreadyExists "id"; ErrMissingReference when the workspace is gone.
func (s *Store) CreateAuditEvent(ctx context.Context, e *models.AuditEvent) error {
	return s.exec(ctx, auditInsert, auditArgs(e)...)
}

func auditArgs(e *models.AuditEvent) []any {
	return []any{e.ID, e.WorkspaceID, e.ActorType, e.ActorID, e.Action, e.TargetType, e.TargetID, e.Summary, e.CreatedAt}
}

// RecordSignIn writes what a browser sign-in's decision leads to: its audit event, its grant
// (nil when refused) and its sign-in event. On PostgreSQL it is one statement (a
// data-modifying CTE, as BindCredential): one round trip instead of three; on SQLite, where a
// round trip is a function call, three statements in a transaction (the caller's, if any).
// Either way the three rows commit together, so a decision that wrote nothing else needs no
// transaction of its own around it (provision's returning fast path).
// Errors: those of CreateAuditEvent, CreateGrant and CreateSignInEvent; nothing is written then.
func (s *Store) RecordSignIn(ctx context.Context, a *models.AuditEvent, g *models.Grant, e *models.SignInEvent) error {
	if s.dialect != Postgres {
		return s.InTx(ctx, func(ctx context.Context) error {
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
	args := auditArgs(a)
	sql := recordSignInSQL
	if g != nil {
		args = append(args, grantArgs(g)...)
		sql = recordSignInGrantSQL
	}
	args = append(args, eventArgs(e)...)
	return s.exec(ctx, sql, args...)
}

var (
	recordSignInSQL      = "WITH a AS (" + auditInsert + ") " + eventInsert
	recordSignInGrantSQL = "WITH a AS (" + auditInsert + "), g AS (" + grantInsert + ") " + eventInsert
)

// The rows a first sign-in provisions, inserted with fixed statements.
var (
	accountColumns  = []string{"id", "workspace_id", "name", "type", "company_id", "created_at", "updated_at"}
	accountInsert   = plainInsert("accounts", accountColumns)
	ownedUserInsert = plainInsert("user_accounts", append(append([]string(nil), userColumnList...), "idp_connection_id", "derived_email"))
	provisionSQL    = "WITH u AS (" + ownedUserInsert + ") " + upsertCredentialSQL
	provisionInSQL  = "WITH a AS (" + accountInsert + "), u AS (" + ownedUserInsert + ") " + upsertCredentialSQL
)

// CreateProvisionedUser inserts what a just-in-time sign-in provisions: the account a (nil
// when placement chose an existing one), the user account u, whose profile the connection of
// its credential c owns (MarkProfileOwner), and c. derivedEmail is u's email when the sign-in
// derived it (the identity provider sent none), else "". On PostgreSQL it is one statement (a
// data-modifying CTE; the foreign keys are checked at its end); on SQLite, three. The
// unique violations are those of Create and UpsertCredential.
// Errors: ErrAlreadyExists "email", "user_name" or "identity"; ErrMissingReference when a referenced row is gone.
// Run it in a transaction: on SQLite a refused row does not undo the rows before it.
func (s *Store) CreateProvisionedUser(ctx context.Context, a *models.Account, u *models.UserAccount, c *models.Credential, derivedEmail string) error {
	defaultSCIMData(u)
	if u.Role == "" { // as GORM does: a zero field with a default takes it
		u.Role = defaultUserRole
	}
	userVals := append(userArgs(u), c.ConnectionID, derivedEmail)
	if s.dialect != Postgres {
		if a != nil {
			if err := s.exec(ctx, accountInsert, accountArgs(a)...); err != nil {
				return err
			}
		}
		if err := s.exec(ctx, ownedUserInsert, userVals...); err != nil {
			return err
		}
		if err := s.exec(ctx, upsertCredentialSQL, credentialArgs(c)...); err != nil {
			return err
		}
	} else {
		sql, args := provisionSQL, userVals
		if a != nil {
			sql, args = provisionInSQL, append(accountArgs(a), userVals...)
		}
		if err := s.exec(ctx, sql, append(args, credentialArgs(c)...)...); err != nil {
			return err
		}
	}
	return s.countCreated(ctx, u)
}

func accountArgs(a *models.Account) []any {
	return []any{a.ID, a.WorkspaceID, a.Name, a.Type, a.CompanyID, a.CreatedAt, a.UpdatedAt}
}
