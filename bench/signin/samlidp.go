package main

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"

	"gatehouse/bench/internal/benchkit"
)

// samlIdP is a lean SAML identity provider: it reads the AuthnRequest of an HTTP-Redirect
// binding and answers with a Response whose Assertion carries an RSA-2048 SHA-256 enveloped
// signature (exclusive c14n), as Okta or Entra ID send by default. crewjam/saml's
// IdentityProvider cost the load generator 6.5–8 ms per sign-in (etree documents, two
// signatures with SHA-1 by default, HTML templates), most of it not the signature; the bench
// measures Gatehouse, so its IdP writes the assertion from a template already in canonical
// form and signs it once. The server's checks do not change (the tests keep crewjam's samlidp);
// samlidp_test.go proves the signature byte-identical to goxmldsig's and the response
// accepted, and a tampered one refused, by the server's own check.
//
// It is called in process by the bench's browsers (no HTTP hop: an IdP is another machine,
// whose HTTP costs Gatehouse nothing); its URLs are never dialled.
type samlIdP struct {
	entityID, ssoURL string
	key              *rsa.PrivateKey
	certPEM          string
	certB64          string // the certificate in KeyInfo, as IdPs send it

	mu           sync.Mutex
	spEntityID   string // the connection's, from its SP metadata (loadSP)
	spACS        string // the SP's HTTP-POST ACS, where responses go
	assertionTTL time.Duration
	// encryptTo, when set, is the SP's encryption certificate (its metadata's use="encryption"
	// key): the signed assertion goes as an EncryptedAssertion to it, as AD FS sends by default
	// (RSA-OAEP key transport, AES-128-CBC, as crewjam's IdP encrypts).
	encryptTo *x509.Certificate
	encrypt   bool // loadSP takes the SP's encryption certificate
}

const samlIdPBase = "http://127.0.0.1:9/idp" // never dialled

func newSAMLIdP() *samlIdP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench-idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(err)
	return &samlIdP{entityID: samlIdPBase + "/metadata", ssoURL: samlIdPBase + "/sso", key: key,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		certB64: base64.StdEncoding.EncodeToString(der), assertionTTL: 5 * time.Minute}
}

// owns reports whether u is this IdP's (the browser then lets it answer).
func (p *samlIdP) owns(u *url.URL) bool { return strings.HasPrefix(u.String(), samlIdPBase+"/") }

// loadSP reads the SAML connection's SP metadata (at its spMetadataUrl) once per server: its
// entity ID (the audience) and its HTTP-POST ACS (Destination and Recipient), as an IdP admin
// would import them.
func (p *samlIdP) loadSP(metadataURL string) error {
	resp, err := http.Get(metadataURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var ed saml.EntityDescriptor
	if err := xml.NewDecoder(resp.Body).Decode(&ed); err != nil {
		return fmt.Errorf("SP metadata: %w", err)
	}
	acs := ""
	var enc *x509.Certificate
	for _, d := range ed.SPSSODescriptors {
		for _, e := range d.AssertionConsumerServices {
			if e.Binding == saml.HTTPPostBinding && acs == "" {
				acs = e.Location
			}
		}
		for _, k := range d.KeyDescriptors {
			if k.Use == "encryption" && enc == nil && len(k.KeyInfo.X509Data.X509Certificates) > 0 {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(k.KeyInfo.X509Data.X509Certificates[0].Data), ""))
				if err != nil {
					return fmt.Errorf("SP metadata: encryption certificate: %w", err)
				}
				if enc, err = x509.ParseCertificate(der); err != nil {
					return fmt.Errorf("SP metadata: encryption certificate: %w", err)
				}
			}
		}
	}
	if acs == "" {
		return errors.New("SP metadata: no HTTP-POST ACS")
	}
	if p.encrypt && enc == nil {
		return errors.New("SP metadata: no encryption certificate")
	}
	p.mu.Lock()
	p.spEntityID, p.spACS = ed.EntityID, acs
	if p.encrypt {
		p.encryptTo = enc
	}
	p.mu.Unlock()
	return nil
}

// samlUser is who signs in at the IdP.
// samlUser is who signs in; Company, when set, is sent as the samlCompanyAttribute.
type samlUser struct{ NameID, Email, GivenName, Surname, Company string }

