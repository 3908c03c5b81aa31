package provision

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// metadataRemote serves SAML metadata documents by URL; every other Remote method is absent.
type metadataRemote struct {
	Remote
	mu    sync.Mutex
	docs  map[string]SAMLMetadata
	reads map[string]int
	// during, when set, runs inside each read (before it answers), with the URL.
	during func(url string)
}

func (r *metadataRemote) SAMLMetadata(ctx context.Context, url string) (SAMLMetadata, error) {
	r.mu.Lock()
	r.reads[url]++
	md, ok := r.docs[url]
	during := r.during
	r.mu.Unlock()
	if during != nil {
		during(url)
	}
	if !ok {
		// What a document of the IdP can make an error say, at length (encoding/xml quotes it).
		return SAMLMetadata{}, fmt.Errorf("metadata %s: 404 Not Found: %s", url, strings.Repeat("<html>", 1000))
	}
	return md, nil
}

// readsOf returns how often each URL was read since the last call, and forgets.
func (r *metadataRemote) readsOf() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.reads
	r.reads = map[string]int{}
	return n
}

// TestRefreshSAMLMetadata: the hourly refresh reads the metadata of every live SAML
// connection that follows it, in every workspace and across pages, and only those; it
// takes what the rule allows, refuses the rest with a bounded problem, and reads a document
// again only once no replica has read it for metadataLease. A connection whose metadata URL
// changes during its read is left alone, its report unwritten.
func TestRefreshSAMLMetadata(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		fake := clock.NewFake(now)
		box, err := secret.NewBox(secret.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		remote := &metadataRemote{docs: map[string]SAMLMetadata{}, reads: map[string]int{}}
		s := New(e.st, box, Options{Clock: fake, Remote: remote})
		defer func(p int) { metadataPage = p }(metadataPage)
		metadataPage = 1 // several pages of each workspace

		certificate := func(padding int) *x509.Certificate {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)}
			if padding > 0 {
				value, _ := asn1.Marshal(strings.Repeat("x", padding))
				tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: value}}
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
			if err != nil {
				t.Fatal(err)
			}
			return must(x509.ParseCertificate(der))
		}
		pemOf := func(c *x509.Certificate) string {
			return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		}
		ws := must(e.st.Workspace(e.ctx, e.ws))
		other := &models.Workspace{ID: store.NewID(), Name: "Other", CreatedAt: now}
		if err := e.st.Create(e.ctx, other); err != nil {
			t.Fatal(err)
		}
		n := 0
		add := func(ws *models.Workspace, refresh bool, cert *x509.Certificate, deleted bool) *models.Connection {
			n++
			name := fmt.Sprintf("c%d", n)
			c := &models.Connection{ID: store.NewID(), WorkspaceID: ws.ID, Name: name, NameKey: name, Slug: name, Protocol: models.ProtocolSAML,
				Status: models.StatusActive, SAMLEntityID: "https://idp.example.com/" + name, SAMLCertificate: pemOf(cert),
				SAMLMetadataURL: "https://idp.example.com/" + name + "/metadata", SAMLMetadataRefresh: refresh, Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := e.st.Create(e.ctx, c); err != nil {
				t.Fatal(err)
			}
			if deleted {
				if err := e.st.DeleteConnection(e.ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			return c
		}
		publish := func(c *models.Connection, entityID string, certs ...*x509.Certificate) {
			remote.docs[c.SAMLMetadataURL] = SAMLMetadata{EntityID: entityID, SigningCertificates: certs}
		}
		a, b := certificate(0), certificate(0)
		same := add(ws, true, a, false)     // publishes what it has
		rolls := add(other, true, a, false) // publishes its next beside
		gone := add(ws, true, a, false)     // its document is gone
		big := add(other, true, a, false)   // four certificates of over 16 KiB
		alien := add(ws, true, a, false)    // another entity, with a long ID
		off := add(ws, false, a, false)     // does not follow its metadata
		deleted := add(ws, true, a, true)   // deleted
		publish(same, same.SAMLEntityID, a)
		publish(rolls, rolls.SAMLEntityID, a, b)
		publish(big, big.SAMLEntityID, a, certificate(5000), certificate(5000), certificate(5000))
		publish(alien, strings.Repeat("https://evil.example.com/", 400), a)
		publish(off, off.SAMLEntityID, b)
		publish(deleted, deleted.SAMLEntityID, a, b)

		run := func(changed, unchanged, failed int) MetadataRefresh {
			t.Helper()
			r, err := s.RefreshSAMLMetadata(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r.Changed != changed || r.Unchanged != unchanged || r.Failed != failed {
				t.Fatalf("changed, unchanged, failed: %d %d %d, want %d %d %d (%+v)", r.Changed, r.Unchanged, r.Failed, changed, unchanged, failed, r.Reports)
			}
			return r
		}
		reread := func(c *models.Connection) *models.Connection {
			t.Helper()
			return must(e.st.Connection(e.ctx, c.WorkspaceID, c.ID))
		}

		r := run(1, 1, 3)
		reads := remote.readsOf()
		for _, c := range []*models.Connection{same, rolls, gone, big, alien} {
			if reads[c.SAMLMetadataURL] != 1 {
				t.Errorf("%s read %d times, want once", c.Name, reads[c.SAMLMetadataURL])
			}
		}
		if reads[off.SAMLMetadataURL]+reads[deleted.SAMLMetadataURL] != 0 {
			t.Errorf("read a connection that does not follow its metadata, or a deleted one: %v", reads)
		}
		problems := map[string]string{}
		for _, rep := range r.Reports {
			problems[rep.ConnectionID.String()] = rep.Problem
		}
		if got := reread(rolls); got.SAMLCertificate != strings.TrimSpace(pemOf(a))+"\n"+strings.TrimSpace(pemOf(b)) || got.Status != models.StatusActive {
			t.Errorf("rolls: %s %q", got.Status, got.SAMLCertificate)
		}
		for c, want := range map[*models.Connection]string{gone: "404 Not Found", big: "do not fit a connection: must be at most 16 KiB",
			alien: `metadata entityID "https://evil.example.com/`} {
			got := reread(c)
			if !strings.Contains(problems[c.ID.String()], want) || got.SAMLMetadataProblem != problems[c.ID.String()] ||
				got.SAMLCertificate != pemOf(a) || got.SAMLMetadataCheckedAt == nil || !got.SAMLMetadataCheckedAt.Equal(now) {
				t.Errorf("%s: problem %q (stored %q), want %q; certificate kept: %v", c.Name, problems[c.ID.String()], got.SAMLMetadataProblem, want, got.SAMLCertificate == pemOf(a))
			}
			if len(got.SAMLMetadataProblem) > maxMetadataProblem+8 {
				t.Errorf("%s: a problem of %d bytes", c.Name, len(got.SAMLMetadataProblem))
			}
		}

		// Within the lease no document is read again: the recorded results count.
		fake.Advance(metadataLease - time.Minute)
		run(0, 2, 3)
		if reads := remote.readsOf(); len(reads) != 0 {
			t.Fatalf("read within the lease: %v", reads)
		}
		// After it, every one is read again.
		fake.Advance(2 * time.Minute)
		run(0, 2, 3)
		if reads := remote.readsOf(); len(reads) != 5 {
			t.Fatalf("reads after the lease: %v", reads)
		}

		// An admin moves a connection to another metadata URL while its old one is read: the
		// old document's result is neither applied nor reported on it.
		checked := *reread(same).SAMLMetadataCheckedAt
		publish(same, same.SAMLEntityID, a, b) // would add b
		remote.during = func(url string) {
			if url != same.SAMLMetadataURL {
				return
			}
			c := reread(same)
			c.SAMLMetadataURL = "https://idp.example.com/moved/metadata"
			if err := e.st.UpdateConnection(e.ctx, c); err != nil {
				t.Error(err)
			}
		}
		fake.Advance(time.Hour)
		run(0, 1, 3) // rolls unchanged; same left alone
		remote.during = nil
		if got := reread(same); got.SAMLCertificate != pemOf(a) || !got.SAMLMetadataCheckedAt.Equal(checked) {
			t.Fatalf("a connection moved during its read: %q, checked %v (was %v)", got.SAMLCertificate, got.SAMLMetadataCheckedAt, checked)
		}

		// A run whose time is up leaves the rest to the next: here the second read takes 46
		// minutes, and the reads started by then (two to four: the readers take their
		// connections at once) are all the run reads.
		fake.Advance(time.Hour)
		var readsMu sync.Mutex
		batchReads := 0
		remote.during = func(string) {
			readsMu.Lock()
			defer readsMu.Unlock()
			if batchReads++; batchReads == 2 {
				fake.Advance(46 * time.Minute)
			}
		}
		r, err = s.RefreshSAMLMetadata(context.Background())
		remote.during = nil
		if err != nil || batchReads < 2 || r.Deferred != 5-batchReads || r.Changed+r.Unchanged+r.Failed != batchReads {
			t.Fatalf("out of time after %d reads: %+v, %v", batchReads, r, err)
		}
		fake.Advance(time.Hour)
		if r = run(0, 1, 4); r.Deferred != 0 {
			t.Fatalf("the next run: %+v", r)
		}
	})
}

// TestCertificatesFromMetadata: the rule of the refresh, case by case.
func TestCertificatesFromMetadata(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	s := &Service{clock: clock.NewFake(now)}
	certificate := func(from, until time.Duration) *x509.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now.Add(from), NotAfter: now.Add(until)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return must(x509.ParseCertificate(der))
	}
	text := func(certs ...*x509.Certificate) string {
		var blocks []string
		for _, c := range certs {
			blocks = append(blocks, strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))))
		}
		return strings.Join(blocks, "\n")
	}
	year := 365 * 24 * time.Hour
	a, b, expired, notYet := certificate(-time.Hour, year), certificate(-time.Hour, year), certificate(-2*year, -time.Hour), certificate(time.Hour, year)
	fp := func(c *x509.Certificate) string { return models.CertificateFingerprint(c.Raw) }
	for _, c := range []struct {
		name           string
		current        []*x509.Certificate
		published      []*x509.Certificate
		want           string // the new text; "" no change
		added, removed []string
		problem        string
	}{
		{"the same", []*x509.Certificate{a}, []*x509.Certificate{a}, "", nil, nil, ""},
		{"the same, in another order", []*x509.Certificate{a, b}, []*x509.Certificate{b, a}, "", nil, nil, ""},
		{"the next beside", []*x509.Certificate{a}, []*x509.Certificate{a, b}, text(a, b), []string{fp(b)}, nil, ""},
		{"the next, not valid yet", []*x509.Certificate{a}, []*x509.Certificate{notYet, a}, text(notYet, a), []string{fp(notYet)}, nil, ""},
		{"the old dropped", []*x509.Certificate{a, b}, []*x509.Certificate{b}, text(b), nil, []string{fp(a)}, ""},
		{"the expired one not taken", []*x509.Certificate{a}, []*x509.Certificate{expired, a, b}, text(a, b), []string{fp(b)}, nil, ""},
		{"an expired one the connection had is dropped", []*x509.Certificate{expired, a}, []*x509.Certificate{expired, a}, text(a), nil, []string{fp(expired)}, ""},
		{"one in common, one each way", []*x509.Certificate{a, b}, []*x509.Certificate{b, notYet}, text(b, notYet), []string{fp(notYet)}, []string{fp(a)}, ""},
		{"a replacement", []*x509.Certificate{a}, []*x509.Certificate{b}, "", nil, nil, "metadata publishes none of the certificates the connection trusts"},
		{"only expired", []*x509.Certificate{a}, []*x509.Certificate{expired}, "", nil, nil, "every signing certificate the metadata publishes has expired"},
		{"only not valid yet", []*x509.Certificate{a}, []*x509.Certificate{notYet}, "", nil, nil, "no signing certificate the metadata publishes is valid yet"},
		{"none", []*x509.Certificate{a}, nil, "", nil, nil, "metadata publishes no signing certificate"},
		{"five", []*x509.Certificate{a}, []*x509.Certificate{a, b, notYet, certificate(-time.Hour, year), certificate(-time.Hour, year)}, "", nil, nil,
			"metadata publishes 5 signing certificates that have not expired; a connection trusts at most 4"},
	} {
		conn := &models.Connection{SAMLEntityID: "https://idp.example.com", SAMLCertificate: text(c.current...)}
		got, added, removed, problem := s.certificatesFromMetadata(conn, SAMLMetadata{EntityID: "https://idp.example.com", SigningCertificates: c.published})
		if got != c.want || fmt.Sprint(added) != fmt.Sprint(c.added) || fmt.Sprint(removed) != fmt.Sprint(c.removed) ||
			(c.problem == "") != (problem == "") || !strings.Contains(problem, c.problem) {
			t.Errorf("%s: text %v (want %v), added %v removed %v, problem %q", c.name, got != "", c.want != "", added, removed, problem)
		}
	}
	if _, _, _, problem := s.certificatesFromMetadata(&models.Connection{SAMLEntityID: "https://idp.example.com", SAMLCertificate: text(a)},
		SAMLMetadata{EntityID: "https://idp.example.com/other", SigningCertificates: []*x509.Certificate{a}}); !strings.Contains(problem, "does not match the connection's entityId") {
		t.Errorf("another entity: %q", problem)
	}
}

