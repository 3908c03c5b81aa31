package provision

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
)

// scimTokenPrefix marks SCIM token values, so a leaked one is recognisable.
const scimTokenPrefix = "scim_"

// CreateSCIMTokenInput creates a SCIM token. Nil Scopes means the default (users:read,
// users:write); nil ExpiresInDays means the token never expires. ConnectionID, when set, binds
// the users the token provisions to that connection with their userName as identifier.
type CreateSCIMTokenInput struct {
	Name          string
	Scopes        []string
	ExpiresInDays *int
	ConnectionID  *string
}

// CreateSCIMToken creates a token and returns it with its plain value, which is never
// available again.
func (s *Service) CreateSCIMToken(ctx context.Context, in CreateSCIMTokenInput) (*models.SCIMToken, string, error) {
	p, err := s.authorize(ctx, accessManageWrite)
	if err != nil {
		return nil, "", err
	}
	var errs models.Errors
	name := strings.TrimSpace(in.Name)
	switch {
	case models.CheckText("name", name) != nil:
		errs = append(errs, models.CheckText("name", name))
	case name == "":
		errs = append(errs, models.FieldError(models.EINVALID, "name", in.Name, "is required"))
	case models.NameTooLong(name):
		errs = append(errs, models.FieldError(models.EINVALID, "name", models.Clip(in.Name, 64), models.MsgNameTooLong))
	}
	scopes := in.Scopes
	if scopes == nil {
		scopes = models.DefaultSCIMScopes
	}
	scopes = models.SplitScopes(strings.Join(scopes, " "))
	if len(scopes) == 0 {
		errs = append(errs, models.FieldError(models.EINVALID, "scopes", "", "must name at least one scope: users:read, users:write, groups:read, groups:write"))
	}
	for _, sc := range scopes {
		if !validSCIMScope(sc) {
			errs = append(errs, models.FieldError(models.EINVALID, "scopes", sc, "is not a SCIM scope (users:read, users:write, groups:read, groups:write)"))
		}
	}
	now := s.now()
	t := &models.SCIMToken{ID: store.NewID(), WorkspaceID: p.WorkspaceID, Name: name,
		ScopeString: strings.Join(scopes, " "), CreatedAt: now, UpdatedAt: now}
	if in.ExpiresInDays != nil {
		d := *in.ExpiresInDays
		if d < 1 || d > 3650 {
			errs = append(errs, models.FieldError(models.EINVALID, "expiresInDays", itoa(d), "must be from 1 to 3650 (omit it for a token that never expires)"))
		}
		exp := now.Add(time.Duration(d) * 24 * time.Hour)
		t.ExpiresAt = &exp
	}
	if len(errs) > 0 {
		return nil, "", errs
	}
	plain := secret.Token(scimTokenPrefix, 32)
	t.TokenHash = secret.Hash(plain)
	t.MaskedValue = plain[:len(scimTokenPrefix)+4] + "...****"
	err = s.mutateAs(ctx, p, scimTokenMutation("scim_token.create", "create scim token"), func(ctx context.Context, p *Principal) (audited, error) {
		if in.ConnectionID != nil && *in.ConnectionID != "" {
			id, e := lookupID("connectionId", *in.ConnectionID, "connection")
			if e != nil {
				return audited{}, e
			}
			// Shared-locked, so that a concurrent DeleteConnection either finds this token and
			// revokes it with the connection, or has deleted the connection already.
			if _, err := s.store.ConnectionForShare(ctx, p.WorkspaceID, id); errors.Is(err, store.ErrNotFound) {
				return audited{}, models.FieldError(models.ENOTFOUND, "connectionId", *in.ConnectionID, "no connection with this id in this workspace")
			} else if err != nil {
				return audited{}, err
			}
			t.ConnectionID = &id
		}
		if err := s.store.Create(ctx, t); err != nil {
			return audited{}, err
		}
		summary := map[string]any{"name": t.Name, "scopes": t.Scopes(), "maskedValue": t.MaskedValue}
		if t.ExpiresAt != nil {
			summary["expiresAt"] = t.ExpiresAt
		}
		return audited{id: t.ID.String(), summary: summary}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return t, plain, nil
}

func validSCIMScope(sc string) bool {
	for _, k := range models.SCIMScopes {
		if sc == k {
			return true
		}
	}
	return false
}

// SCIMTokenFilter narrows SCIMTokens: Status active, revoked or expired; Name a substring.
type SCIMTokenFilter struct {
	Status string
	Name   string
}

// SCIMTokens lists one page (page ≥ 1, 1 ≤ pageSize ≤ 100) of the workspace's tokens, newest
// first, and the total count.
func (s *Service) SCIMTokens(ctx context.Context, f SCIMTokenFilter, page, pageSize int) ([]*models.SCIMToken, int, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, 0, err
	}
	if errs := models.CheckTexts("status", f.Status, "name", f.Name); len(errs) > 0 {
		return nil, 0, errs
	}
	switch f.Status {
	case "", models.SCIMTokenActive, models.SCIMTokenRevoked, models.SCIMTokenExpired:
	default:
		return nil, 0, models.FieldError(models.EINVALID, "status", f.Status, "must be active, revoked or expired")
	}
	page, pageSize = models.ListPage(page, pageSize)
	ts, total, err := s.store.SCIMTokens(ctx, p.WorkspaceID, store.SCIMTokenFilter{Status: f.Status, Name: f.Name},
		s.now(), models.PageOffset(page, pageSize), pageSize)
	return ts, int(total), internal("scim tokens", err)
}

// SCIMToken returns one token of the workspace (code NOT_FOUND when there is none).
func (s *Service) SCIMToken(ctx context.Context, rawID string) (*models.SCIMToken, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, err
	}
	return s.loadSCIMToken(ctx, p.WorkspaceID, rawID)
}