// samlCompanyAttribute names the attribute carrying a person's company, which the bench's
// connection maps to the company claim.
const samlCompanyAttribute = "urn:bench:company"

// authnRequest is what the IdP reads of an AuthnRequest.
type authnRequest struct {
	ID     string `xml:"ID,attr"`
	ACS    string `xml:"AssertionConsumerServiceURL,attr"`
	Issuer string `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
}

var inflaters = sync.Pool{New: func() any { return flate.NewReader(nil) }}

// answer is the IdP's side of one sign-in: u is the SSO URL the browser was redirected to
// (SAMLRequest, RelayState). It returns where the browser posts and the form it posts.
func (p *samlIdP) answer(u *url.URL, who samlUser) (string, url.Values, error) {
	q := u.Query()
	deflated, err := base64.StdEncoding.DecodeString(q.Get("SAMLRequest"))
	if err != nil {
		return "", nil, fmt.Errorf("idp: SAMLRequest: %w", err)
	}
	fr := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(fr)
	must(fr.(flate.Resetter).Reset(bytes.NewReader(deflated), nil))
	raw, err := io.ReadAll(io.LimitReader(fr, 64<<10))
	if err != nil {
		return "", nil, fmt.Errorf("idp: SAMLRequest: %w", err)
	}
	var req authnRequest
	if err := xml.Unmarshal(raw, &req); err != nil {
		return "", nil, fmt.Errorf("idp: AuthnRequest: %w", err)
	}
	p.mu.Lock()
	sp, acs := p.spEntityID, p.spACS
	p.mu.Unlock()
	if req.Issuer != sp || req.ID == "" {
		return "", nil, fmt.Errorf("idp: AuthnRequest from unknown SP %q", req.Issuer)
	}
	if req.ACS != "" && req.ACS != acs {
		return "", nil, fmt.Errorf("idp: AuthnRequest names ACS %q, registered %q", req.ACS, acs)
	}
	doc := p.response(req.ID, sp, acs, who, time.Now())
	return acs, url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(doc)}, "RelayState": {q.Get("RelayState")}}, nil
}

// The Signature of an assertion: SignedInfo in canonical form (exclusive c14n renders the
// ds namespace on it, and empty elements as start and end tags), then the value and KeyInfo.
const (
	dsNS        = `http://www.w3.org/2000/09/xmldsig#`
	signedInfoA = `<ds:SignedInfo xmlns:ds="` + dsNS + `">`
	signedInfoB = `<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:CanonicalizationMethod>` +
		`<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"></ds:SignatureMethod>` +
		`<ds:Reference URI="#`
	signedInfoC = `"><ds:Transforms><ds:Transform Algorithm="` + dsNS + `enveloped-signature"></ds:Transform>` +
		`<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:Transform></ds:Transforms>` +
		`<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></ds:DigestMethod><ds:DigestValue>`
	signedInfoD = `</ds:DigestValue></ds:Reference></ds:SignedInfo>`
)

