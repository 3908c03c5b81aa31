package provision

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"gatehouse/models"
	"gatehouse/store"
)

// SAMLMetadata is what a SAML IdP's metadata document publishes that a connection takes: its
// entity ID, its single sign-on URL ("": none) and the binding of that URL (HTTP-Redirect when
// the IdP offers it, else HTTP-POST), whether it wants AuthnRequests signed, and its signing
// certificates, in the document's order. SingleSignOnServices are all its SingleSignOnService
// endpoints, whatever their binding, in the document's order, for the rules on the
// connection's ssoUrl (ssoListingOf).
type SAMLMetadata struct {
	EntityID                string
	SSOURL                  string
	SSOBinding              models.SAMLBinding
	WantAuthnRequestsSigned bool
	SigningCertificates     []*x509.Certificate
	SingleSignOnServices    []SAMLEndpoint
}

// SAMLEndpoint is one SingleSignOnService of an IdP's metadata: its Location, trimmed of the
// white space XML may put around it, and its binding, "" for a binding Gatehouse does not
// send AuthnRequests by (SOAP, Artifact, ...): such an endpoint still says the IdP takes
// requests at that URL, only not the way Gatehouse sends them.
type SAMLEndpoint struct {
	Location string
	Binding  models.SAMLBinding
}

// MetadataRefresh is one run of RefreshSAMLMetadata: how many connections it read the
// metadata of, by result, and the connections whose certificates changed or whose metadata
// could not be followed (at most maxUrgent), for the operator's log.
type MetadataRefresh struct {
	Changed, Unchanged, Failed int
	// Deferred counts the connections left to the next run once the run's time was up
	// (metadataRunBudget).
	Deferred int
	Reports  []MetadataReport
}

// MetadataReport is what the refresh did to one connection: the SHA-256 fingerprints of the
// certificates it added and removed, or the problem that kept its certificates as they were;
// and, apart from the certificates, SSOProblem: the metadata no longer lists the connection's
// ssoUrl (ssoURLDrift).
type MetadataReport struct {
	WorkspaceID, ConnectionID uuid.UUID
	Added, Removed            []string
	Problem                   string
	SSOProblem                string
}

// Reported is what the read reports to the admin (samlConfig.metadataProblem): its problem
// and its SSOProblem, either or both ("": none).
// Within maxMetadataProblem, the SSOProblem (at most maxSSOProblem) is kept whole, and a
// certificate problem is clipped to the room left, so neither crowds the other out.
func (r *MetadataReport) Reported() string {
	sso := models.Clip(r.SSOProblem, maxSSOProblem)
	switch {
	case r.Problem == "":
		return sso
	case sso == "":
		return models.Clip(r.Problem, maxMetadataProblem)
	}
	return models.Clip(r.Problem, maxMetadataProblem-len(sso)-2) + "; " + sso
}

// maxSSOProblem bounds ssoURLDrift's report: its URLs are clipped to maxReportedURL each, so
// that it fits, and leaves room in maxMetadataProblem for a certificate problem beside it.
// maxReportedURL is the one bound of a URL in what the rules on ssoUrl report, the refresh's
// (ssoURLDrift) and the connection test's (ssoBindingProblem), so that the two show the
// same URL the same way.
const (
	maxSSOProblem  = 768
	maxReportedURL = 128
)

// metadataRefresher is the actor of the refresh's audit events.
const metadataRefresher = "saml_metadata_refresh"

// metadataLease is how long a read of a connection's metadata stands for every replica: a
// run finds it read less than this ago (by itself or by another replica) and counts its
// recorded result instead of reading again, so that N replicas do not read each document N
// times an hour. Less than the hour between runs, so that each run of some replica reads.
const metadataLease = 50 * time.Minute

// metadataReads bounds the metadata documents one run reads at once: an IdP that does not
// answer holds its read for metadataReadLimit, not the whole run.
const metadataReads = 4

// metadataReadLimit bounds one read of the run (NetworkTimeout when that is shorter): a
// metadata document is a few KiB an IdP serves at once, and every second a read that stalls
// holds is a second of one of the run's metadataReads taken from every other connection.
const metadataReadLimit = 5 * time.Second

// metadataRunBudget bounds one run: past it, the connections not yet read are left to the next
// run (an hour later, on this replica or another), so that IdPs that do not answer cannot make
// runs overlap. The next run reads them first (the least recently read first), so that a
// connection is never left out run after run. 4 reads at a time of 5 s each is still 2,160
// unanswering IdPs in the budget.
const metadataRunBudget = 45 * time.Minute

// metadataPage is how many of a workspace's connections a run holds at once: it reads them a
// page at a time, a workspace after another, so that what it holds is bounded by the number
// of workspaces, not of connections (a variable for tests).
var metadataPage = 16

// maxMetadataProblem bounds a recorded problem: parts of it (an entity ID, a parse error)
// come from the document.
const maxMetadataProblem = 1024

