// Package sso is Gatehouse's contact with identity providers: connection tests (OIDC discovery
// and JWKS, SAML certificate and metadata), domain verification lookups (DNS TXT, https file),
// the SAML service provider metadata, and the upstream side of browser sign-in (the OIDC
// relying party, the SAML service provider, the test sign-in page). It implements
// provision.Remote; every outbound HTTP request goes through the SSRF-guarded netguard client.
// It holds no business rules: what a result means for a connection, a domain or a sign-in is
// decided in provision.
package sso

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/go-jose/go-jose/v4"
	"github.com/miekg/dns"

	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/netguard"
	"gatehouse/provision"
)

// Options configure the Remote.
type Options struct {
	// AllowPrivateNetworks is GATEHOUSE_ALLOW_PRIVATE_NETWORKS.
	AllowPrivateNetworks bool
	// AllowedPrivateNetworks is GATEHOUSE_ALLOWED_PRIVATE_NETWORKS.
	AllowedPrivateNetworks netguard.Networks
	// DNSServer is GATEHOUSE_DNS_SERVER (host:port); empty: the system resolver.
	DNSServer string
	// RootCAs and ConnectTo are passed to the guarded client (tests).
	RootCAs   *x509.CertPool
	ConnectTo map[string]string
	// UpstreamConcurrency bounds the browser sign-in requests of one connection that wait on
	// its identity provider at once (0: no bound); app sets sixteen times the admission slots
	// (upstreamConcurrency: they wait outside the slots).
	UpstreamConcurrency int
	// Clock is what certificates are checked against and the connection test's client
	// assertions are dated by (default clock.Real).
	Clock clock.Clock
	// Logger is the operator's log: which outbound hosts were not found and which were
	// refused, which the admins are not told apart (netguard.ErrNoAddress). Nil: not logged.
	Logger *slog.Logger
}

// Remote implements provision.Remote.
type Remote struct {
	o      Options
	client *http.Client
}

var _ provision.Remote = (*Remote)(nil)

// Limits on what the IdP may send.
const (
	maxDocument = 1 << 20 // discovery, JWKS, metadata
	maxFile     = 4 << 10 // https-file verification
)

// New builds the Remote.
func New(o Options) *Remote {
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	return &Remote{o: o, client: netguard.NewClient(o.guard())}
}

// guard is the guarded client's options: every outbound call, the Remote's and the sign-ins'
// (NewSignIn), is guarded alike.
func (o Options) guard() netguard.Options {
	return netguard.Options{AllowPrivate: o.AllowPrivateNetworks, Allowed: o.AllowedPrivateNetworks, RootCAs: o.RootCAs, ConnectTo: o.ConnectTo,
		Log: o.Logger}
}

func yes() *bool { v := true; return &v }
func no() *bool  { v := false; return &v }

// describe turns a fetch error into a short, safe phrase. The guard's other refusals (a cloud
// metadata address, refused whatever the setting; a redirect to plain http) read in its own
// words, which name the address or URL: before, they read as a private address refused for
// the setting, which misled an operator whose setting allowed private networks. A name that
// was not found and one that resolves only to refused addresses read alike
// (netguard.ErrNoAddress), in the guard's words, which the sign-ins' causes quote too.
func describe(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, netguard.ErrNoAddress):
		// Before ErrPrivate, which its cause may be: the guard's words, below.
	case errors.Is(err, netguard.ErrPrivate):
		return "refused: the address is loopback, private or link-local " +
			"(GATEHOUSE_ALLOW_PRIVATE_NETWORKS is false, and GATEHOUSE_ALLOWED_PRIVATE_NETWORKS does not list it)"
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

func (r *Remote) fetch(ctx context.Context, what, raw string, limit int64) ([]byte, string) {
	if !models.ValidIdPURL(raw, r.o.AllowPrivateNetworks) {
		return nil, fmt.Sprintf("%s URL %q is not an absolute https URL", what, raw)
	}
	b, err := netguard.Get(ctx, r.client, raw, limit)
	if err != nil {
		return nil, fmt.Sprintf("%s %s: %s", what, raw, describe(ctx, err))
	}
	return b, ""
}