// TestRefreshSAMLCertificatesAfterFailureOnAnotherReplica: a response checked against the
// certificates its connection had when its flow was read, which another replica's read of
// the metadata has changed since (both replicas' sign-ins failing at the IdP's switch), is
// checked again with the stored certificates: this replica's read finds nothing left to
// change, and, within the five minutes, no read happens at all.
func TestRefreshSAMLCertificatesAfterFailureOnAnotherReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		now := time.Now()
		box, err := secret.NewBox(secret.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		remote := &metadataRemote{docs: map[string]SAMLMetadata{}, reads: map[string]int{}}
		here := New(e.st, box, Options{Clock: clock.NewFake(now), Remote: remote})
		there := New(e.st, box, Options{Clock: clock.NewFake(now), Remote: remote})
		certificate := func() *x509.Certificate {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)}
			return must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))))
		}
		a, b := certificate(), certificate()
		c := &models.Connection{ID: store.NewID(), WorkspaceID: e.ws, Name: "c", NameKey: "c", Slug: "c", Protocol: models.ProtocolSAML,
			Status: models.StatusActive, SAMLEntityID: "https://idp.example.com/c", SAMLCertificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Raw})),
			SAMLMetadataURL: "https://idp.example.com/c/metadata", SAMLMetadataRefresh: true, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := e.st.Create(e.ctx, c); err != nil {
			t.Fatal(err)
		}
		remote.docs[c.SAMLMetadataURL] = SAMLMetadata{EntityID: c.SAMLEntityID, SigningCertificates: []*x509.Certificate{a, b}}
		stale := *c // read by both replicas' flows before either read the metadata

		// A read after which no admission slot came back applies nothing and says so
		// (EUNAVAILABLE: the ACS answers its reload page), and does not hold the connection's
		// five minutes: the response posted again has the metadata read again.
		slotBack := false
		busy := New(e.st, box, Options{Clock: clock.NewFake(now), Remote: remote,
			Outside: func(_ context.Context, wait func()) bool { wait(); return slotBack }})
		if _, changed, err := busy.RefreshSAMLCertificatesAfterFailure(context.Background(), &stale); changed || models.ErrorCode(err) != models.EUNAVAILABLE {
			t.Fatalf("no slot back after the read: changed %v, %v", changed, err)
		}
		if stored, err := e.st.Connection(e.ctx, e.ws, c.ID); err != nil || stored.SAMLCertificate != c.SAMLCertificate {
			t.Fatalf("applied with no slot back: %v", err)
		}
		slotBack = true
		defer func() { // after the other replicas: it reads again, and checks with what they stored
			if got, changed, err := busy.RefreshSAMLCertificatesAfterFailure(context.Background(), &stale); err != nil || !changed || got.SAMLCertificate == c.SAMLCertificate {
				t.Errorf("the slot back, posted again: changed %v, %v", changed, err)
			}
			if reads := remote.readsOf(); reads[c.SAMLMetadataURL] != 1 {
				t.Errorf("reads since the other replicas': %v, want the busy replica's second", reads)
			}
		}()

		if got, changed, err := there.RefreshSAMLCertificatesAfterFailure(context.Background(), &stale); err != nil || !changed || got.SAMLCertificate == c.SAMLCertificate {
			t.Fatalf("the first replica's read: changed %v, %v", changed, err)
		}
		for i := range 2 { // a read that finds nothing to change, then none within five minutes
			got, changed, err := here.RefreshSAMLCertificatesAfterFailure(context.Background(), &stale)
			if err != nil || !changed || got.SAMLCertificate == c.SAMLCertificate {
				t.Fatalf("the other replica, response %d: changed %v: the response is not checked again with the stored certificates", i+1, changed)
			}
		}
		if reads := remote.readsOf(); reads[c.SAMLMetadataURL] != 3 {
			t.Fatalf("reads: %v, want one per replica (the busy one's first included)", reads)
		}
	})
}

