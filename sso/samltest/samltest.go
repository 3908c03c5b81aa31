// Package samltest runs a SAML identity provider in process for tests: crewjam/saml's samlidp
// behind an httptest server, signing real assertions (and encrypting them to the SP's
// encryption certificate, as samlidp does whenever the SP metadata lists one). The person
// signing in is set by the test instead of a login form, and a test may tamper with an
// assertion before the IdP signs it, or have the IdP not sign at all.
package samltest

import (
	"bytes"
	"compress/flate"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/logger"
	"github.com/crewjam/saml/samlidp"
	dsig "github.com/russellhaering/goxmldsig"
)

// IdP is a running identity provider.
type IdP struct {
	// URL is the IdP's base URL; EntityID (its metadata URL) and SSOURL are what a
	// connection is configured with, CertificatePEM its signing certificate.
	URL, EntityID, SSOURL, CertificatePEM string

	srv *samlidp.Server

	mu      sync.Mutex
	session *saml.Session
	tamper  func(*saml.IdpAuthnRequest)
	// editAssertion, when set, changes each next assertion's element, which then goes unsigned
	// inside a signed Response.
	editAssertion func(*etree.Element)
	unsigned      bool
	// unsignedTo, when set, is the Destination of an unsigned Response around the signed
	// assertion ("": none).
	unsignedTo *string
	status     string
	// secondStatus is the second-level status code under status ("": none).
	secondStatus string
	requests     []*http.Request
	// answerAs, when set, is the entity ID of the registered SP the IdP answers as, whatever
	// SP a request names ("": the request's).
	answerAs string
	// editMetadata, when set, changes the metadata document before /metadata serves it;
	// metadataDown makes /metadata answer 503.
	editMetadata func(*saml.EntityDescriptor)
	metadataDown bool
	// ssoServices, when set, are the SingleSignOnServices the metadata lists instead of its
	// own (ListSSO).
	ssoServices []saml.Endpoint
	// postOnly: the metadata offers only the HTTP-POST SingleSignOnService, and a request by
	// HTTP-Redirect is refused. requestSigner, when set, is the certificate every AuthnRequest
	// posted must carry an enveloped signature of (SAML bindings §3.5.4).
	postOnly      bool
	requestSigner *x509.Certificate
	// redirectOnly: the metadata offers only the HTTP-Redirect SingleSignOnService, and a
	// request by HTTP-POST is refused.
	redirectOnly bool

	// keyMu guards the IdP's signing key: a request reads it, UseKey changes it.
	keyMu sync.RWMutex
}

// New starts an IdP with its own RSA-2048 key and certificate; it stops with the test.
func New(t testing.TB) *IdP {
	t.Helper()
	return NewNamed(t, "")
}

// NewNamed is New with the IdP's URLs on host (its port is the listener's): "localhost" puts
// the IdP on another site than a Gatehouse at 127.0.0.1, as a real IdP is, so that a real
// browser's POST to the ACS is cross-site. "" is the listener's address.
func NewNamed(t testing.TB, host string) *IdP {
	t.Helper()
	key, cert, certPEM := NewKeyPair(t)
	hs := httptest.NewUnstartedServer(nil)
	addr := hs.Listener.Addr().String()
	if host != "" {
		_, port, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(host, port)
	}
	base, _ := url.Parse("http://" + addr)
	srv, err := samlidp.New(samlidp.Options{URL: *base, Key: key, Signer: key, Certificate: cert,
		Store: &samlidp.MemoryStore{}, Logger: logger.DefaultLogger})
	if err != nil {
		t.Fatalf("samltest: %v", err)
	}
	p := &IdP{URL: base.String(), EntityID: base.String() + "/metadata", SSOURL: base.String() + "/sso",
		CertificatePEM: certPEM, srv: srv}
	srv.IDP.SessionProvider = p
	srv.IDP.AssertionMaker = p
	srv.IDP.ServiceProviderProvider = spLookup{p}
	srv.IDP.SignatureMethod = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sso" {
			if r.Method == http.MethodPost {
				_ = r.ParseForm() // samlidp reads the form parsed; the recorded request keeps it
			}
			p.mu.Lock()
			p.requests = append(p.requests, r.Clone(r.Context()))
			postOnly, redirectOnly, signer := p.postOnly, p.redirectOnly, p.requestSigner
			p.mu.Unlock()
			if postOnly && r.Method != http.MethodPost {
				http.Error(w, "samltest: this IdP takes AuthnRequests by HTTP-POST only", http.StatusMethodNotAllowed)
				return
			}
			if redirectOnly && r.Method != http.MethodGet {
				http.Error(w, "samltest: this IdP takes AuthnRequests by HTTP-Redirect only", http.StatusMethodNotAllowed)
				return
			}
			if signer != nil && r.Method == http.MethodPost {
				if err := verifyPostedRequest(r.PostForm.Get("SAMLRequest"), signer); err != nil {
					http.Error(w, "samltest: the AuthnRequest's signature: "+err.Error(), http.StatusForbidden)
					return
				}
			}
		}
		p.keyMu.RLock()
		defer p.keyMu.RUnlock()
		if r.URL.Path == "/metadata" {
			p.serveMetadata(w)
			return
		}
		srv.ServeHTTP(w, r)
	})
	hs.Start()
	t.Cleanup(hs.Close)
	return p
}