// TestOIDC fetches the discovery document, checks its issuer and endpoints (and, for a
// connection on private_key_jwt, that the IdP takes it), checks that the token endpoint takes
// the connection's client authentication (checkClientAuthentication; given a client ID), then
// fetches the JWKS and checks it holds a usable signing key.
func (r *Remote) TestOIDC(ctx context.Context, t provision.OIDCTarget) provision.TestReport {
	rep := provision.TestReport{DiscoveryValid: no(), JWKSValid: no()}
	fail := func(p string, args ...any) provision.TestReport {
		rep.Problems = append(rep.Problems, fmt.Sprintf(p, args...))
		return rep
	}
	disc := t.DiscoveryURL
	if disc == "" {
		disc = strings.TrimRight(t.IssuerURL, "/") + "/.well-known/openid-configuration"
	}
	body, problem := r.fetch(ctx, "discovery document", disc, maxDocument)
	if problem != "" {
		return fail("%s", problem)
	}
	var d struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return fail("discovery document %s is not valid JSON: %s", disc, models.Clip(strings.TrimPrefix(err.Error(), "json: "), 256))
	}
	auth := readTokenEndpointAuth(body)
	if d.Issuer != t.IssuerURL {
		rep.Problems = append(rep.Problems, fmt.Sprintf("discovery document issuer %q does not match the connection's issuerUrl %q", models.Clip(d.Issuer, 256), t.IssuerURL))
	}
	if d.AuthorizationEndpoint == "" {
		rep.Problems = append(rep.Problems, "discovery document has no authorization_endpoint")
	} else if !models.ValidIdPURL(d.AuthorizationEndpoint, r.o.AllowPrivateNetworks) {
		// A sign-in refuses it (SignIn.provider), as it refuses the token endpoint and JWKS below.
		rep.Problems = append(rep.Problems, fmt.Sprintf("discovery document's authorization_endpoint %q is not an absolute https URL", models.Clip(d.AuthorizationEndpoint, 256)))
	}
	if d.TokenEndpoint == "" {
		rep.Problems = append(rep.Problems, "discovery document has no token_endpoint")
	} else if !models.ValidIdPURL(d.TokenEndpoint, r.o.AllowPrivateNetworks) {
		// A sign-in refuses it (SignIn.provider): credentials go over https only.
		rep.Problems = append(rep.Problems, fmt.Sprintf("discovery document's token_endpoint %q is not an absolute https URL", models.Clip(d.TokenEndpoint, 256)))
	}
	if d.JWKSURI == "" {
		return fail("discovery document has no jwks_uri")
	}
	if !models.ValidIdPURL(d.JWKSURI, r.o.AllowPrivateNetworks) {
		return fail("discovery document's jwks_uri %q is not an absolute https URL", models.Clip(d.JWKSURI, 256))
	}
	rep.DiscoveryValid = boolp(len(rep.Problems) == 0)
	// The credentials go only where a sign-in would send them: the token endpoint of a
	// discovery document with nothing wrong (a sign-in refuses an issuer that does not match).
	if t.ClientID != "" && len(rep.Problems) == 0 {
		var problem string
		if rep.ClientAuthenticationValid, problem = r.checkClientAuthentication(ctx, t, d.TokenEndpoint, auth); problem != "" {
			rep.Problems = append(rep.Problems, problem)
		}
	}
	// What the discovery says of the methods matters only when the probe did not show the
	// credentials taken: the list is the IdP's advice, the answer its word.
	if rep.ClientAuthenticationValid == nil || !*rep.ClientAuthenticationValid {
		rep.Problems = append(rep.Problems, auth.methodProblems(t.ClientAuthMethod)...)
	}
	body, problem = r.fetch(ctx, "JWKS", d.JWKSURI, maxDocument)
	if problem != "" {
		return fail("%s", problem)
	}
	keys, total, err := readKeySet(body)
	if err != nil {
		// go-jose names what it did not take (a key type, a curve) as the document gave it.
		return fail("JWKS %s is not a valid JSON Web Key Set: %s", d.JWKSURI, models.Clip(strings.TrimPrefix(err.Error(), "json: "), 256))
	}
	if problem := keySetProblem(total); problem != "" {
		return fail("JWKS %s %s", d.JWKSURI, problem)
	}
	usable := 0
	for _, k := range keys {
		if usableSigningKey(k) {
			usable++
		}
	}
	if usable == 0 {
		return fail("JWKS %s holds no usable signing key (%d keys, none a public RSA ≥ 2048-bit, EC or Ed25519 key for signatures)", d.JWKSURI, len(keys))
	}
	rep.JWKSValid = yes()
	rep.Success = len(rep.Problems) == 0
	return rep
}

