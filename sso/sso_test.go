package sso

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/go-jose/go-jose/v4"
	"github.com/miekg/dns"

	"gatehouse/clock"
	"gatehouse/provision"
	"gatehouse/sso/dnstest"
)

// idp is an httptest OIDC issuer whose answers a test can break.
type idp struct {
	*httptest.Server
	discovery func(base string) map[string]any
	jwks      func(w http.ResponseWriter)
	delay     time.Duration
}

func rsaJWK(t testing.TB, bits int) jose.JSONWebKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: &k.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
}

// NewIdP starts a good OIDC issuer; tests override its parts.
func newIdP(t testing.TB) *idp {
	key := rsaJWK(t, 2048)
	p := &idp{}
	p.discovery = func(base string) map[string]any {
		return map[string]any{"issuer": base, "authorization_endpoint": base + "/authorize",
			"token_endpoint": base + "/token", "jwks_uri": base + "/jwks"}
	}
	p.jwks = func(w http.ResponseWriter) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key}})
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.delay > 0 {
			select {
			case <-time.After(p.delay):
			case <-r.Context().Done():
				return
			}
		}
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(p.discovery(p.URL))
		case "/jwks":
			p.jwks(w)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func TestOIDC(t *testing.T) {
	r := New(Options{AllowPrivateNetworks: true})
	cases := []struct {
		name    string
		breakIt func(p *idp)
		disc    bool // discoveryValid expected
		problem string
	}{
		{"good issuer", func(p *idp) {}, true, ""},
		{"issuer mismatch", func(p *idp) {
			d := p.discovery
			p.discovery = func(base string) map[string]any { m := d(base); m["issuer"] = "https://evil.example.com"; return m }
		}, false, `does not match the connection's issuerUrl`},
		{"no jwks_uri", func(p *idp) {
			d := p.discovery
			p.discovery = func(base string) map[string]any { m := d(base); delete(m, "jwks_uri"); return m }
		}, false, "discovery document has no jwks_uri"},
		{"no token endpoint", func(p *idp) {
			d := p.discovery
			p.discovery = func(base string) map[string]any { m := d(base); delete(m, "token_endpoint"); return m }
		}, false, "discovery document has no token_endpoint"},
		{"JWKS 500", func(p *idp) {
			p.jwks = func(w http.ResponseWriter) { http.Error(w, "down", 500) }
		}, true, "answered HTTP 500"},
		{"JWKS invalid JSON", func(p *idp) {
			p.jwks = func(w http.ResponseWriter) { w.Write([]byte(`{"keys": [`)) }
		}, true, "is not a valid JSON Web Key Set"},
		{"empty key set", func(p *idp) {
			p.jwks = func(w http.ResponseWriter) { w.Write([]byte(`{"keys": []}`)) }
		}, true, "holds no usable signing key"},
		{"only a weak key", func(p *idp) {
			k := rsaJWK(t, 1024)
			p.jwks = func(w http.ResponseWriter) { json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k}}) }
		}, true, "holds no usable signing key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newIdP(t)
			tc.breakIt(p)
			rep := r.TestOIDC(context.Background(), provision.OIDCTarget{IssuerURL: p.URL})
			if tc.problem == "" {
				if !rep.Success || len(rep.Problems) != 0 || !*rep.DiscoveryValid || !*rep.JWKSValid {
					t.Fatalf("good issuer failed: %+v", rep)
				}
				return
			}
			if rep.Success || len(rep.Problems) == 0 || !strings.Contains(strings.Join(rep.Problems, "|"), tc.problem) {
				t.Fatalf("problems = %q, want one containing %q", rep.Problems, tc.problem)
			}
			// JWKS is still checked after a discovery problem, so both are reported at once.
			wantJWKS := !tc.disc && tc.problem != "discovery document has no jwks_uri"
			if *rep.DiscoveryValid != tc.disc || *rep.JWKSValid != wantJWKS {
				t.Fatalf("discoveryValid=%v jwksValid=%v", *rep.DiscoveryValid, *rep.JWKSValid)
			}
		})
	}

	t.Run("discovery invalid JSON", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }))
		defer srv.Close()
		rep := r.TestOIDC(context.Background(), provision.OIDCTarget{IssuerURL: srv.URL})
		if rep.Success || !strings.Contains(rep.Problems[0], "is not valid JSON") {
			t.Fatalf("%+v", rep)
		}
	})

	t.Run("explicit discovery URL", func(t *testing.T) {
		p := newIdP(t)
		rep := r.TestOIDC(context.Background(), provision.OIDCTarget{IssuerURL: p.URL, DiscoveryURL: p.URL + "/.well-known/openid-configuration"})
		if !rep.Success {
			t.Fatalf("%+v", rep)
		}
		rep = r.TestOIDC(context.Background(), provision.OIDCTarget{IssuerURL: p.URL, DiscoveryURL: p.URL + "/nope"})
		if rep.Success || !strings.Contains(rep.Problems[0], "answered HTTP 404") {
			t.Fatalf("%+v", rep)
		}
	})

	t.Run("slow server past the bound", func(t *testing.T) {
		p := newIdP(t)
		p.delay = 5 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		rep := r.TestOIDC(ctx, provision.OIDCTarget{IssuerURL: p.URL})
		if rep.Success || !strings.Contains(rep.Problems[0], "timed out") || time.Since(start) > 2*time.Second {
			t.Fatalf("after %s: %+v", time.Since(start), rep)
		}
	})

	t.Run("guard refuses loopback when private networks are not allowed", func(t *testing.T) {
		p := newIdP(t)
		rep := New(Options{}).TestOIDC(context.Background(), provision.OIDCTarget{IssuerURL: p.URL})
		if rep.Success || !strings.Contains(rep.Problems[0], "not an absolute https URL") {
			t.Fatalf("%+v", rep)
		}
		tls := httptest.NewTLSServer(p.Config.Handler)
		defer tls.Close()
		pool := x509.NewCertPool()
		pool.AddCert(tls.Certificate())
		rep = New(Options{RootCAs: pool}).TestOIDC(context.Background(), provision.OIDCTarget{IssuerURL: tls.URL})
		if rep.Success || !strings.Contains(rep.Problems[0], "refused: the address is loopback") {
			t.Fatalf("%+v", rep)
		}
	})
}