// NewKeyPair makes an RSA-2048 key and a self-signed certificate valid for a year.
func NewKeyPair(t testing.TB) (*rsa.PrivateKey, *x509.Certificate, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "samltest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// NewCertificate makes a self-signed certificate (ECDSA P-256) named cn, valid from notBefore
// to notAfter, as PEM: an IdP certificate whose dates a test chooses.
func NewCertificate(t testing.TB, cn string, notBefore, notAfter time.Time) (*x509.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"Acme"}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// UseKey makes the IdP sign with key and certificate from now on (its certificate rollover);
// its metadata publishes the certificate.
func (p *IdP) UseKey(key *rsa.PrivateKey, cert *x509.Certificate) {
	p.keyMu.Lock()
	p.srv.IDP.Key, p.srv.IDP.Signer, p.srv.IDP.Certificate = key, key, cert
	p.keyMu.Unlock()
}

// SigningKey is the key and certificate the IdP signs with now.
func (p *IdP) SigningKey() (*rsa.PrivateKey, *x509.Certificate) {
	p.keyMu.RLock()
	defer p.keyMu.RUnlock()
	return p.srv.IDP.Key.(*rsa.PrivateKey), p.srv.IDP.Certificate
}

// EditMetadata changes the IdP's metadata document before /metadata serves it (nil: serve it
// as samlidp makes it).
func (p *IdP) EditMetadata(f func(ed *saml.EntityDescriptor)) {
	p.mu.Lock()
	p.editMetadata = f
	p.mu.Unlock()
}

// PublishSigning makes the IdP's metadata publish certs as its signing certificates, one
// KeyDescriptor each (as Entra ID does during a rollover), instead of the one it signs with;
// the encryption KeyDescriptor stays.
func (p *IdP) PublishSigning(certs ...*x509.Certificate) {
	p.EditMetadata(func(ed *saml.EntityDescriptor) {
		d := &ed.IDPSSODescriptors[0]
		var kds []saml.KeyDescriptor
		for _, c := range certs {
			kds = append(kds, saml.KeyDescriptor{Use: "signing", KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{
				X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(c.Raw)}}}}})
		}
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "signing" {
				kds = append(kds, kd)
			}
		}
		d.KeyDescriptors = kds
	})
}