func boolp(v bool) *bool { return &v }

func usableSigningKey(k jose.JSONWebKey) bool {
	if k.Use != "" && k.Use != "sig" || !k.Valid() || !k.IsPublic() {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return pub.N.BitLen() >= 2048
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return true
	}
	return false
}

// TestSAML checks the IdP certificate (parses, in its validity period, acceptable key), the
// SSO URL, and the metadata document when a metadata URL is set; what the document says of
// the SSO URL and the certificates is provision's to judge (rep.SAMLMetadata).
func (r *Remote) TestSAML(ctx context.Context, t provision.SAMLTarget) provision.TestReport {
	rep := provision.TestReport{CertificateValid: no(), SSOURLValid: no()}
	if problem := r.checkCertificate(t.Certificate); problem != "" {
		rep.Problems = append(rep.Problems, problem)
	} else {
		rep.CertificateValid = yes()
	}
	if models.ValidIdPURL(t.SSOURL, r.o.AllowPrivateNetworks) {
		rep.SSOURLValid = yes()
	} else {
		rep.Problems = append(rep.Problems, fmt.Sprintf("ssoUrl %q is not an absolute https URL", t.SSOURL))
	}
	if t.MetadataURL != "" {
		rep.MetadataValid = no()
		if ed, problem := r.checkMetadata(ctx, t); problem != "" {
			rep.Problems = append(rep.Problems, problem)
		} else {
			rep.MetadataValid = yes()
			// What the metadata says, for the caller's rules (provision.TestConnection): what a
			// refresh would take from it (provision.followsMetadata), and where it lists ssoUrl.
			md, err := metadataOf(ed, "metadata "+t.MetadataURL)
			if err != nil {
				rep.SAMLMetadataProblem = err.Error()
				md = provision.SAMLMetadata{EntityID: ed.EntityID, SingleSignOnServices: ssoServicesOf(ed)}
			}
			rep.SAMLMetadata = &md
		}
	}
	rep.Success = len(rep.Problems) == 0
	return rep
}

// checkCertificate checks each of the connection's certificates; with several (a rollover),
// a problem names the certificate by its place in the text.
func (r *Remote) checkCertificate(p string) string {
	certs, err := models.ParseSAMLCertificates(p)
	if err != nil {
		return "certificate " + err.Error()
	}
	var problems []string
	for i, cert := range certs {
		if problem := r.checkOneCertificate(cert); problem != "" {
			if len(certs) > 1 {
				problem = fmt.Sprintf("certificate %d of %d: %s", i+1, len(certs), problem)
			} else {
				problem = "certificate " + problem
			}
			problems = append(problems, problem)
		}
	}
	return strings.Join(problems, "; ")
}