// makeCert returns a PEM certificate valid in [from, to] with the given key.
func makeCert(t testing.TB, from, to time.Time, key any) string {
	t.Helper()
	var pub any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "idp.example.com"},
		NotBefore: from, NotAfter: to}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestSAML(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	r := New(Options{AllowPrivateNetworks: true, Clock: clock.NewFake(now)})
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	year := 365 * 24 * time.Hour
	good := makeCert(t, now.Add(-year), now.Add(year), rsa2048)
	cases := []struct {
		name, cert, problem string
	}{
		{"good RSA", good, ""},
		{"good ECDSA", makeCert(t, now.Add(-year), now.Add(year), ec), ""},
		{"expired", makeCert(t, now.Add(-2*year), now.Add(-time.Hour), rsa2048), "certificate expired on"},
		{"not yet valid", makeCert(t, now.Add(time.Hour), now.Add(year), rsa2048), "certificate is not valid yet"},
		{"small key", makeCert(t, now.Add(-year), now.Add(year), rsa1024), "1024-bit RSA key"},
		{"garbage", "-----BEGIN CERTIFICATE-----\nMIIC...\n-----END CERTIFICATE-----", "certificate must be a PEM-encoded X.509 certificate"},
		{"garbage DER", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")})), "not a parseable X.509 certificate (x509: malformed"},
		{"rollover, both good", good + makeCert(t, now.Add(-time.Hour), now.Add(2*year), ec), ""},
		{"rollover, the old one expired", makeCert(t, now.Add(-2*year), now.Add(-time.Hour), rsa2048) + good, "certificate 1 of 2: expired on"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := r.TestSAML(context.Background(), provision.SAMLTarget{SSOURL: "https://idp.example.com/sso", Certificate: tc.cert})
			if tc.problem == "" {
				if !rep.Success || !*rep.CertificateValid || !*rep.SSOURLValid || rep.MetadataValid != nil {
					t.Fatalf("%+v", rep)
				}
				return
			}
			if rep.Success || *rep.CertificateValid || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], tc.problem) {
				t.Fatalf("problems %q, want %q", rep.Problems, tc.problem)
			}
		})
	}
	t.Run("metadata URL", func(t *testing.T) {
		md := `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/entity">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/sso"/>
  </IDPSSODescriptor></EntityDescriptor>`
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/md" {
				w.Write([]byte(md))
				return
			}
			w.Write([]byte("not xml"))
		}))
		defer srv.Close()
		target := provision.SAMLTarget{EntityID: "https://idp.example.com/entity", SSOURL: "https://idp.example.com/sso", Certificate: good, MetadataURL: srv.URL + "/md"}
		if rep := r.TestSAML(context.Background(), target); !rep.Success || !*rep.MetadataValid {
			t.Fatalf("%+v", rep)
		}
		target.EntityID = "https://other"
		if rep := r.TestSAML(context.Background(), target); rep.Success || !strings.Contains(rep.Problems[0], "does not match") {
			t.Fatalf("%+v", rep)
		}
		target.MetadataURL = srv.URL + "/junk"
		if rep := r.TestSAML(context.Background(), target); rep.Success || *rep.MetadataValid {
			t.Fatalf("%+v", rep)
		}
	})
}