// RefreshSAMLMetadata reads the metadata of every SAML connection whose certificates follow
// it (samlConfig.refreshCertificatesFromMetadata), in every workspace, and makes each trust
// the signing certificates its IdP publishes (certificatesFromMetadata). A connection keeps
// its status: each change keeps at least one certificate it trusted, as an admin's rollover
// step does. The server runs it at start and hourly (app.Maintain). A metadata document that
// cannot be followed changes nothing; its problem is recorded on the connection
// (samlConfig.metadataProblem) and reported. A connection read less than metadataLease ago
// counts by its recorded result. A connection whose setting changes during its read is left
// to the next run, and so are those not yet read when the run's time is up
// (metadataRunBudget); only a storage error ends the run early.
//
// The run is fair: the workspaces take turns (metadataRun), none holds more than its share
// of the metadataReads at once, and each read ends within metadataReadLimit, so that one
// workspace's thousand metadata URLs that do not answer cannot keep another's connections
// from their refresh. Within a workspace, the connections read least recently go first: the
// ones a run had no time for are the next run's first.
func (s *Service) RefreshSAMLMetadata(ctx context.Context) (MetadataRefresh, error) {
	var out MetadataRefresh
	if s.sso.remote == nil {
		return out, errors.New("no Remote configured")
	}
	start := s.clock.Now()
	since := start.Add(-metadataLease).UTC()
	due, unchanged, failed, err := s.store.SAMLMetadataReads(ctx, since)
	if err != nil {
		return out, err
	}
	out.Unchanged, out.Failed = unchanged, failed // read within the lease: their recorded results
	if due == 0 {
		return out, nil
	}
	wss, err := s.store.SAMLMetadataWorkspaces(ctx, since)
	if err != nil {
		return out, err
	}
	run := newMetadataRun(wss, func(ctx context.Context, ws uuid.UUID, limit int) ([]store.SAMLMetadataRow, error) {
		return s.store.SAMLMetadataRefreshes(ctx, ws, since, limit)
	}, func() bool { return s.clock.Now().Sub(start) >= metadataRunBudget })
	var mu sync.Mutex
	read := 0
	g, gctx := errgroup.WithContext(ctx)
	for range metadataReads {
		g.Go(func() error {
			for {
				r, ok, err := run.next(gctx)
				if !ok || err != nil {
					return err
				}
				rep, changed, err := s.refreshMetadataOf(gctx, r, nil, metadataReadLimit)
				run.done(r, rep != nil && err == nil)
				mu.Lock()
				read++
				if err == nil {
					out.count(rep, changed)
				}
				mu.Unlock()
				if err != nil && models.ErrorCode(err) != models.ECONFLICT { // lost to admins' edits: the next run
					return err
				}
			}
		})
	}
	err = g.Wait()
	if run.outOfTime() {
		out.Deferred = max(due-read, 0)
	}
	return out, err
}

// count adds one connection's read to the run's counts, and its report to the reports when
// it is a change or a problem (at most maxUrgent of them). A nil rep (the connection changed
// or was deleted since it was listed) counts nowhere. A read that reports a problem counts as
// failed, an SSOProblem too, even when the certificates changed: the admin has to act, and a
// run that finds the read within metadataLease counts it so by its recorded problem.
func (out *MetadataRefresh) count(rep *MetadataReport, changed bool) {
	switch {
	case rep == nil:
		return
	case rep.Reported() != "":
		out.Failed++
	case changed:
		out.Changed++
	default:
		out.Unchanged++
		return
	}
	if len(out.Reports) < maxUrgent {
		out.Reports = append(out.Reports, *rep)
	}
}

// metadataRun hands a run's connections to its readers, fairly: the workspaces take turns,
// in the order given (least recently read first), and a workspace holds at most its share of
// the reads at once, metadataReads divided among the workspaces that have connections left
// (rounded up), so that one whose IdPs do not answer holds at most that share while others
// wait; once the others are done, it has them all. It holds a page of each workspace's
// connections (metadataPage) and lists the next when the page is done.
type metadataRun struct {
	list    func(ctx context.Context, ws uuid.UUID, limit int) ([]store.SAMLMetadataRow, error)
	timesUp func() bool

	mu      sync.Mutex
	changed *sync.Cond // a read ended, or the run did
	turns   []*metadataTurn
	turn    int  // the workspace whose turn comes next
	over    bool // out of time, or a reader failed
	late    bool // out of time
}

// metadataTurn is one workspace in a run.
type metadataTurn struct {
	ws      uuid.UUID
	page    []store.SAMLMetadataRow
	reading int // reads of it in progress
	done    bool
	// taken are the connections of it this run has handed out whose read was not recorded
	// yet (in progress, or not recorded: lost to an admin's edit), which a next page must
	// not hand out again: they are still not read since the run began.
	taken map[uuid.UUID]bool
}

func newMetadataRun(wss []uuid.UUID, list func(context.Context, uuid.UUID, int) ([]store.SAMLMetadataRow, error), timesUp func() bool) *metadataRun {
	r := &metadataRun{list: list, timesUp: timesUp}
	r.changed = sync.NewCond(&r.mu)
	for _, ws := range wss {
		r.turns = append(r.turns, &metadataTurn{ws: ws, taken: map[uuid.UUID]bool{}})
	}
	return r
}

// next returns the next connection to read; ok is false when there is none left, the run's
// time is up, or another reader failed. It waits while every workspace with connections left
// holds its share of the reads.
func (r *metadataRun) next(ctx context.Context) (row store.SAMLMetadataRow, ok bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if !r.over && r.timesUp() {
			r.over, r.late = true, true
			r.changed.Broadcast()
		}
		if r.over || ctx.Err() != nil {
			return row, false, ctx.Err()
		}
		left := 0
		for _, t := range r.turns {
			if !t.done {
				left++
			}
		}
		if left == 0 {
			return row, false, nil
		}
		share, ended := (metadataReads+left-1)/left, false
		for i := range r.turns {
			t := r.turns[(r.turn+i)%len(r.turns)]
			if t.done || t.reading >= share {
				continue
			}
			if len(t.page) == 0 {
				if err := r.fill(ctx, t); err != nil {
					r.over = true
					r.changed.Broadcast()
					return row, false, err
				}
				if len(t.page) == 0 {
					t.done, ended = true, true // the others' share grows: count again
					break
				}
			}
			row, t.page = t.page[0], t.page[1:]
			t.reading++
			t.taken[row.ConnectionID] = true
			r.turn = (r.turn + i + 1) % len(r.turns)
			return row, true, nil
		}
		if !ended {
			// Every workspace with connections left holds its share, so one has a read in
			// progress, whose end wakes this.
			r.changed.Wait()
		}
	}
}