func noSuchSCIMToken(rawID string) *models.Error {
	return models.FieldError(models.ENOTFOUND, "id", rawID, "no SCIM token with this id")
}

func (s *Service) loadSCIMToken(ctx context.Context, ws uuid.UUID, rawID string) (*models.SCIMToken, error) {
	id, e := lookupID("id", rawID, "SCIM token")
	if e != nil {
		return nil, noSuchSCIMToken(rawID)
	}
	t, err := s.store.SCIMToken(ctx, ws, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuchSCIMToken(rawID)
	}
	return t, internal("scim token", err)
}

// scimTokenRevoke is the revocation of a SCIM token, by an admin (RevokeSCIMToken) or with
// its connection (revokeConnectionSCIMTokens): both record the same audit event.
var scimTokenRevoke = scimTokenMutation("scim_token.revoke", "revoke scim token")

// RevokeSCIMToken revokes a token. It stops working at once on this replica and within the
// token cache TTL (2 s) on others. Revoking a revoked token changes nothing.
func (s *Service) RevokeSCIMToken(ctx context.Context, rawID string) (*models.SCIMToken, error) {
	var t *models.SCIMToken
	err := s.mutate(ctx, scimTokenRevoke, func(ctx context.Context, p *Principal) (_ audited, err error) {
		if t, err = s.loadSCIMToken(ctx, p.WorkspaceID, rawID); err != nil {
			return audited{}, err
		}
		changed, err := s.revokeSCIMToken(ctx, t)
		if err != nil || !changed {
			return audited{unchanged: true}, err
		}
		return audited{id: t.ID.String(), summary: map[string]any{"name": t.Name}}, nil
	})
	if t != nil {
		s.scimTokens.forget(t.TokenHash)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// revokeSCIMToken revokes t in the caller's transaction and reports whether it was not
// revoked before. It is the one revocation: the caller records the audit event
// (scimTokenRevoke) and, once committed, forgets t in the token cache.
func (s *Service) revokeSCIMToken(ctx context.Context, t *models.SCIMToken) (bool, error) {
	now := s.now()
	changed, err := s.store.RevokeSCIMToken(ctx, t.WorkspaceID, t.ID, now)
	if err != nil || !changed {
		return false, err
	}
	t.RevokedAt, t.UpdatedAt = &now, now
	return true, nil
}

// revokeConnectionSCIMTokens revokes the tokens tied to connection c, in the transaction that
// deletes c, each with the audit event an admin's revoke records (naming c as the reason). A
// tied token cannot create users without its connection, while its reads would go on: the
// IdP would keep syncing and fail on every new person. Revoked, it gets 401 at once, and the
// admin sees why. It returns the tokens it revoked; the caller forgets them in the token
// cache once committed.
func (s *Service) revokeConnectionSCIMTokens(ctx context.Context, p *Principal, c *models.Connection) ([]*models.SCIMToken, error) {
	ts, err := s.store.SCIMTokensOfConnection(ctx, c.WorkspaceID, c.ID)
	if err != nil {
		return nil, err
	}
	var revoked []*models.SCIMToken
	for _, t := range ts {
		changed, err := s.revokeSCIMToken(ctx, t)
		if err != nil {
			return nil, err
		}
		if !changed {
			continue
		}
		summary := map[string]any{"name": t.Name, "reason": "connection deleted", "connectionId": c.ID.String()}
		if err := s.audit(ctx, p, scimTokenRevoke.action, scimTokenRevoke.target, t.ID.String(), summary); err != nil {
			return nil, err
		}
		revoked = append(revoked, t)
	}
	return revoked, nil
}

// DeleteSCIMToken removes a token and its activity log. The log is deleted first, in batches
// each committed on its own (store.DeleteSCIMTokenActivity), then the token, with what it
// logged meanwhile, in the transaction of its audit event: in one statement, a log of
// 750,000 rows took 1.4-2.9 s on PostgreSQL, and a larger one outlasted the request's timeout
// at every attempt, rolled back, so that the token could never be deleted. A deletion cut short (by the
// request's timeout) leaves the token and what remains of its log; the next one finishes it.
func (s *Service) DeleteSCIMToken(ctx context.Context, rawID string) error {
	m := scimTokenMutation("scim_token.delete", "delete scim token")
	p, err := s.authorize(ctx, m.access)
	if err != nil {
		return err
	}
	t, err := s.loadSCIMToken(ctx, p.WorkspaceID, rawID)
	if err != nil {
		return err
	}
	if _, err := s.store.DeleteSCIMTokenActivity(ctx, p.WorkspaceID, t.ID); err != nil {
		return m.failure(err)
	}
	err = s.mutateAs(ctx, p, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		if t, err = s.loadSCIMToken(ctx, p.WorkspaceID, rawID); err != nil {
			return audited{}, err
		}
		// A concurrent deletion may have deleted it since it was read (PostgreSQL): then this
		// one deleted nothing, records nothing, and says so, as it would after it.
		deleted, err := s.store.DeleteSCIMToken(ctx, p.WorkspaceID, t.ID)
		if err != nil {
			return audited{}, err
		}
		if !deleted {
			return audited{}, noSuchSCIMToken(rawID)
		}
		return audited{id: t.ID.String(), summary: map[string]any{"name": t.Name}}, nil
	})
	if t != nil {
		s.scimTokens.forget(t.TokenHash)
	}
	return err
}

// scimTokenMutation is a change of a SCIM token.
func scimTokenMutation(action, op string) mutation {
	return mutation{access: accessManageWrite, action: action, target: "scim_token", op: op}
}

// SCIMCaller is an identity provider authenticated with a SCIM token.
type SCIMCaller struct {
	Token *models.SCIMToken
}

type scimCallerKey struct{}

// WithSCIMCaller returns a context carrying the SCIM caller (and the matching Principal for
// the audit log).
func WithSCIMCaller(ctx context.Context, c *SCIMCaller) context.Context {
	ctx = context.WithValue(ctx, scimCallerKey{}, c)
	return WithPrincipal(ctx, &Principal{ClientID: c.Token.ID.String(), WorkspaceID: c.Token.WorkspaceID,
		Scopes: c.Token.Scopes(), ActorType: "scim_token"})
}

func scimCallerFrom(ctx context.Context) *SCIMCaller {
	c, _ := ctx.Value(scimCallerKey{}).(*SCIMCaller)
	return c
}

// AuthenticateSCIMToken verifies a SCIM bearer token: unknown, revoked and expired tokens all
// fail with the same UNAUTHENTICATED error.
func (s *Service) AuthenticateSCIMToken(ctx context.Context, plain string) (*SCIMCaller, error) {
	t, err := s.scimTokenOf(ctx, plain)
	if err != nil {
		return nil, err
	}
	if t == nil || t.Status(s.now()) != models.SCIMTokenActive {
		return nil, models.Errorf(models.EUNAUTHENTICATED, "invalid, revoked or expired SCIM token")
	}
	return &SCIMCaller{Token: t}, nil
}

// scimTokenOf returns the token whose plain value this is, whatever its status, or nil.
func (s *Service) scimTokenOf(ctx context.Context, plain string) (*models.SCIMToken, error) {
	if !strings.HasPrefix(plain, scimTokenPrefix) || len(plain) > 256 {
		return nil, nil
	}
	hash := secret.Hash(plain)
	t, err := s.scimTokens.get(ctx, hash, func(ctx context.Context) (*models.SCIMToken, error) {
		return s.store.SCIMTokenByHash(ctx, hash)
	})
	if err != nil {
		return nil, internal("authenticate scim token", err)
	}
	if t == nil || !secret.Equal(plain, t.TokenHash) {
		return nil, nil
	}
	return t, nil
}

// RecordSCIMRefusal records a request refused (401) because its token, which exists, was
// revoked or has expired: an IdP still using a rotated-out token then shows in the workspace's
// activity log and error count. Unknown tokens belong to no workspace and are not recorded.
func (s *Service) RecordSCIMRefusal(ctx context.Context, plain, op, resourceType, resourceID string, status int) {
	t, err := s.scimTokenOf(ctx, plain)
	if err != nil || t == nil {
		return
	}
	st := t.Status(s.now())
	if st == models.SCIMTokenActive {
		return
	}
	s.RecordSCIMFailure(WithSCIMCaller(ctx, &SCIMCaller{Token: t}), op, resourceType, resourceID, status,
		models.Errorf(models.EUNAUTHENTICATED, "the SCIM token is %s", st))
}

// authorizeSCIM returns the SCIM caller if its token holds scope; otherwise FORBIDDEN.
func (s *Service) authorizeSCIM(ctx context.Context, scope string) (*SCIMCaller, error) {
	c := scimCallerFrom(ctx)
	if c == nil {
		return nil, models.Errorf(models.EUNAUTHENTICATED, "a SCIM token is required")
	}
	for _, sc := range c.Token.Scopes() {
		if sc == scope {
			return c, nil
		}
	}
	return nil, models.Errorf(models.EFORBIDDEN, "the SCIM token lacks the %s scope", scope)
}

// SCIMActivityFilter narrows SCIMActivities; empty fields do not filter.
type SCIMActivityFilter struct {
	Operation    string
	ResourceType string
	Status       string
	StartDate    string // ISO 8601 date or date-time, inclusive
	EndDate      string // ISO 8601 date (inclusive: the whole day) or date-time (exclusive)
}

// SCIMActivities lists one page of the workspace's SCIM activity, newest first, and the total.
func (s *Service) SCIMActivities(ctx context.Context, f SCIMActivityFilter, page, pageSize int) ([]*models.SCIMActivity, int, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, 0, err
	}
	var errs models.Errors
	check := func(field, v string, allowed ...string) {
		if v == "" {
			return
		}
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		errs = append(errs, models.FieldError(models.EINVALID, field, v, "must be one of "+strings.Join(allowed, ", ")))
	}
	check("operation", f.Operation, models.SCIMOpCreate, models.SCIMOpUpdate, models.SCIMOpDelete, models.SCIMOpRead)
	check("resourceType", f.ResourceType, models.SCIMResourceUser, models.SCIMResourceGroup)
	check("status", f.Status, models.SCIMStatusSuccess, models.SCIMStatusError)
	sf := store.SCIMActivityFilter{Operation: f.Operation, ResourceType: f.ResourceType, Status: f.Status}
	if f.StartDate != "" {
		t, _, err := parseISODate(f.StartDate)
		if err != nil {
			errs = append(errs, models.FieldError(models.EINVALID, "startDate", f.StartDate, "must be an ISO 8601 date (2025-01-15) or date-time (2025-01-15T10:00:00Z)"))
		}
		t = clampISODate(t)
		sf.Start = &t
	}
	if f.EndDate != "" {
		t, dateOnly, err := parseISODate(f.EndDate)
		if err != nil {
			errs = append(errs, models.FieldError(models.EINVALID, "endDate", f.EndDate, "must be an ISO 8601 date (2025-01-15) or date-time (2025-01-15T10:00:00Z)"))
		}
		if dateOnly {
			t = t.Add(24 * time.Hour)
		}
		t = clampISODate(t)
		sf.End = &t
	}
	if len(errs) > 0 {
		return nil, 0, errs
	}
	page, pageSize = models.ListPage(page, pageSize)
	as, total, err := s.store.SCIMActivities(ctx, p.WorkspaceID, sf, models.PageOffset(page, pageSize), pageSize)
	return as, int(total), internal("scim activities", err)
}