// response writes a signed Response to request requestID. The assertion is written in
// exclusive canonical form (its namespace declared on it, attributes in c14n order, no empty
// element tags, escaped text), so its digest is the SHA-256 of its bytes without the
// Signature, which goes after its Issuer.
func (p *samlIdP) response(requestID, audience, acs string, who samlUser, now time.Time) []byte {
	now = now.UTC()
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	issued, until := ts(now), ts(now.Add(p.assertionTTL))
	aid, rid := "_"+benchkit.RandHex(16), "_"+benchkit.RandHex(16)

	var a bytes.Buffer
	a.Grow(2048)
	a.WriteString(`<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="`)
	a.WriteString(aid)
	a.WriteString(`" IssueInstant="` + issued + `" Version="2.0"><saml:Issuer>`)
	escText(&a, p.entityID)
	a.WriteString(`</saml:Issuer>`)
	head := a.Len() // the Signature goes here
	a.WriteString(`<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">`)
	escText(&a, who.NameID)
	a.WriteString(`</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="`)
	escAttr(&a, requestID)
	a.WriteString(`" NotOnOrAfter="` + until + `" Recipient="`)
	escAttr(&a, acs)
	a.WriteString(`"></saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="` +
		ts(now.Add(-30*time.Second)) + `" NotOnOrAfter="` + until + `"><saml:AudienceRestriction><saml:Audience>`)
	escText(&a, audience)
	a.WriteString(`</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="` + issued +
		`" SessionIndex="_` + benchkit.RandHex(8) + `"><saml:AuthnContext><saml:AuthnContextClassRef>` +
		`urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>` +
		`</saml:AuthnStatement><saml:AttributeStatement>`)
	attributes := [][3]string{{"mail", "urn:oid:0.9.2342.19200300.100.1.3", who.Email},
		{"givenName", "urn:oid:2.5.4.42", who.GivenName}, {"sn", "urn:oid:2.5.4.4", who.Surname}}
	if who.Company != "" {
		attributes = append(attributes, [3]string{"company", samlCompanyAttribute, who.Company})
	}
	for _, at := range attributes {
		a.WriteString(`<saml:Attribute FriendlyName="` + at[0] + `" Name="` + at[1] +
			`" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue>`)
		escText(&a, at[2])
		a.WriteString(`</saml:AttributeValue></saml:Attribute>`)
	}
	a.WriteString(`</saml:AttributeStatement></saml:Assertion>`)

	digest := sha256.Sum256(a.Bytes())
	signedInfo := signedInfoA + signedInfoB + aid + signedInfoC + base64.StdEncoding.EncodeToString(digest[:]) + signedInfoD
	sum := sha256.Sum256([]byte(signedInfo))
	sig, err := rsa.SignPKCS1v15(nil, p.key, crypto.SHA256, sum[:])
	must(err)

	var r bytes.Buffer
	r.Grow(a.Len() + 3072)
	r.WriteString(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Destination="`)
	escAttr(&r, acs)
	r.WriteString(`" ID="` + rid + `" InResponseTo="`)
	escAttr(&r, requestID)
	r.WriteString(`" IssueInstant="` + issued + `" Version="2.0"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">`)
	escText(&r, p.entityID)
	r.WriteString(`</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success">` +
		`</samlp:StatusCode></samlp:Status>`)
	var signed bytes.Buffer
	signed.Grow(a.Len() + 2048)
	signed.Write(a.Bytes()[:head])
	signed.WriteString(`<ds:Signature xmlns:ds="` + dsNS + `"><ds:SignedInfo>` + signedInfoB + aid + signedInfoC +
		base64.StdEncoding.EncodeToString(digest[:]) + signedInfoD + `<ds:SignatureValue>` +
		base64.StdEncoding.EncodeToString(sig) + `</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` +
		p.certB64 + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>`)
	signed.Write(a.Bytes()[head:])
	p.mu.Lock()
	encryptTo := p.encryptTo
	p.mu.Unlock()
	if encryptTo != nil {
		r.Write(encryptedAssertion(encryptTo, signed.Bytes()))
	} else {
		r.Write(signed.Bytes())
	}
	r.WriteString(`</samlp:Response>`)
	return r.Bytes()
}

// encryptedAssertion is the saml:EncryptedAssertion of assertion encrypted to cert, as crewjam's
// IdP writes it (the EncryptedKey in the EncryptedData's KeyInfo).
func encryptedAssertion(cert *x509.Certificate, assertion []byte) []byte {
	e := xmlenc.OAEP()
	e.BlockCipher = xmlenc.AES128CBC
	e.DigestMethod = &xmlenc.SHA1
	data, err := e.Encrypt(cert, assertion, nil)
	must(err)
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.CreateAttr("xmlns:saml", "urn:oasis:names:tc:SAML:2.0:assertion")
	ea.AddChild(data)
	d := etree.NewDocument()
	d.SetRoot(ea)
	out, err := d.WriteToBytes()
	must(err)
	return out
}

// escText and escAttr escape as canonical XML does (text: & < > CR; attributes: & < " TAB LF CR).
func escText(b *bytes.Buffer, s string) {
	b.WriteString(textEscaper.Replace(s))
}

func escAttr(b *bytes.Buffer, s string) {
	b.WriteString(attrEscaper.Replace(s))
}

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#xD;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", `"`, "&quot;", "\t", "&#x9;", "\n", "&#xA;", "\r", "&#xD;")
)
