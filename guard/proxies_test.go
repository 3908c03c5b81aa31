package guard

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddress(t *testing.T) {
	proxies, err := ParseProxies(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32")
	if err != nil || proxies.String() != "10.0.0.0/8,192.0.2.7/32,2001:db8::/32" {
		t.Fatalf("ParseProxies: %v %v", proxies, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0.1:80"} {
		if _, err := ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
		}
	}
	if p, err := ParseProxies(""); err != nil || len(p) != 0 {
		t.Fatalf("empty: %v %v", p, err)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		proxies    Proxies
		want       string
	}{
		{"no proxies: the peer, whatever the header says", "203.0.113.9:5000", []string{"198.51.100.1"}, nil, "203.0.113.9"},
		{"an untrusted peer's header is ignored", "203.0.113.9:5000", []string{"198.51.100.1"}, proxies, "203.0.113.9"},
		{"a trusted proxy names the client", "10.1.2.3:5000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"a trusted proxy without the header: the proxy", "10.1.2.3:5000", nil, proxies, "10.1.2.3"},
		{"what the client wrote left of the proxies' entries is not believed", "10.1.2.3:5000",
			[]string{"1.1.1.1, 198.51.100.1, 192.0.2.7"}, proxies, "198.51.100.1"},
		{"several header lines read as one list", "10.1.2.3:5000", []string{"1.1.1.1", "198.51.100.1"}, proxies, "198.51.100.1"},
		{"every hop trusted: the leftmost", "10.1.2.3:5000", []string{"10.9.9.9, 192.0.2.7"}, proxies, "10.9.9.9"},
		{"garbage ends the walk at the last trusted hop", "10.1.2.3:5000", []string{"198.51.100.1, not-an-ip"}, proxies, "10.1.2.3"},
		{"an address with a port", "10.1.2.3:5000", []string{"198.51.100.1:4711"}, proxies, "198.51.100.1"},
		{"IPv6 peer and client", "[2001:db8::1]:443", []string{"2001:db9::5"}, proxies, "2001:db9::5"},
		{"IPv4-mapped IPv6 peer", "[::ffff:10.1.2.3]:443", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
	} {
		r := httptest.NewRequest("GET", "/oauth/authorize", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := c.proxies.ClientAddress(r); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// The per-address limits count an IPv6 client by its /64, an IPv4 client by its address.
func TestLimitKey(t *testing.T) {
	for peer, want := range map[string]string{
		"203.0.113.9:5000":           "203.0.113.9",
		"[2001:db8:1:2:aaaa::1]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:bbbb::7]:443": "2001:db8:1:2::/64",
		"[::ffff:203.0.113.9]:443":   "203.0.113.9",
		"not an address":             "not an address",
	} {
		r := httptest.NewRequest("GET", "/oauth/authorize", nil)
		r.RemoteAddr = peer
		if got := Proxies(nil).LimitKey(r); got != want {
			t.Errorf("%s: %q, want %q", peer, got, want)
		}
	}
}