// fill lists t's next page: the connections not read since the run began, less those handed
// out already.
func (r *metadataRun) fill(ctx context.Context, t *metadataTurn) error {
	rows, err := r.list(ctx, t.ws, metadataPage+len(t.taken))
	for _, row := range rows {
		if !t.taken[row.ConnectionID] {
			t.page = append(t.page, row)
		}
	}
	return err
}

// done ends a read of row; recorded says whether its result was written (the connection is
// then read since the run began, and no page lists it again).
func (r *metadataRun) done(row store.SAMLMetadataRow, recorded bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.turns {
		if t.ws == row.WorkspaceID {
			t.reading--
			if recorded {
				delete(t.taken, row.ConnectionID)
			}
		}
	}
	r.changed.Broadcast()
}

// outOfTime reports whether the run stopped for want of time (metadataRunBudget).
func (r *metadataRun) outOfTime() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.late
}

// CertificatesRefresh is what RefreshSAMLCertificates did: the connection after it, whether
// its certificates changed, and the report.
type CertificatesRefresh struct {
	Connection *models.Connection
	Changed    bool
	MetadataReport
}

// RefreshSAMLCertificates reads one connection's metadata now and applies it, as the hourly
// refresh does (RefreshSAMLMetadata), for an admin who has just turned the refresh on, or who
// knows the IdP has rolled its certificate over; its audit event names the caller.
// INVALID_STATE unless the connection follows its metadata; CONFLICT when its setting changed
// while the metadata was read.
func (s *Service) RefreshSAMLCertificates(ctx context.Context, rawID string) (*CertificatesRefresh, error) {
	p, err := s.authorize(ctx, accessManageWrite)
	if err != nil {
		return nil, err
	}
	c, err := s.loadConnection(ctx, p.WorkspaceID, "id", rawID)
	if err != nil {
		return nil, internal("connection", err)
	}
	if c.Protocol != models.ProtocolSAML || !c.SAMLMetadataRefresh {
		return nil, models.Errorf(models.EINVALIDSTATE,
			"the connection does not follow its IdP's metadata: set samlConfig.refreshCertificatesFromMetadata to true (with a metadataUrl) first")
	}
	if s.sso.remote == nil {
		return nil, internal("refresh saml certificates", errors.New("no Remote configured"))
	}
	rep, changed, err := s.refreshMetadataOf(ctx, store.SAMLMetadataRow{ConnectionID: c.ID, WorkspaceID: c.WorkspaceID, MetadataURL: c.SAMLMetadataURL}, p, 0)
	if err != nil {
		return nil, err
	}
	if rep == nil {
		return nil, changedConcurrently("connection")()
	}
	if c, err = s.loadConnection(ctx, p.WorkspaceID, "id", rawID); err != nil {
		return nil, internal("connection", err)
	}
	return &CertificatesRefresh{Connection: c, Changed: changed, MetadataReport: *rep}, nil
}

// failureRefreshEvery bounds how often a connection's failed responses have its metadata read
// (RefreshSAMLCertificatesAfterFailure), on each replica.
const failureRefreshEvery = 5 * time.Minute

// RefreshSAMLCertificatesAfterFailure reads the metadata of c, a connection that follows it
// (samlConfig.refreshCertificatesFromMetadata), when one of its responses failed the signature
// check, and applies it as the hourly refresh does (the same rule: certificatesFromMetadata).
// An IdP that publishes its next certificate less than an hour before it signs with it would
// otherwise fail every sign-in until the next hourly read. At most once per
// failureRefreshEvery per connection on this replica: a response that fails for any other
// reason (another IdP's, a forged one) costs one read then, no more. It returns the connection
// as it is stored after, and whether its certificates differ from c's: changed by this read,
// or by another replica's, the hourly refresh or an admin since c was read (a replica whose
// read finds the certificates already applied checks the response again all the same). A
// read that fails changes nothing and is recorded as the hourly one's is.
//
// err is EUNAVAILABLE when the database did not answer, or no admission slot came back after
// the read (nothing was applied, and the connection may be read again at once): the response
// has not been judged, and the person may post it again.
func (s *Service) RefreshSAMLCertificatesAfterFailure(ctx context.Context, c *models.Connection) (*models.Connection, bool, error) {
	if c.Protocol != models.ProtocolSAML || !c.SAMLMetadataRefresh || c.SAMLMetadataURL == "" || s.sso.remote == nil {
		return c, false, nil
	}
	if s.failureRefreshes.Add(c.ID, struct{}{}, 0) {
		rep, changed, err := s.refreshMetadataOf(ctx, store.SAMLMetadataRow{ConnectionID: c.ID, WorkspaceID: c.WorkspaceID, MetadataURL: c.SAMLMetadataURL}, nil, 0)
		switch {
		case models.ErrorCode(err) == models.EUNAVAILABLE && ctx.Err() == nil:
			s.failureRefreshes.Delete(c.ID)
			s.logWriteFailure(ctx, "saml: refresh certificates after a failed signature check", err, "connection_id", c.ID)
			return c, false, err
		case err != nil:
			s.logWriteFailure(ctx, "saml: refresh certificates after a failed signature check", err, "connection_id", c.ID)
			return c, false, nil
		case changed:
			s.log.InfoContext(ctx, "saml: a connection's IdP certificates were refreshed from its metadata after a response failed the signature check",
				"workspace_id", c.WorkspaceID, "connection_id", c.ID, "added", rep.Added, "removed", rep.Removed)
		}
	}
	fresh, err := s.store.Connection(ctx, c.WorkspaceID, c.ID)
	switch {
	case models.ErrorCode(err) == models.EUNAVAILABLE:
		return c, false, internal("connection", err)
	case err != nil || fresh.SAMLCertificate == c.SAMLCertificate:
		return c, false, nil
	}
	return fresh, true, nil
}

