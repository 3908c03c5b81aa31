package provision

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// concurrentRemote answers domain checks: the first lookup waits until release, then fails as
// a DNS answer lost; every later one finds the record.
type concurrentRemote struct {
	Remote
	entered, release chan struct{}
	calls            atomic.Int32
	value            string
	firstFinds       bool // the first lookup, once released, finds the record too
}

func (r *concurrentRemote) LookupTXT(context.Context, string) ([]string, error) {
	if r.calls.Add(1) == 1 {
		close(r.entered)
		<-r.release
		if r.firstFinds {
			return []string{r.value}, nil
		}
		return nil, errors.New("read udp 10.0.0.2:53: i/o timeout")
	}
	return []string{r.value}, nil
}

// A domain check that fails (a DNS answer lost) while another check verifies the domain (two
// admins, or the button pressed twice) leaves the domain verified: it reports the domain as it
// is, verified, and writes no event. Before, it saved the domain failed over the other's
// verification, which unrouted its sign-ins and stopped its links by email until an admin
// verified it again.
func TestVerifyDomainFailedCheckKeepsAConcurrentVerification(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		r := &concurrentRemote{entered: make(chan struct{}), release: make(chan struct{})}
		e := newTestEnvWith(t, dbURL, store.Options{}, Options{Remote: r})
		s := e.s
		conn := e.connection("okta", true, "member", true)
		d := must(s.AddDomain(e.ctx, conn.ID.String(), DomainInput{Domain: "example.org"}))
		r.value = d.DNSRecord().Value
		events := func() int {
			t.Helper()
			var n int
			if err := e.st.RawScan(e.ctx, &n, "SELECT count(*) FROM audit_events WHERE action = 'domain.verify'"); err != nil {
				t.Fatal(err)
			}
			return n
		}

		type result struct {
			d   *models.Domain
			ok  bool
			err error
		}
		first := make(chan result, 1)
		go func() {
			d, ok, err := s.VerifyDomain(e.ctx, conn.ID.String(), d.ID.String())
			first <- result{d, ok, err}
		}()
		<-r.entered
		if got, ok, err := s.VerifyDomain(e.ctx, conn.ID.String(), d.ID.String()); err != nil || !ok || got.Status != models.DomainVerified {
			t.Fatalf("the second check: %+v %v %v", got, ok, err)
		}
		close(r.release)
		res := <-first
		if res.err != nil || !res.ok || res.d == nil || res.d.Status != models.DomainVerified || res.d.FailureReason != "" {
			t.Fatalf("the check that failed meanwhile: %+v %v %v, want the domain verified", res.d, res.ok, res.err)
		}
		stored := must(e.st.Domain(e.ctx, e.ws, conn.ID, d.ID))
		if stored.Status != models.DomainVerified || !stored.IsPrimary || stored.FailureReason != "" {
			t.Fatalf("stored: %s primary %v reason %q, want verified and primary", stored.Status, stored.IsPrimary, stored.FailureReason)
		}
		if n := events(); n != 1 {
			t.Fatalf("%d domain.verify events, want the verification's only", n)
		}

		// A check that fails on a domain not verified still records the failure.
		other := must(s.AddDomain(e.ctx, conn.ID.String(), DomainInput{Domain: "example.net"}))
		r.value = "another value"
		if got, ok, err := s.VerifyDomain(e.ctx, conn.ID.String(), other.ID.String()); err != nil || ok || got.Status != models.DomainFailed ||
			got.FailureReason == "" || events() != 2 {
			t.Fatalf("a failed check: %+v %v %v, %d events", got, ok, err, events())
		}
	})
}

// Two checks of one domain that both find the proof, at once: the domain is verified once, by
// the check that committed first, with one event and its verifiedAt; the other reports it
// verified. Before, the second saved it verified again, with a second event and a later
// verifiedAt (which decides which domain is promoted primary when the primary one is removed).
func TestVerifyDomainTwiceAtOnceVerifiesOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		r := &concurrentRemote{entered: make(chan struct{}), release: make(chan struct{}), firstFinds: true}
		e := newTestEnvWith(t, dbURL, store.Options{}, Options{Remote: r})
		s := e.s
		conn := e.connection("okta", true, "member", true)
		d := must(s.AddDomain(e.ctx, conn.ID.String(), DomainInput{Domain: "example.org"}))
		r.value = d.DNSRecord().Value
		first := make(chan error, 1)
		go func() {
			_, ok, err := s.VerifyDomain(e.ctx, conn.ID.String(), d.ID.String())
			if err == nil && !ok {
				err = errors.New("not verified")
			}
			first <- err
		}()
		<-r.entered
		second, ok, err := s.VerifyDomain(e.ctx, conn.ID.String(), d.ID.String())
		if err != nil || !ok || second.VerifiedAt == nil {
			t.Fatalf("the second check: %+v %v %v", second, ok, err)
		}
		close(r.release)
		if err := <-first; err != nil {
			t.Fatalf("the first check, which found the proof after the second verified it: %v", err)
		}
		stored := must(e.st.Domain(e.ctx, e.ws, conn.ID, d.ID))
		var events int
		if err := e.st.RawScan(e.ctx, &events, "SELECT count(*) FROM audit_events WHERE action = 'domain.verify'"); err != nil {
			t.Fatal(err)
		}
		if stored.Status != models.DomainVerified || stored.VerifiedAt == nil || !stored.VerifiedAt.Equal(*second.VerifiedAt) || events != 1 {
			t.Fatalf("stored %s verified at %v (the verification's: %v), %d domain.verify events; want one verification", stored.Status, stored.VerifiedAt, second.VerifiedAt, events)
		}
	})
}
