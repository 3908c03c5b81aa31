package guard

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies and load balancers in front of Gatehouse
// (GATEHOUSE_TRUSTED_PROXIES): only a request that comes from one of them has its
// X-Forwarded-For believed. Without any, the client address is the TCP peer, which behind a
// proxy is the proxy for everyone, and per-address limits then count all clients together.
type Proxies []netip.Prefix

// ParseProxies reads a comma-separated list of addresses and CIDR prefixes ("10.0.0.0/8,
// 192.0.2.7, ::1"); "" is none.
func ParseProxies(s string) (Proxies, error) {
	var p Proxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if pre, err := netip.ParsePrefix(f); err == nil {
			p = append(p, pre.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("want IP addresses or CIDR prefixes separated by commas, got %q", f)
		}
		a = a.Unmap()
		p = append(p, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// String formats p as ParseProxies reads it.
func (p Proxies) String() string {
	s := make([]string, len(p))
	for i, pre := range p {
		s[i] = pre.String()
	}
	return strings.Join(s, ",")
}

func (p Proxies) trusts(a netip.Addr) bool {
	for _, pre := range p {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// FromProxy reports whether r's TCP peer is one of the proxies: whether what it says about
// the request it forwards (X-Forwarded-For, an incoming trace context) is to be believed.
func (p Proxies) FromProxy(r *http.Request) bool {
	_, a, ok := peerOf(r)
	return ok && p.trusts(a)
}

// peerOf is r's TCP peer: its host as written, and its address when it is one.
func peerOf(r *http.Request) (host string, a netip.Addr, ok bool) {
	host = r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host, netip.Addr{}, false
	}
	return host, a.Unmap(), true
}

// ClientAddress is the address of the client that sent r: the TCP peer, unless the peer is a
// trusted proxy; then the nearest address in X-Forwarded-For that is not a trusted proxy,
// read from the right (each proxy appends the address it received from, so only the entries
// trusted proxies appended are the proxies' word; anything left of them the client may have
// written). An entry that is not an address ends the walk at the last trusted hop.
func (p Proxies) ClientAddress(r *http.Request) string {
	peer, a, ok := peerOf(r)
	if !ok {
		return peer
	}
	client := a
	if !p.trusts(client) {
		return client.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" && len(hops) == 1 {
			break // no header
		}
		hop, err := netip.ParseAddr(h)
		if err != nil {
			if ap, err2 := netip.ParseAddrPort(h); err2 == nil {
				hop, err = ap.Addr(), nil
			}
		}
		if err != nil {
			break
		}
		client = hop.Unmap()
		if !p.trusts(client) {
			break
		}
	}
	return client.String()
}

// LimitKey is the key of r's client in the per-address limits: its address (ClientAddress),
// or for IPv6 its /64, the block one subscriber or host is usually given, so that an address
// per request does not make a new bucket each time.
func (p Proxies) LimitKey(r *http.Request) string {
	addr := p.ClientAddress(r)
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is6() || a.Is4In6() {
		return addr
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}