// fetchSAMLMetadata reads a SAML IdP's metadata at url within remoteContext's bound (and
// within, when that is shorter and not 0), outside the request's admission slots
// (awayFromSlots). fetchErr says, for an admin, why it could not be read; err is the server's
// own failure to go on (EUNAVAILABLE), with which the caller writes nothing.
func (s *Service) fetchSAMLMetadata(ctx context.Context, url string, within time.Duration) (md SAMLMetadata, fetchErr, err error) {
	err = s.awayFromSlots(ctx, "read saml metadata", func() {
		fctx, cancel, limit := s.remoteContext(ctx)
		defer cancel()
		if within > 0 && within < limit {
			var end context.CancelFunc
			fctx, end = context.WithTimeout(fctx, within)
			defer end()
			limit = within
		}
		md, fetchErr = s.sso.remote.SAMLMetadata(fctx, url)
		if fetchErr != nil && fctx.Err() == context.DeadlineExceeded {
			fetchErr = fmt.Errorf("metadata %s was not read within %s", url, limit)
		}
	})
	return md, fetchErr, err
}

// refreshMetadataOf fetches one connection's metadata (within that bound, 0: the network
// timeout), then, in a transaction on the connection as it is then, applies it and records
// the check; the audit event of a change names actor (nil: the refresh itself). The fetch
// happens outside the transaction, so that no lock waits on the network; a connection whose
// setting changed in between is left to the next run (nil report).
func (s *Service) refreshMetadataOf(ctx context.Context, r store.SAMLMetadataRow, actor *Principal, within time.Duration) (*MetadataReport, bool, error) {
	md, fetchErr, err := s.fetchSAMLMetadata(ctx, r.MetadataURL, within)
	if err != nil {
		return nil, false, err
	}
	if ctx.Err() != nil {
		return nil, false, ctx.Err()
	}
	var rep *MetadataReport
	changed := false
	m := mutation{op: "refresh saml metadata", stale: changedConcurrently("connection")}
	err = s.transact(ctx, m, func(ctx context.Context) error {
		rep, changed = nil, false
		c, err := s.store.Connection(ctx, r.WorkspaceID, r.ConnectionID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if c.Protocol != models.ProtocolSAML || !c.SAMLMetadataRefresh || c.SAMLMetadataURL != r.MetadataURL {
			return nil
		}
		rep = &MetadataReport{WorkspaceID: c.WorkspaceID, ConnectionID: c.ID}
		var text string
		listed := c.SAMLMetadataSSOListed // a read that judges nothing leaves it
		if fetchErr != nil {
			rep.Problem = fetchErr.Error()
		} else {
			text, rep.Added, rep.Removed, rep.Problem = s.certificatesFromMetadata(c, md)
			listed, rep.SSOProblem = ssoURLDrift(c, md)
		}
		rep.Problem = models.Clip(rep.Problem, maxMetadataProblem)
		if text != "" {
			c.SAMLCertificate, changed = text, true
			if err := s.store.UpdateConnection(ctx, c); err != nil {
				return err
			}
			if actor == nil {
				actor = &Principal{ClientID: metadataRefresher, WorkspaceID: c.WorkspaceID, ActorType: "system"}
			}
			if err := s.audit(ctx, actor, "connection.certificates_refreshed", "connection", c.ID.String(), map[string]any{
				"metadataUrl": c.SAMLMetadataURL, "added": rep.Added, "removed": rep.Removed, "status": c.Status}); err != nil {
				return err
			}
		}
		err = s.store.RecordSAMLMetadataCheck(ctx, c.WorkspaceID, c.ID, store.SAMLMetadataCheck{MetadataURL: c.SAMLMetadataURL,
			SSOURL: c.SAMLSSOURL, SSOBinding: c.SAMLSSOBinding, At: s.now(), Problem: rep.Reported(), SSOListed: listed})
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrStale // the URL or the SSO endpoint changed since it was read here: read again
		}
		return err
	})
	if changed {
		s.connections.clear()
	}
	return rep, changed, internal("refresh saml metadata", err)
}

