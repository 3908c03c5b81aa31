// Package provision is Gatehouse's service layer: every business rule lives here exactly once —
// validation, authorization (scopes and workspace), identity binding, lifecycle rules and audit.
// GraphQL, REST, SCIM, OAuth and SSO are thin transports over it. It must never import
// net/http, gorm, gqlgen, saml or oidc packages; persistence goes through package store.
package provision

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"gatehouse/cache"
	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/telemetry/reqinfo"
)

// Service is the service layer. It is safe for concurrent use.
type Service struct {
	store   *store.Store
	box     *secret.Box
	clock   clock.Clock
	now     func() time.Time // the clock, in UTC
	caches  *cache.Group
	log     *slog.Logger
	clients *credentialCache[models.IntegrationClient]
	// revokedTokens caches revoked-access-token lookups by jti (tokens.go).
	revokedTokens *credentialCache[models.RevokedToken]
	// bulkSlots bounds the bulk operations running at once (memory, not correctness).
	bulkSlots chan struct{}
	// scimTokens caches SCIM token lookups (2 s; revocation drops the entry at once).
	scimTokens *credentialCache[models.SCIMToken]
	// applications caches brand applications by client_id for the authorize and token
	// endpoints (2 s, like clients).
	applications *credentialCache[models.Application]
	// connections caches the connections browser sign-in routes to (see routeConnection).
	connections *credentialCache[models.Connection]
	// brands and verifiedDomains cache what every browser sign-in reads and admins rarely
	// change: a brand's workspace, and whether an email domain is verified for a connection.
	brands          *credentialCache[models.Brand]
	verifiedDomains *credentialCache[bool]
	// AllowPrivateNetworks permits http:// IdP URLs on loopback hosts (development and tests).
	allowPrivate bool
	sso          ssoOptions
	observer     Observer
	// spKeyCache keeps the decrypted SAML SP keys (samlsp.go).
	spKeyCache spKeyCache
	// failureRefreshes holds the SAML connections whose metadata a failed response had read
	// lately (RefreshSAMLCertificatesAfterFailure), for failureRefreshEvery.
	failureRefreshes *cache.Cache[uuid.UUID, struct{}]
	// signingKeysChanged is told of a signing key rotation step taken here (signing_keys.go).
	signingKeysChanged atomic.Pointer[func()]
	// signingKeyMaking serializes EnsureSigningKey on this replica: callers that find no key
	// of an algorithm at once make one RSA key between them, not one each.
	signingKeyMaking sync.Mutex
}

// Options configure a Service.
type Options struct {
	Logger *slog.Logger
	Clock  clock.Clock // the one clock; clock.Real by default
	// Caches, when set, collects the service's caches for metrics (transports add theirs).
	Caches               *cache.Group
	AllowPrivateNetworks bool
	// ClientCacheTTL bounds how long a revoked client's tokens keep working (default 2 s).
	ClientCacheTTL time.Duration
	// Remote reaches identity providers and domains (connection tests, domain verification)
	// and renders SAML metadata. Without it those operations fail with an internal error.
	Remote Remote
	// PublicURL is GATEHOUSE_PUBLIC_URL: the base of the SAML entity ID and ACS URL.
	PublicURL string
	// NetworkTimeout bounds one connection test or domain check (default 10 s).
	NetworkTimeout time.Duration
	// Outside runs wait, a call an admin's request makes to another service (a connection
	// test, a SAML metadata fetch, a domain check), with the request's admission slots given
	// back meanwhile, and reports whether they were taken again (guard.Outside; nil: wait
	// just runs). provision cannot import guard, which knows its errors.
	Outside func(ctx context.Context, wait func()) bool
	// OutsideWaits bounds the calls of one workspace's admins that Outside runs at once
	// (0: no bound); past it, such an operation is unavailable at once.
	OutsideWaits int
	// Observer is told the outcome of decisions, for metrics; nil tells nobody.
	Observer Observer
}

// Observer is told the outcome of the service's decisions, for metrics (telemetry.Metrics
// implements it). Its methods must be fast and must not block.
type Observer interface {
	// SignIn is called once per SignIn call with the decision's SignInOutcome, or "error"
	// when no decision was reached.
	SignIn(outcome string)
}

type noObserver struct{}

func (noObserver) SignIn(string) {}

