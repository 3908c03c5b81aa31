package provision

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

type ssoOptions struct {
	remote    Remote
	publicURL string
	timeout   time.Duration
	outside   func(ctx context.Context, wait func()) bool
	// away counts, per workspace, the admins' calls waiting outside the slots (awayFromSlots).
	away *awayCounts
}

// awayCounts bounds the admins' calls to other services that wait outside the admission slots
// at once, per workspace (max 0: no bound). Outside the slots nothing else bounds them, and
// each holds a goroutine, a connection and a socket to an endpoint the admin chose for up to
// the network timeout: unbounded, one workspace's admin could have the server make any number
// of requests at once (the slots had bounded them, and sign-ins' waits are bounded per
// connection for the same reason). Per workspace, so that one workspace's admin cannot use up
// another's.
type awayCounts struct {
	max int
	mu  sync.Mutex
	n   map[uuid.UUID]int
}

// take counts one more call of ws, unless ws has max of them already.
func (a *awayCounts) take(ws uuid.UUID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[ws] >= a.max {
		return false
	}
	a.n[ws]++
	return true
}

// give counts one call of ws fewer.
func (a *awayCounts) give(ws uuid.UUID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[ws]--; a.n[ws] <= 0 {
		delete(a.n, ws)
	}
}

// awayFromSlots runs wait, an admin's request's call to another service (an identity
// provider, a DNS server, a domain's web server), with the request's admission slots given
// back meanwhile (Options.Outside): a slow or hung endpoint, which a workspace's admin
// chooses, then holds no slot the rest of the server needs. ctx is the request's context,
// not one the wait is bounded by: the slots are waited for up to the request's deadline.
// When they did not come back, the error is EUNAVAILABLE and the caller must write nothing:
// the request holds no slot, and what the wait found is answered by a retry. So is it, at
// once and without wait running, when the caller's workspace has Options.OutsideWaits calls
// waiting outside already (awayCounts).
func (s *Service) awayFromSlots(ctx context.Context, what string, wait func()) error {
	if s.sso.outside == nil {
		wait()
		return nil
	}
	// Only an admin's calls count: the hourly refresh (no principal) bounds its own reads.
	if p := PrincipalFrom(ctx); p != nil && s.sso.away != nil && s.sso.away.max > 0 {
		if !s.sso.away.take(p.WorkspaceID) {
			return fmt.Errorf("%s: %d calls of the workspace to other services wait already: %w", what, s.sso.away.max, models.ErrUnavailable)
		}
		defer s.sso.away.give(p.WorkspaceID)
	}
	if !s.sso.outside(ctx, wait) {
		return fmt.Errorf("%s: no admission slot free again after the call: %w", what, models.ErrUnavailable)
	}
	return nil
}

// writeReserve is what a request keeps of its deadline, after its calls to an IdP (or to a
// domain's DNS and web server), to record their outcome.
const writeReserve = time.Second

// remoteContext bounds the calls to the outside of one connection test, domain check or
// metadata read: NetworkTimeout, and no later than the request's deadline less writeReserve
// (at most half the time left), so that the request can still take an admission slot again
// (awayFromSlots) and write the outcome. Before, a test whose IdP stalled until the request's
// deadline (GATEHOUSE_REQUEST_TIMEOUT set to 10 s or less) found its context dead at the
// write, and answered 503, blaming the database. limit is the bound, for the message of a
// call that reached it.
func (s *Service) remoteContext(ctx context.Context) (rctx context.Context, cancel context.CancelFunc, limit time.Duration) {
	limit = s.sso.timeout
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if left -= min(writeReserve, left/2); left < limit {
			limit = max(left, 0)
		}
	}
	rctx, cancel = context.WithTimeout(ctx, limit)
	return rctx, cancel, limit.Round(time.Millisecond)
}

// ConnectionFilter selects connections in ListConnections. Empty fields do not filter.
type ConnectionFilter struct {
	Protocol string // oidc or saml
	Status   string // inactive, testing, active or error
	Name     string // partial, case-insensitive
}