// certificatesFromMetadata is the rule of the refresh: a connection trusts the signing
// certificates its IdP's metadata publishes, but for the expired ones, in the metadata's
// order. The IdP publishes its next certificate there before it signs with it (Entra ID,
// AD FS), so the connection trusts both across the switch, and drops the old one when the
// IdP does. It returns the new certificate text, or "" when the connection trusts those
// already or the metadata cannot be followed (problem, in words for the admin); added and
// removed are SHA-256 fingerprints.
//
// What is refused leaves the connection as it was: metadata of another entity, no signing
// certificate, a weak key, more certificates than a connection trusts (or more than 16 KiB of
// them), certificates of which none is valid now (the connection would stay active while
// every response fails), and certificates of which none is one the connection trusts (a
// replacement: an admin's, with a test).
func (s *Service) certificatesFromMetadata(c *models.Connection, md SAMLMetadata) (text string, added, removed []string, problem string) {
	if md.EntityID != c.SAMLEntityID {
		return "", nil, nil, fmt.Sprintf("metadata entityID %q does not match the connection's entityId %q", models.Clip(md.EntityID, 256), c.SAMLEntityID)
	}
	next, validNow := unexpiredCertificates(md.SigningCertificates, s.clock.Now())
	switch {
	case len(md.SigningCertificates) == 0:
		return "", nil, nil, "metadata publishes no signing certificate"
	case len(next) == 0:
		return "", nil, nil, "every signing certificate the metadata publishes has expired"
	case len(next) > models.MaxSAMLCertificates:
		return "", nil, nil, fmt.Sprintf("metadata publishes %d signing certificates that have not expired; a connection trusts at most %d",
			len(next), models.MaxSAMLCertificates)
	}
	for _, cert := range next {
		if p := models.SAMLCertificateKeyProblem(cert); p != "" {
			return "", nil, nil, fmt.Sprintf("metadata signing certificate %s %s", models.CertificateFingerprint(cert.Raw), p)
		}
	}
	if !validNow {
		return "", nil, nil, "no signing certificate the metadata publishes is valid yet"
	}
	current, _ := models.ParseSAMLCertificates(c.SAMLCertificate) // nil if it does not parse: all is new
	added, removed = certificateChanges(current, next)
	switch {
	case len(added) == 0 && len(removed) == 0:
		return "", nil, nil, ""
	case len(removed) == len(current):
		// Nothing in common: a replacement, which an admin makes and tests (rollsCertificates),
		// never the refresh. An IdP that announces its next certificate ahead publishes both
		// for a while; a document with none of ours is more likely the wrong one (Entra ID's
		// apps of one tenant share its entity ID, each with its own certificate) or an IdP
		// that switched without notice, which an admin should look at. It is no defence
		// against whoever can serve the URL: they could add a certificate beside ours. The
		// URL, over https, is the trust anchor (docs/sign-in.md).
		return "", nil, nil, "metadata publishes none of the certificates the connection trusts (it would replace every one): " +
			"set samlConfig.certificate by hand and test the connection; the refresh takes over from there"
	}
	text = certificateText(next)
	if e := validateCertificatePEM("certificate", text); e != nil {
		return "", nil, nil, "the signing certificates the metadata publishes do not fit a connection: " + e.Message
	}
	return text, added, removed, ""
}

// certificateChanges are the SHA-256 fingerprints of the certificates of next not in current
// (added) and of those of current not in next (removed), each in its list's order. Neither is
// nil: the audit summaries that show them (an admin's change, the refresh's) write an empty
// list as [], which scripts read as the list it is, not null.
func certificateChanges(current, next []*x509.Certificate) (added, removed []string) {
	added, removed = []string{}, []string{}
	for _, cert := range next {
		if !slices.ContainsFunc(current, cert.Equal) {
			added = append(added, models.CertificateFingerprint(cert.Raw))
		}
	}
	for _, cert := range current {
		if !slices.ContainsFunc(next, cert.Equal) {
			removed = append(removed, models.CertificateFingerprint(cert.Raw))
		}
	}
	return added, removed
}

// ssoURLDrift is the refresh's rule for the connection's SSO endpoint: whether the metadata md
// has listed ssoUrl by ssoBinding since the admin set them (listed, the connection's
// SAMLMetadataSSOListed after this read), and the problem to report when it did and no longer
// does: the IdP moved its single sign-on endpoint (a host migration, an app created again),
// and every sign-in goes to an address it no longer publishes, or by a binding it no longer
// publishes there.
//
// The state is needed because an SSO URL the metadata does not list is not wrong in itself:
// admins set aliases the metadata never lists (a load-balanced name, a vanity host), and IdPs
// take requests there; only a URL the IdP listed and then dropped is news. listed stays true
// once a read has listed the URL, until the admin changes ssoUrl, ssoBinding or metadataUrl
// (applyMetadataRefresh sets it false), so that the problem is reported at every read until
// the admin acts or the IdP lists the URL again; were it the last read's answer alone, the
// read after the drift would find it false and clear the problem with nothing fixed.
//
// Where md lists the URL is ssoListingOf's rule; a spelling that differs (a host in capitals)
// makes the URL unlisted, which reports nothing until a read lists it. A document of another
// entity (md.EntityID) says nothing of this one's endpoints: listed stays as it was. The
// connection test applies the rule to the document it reads (ssoDriftWarning) and records
// neither listed nor the problem: only the refresh's reads do.
func ssoURLDrift(c *models.Connection, md SAMLMetadata) (listed bool, problem string) {
	if md.EntityID != c.SAMLEntityID { // another entity's endpoints say nothing of this one's
		return c.SAMLMetadataSSOListed, ""
	}
	binding := c.SSOBinding()
	l := ssoListingOf(md, c.SAMLSSOURL, binding)
	if l.place == ssoListed {
		return true, ""
	}
	if !c.SAMLMetadataSSOListed {
		return false, ""
	}
	name := samlBindingNames[binding]
	problem = fmt.Sprintf("the IdP's metadata no longer lists samlConfig.ssoUrl %q for %s", models.Clip(c.SAMLSSOURL, maxReportedURL), name)
	if len(l.locations) == 0 {
		problem += fmt.Sprintf(" (it lists no %s location now)", name)
	} else {
		shown := make([]string, 0, 2)
		for _, loc := range l.locations[:min(len(l.locations), 2)] {
			shown = append(shown, strconv.Quote(models.Clip(loc, maxReportedURL)))
		}
		if len(l.locations) > 2 {
			shown = append(shown, fmt.Sprintf("%d more", len(l.locations)-2))
		}
		problem += fmt.Sprintf(" (its %s location now: %s)", name, strings.Join(shown, ", "))
	}
	switch l.place {
	case ssoOtherBinding:
		return true, problem + fmt.Sprintf("; it lists that URL for %s only, so sign-ins are sent by a binding the IdP no longer publishes there: "+
			"set samlConfig.ssoBinding to %s (GraphQL: %s), or update samlConfig.ssoUrl", samlBindingNames[l.other], l.other, strings.ToUpper(string(l.other)))
	case ssoUnknownBinding:
		// The IdP still publishes the address, for bindings Gatehouse cannot send by: no
		// ssoBinding fixes it, only another URL.
		return true, problem + "; it lists that URL only for bindings Gatehouse does not send by (such as SOAP or HTTP-Artifact), " +
			"so sign-ins are sent there by a binding the IdP no longer publishes for it: update samlConfig.ssoUrl to an HTTP-Redirect or HTTP-POST location"
	}
	return true, problem + ", so sign-ins go to an address the IdP no longer publishes: update samlConfig.ssoUrl"
}

