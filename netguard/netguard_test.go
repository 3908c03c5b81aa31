package netguard

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestBlocked(t *testing.T) {
	for _, tc := range []struct {
		ip      string
		blocked bool
	}{
		{"127.0.0.1", true}, {"127.9.9.9", true}, {"::1", true}, {"::ffff:127.0.0.1", true},
		{"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true}, {"fd12::1", true},
		{"169.254.169.254", true}, {"169.254.1.1", true}, {"fe80::1", true}, {"fd00:ec2::254", true},
		{"100.64.0.1", true}, {"0.0.0.0", true}, {"::", true}, {"224.0.0.1", true}, {"ff02::1", true},
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"2001:4860:4860::8888", false}, {"100.128.0.1", false},
		// IPv4 embedded in IPv6 is judged as that IPv4 address.
		{"64:ff9b::a00:1", true}, {"64:ff9b::10.0.0.1", true}, {"64:ff9b::a9fe:a9fe", true}, {"64:ff9b::7f00:1", true},
		{"64:ff9b::c0a8:101", true}, {"64:ff9b::6440:1", true}, {"64:ff9b::808:808", false},
		{"fec0::1", true}, {"feff:ffff::1", true}, {"fe00::1", false},
		{"64:ff9b:1::808:808", true}, // local-use NAT64: a private translator, refused whatever it embeds
		{"2002:a00:1::1", true}, {"2002:7f00:1::", true}, {"2002:a9fe:a9fe::1", true}, {"2002:c0a8:101:1::1", true},
		{"2002:808:808::1", false},
		// Teredo (the last 32 bits hide 169.254.169.254, then 8.8.8.8): refused whatever it hides.
		{"2001:0:4136:e378:8000:63bf:5601:5601", true}, {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", true},
		{"::10.0.0.1", true}, {"::127.0.0.1", true}, {"::169.254.169.254", true}, {"::8.8.8.8", false},
		{"::ffff:0:10.0.0.1", true}, {"::ffff:0:127.0.0.1", true}, {"::ffff:0:8.8.8.8", false},
		{"::ffff:169.254.169.254", true}, {"::ffff:8.8.8.8", false},
	} {
		if got := Blocked(netip.MustParseAddr(tc.ip)); got != tc.blocked {
			t.Errorf("Blocked(%s) = %v, want %v", tc.ip, got, tc.blocked)
		}
	}
}

func TestControlRefusesMetadataEvenWhenPrivateAllowed(t *testing.T) {
	if err := Control(true, nil)("tcp4", "169.254.169.254:80", nil); !errors.Is(err, ErrBlocked) || errors.Is(err, ErrPrivate) {
		t.Fatalf("metadata address allowed, or refused as a private one (which a setting would allow): %v", err)
	}
	for _, a := range []string{"[64:ff9b::a9fe:a9fe]:80", "[2002:a9fe:a9fe::1]:80", "[::169.254.169.254]:80",
		"[::ffff:0:169.254.169.254]:80", "[::ffff:169.254.169.254]:80"} {
		if err := Control(true, nil)("tcp6", a, nil); !errors.Is(err, ErrBlocked) {
			t.Errorf("metadata address %s allowed: %v", a, err)
		}
	}
	if err := Control(true, nil)("tcp4", "127.0.0.1:80", nil); err != nil {
		t.Fatalf("loopback refused with private networks allowed: %v", err)
	}
}

func tlsPool(srv *httptest.Server) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}

func TestGuardRefusesLoopbackByDefault(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	c := NewClient(Options{RootCAs: tlsPool(srv)}) // AllowPrivate false
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		_, err := Get(context.Background(), c, u, MaxBody)
		if !errors.Is(err, ErrBlocked) || !errors.Is(err, ErrPrivate) {
			t.Errorf("GET %s: err = %v, want ErrBlocked and ErrPrivate", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the guarded client reached the loopback server %d times", hits.Load())
	}
	// The same request succeeds when private networks are allowed: the refusal was the guard's.
	if _, err := Get(context.Background(), NewClient(Options{AllowPrivate: true, RootCAs: tlsPool(srv)}), srv.URL, MaxBody); err != nil {
		t.Fatalf("allowed client: %v", err)
	}
}

func TestGuardRefusesRedirectToLoopback(t *testing.T) {
	var innerHits atomic.Int32
	inner := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { innerHits.Add(1) }))
	defer inner.Close()
	outer := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/metadata", http.StatusFound)
	}))
	defer outer.Close()
	outerAddr := netip.MustParseAddrPort(outer.Listener.Addr().String())
	// The guard is on; only the outer server (standing in for a public IdP) is exempt.
	c := NewClient(Options{RootCAs: tlsPool(outer), exempt: func(ap netip.AddrPort) bool { return ap == outerAddr }})
	_, err := Get(context.Background(), c, outer.URL, MaxBody)
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("redirect to loopback: err = %v, want ErrBlocked", err)
	}
	if innerHits.Load() != 0 {
		t.Fatal("the redirect reached the loopback server")
	}

	plain := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://example.com/", http.StatusFound)
	}))
	defer plain.Close()
	plainAddr := netip.MustParseAddrPort(plain.Listener.Addr().String())
	c = NewClient(Options{RootCAs: tlsPool(plain), exempt: func(ap netip.AddrPort) bool { return ap == plainAddr }})
	if _, err := Get(context.Background(), c, plain.URL, MaxBody); !errors.Is(err, ErrBlocked) {
		t.Fatalf("redirect to plain http: err = %v, want ErrBlocked", err)
	}
}

