package provision

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// TestSAMLCertificateExpiry: the operator's count of SAML connections by when their IdP
// certificates stop verifying, at the edges of its buckets, across workspaces and batches;
// only live active and testing SAML connections count, and the urgent ones are named.
func TestSAMLCertificateExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		box, err := secret.NewBox(secret.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		s := New(e.st, box, Options{Clock: clock.NewFake(now)})
		defer func(b int) { certificatesBatch = b }(certificatesBatch)
		certificatesBatch = 2 // several batches

		cert := func(notBefore, notAfter time.Time) string {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: notBefore, NotAfter: notAfter}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
			if err != nil {
				t.Fatal(err)
			}
			return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		}
		valid := func(until time.Duration) string { return cert(now.Add(-time.Hour), now.Add(until)) }
		day := 24 * time.Hour
		n := 0
		add := func(ws *models.Workspace, protocol models.Protocol, status models.ConnectionStatus, certificate string, deleted bool) *models.Connection {
			n++
			c := &models.Connection{ID: store.NewID(), WorkspaceID: ws.ID, Name: "c" + string(rune('a'+n)), NameKey: "c" + string(rune('a'+n)),
				Slug: "c" + string(rune('a'+n)), Protocol: protocol, Status: status, SAMLCertificate: certificate, Version: 1, CreatedAt: now, UpdatedAt: now}
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
		ws, err := e.st.Workspace(e.ctx, e.ws)
		if err != nil {
			t.Fatal(err)
		}
		other := &models.Workspace{ID: store.NewID(), Name: "Other", CreatedAt: now}
		if err := e.st.Create(e.ctx, other); err != nil {
			t.Fatal(err)
		}
		saml, active, testing_ := models.ProtocolSAML, models.StatusActive, models.StatusTesting
		urgent := map[string]bool{
			add(ws, saml, active, valid(time.Minute), false).ID.String():                                     true, // expires in a minute: within 7 days
			add(ws, saml, active, cert(now.Add(-2*day), now.Add(-time.Second)), false).ID.String():           true, // expired a second ago
			add(other, saml, testing_, cert(now.Add(time.Hour), now.Add(365*day)), false).ID.String():        true, // not valid yet: none valid now
			add(other, saml, active, "not a certificate", false).ID.String():                                 true, // does not parse
			add(ws, saml, active, valid(7*day-time.Minute), false).ID.String():                               true,
			add(ws, saml, active, cert(now.Add(-2*day), now.Add(-day))+"\n"+valid(6*day), false).ID.String(): true, // an expired one beside
		}
		add(ws, saml, active, valid(7*day+2*time.Hour), false)           // within 7 to 30 days
		add(other, saml, testing_, valid(30*day-time.Minute), false)     // within 7 to 30 days
		add(ws, saml, active, valid(30*day+2*time.Hour), false)          // later
		add(ws, saml, active, valid(6*day)+"\n"+valid(400*day), false)   // later: the latest governs
		add(ws, saml, models.StatusInactive, valid(-time.Minute), false) // inactive: not counted
		add(ws, saml, models.StatusError, valid(time.Minute), false)     // error: not counted
		add(ws, saml, active, valid(time.Minute), true)                  // deleted: not counted
		add(ws, models.ProtocolOIDC, active, "", false)                  // OIDC: not counted

		got, err := s.SAMLCertificateExpiry(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Expired != 3 || got.Within7Days != 3 || got.Within30Days != 2 || got.Later != 2 {
			t.Fatalf("expired %d, within 7 days %d, 7 to 30 days %d, later %d; want 3, 3, 2, 2",
				got.Expired, got.Within7Days, got.Within30Days, got.Later)
		}
		if len(got.Urgent) != len(urgent) {
			t.Fatalf("urgent %+v", got.Urgent)
		}
		for _, u := range got.Urgent {
			if !urgent[u.ConnectionID.String()] {
				t.Errorf("%s named urgent", u.ConnectionID)
			}
		}
	})
}