// ssoPlace is where an IdP's metadata lists a connection's ssoUrl (ssoListingOf).
type ssoPlace int

const (
	// ssoUnlisted: the metadata does not list the URL at all: an alias the IdP takes requests
	// at without publishing it (a load-balanced name, a vanity host), or a URL it dropped.
	ssoUnlisted ssoPlace = iota
	// ssoListed: it lists the URL for the connection's binding.
	ssoListed
	// ssoOtherBinding: it lists the URL only for bindings other than the connection's, one of
	// which Gatehouse sends by (ssoListing.other).
	ssoOtherBinding
	// ssoUnknownBinding: it lists the URL only for bindings Gatehouse does not send by (SOAP,
	// Artifact, ...).
	ssoUnknownBinding
)

// ssoListing is what an IdP's metadata says of a connection's ssoUrl (ssoListingOf): where it
// lists it; for ssoOtherBinding, the first binding Gatehouse sends by that it lists it for; and,
// unless it is ssoListed, the locations it lists for the connection's binding, in the
// document's order.
type ssoListing struct {
	place     ssoPlace
	other     models.SAMLBinding
	locations []string
}

// ssoListingOf is the one rule for where metadata md lists url, a connection's ssoUrl sent to
// by binding: of the connection test (ssoBindingProblem) and of the metadata refresh
// (ssoURLDrift). The URL is compared as the metadata spells it (trimmed of white space only,
// as XML may wrap it), byte for byte: a path is case-sensitive, and an IdP's own document
// names its endpoint the same way from one read to the next.
func ssoListingOf(md SAMLMetadata, url string, binding models.SAMLBinding) ssoListing {
	var l ssoListing
	unknown := false
	for _, e := range md.SingleSignOnServices {
		switch {
		case e.Binding == binding && e.Location == url:
			return ssoListing{place: ssoListed}
		case e.Binding == binding:
			l.locations = append(l.locations, e.Location)
		case e.Location != url:
		case e.Binding == "":
			unknown = true
		case l.other == "":
			l.other = e.Binding
		}
	}
	switch {
	case l.other != "":
		l.place = ssoOtherBinding
	case unknown:
		l.place = ssoUnknownBinding
	}
	return l
}

// ssoBindingProblem is the connection test's rule for ssoUrl against the metadata the test
// read (md): the problem when md lists the URL, but not for the binding the connection sends
// AuthnRequests by. The IdP says it takes the request there only by another, and every
// sign-in would fail at the IdP (a new ssoUrl set without ssoBinding is sent to by
// HTTP-Redirect). A URL the metadata does not list is not judged here: an IdP may take
// requests at more URLs than it publishes (ssoDriftWarning says when it listed it before).
func ssoBindingProblem(c *models.Connection, md SAMLMetadata) string {
	binding := c.SSOBinding()
	l := ssoListingOf(md, c.SAMLSSOURL, binding)
	problem := fmt.Sprintf("the metadata offers ssoUrl %q by other bindings than the connection's ssoBinding %s", models.Clip(c.SAMLSSOURL, maxReportedURL), binding)
	switch l.place {
	case ssoOtherBinding:
		return problem + ": set ssoBinding to " + string(l.other)
	case ssoUnknownBinding:
		return problem + ", none of which Gatehouse sends AuthnRequests by: set ssoUrl to the IdP's HTTP-Redirect (or HTTP-POST) location"
	}
	return ""
}

// ssoDriftWarning is the connection test's use of the refresh's rule (ssoURLDrift, judged by
// the connection's stored mark, which the test leaves as it is): a URL a read has listed for
// the connection's binding that md no longer lists is a warning, in the words metadataProblem
// shows after the next read, so that a test does not read as all well while the refresh
// reports the move. A warning, not a problem: a failed test puts the connection in error,
// which stops its sign-ins, and an IdP often still takes requests at an address it stopped
// publishing (the old host redirects); the admin decides. "" when there is nothing to say.
func ssoDriftWarning(c *models.Connection, md SAMLMetadata) string {
	if _, drift := ssoURLDrift(c, md); drift != "" {
		return models.Clip(drift, maxSSOProblem) // as MetadataReport.Reported clips it
	}
	return ""
}