func TestLookupTXT(t *testing.T) {
	txt := dnstest.NewTXTServer(t)
	txt.Publish("_gatehouse-verify.example.com", "v=spf1 -all", "gatehouse-verify=abc")
	r := New(Options{DNSServer: txt.Addr})
	txts, err := r.LookupTXT(context.Background(), "_gatehouse-verify.example.com")
	if err != nil || len(txts) != 2 || txts[1] != "gatehouse-verify=abc" {
		t.Fatalf("txts %q, err %v", txts, err)
	}
	txts, err = r.LookupTXT(context.Background(), "_gatehouse-verify.missing.example")
	if err != nil || len(txts) != 0 {
		t.Fatalf("missing: %q %v", txts, err)
	}
	// A resolver's error answers say where to look, not only the DNS code.
	for rcode, want := range map[int]string{
		dns.RcodeServerFailure:  "could not get an answer from the domain's name servers (SERVFAIL): they may be unreachable or misconfigured",
		dns.RcodeRefused:        "refused the query (REFUSED): the resolver Gatehouse is configured with does not answer it",
		dns.RcodeNotImplemented: "the DNS server answered NOTIMP",
	} {
		txt.Fail("_gatehouse-verify.example.com", rcode)
		if _, err := r.LookupTXT(context.Background(), "_gatehouse-verify.example.com"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rcode %d: %v, want %q", rcode, err, want)
		}
	}
}

// A TXT lookup that fails says why without an address: the reason becomes the domain's
// failure reason, which the workspace's admins read, and the resolver (GATEHOUSE_DNS_SERVER)
// and this host are the operator's.
func TestLookupTXTFailureNamesNoAddress(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.LocalAddr().String()
	closed.Close() // nothing listens there: the lookup is refused
	for _, c := range []struct{ server, want string }{
		{silent.LocalAddr().String(), "the DNS server did not answer in time"},
		{closedAddr, "the DNS server could not be reached: "},
		// GATEHOUSE_DNS_SERVER set without its port (nothing checks it at start): the dial's
		// error (net.AddrError) names the address it could not use.
		{"10.0.0.2", "the DNS server could not be reached: "},
		{"10.0.0.2:99999", "the DNS server could not be reached: "},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := New(Options{DNSServer: c.server}).LookupTXT(ctx, "_gatehouse-verify.example.com")
		cancel()
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "127.0.0.1") ||
			strings.Contains(err.Error(), "10.0.0.2") || strings.Contains(err.Error(), "99999") {
			t.Errorf("DNS server %s: %v, want %q… and no address", c.server, err, c.want)
		}
	}
}

func TestFetchFileOverTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "example.com" && r.URL.Path == "/.well-known/gatehouse-verify.txt" {
			w.Write([]byte("gatehouse-verify=abc\n"))
			return
		}
		http.NotFound(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // a handshake is refused on purpose
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	to := map[string]string{"example.com:443": srv.Listener.Addr().String()}
	r := New(Options{AllowPrivateNetworks: true, RootCAs: pool, ConnectTo: to})
	body, err := r.FetchFile(context.Background(), "https://example.com/.well-known/gatehouse-verify.txt")
	if err != nil || body != "gatehouse-verify=abc\n" {
		t.Fatalf("%q %v", body, err)
	}
	// Untrusted certificate: refused.
	if _, err := New(Options{AllowPrivateNetworks: true, ConnectTo: to}).FetchFile(context.Background(), "https://example.com/.well-known/gatehouse-verify.txt"); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
	// Guard on: the connect-to target is loopback, refused, in the words of a name not found.
	if _, err := New(Options{RootCAs: pool, ConnectTo: to}).FetchFile(context.Background(), "https://example.com/.well-known/gatehouse-verify.txt"); err == nil ||
		!strings.Contains(err.Error(), "dial example.com:443: host not found, or none of its addresses is one Gatehouse may connect to") {
		t.Fatalf("guard: %v", err)
	}
}

func TestSPMetadataXML(t *testing.T) {
	pair := func() provision.SPKeyPair {
		key, _ := rsa.GenerateKey(rand.Reader, 2048)
		block, _ := pem.Decode([]byte(makeCert(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), key)))
		cert, _ := x509.ParseCertificate(block.Bytes)
		return provision.SPKeyPair{Key: key, Certificate: cert}
	}
	cur, next := pair(), pair()
	for _, keys := range []provision.SPKeys{{Current: cur}, {Current: cur, Next: &next}} {
		xmlDoc, err := New(Options{}).SPMetadataXML(keys, "https://gh.example.com/saml/metadata", "https://gh.example.com/saml/acs")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`entityID="https://gh.example.com/saml/metadata"`, `Location="https://gh.example.com/saml/acs"`, "X509Certificate", "SPSSODescriptor"} {
			if !strings.Contains(xmlDoc, want) {
				t.Errorf("metadata lacks %s:\n%s", want, xmlDoc)
			}
		}
		// Each key is listed for signing and for encryption, the current key first.
		var ed saml.EntityDescriptor
		if err := xml.Unmarshal([]byte(xmlDoc), &ed); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, kd := range ed.SPSSODescriptors[0].KeyDescriptors {
			der, _ := base64.StdEncoding.DecodeString(kd.KeyInfo.X509Data.X509Certificates[0].Data)
			who := "other"
			switch {
			case bytes.Equal(der, cur.Certificate.Raw):
				who = "current"
			case bytes.Equal(der, next.Certificate.Raw):
				who = "next"
			}
			got = append(got, kd.Use+":"+who)
		}
		want := "signing:current encryption:current"
		if keys.Next != nil {
			want += " signing:next encryption:next"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("key descriptors %v, want %s", got, want)
		}
	}
}
