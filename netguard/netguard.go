// Package netguard is the SSRF guard for every outbound request Gatehouse makes on an admin's
// behalf (OIDC discovery and JWKS, SAML metadata, https-file domain verification). Its HTTP
// client checks the address it actually connects to — after DNS resolution and on every
// redirect — and refuses loopback, private, link-local, CGNAT, multicast, unspecified and
// cloud metadata addresses unless private networks are allowed (the metadata ones always). It
// also bounds response sizes. Its connection errors (ConnError) name the host asked for, never
// an address of the operator's network, and a name not found reads as one whose addresses are
// all refused (ErrNoAddress). It holds no business rules.
package netguard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"gatehouse/models"
)

// MaxBody is the default bound on a response body.
const MaxBody = 1 << 20

// ErrBlocked is returned (wrapped) when a connection to a refused address is attempted, or a
// redirect to a URL the guard does not follow; the error's text says which host or URL, and
// why.
var ErrBlocked = errors.New("netguard: address not allowed")

// ErrPrivate is returned (wrapped, beside ErrBlocked) for an address refused only because
// private networks are not allowed (Options.AllowPrivate): the one refusal an operator's
// setting changes, which a message may say. A cloud metadata address, or a redirect to plain
// http, is ErrBlocked alone.
var ErrPrivate = errors.New("private networks are not allowed")

// ErrNoAddress is returned (joined to the cause, in a ConnError) when the host a request names
// was not found, or resolved only to addresses the guard refuses: one answer for both, whose
// text says both, because told apart they map the operator's internal DNS for whoever typed
// the URL (a name that does not exist against one that exists inside). The cause goes to the
// operator's log (Options.Log). A host given as an address is no name to learn about, and keeps
// its cause's words. Check it before ErrPrivate, which the cause may also be.
var ErrNoAddress = errors.New("host not found, or none of its addresses is one Gatehouse may connect to " +
	"(loopback, private and link-local addresses only where the operator allows them)")

// Options configure the guarded client.
type Options struct {
	// AllowPrivate lets requests reach loopback and private addresses (tests, local development).
	AllowPrivate bool
	// Allowed are the private networks requests may reach while AllowPrivate is false
	// (GATEHOUSE_ALLOWED_PRIVATE_NETWORKS): an on-premises IdP's, without opening the rest.
	Allowed Networks
	// RootCAs replaces the system roots (tests trust their TLS test server this way).
	RootCAs *x509.CertPool
	// ConnectTo maps a requested "host:port" to the "host:port" actually dialled, like curl's
	// --connect-to. Tests use it to reach a test server under a real domain name; the guard
	// still checks the address finally dialled.
	ConnectTo map[string]string
	// Timeout bounds one whole request (default 10 s); callers bound it further with ctx.
	Timeout time.Duration
	// Log, when set, is told the cause of each ErrNoAddress: which of the two it was.
	Log *slog.Logger

	// exempt lets this package's tests reach one test server while the guard is on.
	exempt func(netip.AddrPort) bool
}

var (
	cgnat    = netip.MustParsePrefix("100.64.0.0/10")
	metaV4   = netip.MustParseAddr("169.254.169.254")
	metaV6   = netip.MustParseAddr("fd00:ec2::254")
	reserved = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64 (RFC 8215): a private translator
		// Site-local (RFC 3513), deprecated by RFC 3879 but still routed inside the sites that
		// numbered with it, as fc00::/7 is; netip's IsPrivate knows only fc00::/7.
		netip.MustParsePrefix("fec0::/10"),
		// Teredo (RFC 4380): a relay delivers to the IPv4 address the last 32 bits hide
		// (inverted), any IPv4 address; no identity provider is reached through Teredo.
		netip.MustParsePrefix("2001::/32"),
	}
	// IPv6 addresses that carry an IPv4 address the packet ends up at: NAT64's well-known
	// prefix (RFC 6052), 6to4 (RFC 3056), IPv4-compatible (RFC 4291, deprecated) and
	// IPv4-translated (RFC 2765) addresses. IPv4-mapped ones are netip's Unmap.
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	v4Compatible = netip.MustParsePrefix("::/96")
	v4Translated = netip.MustParsePrefix("::ffff:0:0:0/96")
)