// ConnectionList is one page of connections.
type ConnectionList struct {
	Connections    []*models.Connection
	Page, PageSize int
	Total          int64
}

// ListConnections lists the caller's workspace's live connections matching f, oldest first,
// with their domains. page starts at 1; pageSize is 1..100.
func (s *Service) ListConnections(ctx context.Context, f ConnectionFilter, page, pageSize int) (*ConnectionList, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, err
	}
	errs := models.CheckTexts("protocol", f.Protocol, "status", f.Status, "name", f.Name)
	if len(errs) > 0 {
		return nil, errs
	}
	sf := store.ConnectionFilter{NameKey: models.Key(f.Name)}
	switch models.Protocol(f.Protocol) {
	case "", models.ProtocolOIDC, models.ProtocolSAML:
		sf.Protocol = models.Protocol(f.Protocol)
	default:
		errs = append(errs, models.FieldError(models.EINVALID, "protocol", f.Protocol, "must be oidc or saml"))
	}
	switch st := models.ConnectionStatus(f.Status); st {
	case "", models.StatusInactive, models.StatusTesting, models.StatusActive, models.StatusError:
		sf.Status = st
	default:
		errs = append(errs, models.FieldError(models.EINVALID, "status", f.Status, "must be one of active, inactive, testing, error"))
	}
	if models.NameTooLong(f.Name) {
		errs = append(errs, models.FieldError(models.EINVALID, "name", models.Clip(f.Name, 64), models.MsgNameTooLong))
	}
	// Strict: a page the clamp would change is refused.
	clampedPage, clampedSize := models.ListPage(page, pageSize)
	if clampedPage != page {
		errs = append(errs, models.FieldError(models.EINVALID, "page", fmt.Sprint(page), "must be a positive integer"))
	}
	if clampedSize != pageSize {
		errs = append(errs, models.FieldError(models.EINVALID, "pageSize", fmt.Sprint(pageSize), "must be from 1 to 100"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	cs, total, err := s.store.ConnectionsPage(ctx, p.WorkspaceID, sf, models.PageOffset(page, pageSize), pageSize)
	if err != nil {
		return nil, internal("list connections", err)
	}
	if err := s.attachDomains(ctx, p.WorkspaceID, cs); err != nil {
		return nil, err
	}
	return &ConnectionList{Connections: cs, Page: page, PageSize: pageSize, Total: total}, nil
}

func (s *Service) attachDomains(ctx context.Context, ws uuid.UUID, cs []*models.Connection) error {
	ids := make([]uuid.UUID, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	byConn, err := s.store.DomainsFor(ctx, ws, ids)
	if err != nil {
		return internal("domains", err)
	}
	for _, c := range cs {
		c.Domains = byConn[c.ID]
		if c.Domains == nil {
			c.Domains = []*models.Domain{}
		}
	}
	return nil
}

// ConnectionDomains returns a connection's domains, using those loaded with it when present.
func (s *Service) ConnectionDomains(ctx context.Context, c *models.Connection) ([]*models.Domain, error) {
	if c.Domains != nil {
		return c.Domains, nil
	}
	if _, err := s.authorize(ctx, accessManageRead); err != nil {
		return nil, err
	}
	if err := s.attachDomains(ctx, c.WorkspaceID, []*models.Connection{c}); err != nil {
		return nil, err
	}
	return c.Domains, nil
}

// GetConnection returns one live connection of the caller's workspace with its domains; a
// missing one is a NOT_FOUND error (REST's 404), unlike Connection's nil (GraphQL's null).
func (s *Service) GetConnection(ctx context.Context, rawID string) (*models.Connection, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, err
	}
	c, err := s.loadConnection(ctx, p.WorkspaceID, "id", rawID)
	if err != nil {
		return nil, internal("connection", err)
	}
	if err := s.attachDomains(ctx, p.WorkspaceID, []*models.Connection{c}); err != nil {
		return nil, err
	}
	return c, nil
}

// ConnectionTest is the outcome of TestConnection: the report and the connection's new status.
type ConnectionTest struct {
	TestReport
	Connection *models.Connection
}

// SHA1Advice is how an admin moves a SAML connection off SHA-1, wherever Gatehouse says that
// the connection accepts it: the connection test, a test sign-in, the server's log.
const SHA1Advice = "set the IdP's signature algorithm to SHA-256 (RSA-SHA256), then set acceptSha1Signatures to false"

// connectionWarnings are what an admin should change in a connection that works, as its test
// reports them: settings that let in more than the admin likely means to. Never nil.
func connectionWarnings(c *models.Connection) []string {
	w := []string{}
	if c.IsGoogle() && !c.JITVerifiedDomainsOnly {
		w = append(w, "Google signs in any Google account, personal ones included, unless the app's audience at Google is Internal: "+
			"set jitVerifiedDomainsOnly to true, so that accounts are created automatically only for Google Workspace accounts "+
			"of this connection's verified domains (docs/sign-in.md, People of other organisations)")
	}
	if c.Protocol == models.ProtocolOIDC {
		// Refused since a12dec9 and f15810b when set; a connection saved before keeps them, and
		// its admin learns here what a new one would be told.
		for _, e := range []*models.Error{microsoftMultiTenant("oidcConfig.issuerUrl", c.OIDCIssuerURL),
			microsoftMultiTenant("oidcConfig.discoveryUrl", c.OIDCDiscoveryURL)} {
			if e != nil {
				w = append(w, models.FieldMessage(e)+"; a connection is one customer's identity provider")
			}
		}
	}
	if c.Protocol == models.ProtocolSAML && c.SAMLAcceptSHA1 {
		w = append(w, "this connection accepts responses signed with SHA-1 (samlConfig.acceptSha1Signatures), which is broken for "+
			"collisions: "+SHA1Advice)
	}
	return w
}

// TestConnection checks that the connection's identity provider is reachable and correctly
// configured (OIDC: discovery and JWKS; SAML: certificate, SSO URL, metadata URL), within the
// network timeout. It writes nothing but the resulting status (and its audit event): success
// moves inactive, error or testing to testing (an active connection stays active), failure
// moves any status to error.
func (s *Service) TestConnection(ctx context.Context, rawID string) (*ConnectionTest, error) {
	p, err := s.authorize(ctx, accessManageWrite)
	if err != nil {
		return nil, err
	}
	c, err := s.loadConnection(ctx, p.WorkspaceID, "id", rawID)
	if err != nil {
		return nil, internal("connection", err)
	}
	if s.sso.remote == nil {
		return nil, internal("test connection", errors.New("no Remote configured"))
	}
	var oidcTarget OIDCTarget
	if c.Protocol == models.ProtocolOIDC {
		if oidcTarget, err = s.oidcTarget(ctx, c); err != nil {
			return nil, err
		}
	}
	var rep TestReport
	var timedOut bool
	var limit time.Duration
	// The test's timeout and latency are the calls' own, not the wait for a slot after them.
	err = s.awayFromSlots(ctx, "test connection", func() {
		tctx, cancel, l := s.remoteContext(ctx)
		defer cancel()
		limit = l
		start := s.clock.Now()
		if c.Protocol == models.ProtocolOIDC {
			rep = s.sso.remote.TestOIDC(tctx, oidcTarget)
		} else {
			rep = s.sso.remote.TestSAML(tctx, SAMLTarget{EntityID: c.SAMLEntityID, SSOURL: c.SAMLSSOURL,
				Certificate: c.SAMLCertificate, MetadataURL: c.SAMLMetadataURL})
		}
		rep.LatencyMs = s.clock.Now().Sub(start).Milliseconds()
		timedOut = tctx.Err() == context.DeadlineExceeded
	})
	if err != nil {
		return nil, err
	}
	var driftWarning string
	if c.Protocol == models.ProtocolSAML && rep.MetadataValid != nil && *rep.MetadataValid && rep.SAMLMetadata != nil {
		if problem := ssoBindingProblem(c, *rep.SAMLMetadata); problem != "" {
			rep.Problems = append(rep.Problems, problem)
			rep.SSOURLValid = new(bool)
		} else {
			driftWarning = ssoDriftWarning(c, *rep.SAMLMetadata)
		}
	}
	if c.Protocol == models.ProtocolSAML && c.SAMLMetadataRefresh && rep.MetadataValid != nil && *rep.MetadataValid {
		if problem := s.followsMetadata(c, rep); problem != "" {
			rep.Problems = append(rep.Problems, problem)
			*rep.MetadataValid = false
		}
	}
	if timedOut {
		rep.Success = false
		rep.Problems = append(rep.Problems, fmt.Sprintf("the test did not finish within %s", limit))
	}
	if rep.Problems == nil {
		rep.Problems = []string{}
	}
	rep.Success = rep.Success && len(rep.Problems) == 0
	rep.Warnings = connectionWarnings(c)
	if driftWarning != "" {
		rep.Warnings = append(rep.Warnings, driftWarning)
	}

	tested := c.Version
	changedWhileTested := func() error {
		return models.Errorf(models.ECONFLICT, "the connection was changed while it was being tested; test it again")
	}
	// The network calls above ran outside any transaction; the outcome is recorded by the
	// usual script, against the version that was tested: pinned, as a change since the test
	// is the caller's to answer (test again), not the retry's.
	err = s.mutateAs(ctx, p, mutation{action: "connection.test", target: "connection", op: "test connection",
		stale: changedWhileTested, pinned: true}, func(ctx context.Context, p *Principal) (audited, error) {
		var err error
		if c, err = s.loadConnection(ctx, p.WorkspaceID, "id", rawID); err != nil {
			return audited{}, err
		}
		if c.Version != tested {
			return audited{}, changedWhileTested()
		}
		before := c.Status
		switch {
		case !rep.Success:
			c.Status = models.StatusError
		case c.Status != models.StatusActive:
			c.Status = models.StatusTesting
		}
		if c.Status != before {
			if err := s.store.UpdateConnection(ctx, c); err != nil {
				return audited{}, err
			}
		}
		return audited{id: c.ID.String(), summary: map[string]any{
			"success": rep.Success, "problems": rep.Problems, "status_before": before, "status": c.Status}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &ConnectionTest{TestReport: rep, Connection: c}, nil
}

// oidcTarget is what the test of OIDC connection c needs, its credentials decrypted.
func (s *Service) oidcTarget(ctx context.Context, c *models.Connection) (OIDCTarget, error) {
	t := OIDCTarget{IssuerURL: c.OIDCIssuerURL, DiscoveryURL: c.OIDCDiscoveryURL, ClientID: c.OIDCClientID,
		ClientAuthMethod: c.ClientAuthMethod(), RedirectURL: s.OIDCRedirectURL(c)}
	var err error
	if t.ClientSecret, t.Keys, err = s.clientCredentials(ctx, c); err != nil {
		return OIDCTarget{}, internal("test connection", err)
	}
	return t, nil
}

// ActivateConnection lets users sign in through the connection. It needs a passed test (status
// testing, or already active), at least one verified domain, and, for a SAML connection being
// activated, an IdP certificate valid now.
func (s *Service) ActivateConnection(ctx context.Context, rawID string) (*models.Connection, error) {
	return s.transition(ctx, rawID, "connection.activate", func(ctx context.Context, c *models.Connection) error {
		switch c.Status {
		case models.StatusTesting, models.StatusActive:
		case models.StatusError:
			return models.Errorf(models.EINVALIDSTATE, "the connection's last test failed (status error): fix its settings and test it again before activating")
		default:
			return models.Errorf(models.EINVALIDSTATE, "the connection has not passed a test (status %s): test it before activating", c.Status)
		}
		_, verified, err := s.store.CountDomains(ctx, c.WorkspaceID, c.ID)
		if err != nil {
			return err
		}
		if verified == 0 {
			return models.Errorf(models.EINVALIDSTATE, "the connection has no verified domain: add a domain and verify it before activating")
		}
		if c.Status != models.StatusActive && c.Protocol == models.ProtocolSAML {
			// The test passed when it ran; a certificate that has expired since (or a test
			// long ago) would make the connection active with every response failing its
			// signature check.
			if why := noneValidNow(c.SAMLCertificate, s.clock.Now()); why != "" {
				return models.Errorf(models.EINVALIDSTATE, "the connection has no IdP certificate valid now (%s): set samlConfig.certificate to the IdP's current one and test it again before activating", why)
			}
		}
		c.Status = models.StatusActive
		return nil
	})
}

// DeactivateConnection stops new sign-ins through the connection (status inactive). It must
// pass a test again before it can be re-activated.
func (s *Service) DeactivateConnection(ctx context.Context, rawID string) (*models.Connection, error) {
	return s.transition(ctx, rawID, "connection.deactivate", func(ctx context.Context, c *models.Connection) error {
		c.Status = models.StatusInactive
		return nil
	})
}

// transition applies a status change in one transaction with its audit event.
func (s *Service) transition(ctx context.Context, rawID, action string, fn func(context.Context, *models.Connection) error) (*models.Connection, error) {
	var c *models.Connection
	m := mutation{access: accessManageWrite, action: action, target: "connection", op: action, stale: changedConcurrently("connection")}
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		// Locked: activation counts the verified domains, which a concurrent RemoveDomain
		// (locking it too) must not remove between the count and the commit.
		if c, err = s.lockConnection(ctx, p.WorkspaceID, "id", rawID); err != nil {
			return audited{}, err
		}
		before := c.Status
		if err := fn(ctx, c); err != nil {
			return audited{}, err
		}
		if c.Status == before { // activating an active connection, say: nothing happened to record
			return audited{unchanged: true}, nil
		}
		if err := s.store.UpdateConnection(ctx, c); err != nil {
			return audited{}, err
		}
		return audited{id: c.ID.String(), summary: map[string]any{"status_before": before, "status": c.Status}}, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DeleteConnection soft-deletes a connection: it disappears from every API, its slug and name
// become free, its domains are removed (so they can be verified elsewhere), the credentials
// bound at it stop working, and the SCIM tokens tied to it are revoked
// (revokeConnectionSCIMTokens), all in one transaction. User accounts are kept.
func (s *Service) DeleteConnection(ctx context.Context, rawID string) (*models.Connection, error) {
	var c *models.Connection
	var revoked []*models.SCIMToken
	m := mutation{access: accessManageWrite, action: "connection.delete", target: "connection", op: "delete connection",
		stale: changedConcurrently("connection")}
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		if c, err = s.loadConnection(ctx, p.WorkspaceID, "id", rawID); err != nil {
			return audited{}, err
		}
		if err := s.store.DeleteConnection(ctx, c); err != nil {
			return audited{}, err
		}
		if revoked, err = s.revokeConnectionSCIMTokens(ctx, p, c); err != nil {
			return audited{}, err
		}
		summary := connectionSummary(c)
		if len(revoked) > 0 {
			// Each revocation has its own event too; the delete's says what it took down.
			tokens := make([]map[string]any, len(revoked))
			for i, t := range revoked {
				tokens[i] = map[string]any{"id": t.ID.String(), "name": t.Name}
			}
			summary["revokedScimTokens"] = tokens
		}
		return audited{id: c.ID.String(), summary: summary}, nil
	})
	for _, t := range revoked {
		s.scimTokens.forget(t.TokenHash)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}