// lastISOMoment is the last moment with a four-digit year. A bound after it (the day after
// 9999-12-31, or a date-time whose offset moves it into year 10000) means the same as this
// moment: no row is that late. SQLite compares times as text, where a five-digit year sorts
// before 2025, so such a bound passed on would select the opposite rows there than on PostgreSQL.
var lastISOMoment = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)

func clampISODate(t time.Time) time.Time {
	if t.After(lastISOMoment) {
		return lastISOMoment
	}
	return t
}

func parseISODate(v string) (t time.Time, dateOnly bool, err error) {
	if t, err = time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), false, nil
	}
	t, err = time.Parse(time.DateOnly, v)
	return t, true, err
}

// SCIMStatistics summarises the workspace's SCIM sync health.
func (s *Service) SCIMStatistics(ctx context.Context) (*models.SCIMStatistics, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, err
	}
	st, err := s.store.SCIMStatistics(ctx, p.WorkspaceID, s.now())
	return st, internal("scim statistics", err)
}

// PruneSCIMActivities deletes activity older than the retention period.
func (s *Service) PruneSCIMActivities(ctx context.Context, retention time.Duration) (int64, error) {
	return s.pruneLog(ctx, "SCIM activity", retention, s.store.PruneSCIMActivities)
}

// pruneLog deletes the entries of a log kept for retention (prune, given the cutoff) that are
// older than it. A retention that is not positive is a misconfiguration, not a request to
// delete the whole log.
func (s *Service) pruneLog(ctx context.Context, log string, retention time.Duration,
	prune func(ctx context.Context, before time.Time) (int64, error)) (int64, error) {
	if retention <= 0 {
		return 0, models.Errorf(models.EINVALID, "the %s retention must be positive, not %s", log, retention)
	}
	n, err := prune(ctx, s.now().Add(-retention))
	return n, internal("prune "+log, err)
}

