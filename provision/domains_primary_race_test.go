package provision

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// txtRemote finds every value it holds at any TXT name: each domain's proof is published.
type txtRemote struct {
	Remote
	values []string
}

func (r *txtRemote) LookupTXT(context.Context, string) ([]string, error) { return r.values, nil }

// primaryOf names the connection's primary domains.
func (e *testEnv) primaryOf(conn *models.Connection) []string {
	e.t.Helper()
	var out []string
	for _, d := range must(e.st.Domains(e.ctx, e.ws, conn.ID)) {
		if d.IsPrimary {
			out = append(out, d.Name)
		}
	}
	return out
}

// Two domains of a connection with no verified domain yet, verified at once (two admins, a
// script verifying them in parallel): both are verified, the first to commit primary. Before,
// on PostgreSQL, both counted no verified domain and both made theirs primary: the second
// failed on the one-primary index with an internal error (GraphQL INTERNAL, REST 500), and its
// domain stayed pending although its proof was found.
func TestVerifyingTwoFirstDomainsAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("INSERT") // the first verification, held at its audit event, its domain made primary
		r := &txtRemote{}
		e := newHeldEnv(t, dbURL, h, Options{Remote: r})
		conn := e.connection("okta", true, "member", false)
		a := must(e.s.AddDomain(e.ctx, conn.ID.String(), DomainInput{Domain: "example.org"}))
		b := must(e.s.AddDomain(e.ctx, conn.ID.String(), DomainInput{Domain: "example.net"}))
		r.values = []string{a.DNSRecord().Value, b.DNSRecord().Value}
		verify := func(d *models.Domain) func(context.Context) error {
			return func(ctx context.Context) error {
				_, ok, err := e.s.VerifyDomain(ctx, conn.ID.String(), d.ID.String())
				if err == nil && !ok {
					t.Errorf("%s not verified", d.Name)
				}
				return err
			}
		}

		errB, errA := raceHeld(t, e, h, verify(b), verify(a))
		if errA != nil || errB != nil {
			t.Fatalf("the verifications: %v, %v; want both verified", errA, errB)
		}
		if verified, _ := e.verifiedDomains(conn); verified != 2 {
			t.Fatalf("%d verified domains, want 2", verified)
		}
		if p := e.primaryOf(conn); len(p) != 1 {
			t.Fatalf("primary domains %v, want one", p)
		}
	})
}

// Two domains made primary at once: both calls succeed, the one committed last is primary.
// Before, on PostgreSQL, the second failed on the one-primary index with an internal error.
func TestSettingTwoPrimaryDomainsAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("INSERT") // the first, held at its audit event, its domain made primary
		e := newHeldEnv(t, dbURL, h, Options{})
		conn, ds := e.connectionWithVerifiedDomains("example.org", "example.net", "example.com")
		primary := func(d *models.Domain) func(context.Context) error {
			return func(ctx context.Context) error {
				_, err := e.s.SetPrimaryDomain(ctx, conn.ID.String(), d.ID.String())
				return err
			}
		}

		err1, err0 := raceHeld(t, e, h, primary(ds[1]), primary(ds[0]))
		if err0 != nil || err1 != nil {
			t.Fatalf("setting the primary domains: %v, %v; want both done", err0, err1)
		}
		if p := e.primaryOf(conn); len(p) != 1 || e.st.Dialect() == "postgres" && p[0] != ds[1].Name {
			t.Fatalf("primary domains %v, want %s (set last)", p, ds[1].Name)
		}
	})
}

// A domain made primary while an admin removes it: the connection keeps a primary domain.
// Before, on PostgreSQL, the removal read the domain before it was primary and deleted it
// after, promoting none, while the set-primary had cleared the old primary: the connection
// had verified domains and no primary one, so people provisioned without an email got none.
func TestRemovingADomainMadePrimaryMeanwhile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("DELETE") // the removal, held after it read the domain, before its delete
		e := newHeldEnv(t, dbURL, h, Options{})
		conn, ds := e.connectionWithVerifiedDomains("example.org", "example.net", "example.com")
		must(e.s.SetPrimaryDomain(e.ctx, conn.ID.String(), ds[0].ID.String()))
		setPrimary := func(ctx context.Context) error {
			_, err := e.s.SetPrimaryDomain(ctx, conn.ID.String(), ds[1].ID.String())
			return err
		}
		remove := func(ctx context.Context) error {
			_, err := e.s.RemoveDomain(ctx, conn.ID.String(), ds[1].ID.String())
			return err
		}

		errSet, errRemove := raceHeld(t, e, h, setPrimary, remove)
		if errRemove != nil {
			t.Fatalf("the removal: %v", errRemove)
		}
		if p := e.primaryOf(conn); len(p) != 1 {
			t.Fatalf("primary domains %v after the removal (set-primary: %v); want one", p, errSet)
		}
	})
}

// A domain verified while the connection's primary domain is removed: the connection keeps a
// primary domain. Before, on PostgreSQL, the verification counted the primary domain as
// verified, and the removal, before the verification committed, found no other verified
// domain to promote: neither made one primary.
func TestVerifyingADomainWhileThePrimaryIsRemoved(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("INSERT") // the verification, held at its audit event, its domain saved verified
		r := &txtRemote{}
		e := newHeldEnv(t, dbURL, h, Options{Remote: r})
		conn := e.connection("okta", true, "member", false)
		e.verifyDomain(conn, "example.org")
		primary := must(e.st.Domains(e.ctx, e.ws, conn.ID))[0]
		must(e.s.SetPrimaryDomain(e.ctx, conn.ID.String(), primary.ID.String()))
		pending := must(e.s.AddDomain(e.ctx, conn.ID.String(), DomainInput{Domain: "example.net"}))
		r.values = []string{pending.DNSRecord().Value}
		verify := func(ctx context.Context) error {
			_, _, err := e.s.VerifyDomain(ctx, conn.ID.String(), pending.ID.String())
			return err
		}
		remove := func(ctx context.Context) error {
			_, err := e.s.RemoveDomain(ctx, conn.ID.String(), primary.ID.String())
			return err
		}

		errRemove, errVerify := raceHeld(t, e, h, remove, verify)
		if errVerify != nil || errRemove != nil {
			t.Fatalf("verification %v, removal %v", errVerify, errRemove)
		}
		if p := e.primaryOf(conn); len(p) != 1 || p[0] != "example.net" {
			t.Fatalf("primary domains %v; want example.net, the one verified left", p)
		}
	})
}

// connectionWithVerifiedDomains is an inactive connection with the named domains verified,
// none primary, and those domains in the order given.
func (e *testEnv) connectionWithVerifiedDomains(names ...string) (*models.Connection, []*models.Domain) {
	e.t.Helper()
	conn := e.connection("okta", true, "member", false)
	for _, name := range names {
		e.verifyDomain(conn, name)
	}
	return conn, must(e.st.Domains(e.ctx, e.ws, conn.ID))
}