// target is the address the guard's rules judge for ip: the IPv4 address an IPv6 address
// embeds (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, translated ::ffff:0:a.b.c.d, NAT64
// 64:ff9b::a.b.c.d, 6to4 2002:AABB:CCDD::), else ip itself. Without it 64:ff9b::a9fe:a9fe
// would reach the metadata address 169.254.169.254 through a NAT64 gateway.
func target(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if !ip.Is6() {
		return ip
	}
	bare, b := ip.WithZone(""), ip.As16()
	switch {
	case nat64.Contains(bare), v4Compatible.Contains(bare), v4Translated.Contains(bare):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(bare):
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	return ip
}

// metadata reports whether ip reaches a cloud metadata address, refused even when private
// networks are allowed.
func metadata(ip netip.Addr) bool {
	ip = target(ip)
	return ip == metaV4 || ip == metaV6
}

// Blocked reports whether ip is an address the guard refuses by default.
func Blocked(ip netip.Addr) bool {
	if metadata(ip) {
		return true
	}
	ip = target(ip)
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || cgnat.Contains(ip) {
		return true
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Networks are the private networks an operator lets outbound requests reach
// (GATEHOUSE_ALLOWED_PRIVATE_NETWORKS), as ParseNetworks reads them.
type Networks []netip.Prefix

// local are the addresses that reach this host or its link, which only an entry within one
// of them allows (Networks.allows): a broad entry (0.0.0.0/0, 0.0.0.0/1) opens the private
// networks it covers, never this host's own services (on loopback, or on 0.0.0.0, which
// reaches them too) nor the link's (169.254/16, fe80::/10: the cloud's instance services).
var local = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("fe80::/10"),
}

func isLocal(ip netip.Addr) bool {
	return slices.ContainsFunc(local, func(l netip.Prefix) bool { return l.Contains(ip) })
}

// localEntry reports whether the entry p lies within one of local's prefixes.
func localEntry(p netip.Prefix) bool {
	return slices.ContainsFunc(local, func(l netip.Prefix) bool { return l.Bits() <= p.Bits() && l.Contains(p.Addr()) })
}

// ParseNetworks reads a comma-separated list of CIDR prefixes (10.1.0.0/16, fd00::/8) or
// single addresses (a /32 or /128); blank entries are skipped. An entry that is neither, or
// that names a cloud metadata address alone (which the guard never lets a request reach), is
// an error that quotes it.
func ParseNetworks(s string) (Networks, error) {
	var n Networks
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR prefix such as 10.1.0.0/16 or fd00::/8, nor an IP address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("%q is an IPv4-mapped IPv6 prefix: write the IPv4 prefix", f)
		}
		p = p.Masked()
		if p.IsSingleIP() && metadata(p.Addr()) {
			return nil, fmt.Errorf("%q is a cloud metadata address, which outbound requests never reach", f)
		}
		n = append(n, p)
	}
	return n, nil
}

// allows reports whether ip, an address the guard refuses by default, is in one of n's
// networks. A loopback, link-local or unspecified address must be in an entry within those
// (local): listed explicitly, not covered by a broad one.
func (n Networks) allows(ip netip.Addr) bool {
	ip = target(ip).WithZone("")
	for _, p := range n {
		if p.Contains(ip) && (!isLocal(ip) || localEntry(p)) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control hook: it runs after resolution, on the address about to be
// connected, so it covers redirects and DNS rebinding alike.
func Control(allowPrivate bool, allowed Networks) func(network, address string, c syscall.RawConn) error {
	return control(allowPrivate, allowed, nil)
}

// control is the one place the guard decides an address: a cloud metadata address never, a
// loopback, private or link-local one only with allowPrivate or in allowed.
func control(allowPrivate bool, allowed Networks, exempt func(netip.AddrPort) bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrBlocked, address)
		}
		if exempt != nil && exempt(ap) {
			return nil
		}
		if metadata(ap.Addr()) {
			return fmt.Errorf("%w: the host's address is a cloud metadata address", ErrBlocked)
		}
		if !allowPrivate && Blocked(ap.Addr()) && !allowed.allows(ap.Addr()) {
			return fmt.Errorf("%w: the host's address is a loopback, private or link-local address, and %w", ErrBlocked, ErrPrivate)
		}
		return nil
	}
}

// NewClient returns the guarded HTTP client: no proxy (a proxy would hide the real target),
// at most 5 redirects, each to a URL models.ValidIdPURL accepts.
func NewClient(o Options) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	d := &net.Dialer{Timeout: 5 * time.Second, Control: control(o.AllowPrivate, o.Allowed, o.exempt)}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		asked := addr
		if to, ok := o.ConnectTo[addr]; ok {
			addr = to
		}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil && hidesCause(asked, err) {
			if o.Log != nil {
				level := slog.LevelInfo // a name that does not exist: most likely a typo
				if errors.Is(err, ErrBlocked) {
					level = slog.LevelWarn // a name of a network the operator has not opened
				}
				o.Log.Log(ctx, level, "netguard: an outbound request's host was not found, or resolved only to refused addresses",
					"host", asked, "cause", err.Error())
			}
			err = errors.Join(ErrNoAddress, err)
		}
		if err != nil {
			return nil, &ConnError{Op: "dial", Addr: asked, Err: err}
		}
		return conn{Conn: c, addr: asked}, nil
	}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		TLSClientConfig:        &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     false,
		MaxIdleConns:           16,
		IdleConnTimeout:        30 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// Only a GET is followed. A POST's redirect (a token request's, with the client's
			// secret or assertion in its body, which Go re-sends on a 307 or 308 to any host)
			// is answered as it came: the caller sees the redirect, nothing goes elsewhere.
			if via[0].Method != http.MethodGet {
				return http.ErrUseLastResponse
			}
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if !models.ValidIdPURL(req.URL.String(), o.AllowPrivate) {
				return fmt.Errorf("%w: redirect to %s is not an https URL", ErrBlocked, req.URL.Redacted())
			}
			return nil
		},
	}
}