// Metadata is the document the IdP's /metadata serves now, as its console offers it for
// download.
func (p *IdP) Metadata(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(p.EntityID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("samltest: metadata: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// PostOnly makes the IdP offer only the HTTP-POST binding for AuthnRequests, as some IdPs
// (and some admins' metadata) do: its metadata lists no other SingleSignOnService, and a
// request by HTTP-Redirect is refused (405).
func (p *IdP) PostOnly() {
	p.mu.Lock()
	p.postOnly = true
	p.mu.Unlock()
}

// RedirectOnly makes the IdP offer only the HTTP-Redirect binding for AuthnRequests: its
// metadata lists no other SingleSignOnService, and a request by HTTP-POST is refused (405).
func (p *IdP) RedirectOnly() {
	p.mu.Lock()
	p.redirectOnly = true
	p.mu.Unlock()
}

// RequireSignedRequests makes the IdP refuse (403) an AuthnRequest posted without an enveloped
// XML signature that verifies with cert (the SP's signing certificate, as the IdP imported it
// from the SP metadata), as an IdP that wants signed requests does; nil: no check.
func (p *IdP) RequireSignedRequests(cert *x509.Certificate) {
	p.mu.Lock()
	p.requestSigner = cert
	p.mu.Unlock()
}

// verifyPostedRequest checks the enveloped signature of a posted AuthnRequest (base64, not
// deflated) with goxmldsig, as an IdP does: the Signature must be the root's, its Reference
// the root's ID, and it must verify with cert.
func verifyPostedRequest(form string, cert *x509.Certificate) error {
	raw, err := base64.StdEncoding.DecodeString(form)
	if err != nil {
		return err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return err
	}
	if doc.Root() == nil || doc.Root().FindElement("./Signature") == nil {
		return fmt.Errorf("the AuthnRequest is not signed")
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	_, err = vc.Validate(doc.Root())
	return err
}

// ListSSO makes the IdP's metadata list endpoints as its SingleSignOnServices instead of its
// own (ssoURL, by HTTP-Redirect and HTTP-POST), as an IdP that moved its single sign-on
// endpoint does; none: its own again. Requests still go to /sso; it changes the document only,
// before EditMetadata's edit.
func (p *IdP) ListSSO(endpoints ...saml.Endpoint) {
	p.mu.Lock()
	p.ssoServices = endpoints
	p.mu.Unlock()
}

// MetadataDown makes /metadata answer 503 (v) or serve the metadata again.
func (p *IdP) MetadataDown(v bool) {
	p.mu.Lock()
	p.metadataDown = v
	p.mu.Unlock()
}

// serveMetadata serves the IdP's metadata document, as edited; the caller holds keyMu.
func (p *IdP) serveMetadata(w http.ResponseWriter) {
	p.mu.Lock()
	edit, down := p.editMetadata, p.metadataDown
	p.mu.Unlock()
	if down {
		http.Error(w, "metadata unavailable", http.StatusServiceUnavailable)
		return
	}
	ed := p.srv.IDP.Metadata()
	p.mu.Lock()
	postOnly, redirectOnly, ssoServices := p.postOnly, p.redirectOnly, p.ssoServices
	p.mu.Unlock()
	if postOnly || redirectOnly {
		only := saml.HTTPPostBinding
		if redirectOnly {
			only = saml.HTTPRedirectBinding
		}
		d := &ed.IDPSSODescriptors[0]
		d.SingleSignOnServices = slices.DeleteFunc(d.SingleSignOnServices, func(e saml.Endpoint) bool { return e.Binding != only })
	}
	if ssoServices != nil {
		ed.IDPSSODescriptors[0].SingleSignOnServices = slices.Clone(ssoServices)
	}
	if edit != nil {
		edit(ed)
	}
	b, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = w.Write(b)
}

// TrustSP registers a service provider by its metadata document. Each registration stays:
// the IdP answers a request as the registered SP its Issuer names.
func (p *IdP) TrustSP(t testing.TB, metadataXML []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, p.URL+"/services/sp", bytes.NewReader(metadataXML))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("samltest: register SP: %d", resp.StatusCode)
	}
}

var encryptionKey = regexp.MustCompile(`(?s)<KeyDescriptor use="encryption">.*?</KeyDescriptor>\s*`)

// WithoutEncryption is SP metadata without its encryption keys: an IdP that trusts it sends
// plain assertions, as most IdPs do unless the SP asks for encryption. It panics when the
// metadata lists no encryption key.
func WithoutEncryption(metadataXML []byte) []byte {
	plain := encryptionKey.ReplaceAll(metadataXML, nil)
	if bytes.Equal(plain, metadataXML) || bytes.Contains(plain, []byte(`use="encryption"`)) {
		panic("samltest: no encryption key in the SP metadata")
	}
	return plain
}

// User is who signs in at the IdP.
type User struct {
	NameID, Email, GivenName, Surname string
	// Attributes are extra attributes (name → values).
	Attributes map[string][]string
}

// SignIn makes u the person signed in at the IdP: its next responses assert u.
func (p *IdP) SignIn(u User) {
	s := &saml.Session{ID: "s-" + u.NameID, CreateTime: time.Now(), ExpireTime: time.Now().Add(time.Hour),
		Index: "1", NameID: u.NameID, NameIDFormat: string(saml.UnspecifiedNameIDFormat),
		UserEmail: u.Email, UserGivenName: u.GivenName, UserSurname: u.Surname}
	for name, vs := range u.Attributes {
		a := saml.Attribute{Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
		for _, v := range vs {
			a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
		}
		s.CustomAttributes = append(s.CustomAttributes, a)
	}
	p.mu.Lock()
	p.session = s
	p.mu.Unlock()
}

// Tamper changes each next assertion before the IdP signs it (nil: stop tampering).
func (p *IdP) Tamper(f func(req *saml.IdpAuthnRequest)) {
	p.mu.Lock()
	p.tamper = f
	p.mu.Unlock()
}

// EditAssertion makes each next assertion the element edit leaves, sent unsigned inside a
// signed Response (nil: stop): for what crewjam's Assertion struct cannot say, such as several
// Audiences in one AudienceRestriction.
func (p *IdP) EditAssertion(edit func(*etree.Element)) {
	p.mu.Lock()
	p.editAssertion = edit
	p.mu.Unlock()
}

// SignWith makes the IdP sign with the xmldsig signature method (its hash is the digests'
// too), e.g. dsig.RSASHA1SignatureMethod, as an IdP set to SHA-1 does. New IdPs sign with
// RSA-SHA256.
func (p *IdP) SignWith(method string) {
	p.keyMu.Lock()
	p.srv.IDP.SignatureMethod = method
	p.keyMu.Unlock()
}

// Unsigned makes the IdP send responses and assertions without any signature.
func (p *IdP) Unsigned(v bool) {
	p.mu.Lock()
	p.unsigned = v
	p.mu.Unlock()
}

// NoDestination makes the IdP send a Response without a signature and without Destination,
// around a signed assertion (SAML allows the omission only on an unsigned Response).
func (p *IdP) NoDestination(v bool) {
	if v {
		p.UnsignedResponseTo("")
	} else {
		p.mu.Lock()
		p.unsignedTo = nil
		p.mu.Unlock()
	}
}

// UnsignedResponseTo makes the IdP send a Response without a signature whose Destination is d
// ("": none), around a signed assertion; NoDestination(false) stops it.
func (p *IdP) UnsignedResponseTo(d string) {
	p.mu.Lock()
	p.unsignedTo = &d
	p.mu.Unlock()
}

// FailWith makes the IdP answer with a non-success status (e.g. saml.StatusRequester), as an
// IdP does when the person cancels or is not assigned the application ("": success again).
// Such a response carries no signature, as many IdPs send it.
func (p *IdP) FailWith(status string) { p.FailWithStatus(status, "") }

// FailWithStatus is FailWith with a second-level status code under status, e.g.
// saml.StatusResponder with "urn:oasis:names:tc:SAML:2.0:status:NoPassive", as an IdP answers
// an IsPassive request it cannot complete without the person.
func (p *IdP) FailWithStatus(status, second string) {
	p.mu.Lock()
	p.status, p.secondStatus = status, second
	p.mu.Unlock()
}

// AnswerAs makes the IdP answer every request as the registered SP whose entity ID is
// spEntityID ("": the one the request names), as an IdP does when a request reaches the
// application registered for another SP (an app's own SSO URL, or a request's Issuer
// rewritten): the audience, Destination and Recipient are that SP's, the InResponseTo the
// request's.
func (p *IdP) AnswerAs(spEntityID string) {
	p.mu.Lock()
	p.answerAs = spEntityID
	p.mu.Unlock()
}

// spLookup is the IdP's ServiceProviderProvider: samlidp's registrations, looked up by the
// request's Issuer or by AnswerAs.
type spLookup struct{ p *IdP }

func (l spLookup) GetServiceProvider(r *http.Request, id string) (*saml.EntityDescriptor, error) {
	l.p.mu.Lock()
	if l.p.answerAs != "" {
		id = l.p.answerAs
	}
	l.p.mu.Unlock()
	return l.p.srv.GetServiceProvider(r, id)
}

// AuthnRequestOf reads the AuthnRequest of a request the IdP's SSO endpoint received
// (HTTP-Redirect binding: SAMLRequest is deflated and base64-encoded in the query; HTTP-POST:
// base64-encoded in the form).
func AuthnRequestOf(r *http.Request) (*saml.AuthnRequest, error) {
	var raw []byte
	if r.Method == http.MethodPost {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLRequest")); err != nil {
			return nil, fmt.Errorf("samltest: SAMLRequest: %w", err)
		}
	} else {
		deflated, err := base64.StdEncoding.DecodeString(r.URL.Query().Get("SAMLRequest"))
		if err != nil {
			return nil, fmt.Errorf("samltest: SAMLRequest: %w", err)
		}
		if raw, err = io.ReadAll(flate.NewReader(bytes.NewReader(deflated))); err != nil {
			return nil, fmt.Errorf("samltest: SAMLRequest: %w", err)
		}
	}
	var req saml.AuthnRequest
	if err := xml.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("samltest: AuthnRequest %s: %w", raw, err)
	}
	return &req, nil
}

// Requests returns the requests the IdP's SSO endpoint received.
func (p *IdP) Requests() []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*http.Request(nil), p.requests...)
}