// ReconcileSCIMCounts recomputes the user and group counters behind the statistics from the
// tables, correcting drift from writers that bypass the store's Create.
func (s *Service) ReconcileSCIMCounts(ctx context.Context) error {
	return internal("reconcile scim counts", s.store.ReconcileCounts(ctx))
}

// scimActivity builds an activity row of the caller's token.
func (s *Service) scimActivity(c *SCIMCaller, op, resourceType, resourceID string, cause error, details map[string]any) *models.SCIMActivity {
	// The id of a failed request comes from its path as sent: one that breaks the input text
	// rule names no resource and is not kept (PostgreSQL cannot store NUL, an admin's screen
	// would render a bidi override).
	if models.CheckText("id", resourceID) != nil {
		resourceID = ""
	}
	a := &models.SCIMActivity{ID: store.NewID(), WorkspaceID: c.Token.WorkspaceID, TokenID: &c.Token.ID,
		Operation: op, ResourceType: resourceType, ResourceID: resourceID, Status: models.SCIMStatusSuccess,
		Details: "{}", CreatedAt: s.now()}
	if cause != nil {
		a.Status = models.SCIMStatusError
		a.ErrorMessage = models.Clip(models.FieldMessage(cause), 500)
	}
	if len(details) > 0 {
		if b, err := json.Marshal(details); err == nil {
			a.Details = string(b)
		}
	}
	return a
}

// RecordSCIMFailure records a failed SCIM request in its own transaction: the change it
// attempted was rolled back, the record of the attempt is kept. Requests without a valid
// token are not recorded (they belong to no workspace).
func (s *Service) RecordSCIMFailure(ctx context.Context, op, resourceType, resourceID string, status int, cause error) {
	c := scimCallerFrom(ctx)
	if c == nil {
		return
	}
	a := s.scimActivity(c, op, resourceType, resourceID, cause, map[string]any{"httpStatus": status})
	if err := s.store.Create(context.WithoutCancel(ctx), a); err != nil {
		s.logWriteFailure(ctx, "scim: record failed request", err, "workspace_id", c.Token.WorkspaceID)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