// TestMetadataReportFitsBoth: what a read reports stays within maxMetadataProblem (and Clip's
// "…") with a long
// certificate problem and a drift report side by side, and the drift report, which tells the
// admin the one thing to change, is never the part clipped away.
func TestMetadataReportFitsBoth(t *testing.T) {
	c := &models.Connection{SAMLSSOURL: "https://idp.example.com/" + strings.Repeat("s", 400), SAMLSSOBinding: string(models.SAMLBindingRedirect),
		SAMLMetadataSSOListed: true}
	md := SAMLMetadata{SingleSignOnServices: []SAMLEndpoint{
		{Location: "https://new.example.com/" + strings.Repeat("a", 400), Binding: models.SAMLBindingRedirect},
		{Location: "https://new.example.com/" + strings.Repeat("b", 400), Binding: models.SAMLBindingRedirect},
		{Location: "https://new.example.com/c", Binding: models.SAMLBindingRedirect},
		{Location: c.SAMLSSOURL, Binding: models.SAMLBindingPost},
	}}
	listed, sso := ssoURLDrift(c, md)
	if !listed || !strings.HasSuffix(sso, "or update samlConfig.ssoUrl") || len(sso) > maxSSOProblem {
		t.Fatalf("drift report (%d bytes, listed %v): %s", len(sso), listed, sso)
	}
	// The longest report: the URL listed for bindings Gatehouse does not send by only.
	md.SingleSignOnServices[3].Binding = ""
	if listed, soap := ssoURLDrift(c, md); !listed || !strings.HasSuffix(soap, "or HTTP-POST location") || len(soap) > maxSSOProblem {
		t.Fatalf("drift report, SOAP only (%d bytes, listed %v): %s", len(soap), listed, soap)
	}
	for _, problem := range []string{"", "certificate problem", strings.Repeat("p", 2000)} {
		got := (&MetadataReport{Problem: problem, SSOProblem: sso}).Reported()
		if len(got) > maxMetadataProblem+len("…") || !strings.HasSuffix(got, sso) || problem != "" && !strings.HasPrefix(got, problem[:min(len(problem), 100)]) {
			t.Errorf("with a %d-byte certificate problem: %d bytes: %s", len(problem), len(got), got)
		}
	}
	if got := (&MetadataReport{Problem: strings.Repeat("p", 2000)}).Reported(); len(got) > maxMetadataProblem+len("…") {
		t.Errorf("a certificate problem alone: %d bytes", len(got))
	}
}