// hidesCause reports whether a dial of asked ("host:port") that failed with err is an
// ErrNoAddress: its host, a name, was not found, or its addresses were refused.
func hidesCause(asked string, err error) bool {
	host, _, _ := net.SplitHostPort(asked)
	if _, perr := netip.ParseAddr(host); perr == nil {
		return false
	}
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound || errors.Is(err, ErrBlocked)
}

// ConnError is the guarded client's failure to connect to Addr, the "host:port" the request
// named, or to read or write on that connection (Op: "dial", "read" or "write"). Its text
// names that and why it failed, never the address the host resolved to, the resolver's, nor
// the address Gatehouse connected from: the text reaches the admin who typed the URL (a
// connection test's problem, a domain's failure reason, a sign-in event's cause), and the
// addresses of the operator's network (what its internal names resolve to, its resolver,
// Gatehouse's own) and which of their ports answer are not that admin's to learn. Err is the
// net package's error (errors.Is and errors.As see it).
type ConnError struct {
	Op, Addr string
	Err      error
}

func (e *ConnError) Error() string {
	var de *net.DNSError
	var se *os.SyscallError
	why := "failed"
	switch {
	case errors.Is(e.Err, ErrNoAddress):
		why = ErrNoAddress.Error()
	case errors.Is(e.Err, ErrBlocked):
		// control's own text, which names no address.
		for err := e.Err; err != nil; err = errors.Unwrap(err) {
			if _, ok := err.(*net.OpError); !ok {
				why = err.Error()
				break
			}
		}
	case errors.As(e.Err, &de):
		why = "lookup " + de.Name + ": " + de.Err
		if de.IsNotFound {
			why = "lookup " + de.Name + ": no such host"
		}
	case e.Timeout():
		why = "timed out"
	case errors.Is(e.Err, context.Canceled):
		why = "canceled"
	case errors.As(e.Err, &se):
		why = se.Error() // "connect: connection refused", "read: connection reset by peer"
	}
	return e.Op + " " + e.Addr + ": " + why
}

func (e *ConnError) Unwrap() error { return e.Err }

// Timeout reports whether the operation timed out (net.Error).
func (e *ConnError) Timeout() bool {
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// Temporary is net.Error's deprecated method; it says what the net package's error says.
func (e *ConnError) Temporary() bool {
	var ne interface{ Temporary() bool }
	return errors.As(e.Err, &ne) && ne.Temporary()
}

// conn is a guarded connection: its read and write errors are ConnErrors (io.EOF stays as it
// is), which name the host asked for and not the addresses at either end.
type conn struct {
	net.Conn
	addr string
}

func (c conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, c.wrap(err)
}

func (c conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, c.wrap(err)
}

func (c conn) wrap(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return &ConnError{Op: oe.Op, Addr: c.addr, Err: err}
	}
	return err
}

// Get fetches url with the client and returns at most limit bytes of a 200 response body.
// Any other status is an error naming it; a larger body is an error.
func Get(ctx context.Context, c *http.Client, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "Gatehouse")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response is larger than %d bytes", limit)
	}
	return b, nil
}

// ErrBodyTooLarge is returned by reads of a response body beyond the limit of LimitBodies.
var ErrBodyTooLarge = errors.New("netguard: response body too large")

// LimitBodies wraps a transport so that reading any response body fails with ErrBodyTooLarge
// past max bytes: libraries that read a remote's answer with io.ReadAll (go-oidc's JWKS and
// userinfo, x/oauth2's token response) then stay bounded in memory, not only in time.
func LimitBodies(rt http.RoundTripper, max int64) http.RoundTripper {
	return limitTransport{rt: rt, max: max}
}

type limitTransport struct {
	rt  http.RoundTripper
	max int64
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err == nil && resp.Body != nil {
		resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	}
	return resp, err
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64 // bytes still allowed; -1 once the limit was passed
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more than allowed tells a body at the limit from a longer one
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n, b.left = int(b.left), -1
	return n, ErrBodyTooLarge
}

func (b *limitedBody) Close() error { return b.rc.Close() }