func (r *Remote) checkOneCertificate(cert *x509.Certificate) string {
	now := r.o.Clock.Now()
	switch {
	case models.CertificateValidAt(cert, now):
	case now.Before(cert.NotBefore):
		return fmt.Sprintf("is not valid yet: valid from %s", cert.NotBefore.UTC().Format(time.RFC3339))
	default:
		return fmt.Sprintf("expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return models.SAMLCertificateKeyProblem(cert)
}

func (r *Remote) checkMetadata(ctx context.Context, t provision.SAMLTarget) (*saml.EntityDescriptor, string) {
	ed, problem := r.readMetadata(ctx, t.MetadataURL)
	if problem != "" {
		return nil, problem
	}
	if t.EntityID != "" && ed.EntityID != t.EntityID {
		return nil, fmt.Sprintf("metadata entityID %q does not match the connection's entityId %q", models.Clip(ed.EntityID, 256), t.EntityID)
	}
	return ed, ""
}

// LookupTXT asks GATEHOUSE_DNS_SERVER when set (so verification can use a resolver the
// operator chooses), else the system resolver. A missing name has no records, not an error.
// An error says what went wrong without the resolver's address (describeDNS): it becomes the
// domain's failure reason, which the workspace's admins read, and the resolver is the
// operator's.
func (r *Remote) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if r.o.DNSServer == "" {
		txts, err := net.DefaultResolver.LookupTXT(ctx, name)
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, errors.New(describeDNS(ctx, err))
		}
		return txts, nil
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	m.RecursionDesired = true
	c := &dns.Client{Timeout: 5 * time.Second}
	in, _, err := c.ExchangeContext(ctx, m, r.o.DNSServer)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.o.DNSServer)
	}
	if err != nil {
		return nil, errors.New(describeDNS(ctx, err))
	}
	switch in.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, nil
	case dns.RcodeServerFailure:
		return nil, errors.New(dnsServerFailure)
	case dns.RcodeRefused:
		return nil, errors.New("the DNS server refused the query (REFUSED): the resolver Gatehouse is configured with does not answer it; " +
			"ask the operator of this Gatehouse")
	default:
		return nil, fmt.Errorf("the DNS server answered %s", dns.RcodeToString[in.Rcode])
	}
	var out []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out, nil
}

// dnsServerFailure is a lookup the resolver answered SERVFAIL (the Go resolver: "server
// misbehaving"): it could not get an answer from the domain's own name servers. The words
// say where to look, since "SERVFAIL" alone tells a workspace's admin nothing.
const dnsServerFailure = "the DNS server could not get an answer from the domain's name servers (SERVFAIL): " +
	"they may be unreachable or misconfigured, or the domain's DNSSEC signatures invalid; check the domain's DNS, then verify again"

// describeDNS says why a DNS lookup failed without the addresses the error names (the
// resolver's and this host's): the resolver did not answer in time, answered with an error, or
// could not be reached, and how.
func describeDNS(ctx context.Context, err error) string {
	var ne net.Error
	var de *net.DNSError
	var oe *net.OpError
	var ae *net.AddrError
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "the DNS server did not answer in time"
	case errors.As(err, &de) && de.Err == "server misbehaving": // the Go resolver's SERVFAIL
		return dnsServerFailure
	case errors.As(err, &de):
		return "the DNS server could not answer: " + de.Err
	case errors.As(err, &ae):
		// GATEHOUSE_DNS_SERVER is not host:port (nothing checks it at start): ae names it.
		return "the DNS server could not be reached: its configured address is not valid (" + ae.Err + ")"
	case errors.As(err, &oe) && oe.Err != nil:
		return "the DNS server could not be reached: " + oe.Err.Error()
	}
	return "the DNS server could not be asked"
}

// FetchFile fetches a small file over the guarded client.
func (r *Remote) FetchFile(ctx context.Context, raw string) (string, error) {
	if !models.ValidIdPURL(raw, r.o.AllowPrivateNetworks) {
		return "", fmt.Errorf("%q is not an https URL", raw)
	}
	b, err := netguard.Get(ctx, r.client, raw, maxFile)
	if err != nil {
		return "", errors.New(describe(ctx, err))
	}
	return string(b), nil
}

// MetadataHandler serves GET /saml/metadata, the shared SP metadata document of the
// connections created before each had its own entity ID, and GET /saml/metadata/{id}, a SAML
// connection's own: the public documents IdPs import. An id that is no live SAML connection
// is a 404 with no detail.
func MetadataHandler(svc *provision.Service, log interface {
	ErrorContext(ctx context.Context, msg string, args ...any)
}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m *provision.SPMetadata
		var err error
		if id := r.PathValue("id"); id != "" {
			m, err = svc.ConnectionSPMetadata(r.Context(), id)
		} else {
			m, err = svc.PublicSPMetadata(r.Context())
		}
		if models.ErrorCode(err) == models.ENOTFOUND {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			log.ErrorContext(r.Context(), "saml metadata", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write([]byte(m.MetadataXML))
	})
}