// GetSession implements saml.SessionProvider: the person set by SignIn, no login form.
func (p *IdP) GetSession(w http.ResponseWriter, _ *http.Request, _ *saml.IdpAuthnRequest) *saml.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.session == nil {
		http.Error(w, "samltest: nobody is signed in", http.StatusForbidden)
	}
	return p.session
}

// MakeAssertion implements saml.AssertionMaker: crewjam's default, then the test's tampering.
func (p *IdP) MakeAssertion(req *saml.IdpAuthnRequest, s *saml.Session) error {
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, s); err != nil {
		return err
	}
	p.mu.Lock()
	tamper, unsigned, status, second, unsignedTo := p.tamper, p.unsigned, p.status, p.secondStatus, p.unsignedTo
	edit := p.editAssertion
	p.mu.Unlock()
	if tamper != nil {
		tamper(req)
	}
	if edit != nil {
		// crewjam's MakeResponse signs the Response around an AssertionEl made already.
		req.AssertionEl = req.Assertion.Element()
		edit(req.AssertionEl)
		return nil
	}
	if unsignedTo != nil && !unsigned && status == "" {
		if err := req.MakeAssertionEl(); err != nil { // the signed assertion
			return err
		}
		resp := &saml.Response{ID: fmt.Sprintf("id-nodest-%d", time.Now().UnixNano()), Destination: *unsignedTo,
			InResponseTo: req.Request.ID, IssueInstant: req.Now, Version: "2.0",
			Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: req.IDP.MetadataURL.String()},
			Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}}}
		req.ResponseEl = resp.Element()
		req.ResponseEl.AddChild(req.AssertionEl)
		return nil
	}
	if unsigned || status != "" {
		// What MakeResponse does, without either signature.
		req.AssertionEl = req.Assertion.Element()
		resp := &saml.Response{Destination: req.ACSEndpoint.Location, ID: fmt.Sprintf("id-unsigned-%d", time.Now().UnixNano()),
			InResponseTo: req.Request.ID, IssueInstant: req.Now, Version: "2.0",
			Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: req.IDP.MetadataURL.String()},
			Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}}}
		if status != "" {
			resp.Status.StatusCode.Value = status
		}
		if second != "" {
			resp.Status.StatusCode.StatusCode = &saml.StatusCode{Value: second}
		}
		req.ResponseEl = resp.Element()
		req.ResponseEl.AddChild(req.AssertionEl)
	}
	return nil
}

// InitiatedResponse is an IdP-initiated (unsolicited) response to the registered SP, as the
// auto-posting HTML form the IdP would give the browser.
func (p *IdP) InitiatedResponse(t testing.TB, spEntityID, relayState string) string {
	t.Helper()
	w := httptest.NewRecorder()
	p.srv.IDP.ServeIDPInitiated(w, httptest.NewRequest(http.MethodGet, p.URL+"/login/x", nil), spEntityID, relayState)
	if w.Code != http.StatusOK {
		t.Fatalf("samltest: idp-initiated: %d %s", w.Code, w.Body)
	}
	return w.Body.String()
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)"`)
)

// Form reads the auto-posting form of an IdP page: where it posts and what.
func Form(page string) (action string, values url.Values, err error) {
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		return "", nil, fmt.Errorf("samltest: no form in %q", page)
	}
	values = url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(page, -1) {
		values.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), values, nil
}

// Follow GETs a URL with client (which keeps cookies and follows redirects) and returns the
// final page's body.
func Follow(t testing.TB, client *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("samltest: GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