// A POST (a token request, its credentials in the body) is never redirected: a 307 or 308,
// which Go would follow with the body to any host, is handed back as it came.
func TestPOSTIsNotRedirected(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		idp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/token", code)
		}))
		pool := tlsPool(idp)
		pool.AddCert(other.Certificate())
		c := NewClient(Options{RootCAs: pool, AllowPrivate: true})
		resp, err := c.Post(idp.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader("client_secret=s3cret"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code || elsewhere.Load() != 0 {
			t.Fatalf("POST answered %d: status %d, %d requests reached the other host", code, resp.StatusCode, elsewhere.Load())
		}
		// A GET still follows.
		if _, err := c.Get(idp.URL + "/metadata"); err != nil || elsewhere.Load() != 1 {
			t.Fatalf("GET redirected by %d: %v, %d requests reached the other host", code, err, elsewhere.Load())
		}
		elsewhere.Store(0)
		idp.Close()
	}
}

func TestGetLimitsBodyAndStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(make([]byte, 2*MaxBody))
			return
		}
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	c := NewClient(Options{AllowPrivate: true})
	if _, err := Get(context.Background(), c, srv.URL+"/big", MaxBody); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("big body: %v", err)
	}
	if _, err := Get(context.Background(), c, srv.URL+"/err", MaxBody); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("500: %v", err)
	}
}

// GATEHOUSE_ALLOWED_PRIVATE_NETWORKS: the listed private networks are reached, nothing else
// private is; loopback, link-local and unspecified addresses only through an entry within
// them, never through a broad one; the cloud metadata addresses never.
func TestAllowedNetworks(t *testing.T) {
	n, err := ParseNetworks(" 10.1.0.0/16, fd00::/8,127.0.0.1 , 169.254.0.0/16,,0.0.0.0/0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr  string
		allow bool
	}{
		{"10.1.2.3:443", true}, {"[fd00::1]:443", true}, {"[::ffff:10.1.2.3]:443", true}, {"[64:ff9b::a01:203]:443", true},
		{"127.0.0.1:443", true}, {"169.254.1.1:443", true},
		{"10.2.0.1:443", true}, {"192.168.1.1:443", true}, // through 0.0.0.0/0: a broad entry opens what is private
		{"127.0.0.2:443", false}, {"0.0.0.0:443", false}, {"[::1]:443", false}, {"[fe80::1]:443", false}, // but not this host or its link
		{"[fc00::1]:443", false},
		{"169.254.169.254:80", false}, {"[::ffff:169.254.169.254]:80", false}, {"[fd00:ec2::254]:80", false}, // never
	} {
		err := Control(false, n)("tcp", tc.addr, nil)
		if (err == nil) != tc.allow {
			t.Errorf("%s: %v, want allowed %v", tc.addr, err, tc.allow)
		}
	}
	if err := Control(false, nil)("tcp4", "10.1.2.3:443", nil); !errors.Is(err, ErrPrivate) {
		t.Errorf("without the list: %v", err)
	}
	for _, c := range []struct{ value, err string }{
		{"10.1.0.0/33", `"10.1.0.0/33" is not a CIDR prefix`},
		{"10.1.0.0/16,intranet", `"intranet" is not a CIDR prefix`},
		{"fe80::1%eth0", `"fe80::1%eth0" is not a CIDR prefix`},
		{"::ffff:10.0.0.0/104", `"::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 prefix`},
		{"169.254.169.254/32", `"169.254.169.254/32" is a cloud metadata address`},
		{"fd00:ec2::254", `"fd00:ec2::254" is a cloud metadata address`},
	} {
		if _, err := ParseNetworks(c.value); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParseNetworks(%q): %v, want %q", c.value, err, c.err)
		}
	}
	if n, err := ParseNetworks(" "); err != nil || n != nil {
		t.Errorf("blank: %v, %v", n, err)
	}
}