// samlBindingNames name the bindings as SAML and IdP consoles do.
var samlBindingNames = map[models.SAMLBinding]string{models.SAMLBindingRedirect: "HTTP-Redirect", models.SAMLBindingPost: "HTTP-POST"}

// followsMetadata is the connection test's part of the refresh: for a connection whose
// certificates follow its metadata, it applies the refresh's rule (certificatesFromMetadata) to
// the document the test read (rep), without changing anything, and returns why the refresh
// would refuse it ("": it would not). A document the refresh cannot follow leaves the
// connection on certificates that no longer roll over, the outage the setting is there to
// prevent: the admin learns it from the test, not from metadataProblem once the certificates
// have expired.
func (s *Service) followsMetadata(c *models.Connection, rep TestReport) string {
	problem := rep.SAMLMetadataProblem
	if problem == "" && rep.SAMLMetadata != nil {
		_, _, _, problem = s.certificatesFromMetadata(c, *rep.SAMLMetadata)
	}
	if problem == "" {
		return ""
	}
	return "the certificates cannot follow the metadata (refreshCertificatesFromMetadata): " + models.Clip(problem, maxMetadataProblem)
}

// unexpiredCertificates are certs but for those expired at now, in their order, and whether
// one of them is valid now: what a connection takes of its IdP's signing certificates, by the
// refresh (certificatesFromMetadata) as by the import (fromMetadata).
func unexpiredCertificates(certs []*x509.Certificate, now time.Time) (kept []*x509.Certificate, validNow bool) {
	for _, c := range certs {
		valid := models.CertificateValidAt(c, now)
		if valid || now.Before(c.NotBefore) { // not expired: valid, or to be
			kept = append(kept, c)
			validNow = validNow || valid
		}
	}
	return kept, validNow
}