// New builds the service over a migrated store and the at-rest encryption box.
func New(st *store.Store, box *secret.Box, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.Caches == nil {
		o.Caches = cache.NewGroup()
	}
	if o.ClientCacheTTL == 0 {
		o.ClientCacheTTL = 2 * time.Second
	}
	clk := o.Clock
	// In microseconds, PostgreSQL's precision: a time an answer shows when it is written reads
	// back the same later, on either database (a connection's createdAt, a SCIM meta.created).
	now := func() time.Time { return clk.Now().UTC().Truncate(time.Microsecond) }
	if o.NetworkTimeout <= 0 {
		o.NetworkTimeout = 10 * time.Second
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	g, ttl := o.Caches, o.ClientCacheTTL
	return &Service{store: st, box: box, clock: clk, now: now, caches: g, log: o.Logger, observer: o.Observer,
		clients: newCredentialCache[models.IntegrationClient](g, "integration_clients", ttl, clk), allowPrivate: o.AllowPrivateNetworks,
		sso: ssoOptions{remote: o.Remote, publicURL: strings.TrimRight(o.PublicURL, "/"), timeout: o.NetworkTimeout,
			outside: o.Outside, away: &awayCounts{max: o.OutsideWaits, n: map[uuid.UUID]int{}}},
		bulkSlots:       make(chan struct{}, 4),
		revokedTokens:   newCredentialCache[models.RevokedToken](g, "revoked_tokens", ttl, clk),
		scimTokens:      newCredentialCache[models.SCIMToken](g, "scim_tokens", ttl, clk),
		applications:    newCredentialCache[models.Application](g, "applications", ttl, clk),
		connections:     newCredentialCache[models.Connection](g, "connections", ttl, clk),
		brands:          newCredentialCache[models.Brand](g, "brands", ttl, clk),
		verifiedDomains: newCredentialCache[bool](g, "verified_domains", ttl, clk),
		spKeyCache:      newSPKeyCache(g, clk),
		failureRefreshes: cache.New[uuid.UUID, struct{}](g, "saml_failure_refreshes",
			cache.Options{MaxEntries: 10_000, TTL: failureRefreshEvery, Clock: clk})}
}

// Clock is the service's clock: transports read the time through it.
func (s *Service) Clock() clock.Clock { return s.clock }

// Caches is the group the service's caches are in; transports add theirs to it, so that one
// collector exports them all.
func (s *Service) Caches() *cache.Group { return s.caches }

// Principal is the authenticated caller.
type Principal struct {
	ClientID      string
	WorkspaceID   uuid.UUID
	Scopes        []string
	PlatformAdmin bool
	// ActorType is what the audit log records: "client" for integration clients.
	ActorType string
}

// Has reports whether the principal holds scope.
func (p *Principal) Has(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns a context carrying the authenticated caller. Every transport
// authenticates through it, so it is also where the request's access-log record learns the
// caller.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	reqinfo.From(ctx).SetCaller(p.ClientID, p.WorkspaceID)
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller carried by ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// access is a kind of operation; each maps to the scopes that allow it.
type access int

const (
	accessRead  access = iota // GraphQL queries: graphql or graphql:read
	accessWrite               // GraphQL mutations: graphql
	accessAdmin               // clients, workspaces, the REST admin API: admin
	// accessManage is connection and domain management, open to the GraphQL API and to the
	// admin scope the REST API requires.
	accessManageRead
	accessManageWrite
)

var accessScopes = map[access][]string{
	accessRead:        {models.ScopeGraphQL, models.ScopeGraphQLRead},
	accessWrite:       {models.ScopeGraphQL},
	accessAdmin:       {models.ScopeAdmin},
	accessManageRead:  {models.ScopeGraphQL, models.ScopeGraphQLRead, models.ScopeAdmin},
	accessManageWrite: {models.ScopeGraphQL, models.ScopeAdmin},
}

// seesCauses reports whether p may read the private causes of sign-in failures (a sign-in
// event's cause, a test sign-in's): only a client that may manage the workspace
// (accessManageWrite: graphql, admin), its administrator. A read-only one (graphql:read: a
// dashboard, a reporting job) reads what the person was shown, as a public page does.
func seesCauses(p *Principal) bool {
	return slices.ContainsFunc(accessScopes[accessManageWrite], p.Has)
}

// authorize returns the caller if it holds one of the scopes the access needs.
func (s *Service) authorize(ctx context.Context, a access) (*Principal, error) {
	p := PrincipalFrom(ctx)
	if p == nil {
		return nil, models.Errorf(models.EUNAUTHENTICATED, "authentication required")
	}
	for _, want := range accessScopes[a] {
		if p.Has(want) {
			return p, nil
		}
	}
	if want := accessScopes[a]; len(want) == 1 {
		return nil, models.Errorf(models.EFORBIDDEN, "this operation needs scope %s", want[0])
	}
	return nil, models.Errorf(models.EFORBIDDEN, "this operation needs one of the scopes %s", strings.Join(accessScopes[a], ", "))
}

// audit records an administrative change in the caller's transaction.
func (s *Service) audit(ctx context.Context, p *Principal, action, targetType, targetID string, summary map[string]any) error {
	return s.store.CreateAuditEvent(ctx, s.auditEvent(p, action, targetType, targetID, summary))
}

func (s *Service) auditEvent(p *Principal, action, targetType, targetID string, summary map[string]any) *models.AuditEvent {
	b, _ := json.Marshal(summary)
	if summary == nil {
		b = []byte("{}")
	}
	return &models.AuditEvent{ID: store.NewID(), WorkspaceID: p.WorkspaceID, ActorType: p.ActorType,
		ActorID: p.ClientID, Action: action, TargetType: targetType, TargetID: targetID,
		Summary: string(b), CreatedAt: s.now()}
}

// internal wraps a foreign error so transports show only a generic message; the cause stays
// available to logs through errors.Unwrap.
func internal(op string, err error) error {
	if err == nil {
		return nil
	}
	var me *models.Error
	var mes models.Errors
	if errors.As(err, &me) || errors.As(err, &mes) {
		return err
	}
	return &internalError{op: op, err: err}
}

type internalError struct {
	op  string
	err error
}

func (e *internalError) Error() string { return "provision: " + e.op + ": " + e.err.Error() }
func (e *internalError) Unwrap() error { return e.err }

// AuditEvents lists the caller's workspace audit log, newest first.
func (s *Service) AuditEvents(ctx context.Context, first int, before *string) ([]*models.AuditEvent, error) {
	p, err := s.authorize(ctx, accessAdmin)
	if err != nil {
		return nil, err
	}
	var b *uuid.UUID
	if before != nil {
		id, err := filterID("before", *before)
		if err != nil {
			return nil, err
		}
		b = &id
	}
	es, err := s.store.AuditEvents(ctx, p.WorkspaceID, b, clampPage(first))
	return es, internal("audit events", err)
}

// clampPage bounds a requested page size (models.ListPage).
func clampPage(n int) int {
	_, n = models.ListPage(1, n)
	return n
}