// TestSSOListing: where the metadata lists a connection's ssoUrl, the one rule of the
// connection test (ssoBindingProblem) and of the refresh (ssoURLDrift), endpoint by endpoint.
func TestSSOListing(t *testing.T) {
	const url = "https://idp.example.com/sso"
	redirect, post := models.SAMLBindingRedirect, models.SAMLBindingPost
	ep := func(loc string, b models.SAMLBinding) SAMLEndpoint { return SAMLEndpoint{Location: loc, Binding: b} }
	for _, c := range []struct {
		name      string
		endpoints []SAMLEndpoint
		want      ssoListing
	}{
		{"none", nil, ssoListing{}},
		{"elsewhere", []SAMLEndpoint{ep("https://idp.example.com/new", redirect), ep(url+"/", redirect)},
			ssoListing{locations: []string{"https://idp.example.com/new", url + "/"}}},
		{"for the binding", []SAMLEndpoint{ep("https://idp.example.com/new", redirect), ep(url, post), ep(url, redirect)}, ssoListing{place: ssoListed}},
		{"for the other binding", []SAMLEndpoint{ep(url, ""), ep(url, post), ep("https://idp.example.com/new", redirect)},
			ssoListing{place: ssoOtherBinding, other: post, locations: []string{"https://idp.example.com/new"}}},
		{"for bindings Gatehouse does not send by", []SAMLEndpoint{ep(url, ""), ep("https://idp.example.com/new", post)},
			ssoListing{place: ssoUnknownBinding}},
	} {
		if got := ssoListingOf(SAMLMetadata{SingleSignOnServices: c.endpoints}, url, redirect); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	// The refresh reports a URL listed for SOAP only as no longer listed for the binding, the
	// address still published: sent there by a binding the IdP no longer publishes for it.
	conn := &models.Connection{SAMLSSOURL: url, SAMLMetadataSSOListed: true}
	if listed, problem := ssoURLDrift(conn, SAMLMetadata{SingleSignOnServices: []SAMLEndpoint{ep(url, "")}}); !listed ||
		!strings.HasSuffix(problem, "(it lists no HTTP-Redirect location now); it lists that URL only for bindings Gatehouse does not send by "+
			"(such as SOAP or HTTP-Artifact), so sign-ins are sent there by a binding the IdP no longer publishes for it: "+
			"update samlConfig.ssoUrl to an HTTP-Redirect or HTTP-POST location") {
		t.Errorf("drift to SOAP only: %v %q", listed, problem)
	}
	// A URL gone from the document is an address the IdP no longer publishes.
	if listed, problem := ssoURLDrift(conn, SAMLMetadata{SingleSignOnServices: []SAMLEndpoint{ep("https://idp.example.com/new", redirect)}}); !listed ||
		!strings.HasSuffix(problem, `(its HTTP-Redirect location now: "https://idp.example.com/new"), so sign-ins go to an address the IdP no longer publishes: update samlConfig.ssoUrl`) {
		t.Errorf("drift away: %v %q", listed, problem)
	}
}
