package provision

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store/storetest"
)

// selfSigned returns a self-signed ECDSA certificate valid from notBefore to notAfter.
func selfSigned(t *testing.T, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return must(x509.ParseCertificate(der))
}

// awayRemote answers every network check at once, and fails the test when a check runs
// while the request holds its admission slots (away false).
type awayRemote struct {
	Remote
	t     *testing.T
	away  *bool
	calls *int
	md    SAMLMetadata
}

func (r awayRemote) called(what string) {
	*r.calls++
	if !*r.away {
		r.t.Errorf("%s ran holding the request's admission slots", what)
	}
}

func (r awayRemote) TestOIDC(context.Context, OIDCTarget) TestReport {
	r.called("TestOIDC")
	return TestReport{Success: true}
}

func (r awayRemote) TestSAML(context.Context, SAMLTarget) TestReport {
	r.called("TestSAML")
	return TestReport{Success: true}
}

func (r awayRemote) LookupTXT(context.Context, string) ([]string, error) {
	r.called("LookupTXT")
	return nil, nil
}

func (r awayRemote) SAMLMetadata(context.Context, string) (SAMLMetadata, error) {
	r.called("SAMLMetadata")
	return r.md, nil
}

// Every call an admin's request makes to another service (a connection test, a SAML metadata
// read at creation or on a refresh, a domain check) runs outside the request's admission slots
// (Options.Outside): the endpoints are the workspace admin's to choose, and one that hangs
// held a slot for the whole network timeout. When the slots do not come back before the
// deadline, the operation fails as unavailable and writes nothing: no status, no audit event.
func TestNetworkCallsWaitOutsideTheSlots(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		box, err := secret.NewBox(secret.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		cert := selfSigned(t, now.Add(-time.Hour), now.AddDate(1, 0, 0))
		var away bool
		var calls int
		slotsBack := true
		remote := awayRemote{t: t, away: &away, calls: &calls,
			md: SAMLMetadata{EntityID: "https://idp.example.com/saml", SSOURL: "https://idp.example.com/sso", SigningCertificates: []*x509.Certificate{cert}}}
		s := New(e.st, box, Options{Remote: remote, Outside: func(ctx context.Context, wait func()) bool {
			away = true
			wait()
			away = false
			return slotsBack
		}})
		e.s = s

		oidc := e.connection("okta", true, "member", false)
		name, proto, metadataURL, follow := "ADFS", models.ProtocolSAML, "https://idp.example.com/metadata", true
		pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
		saml := must(s.CreateConnection(e.ctx, ConnectionInput{Name: &name, Protocol: &proto,
			SAML: &SAMLConfigInput{MetadataURL: &metadataURL, Certificate: &pemText, RefreshCertificatesFromMetadata: &follow}}))
		domain := must(s.AddDomain(e.ctx, oidc.ID.String(), DomainInput{Domain: "example.org"}))
		operations := []struct {
			name string
			run  func() error
		}{
			{"test an OIDC connection", func() error { _, err := s.TestConnection(e.ctx, oidc.ID.String()); return err }},
			{"test a SAML connection", func() error { _, err := s.TestConnection(e.ctx, saml.ID.String()); return err }},
			{"verify a domain", func() error { _, _, err := s.VerifyDomain(e.ctx, oidc.ID.String(), domain.ID.String()); return err }},
			{"refresh SAML certificates", func() error { _, err := s.RefreshSAMLCertificates(e.ctx, saml.ID.String()); return err }},
			{"create a SAML connection from its metadata URL", func() error {
				name := "Entra"
				_, err := s.CreateConnection(e.ctx, ConnectionInput{Name: &name, Protocol: &proto, SAML: &SAMLConfigInput{MetadataURL: &metadataURL}})
				return err
			}},
		}
		for _, op := range operations {
			slotsBack = false
			calls = 0
			audits, connections := e.count("audit_events"), e.count("connections")
			err := op.run()
			if calls == 0 {
				t.Errorf("%s: no network call", op.name)
			}
			if models.ErrorCode(err) != models.EUNAVAILABLE {
				t.Errorf("%s with no slot free again: %v, want UNAVAILABLE", op.name, err)
			}
			if a, c := e.count("audit_events"), e.count("connections"); a != audits || c != connections {
				t.Errorf("%s with no slot free again wrote: audit events %d → %d, connections %d → %d", op.name, audits, a, connections, c)
			}
			slotsBack = true
			if err := op.run(); err != nil {
				t.Errorf("%s: %v", op.name, err)
			}
		}
		if got := must(e.st.Connection(e.ctx, e.ws, oidc.ID)); got.Status != models.StatusTesting {
			t.Errorf("the OIDC connection after its test: %s, want testing", got.Status)
		}
	})
}

// The admins' calls waiting outside the slots are bounded per workspace (Options.OutsideWaits):
// past the bound a call is unavailable at once, without running; another workspace's, and
// the hourly refresh's (no principal), still run; a finished call frees its place.
func TestOutsideWaitsBoundedPerWorkspace(t *testing.T) {
	s := &Service{sso: ssoOptions{outside: func(_ context.Context, wait func()) bool { wait(); return true },
		away: &awayCounts{max: 1, n: map[uuid.UUID]int{}}}}
	a := WithPrincipal(context.Background(), &Principal{WorkspaceID: uuid.New()})
	b := WithPrincipal(context.Background(), &Principal{WorkspaceID: uuid.New()})
	ran := map[string]bool{}
	run := func(ctx context.Context, name string) error {
		return s.awayFromSlots(ctx, name, func() { ran[name] = true })
	}
	var inner [3]error
	if err := s.awayFromSlots(a, "first", func() {
		inner = [3]error{run(a, "same workspace"), run(b, "other workspace"), run(context.Background(), "refresh")}
	}); err != nil {
		t.Fatal(err)
	}
	if models.ErrorCode(inner[0]) != models.EUNAVAILABLE || ran["same workspace"] {
		t.Errorf("a second call of the workspace while its first waits: %v (ran %v), want UNAVAILABLE without running", inner[0], ran["same workspace"])
	}
	if inner[1] != nil || inner[2] != nil || !ran["other workspace"] || !ran["refresh"] {
		t.Errorf("another workspace's call and the refresh's: %v, %v (ran %v)", inner[1], inner[2], ran)
	}
	if err := run(a, "after"); err != nil || !ran["after"] || len(s.sso.away.n) != 0 {
		t.Errorf("a call once the first finished: %v (ran %v), counts %v", err, ran["after"], s.sso.away.n)
	}
}