// certificateText is certs as a connection's certificate text: their PEM blocks, one per line
// break (models.ParseSAMLCertificates reads it back).
func certificateText(certs []*x509.Certificate) string {
	blocks := make([]string, len(certs))
	for i, c := range certs {
		blocks[i] = strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return strings.Join(blocks, "\n")
}

// metadataReport is a connection's metadata report as a comparable value: whether an update
// changed it (store.UpdateConnection leaves it as stored; store.SetSAMLMetadataReport writes it).
type metadataReport struct {
	checked   bool
	checkedAt time.Time
	problem   string
	ssoListed bool
}

func metadataReportOf(c *models.Connection) metadataReport {
	r := metadataReport{problem: c.SAMLMetadataProblem, ssoListed: c.SAMLMetadataSSOListed}
	if c.SAMLMetadataCheckedAt != nil {
		r.checked, r.checkedAt = true, c.SAMLMetadataCheckedAt.UTC()
	}
	return r
}

// metadataBasis is what a connection's metadata report was judged against: the document's
// URL, the entity ID and certificates (certificatesFromMetadata), and the SSO URL and binding
// (ssoURLDrift).
type metadataBasis struct {
	metadataURL, entityID, certificate, ssoURL string
	ssoBinding                                 models.SAMLBinding
}

func metadataBasisOf(c *models.Connection) metadataBasis {
	return metadataBasis{metadataURL: c.SAMLMetadataURL, entityID: c.SAMLEntityID, certificate: c.SAMLCertificate,
		ssoURL: c.SAMLSSOURL, ssoBinding: c.SSOBinding()}
}

// applyMetadataRefresh applies samlConfig.refreshCertificatesFromMetadata and guards its
// pairing with the metadata URL: a refresh needs a URL to read. was is what the report was
// judged against before the input (metadataBasisOf the connection as it was). A change of the
// setting or of any of that starts the report afresh (an admin who fixed what
// metadataProblem named: an entity ID, the certificates, an SSO URL the IdP moved): the report
// would otherwise show a problem that may be gone, and the next run, finding the connection
// read within metadataLease, would count it failed again instead of reading it. A change of
// the metadata URL, the SSO URL or its binding also starts afresh whether a read has listed
// the SSO URL (ssoURLDrift): the next read that lists the new one sets it again; an entity
// ID or certificate change keeps it, so that a drift not yet fixed is reported again.
func applyMetadataRefresh(c *models.Connection, sm *SAMLConfigInput, was metadataBasis) *models.Error {
	is := metadataBasisOf(c)
	changed := is != was
	if sm.RefreshCertificatesFromMetadata != nil && *sm.RefreshCertificatesFromMetadata != c.SAMLMetadataRefresh {
		c.SAMLMetadataRefresh = *sm.RefreshCertificatesFromMetadata
		changed = true
	}
	if changed {
		c.SAMLMetadataCheckedAt, c.SAMLMetadataProblem = nil, ""
	}
	if is.metadataURL != was.metadataURL || is.ssoURL != was.ssoURL || is.ssoBinding != was.ssoBinding {
		c.SAMLMetadataSSOListed = false
	}
	if c.SAMLMetadataRefresh && c.SAMLMetadataURL == "" {
		if sm.RefreshCertificatesFromMetadata == nil {
			return models.FieldError(models.EINVALID, "samlConfig.metadataUrl", "",
				"cannot be removed while refreshCertificatesFromMetadata is true: the certificates are read from it")
		}
		return models.FieldError(models.EINVALID, "samlConfig.refreshCertificatesFromMetadata", "true",
			"needs samlConfig.metadataUrl, the IdP's metadata document the certificates are read from")
	}
	return nil
}

// maxMetadataXML bounds samlConfig.metadataXml (Entra ID's tenant metadata is about 60 KiB).
const maxMetadataXML = 256 << 10

// fromMetadata fills what a SAML connection input leaves out of the entity ID, the SSO URL
// and the certificate from the IdP's metadata, so that an admin can create a connection from
// the one thing every IdP console offers: on creation, from metadataXml, or else from
// metadataUrl, read now; on update, only from metadataXml (an explicit import: omitted fields
// mean unchanged on update). What the input sets wins. The certificates are the signing
// certificates that have not expired, at least one of them valid now (as the refresh
// requires); signRequests is set when the IdP wants AuthnRequests signed and the input does
// not say. What the metadata lacks is a payload error on the metadata field, never on a
// field the admin did not set. The caller has authorized the caller already (a URL is read).
//
// fromURL is the document when it was read from metadataUrl (nil otherwise): CreateConnection
// judges by it whether the IdP lists the connection's ssoUrl (ssoURLDrift), as a refresh's read
// does. A metadataXml is not that document: the admin's copy, which may be older, or another
// app's, says nothing of what the URL the refresh reads lists.
func (s *Service) fromMetadata(ctx context.Context, sm *SAMLConfigInput, create bool) (fromURL *SAMLMetadata, err error) {
	if sm == nil {
		return nil, nil
	}
	var md SAMLMetadata
	byURL := false
	field := "samlConfig.metadataXml"
	switch {
	case sm.MetadataXML != nil:
		if len(*sm.MetadataXML) > maxMetadataXML {
			return nil, models.FieldError(models.EINVALID, field, "", "must be at most 256 KiB")
		}
		if e := models.CheckFreeText(field, *sm.MetadataXML); e != nil {
			return nil, e
		}
		if s.sso.remote == nil {
			return nil, internal("read saml metadata", errors.New("no Remote configured"))
		}
		md, err = s.sso.remote.ReadSAMLMetadata(*sm.MetadataXML)
	case create && sm.MetadataURL != nil && *sm.MetadataURL != "" && (sm.EntityID == nil || sm.SSOURL == nil || sm.Certificate == nil):
		field, byURL = "samlConfig.metadataUrl", true
		if e := s.validateIdPURL(field, *sm.MetadataURL); e != nil {
			return nil, e
		}
		if s.sso.remote == nil {
			return nil, internal("read saml metadata", errors.New("no Remote configured"))
		}
		var busy error
		if md, err, busy = s.fetchSAMLMetadata(ctx, *sm.MetadataURL, 0); busy != nil {
			return nil, busy
		}
	default:
		return nil, nil
	}
	lacks := func(message string) error { return models.FieldError(models.EINVALID, field, "", message) }
	if err != nil {
		return nil, lacks("cannot be read: " + models.Clip(err.Error(), maxMetadataProblem))
	}
	if sm.EntityID == nil {
		if strings.TrimSpace(md.EntityID) == "" || len(md.EntityID) > maxConfigValue {
			return nil, lacks("has no entityID of at most 1,024 bytes: set samlConfig.entityId")
		}
		sm.EntityID = &md.EntityID
	}
	if sm.SSOURL != nil && sm.SSOBinding == nil && md.SSOBinding != "" && strings.TrimSpace(*sm.SSOURL) == md.SSOURL {
		// The input's ssoUrl is the metadata's location: it is sent to by that location's
		// binding, as when it is read from the document (applyConnection would take a new
		// ssoUrl without a binding for HTTP-Redirect).
		binding := string(md.SSOBinding)
		sm.SSOBinding = &binding
	}
	if sm.SSOURL == nil {
		switch {
		case md.SSOURL == "":
			return nil, lacks("has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding, which Gatehouse sends AuthnRequests by: set samlConfig.ssoUrl")
		case !models.ValidIdPURL(md.SSOURL, s.allowPrivate):
			return nil, lacks(fmt.Sprintf("has a SingleSignOnService location %q that is not an absolute https URL: set samlConfig.ssoUrl", models.Clip(md.SSOURL, 256)))
		}
		sm.SSOURL = &md.SSOURL
		// The location is its binding's: the two come from the metadata together, unless the
		// input says how to send ("" is HTTP-Redirect, as on a connection).
		if sm.SSOBinding == nil && md.SSOBinding != "" {
			binding := string(md.SSOBinding)
			sm.SSOBinding = &binding
		}
	}
	if sm.Certificate == nil {
		certs, validNow := unexpiredCertificates(md.SigningCertificates, s.clock.Now())
		switch {
		case !validNow:
			return nil, lacks("has no signing certificate that is valid now: set samlConfig.certificate")
		case len(certs) > models.MaxSAMLCertificates:
			return nil, lacks(fmt.Sprintf("publishes %d signing certificates that have not expired; a connection trusts at most %d: set samlConfig.certificate",
				len(certs), models.MaxSAMLCertificates))
		}
		text := certificateText(certs)
		if e := validateCertificatePEM(field, text); e != nil {
			return nil, lacks("has signing certificates that do not fit a connection (" + e.Message + "): set samlConfig.certificate")
		}
		sm.Certificate = &text
	}
	if sm.SignRequests == nil && md.WantAuthnRequestsSigned {
		signed := true
		sm.SignRequests = &signed
	}
	if byURL {
		return &md, nil
	}
	return nil, nil
}
