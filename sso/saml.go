package sso

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"gatehouse/models"
	"gatehouse/provision"
)

// The SAML service provider side of browser sign-in: the AuthnRequest sent over HTTP-Redirect
// and the check of the IdP's response at the ACS, both with crewjam/saml. Everything here is a
// pure function of the connection, the SP keys and the request; the flow that stores the
// request ID and finds it again lives in provision.

// rsaSHA256 is the signature algorithm of signed AuthnRequests (xmldsig-more), which every IdP
// accepts; crewjam/saml signs the redirect query string with it.
const rsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

// serviceProvider builds crewjam's ServiceProvider for one connection, with key as its key.
// Response checks rely on its defaults: no IdP-initiated responses, the IdP's certificate from
// the connection, audience = entity ID, Destination and Recipient = ACS URL, crewjam's 180 s
// clock skew (saml.MaxClockSkew) and 90 s issue delay (saml.MaxIssueDelay, widened by the skew:
// maxIssueAge).
func serviceProvider(sp *provision.SAMLSP, key provision.SPKeyPair, conn *models.Connection) (*saml.ServiceProvider, error) {
	md, err := url.Parse(sp.EntityID)
	if err != nil {
		return nil, err
	}
	acs, err := url.Parse(sp.ACSURL)
	if err != nil {
		return nil, err
	}
	s := &saml.ServiceProvider{EntityID: sp.EntityID, Key: key.Key, Certificate: key.Certificate,
		MetadataURL: *md, AcsURL: *acs, AuthnNameIDFormat: saml.UnspecifiedNameIDFormat,
		ValidateAudienceRestriction: requireAudience(sp.EntityID)}
	if conn != nil {
		certs, err := models.ParseSAMLCertificates(conn.SAMLCertificate)
		if err != nil {
			return nil, fmt.Errorf("the connection's certificate: %w", err)
		}
		// crewjam verifies with every signing certificate of the IdP's metadata.
		signing := make([]saml.KeyDescriptor, len(certs))
		for i, cert := range certs {
			signing[i] = keyDescriptor("signing", cert.Raw)
		}
		s.IDPMetadata = &saml.EntityDescriptor{EntityID: conn.SAMLEntityID,
			IDPSSODescriptors: []saml.IDPSSODescriptor{{
				SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
					ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
					KeyDescriptors:             signing}},
				SingleSignOnServices: []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: conn.SAMLSSOURL}},
			}}}
	}
	return s, nil
}

// requireAudience is the audience check of an assertion crewjam read (the responses
// checkResponse leaves to crewjam): checkAudiences over its restrictions. crewjam's
// AudienceRestriction holds one Audience: of a restriction that lists several, only the last
// survives unmarshalling, so a restriction that names Gatehouse but not last is refused here
// (a refusal too many, never an acceptance); checkResponse reads them all from the tree.
func requireAudience(entityID string) func(a *saml.Assertion) error {
	return func(a *saml.Assertion) error {
		var restrictions [][]string
		if a.Conditions != nil {
			for _, ar := range a.Conditions.AudienceRestrictions {
				restrictions = append(restrictions, []string{ar.Audience.Value})
			}
		}
		return checkAudiences(entityID, restrictions)
	}
}

// checkAudiences is the audience rule, over the Audiences of each AudienceRestriction of an
// assertion: crewjam accepts an assertion with no AudienceRestriction at all (an assertion
// meant for any SP); Gatehouse requires at least one, and every one of them must name its
// entity ID among its audiences (SAML core §2.5.1.4: conditions are ANDed, the audiences of
// one restriction ORed), so that an assertion issued to another service provider never signs
// anyone in.
func checkAudiences(entityID string, restrictions [][]string) error {
	if len(restrictions) == 0 {
		return errors.New("the assertion has no AudienceRestriction")
	}
	for i, audiences := range restrictions {
		if !slices.Contains(audiences, entityID) {
			return fmt.Errorf("assertion Conditions AudienceRestriction %d of %d does not contain %q",
				i+1, len(restrictions), entityID)
		}
	}
	return nil
}

// responseDestination reads the Destination attribute of the root element of a response that
// crewjam has already checked (well-formed, Response root): only the root's start tag is
// decoded, the document is not parsed again.
func responseDestination(raw []byte) string { return rootAttribute(raw, "Destination") }

// responseInResponseTo reads the InResponseTo attribute of the root element of a response as
// the ACS received it (base64), before any check: it only finds the flow whose checks then
// apply, and a value no flow has finds none.
func responseInResponseTo(form string) string {
	raw, err := base64.StdEncoding.DecodeString(form) // the ACS bounded the body (MaxSAMLResponse)
	if err != nil {
		return ""
	}
	return rootAttribute(raw, "InResponseTo")
}

// rootAttribute reads an attribute (no namespace) of a document's root element; only the
// root's start tag is decoded.
func rootAttribute(raw []byte, name string) string {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return ""
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Space == "" && a.Name.Local == name {
					return a.Value
				}
			}
			return ""
		}
	}
}

// spEncryptionMethods are the algorithms the SP metadata offers for encrypted assertions, in
// the order of preference (SAML V2.0 Metadata Profile for Algorithm Support): AES-128-GCM
// first, authenticated encryption, which an IdP that reads the list (OpenSAML's: Shibboleth)
// then uses; AES-CBC for the IdPs that know no other or ignore the list (Entra ID, AD FS, Okta);
// RSA-OAEP as the one key transport (xmlenc_registry.go refuses PKCS#1 v1.5). Each is
// decrypted: CBC by crewjam's xmlenc, GCM by Gatehouse's (xmlenc_registry.go). As long as the
// ACS reads CBC, GCM does not by itself defeat a CBC padding oracle (an attacker relabels the
// data: Jager, Schinzel and Somorovsky, 2012); what does is that every decryption failure
// answers the same.
var spEncryptionMethods = []string{
	"http://www.w3.org/2009/xmlenc11#aes128-gcm",
	"http://www.w3.org/2009/xmlenc11#aes256-gcm",
	"http://www.w3.org/2001/04/xmlenc#aes128-cbc",
	"http://www.w3.org/2001/04/xmlenc#aes192-cbc",
	"http://www.w3.org/2001/04/xmlenc#aes256-cbc",
	"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
}

func keyDescriptor(use string, certDER []byte) saml.KeyDescriptor {
	kd := saml.KeyDescriptor{Use: use, KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{
		X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(certDER)}}}}}
	if use == "encryption" {
		for _, alg := range spEncryptionMethods {
			kd.EncryptionMethods = append(kd.EncryptionMethods, saml.EncryptionMethod{Algorithm: alg})
		}
	}
	return kd
}

// spMetadataCacheDuration is the SP metadata's cacheDuration.
const spMetadataCacheDuration = 24 * time.Hour

// SPMetadataXML renders the service provider metadata with crewjam/saml. Every key is listed
// for signing and for encryption, the current key first (IdPs that pick one take the first).
// AuthnRequestsSigned stays false: signing is a per-connection choice (signRequests), and an
// IdP that has the signing certificate verifies a signed request either way.
func (r *Remote) SPMetadataXML(keys provision.SPKeys, entityID, acsURL string) (string, error) {
	s, err := serviceProvider(&provision.SAMLSP{EntityID: entityID, ACSURL: acsURL}, keys.Current, nil)
	if err != nil {
		return "", err
	}
	s.AuthnNameIDFormat = saml.UnspecifiedNameIDFormat
	ed := s.Metadata()
	// No validUntil (crewjam sets one on the EntityDescriptor and the SPSSODescriptor): IdPs that
	// import the document once keep it as the end of the SP's registration, and refuse every
	// sign-in after it (SimpleSAMLphp's metadata converter makes it the entity's "expire";
	// pysaml2 drops the entity as "too old"), although the keys and endpoints have not changed.
	// The document is not signed, so a validUntil protects nothing; cacheDuration asks the IdPs
	// that fetch spMetadataUrl to read it again within a day (a new SP key, say).
	ed.ValidUntil = time.Time{}
	ed.CacheDuration = spMetadataCacheDuration
	for i := range ed.SPSSODescriptors {
		ed.SPSSODescriptors[i].ValidUntil = nil
		ed.SPSSODescriptors[i].CacheDuration = 0
	}
	var kds []saml.KeyDescriptor
	for _, kp := range keys.All() {
		kds = append(kds, keyDescriptor("signing", kp.Certificate.Raw), keyDescriptor("encryption", kp.Certificate.Raw))
	}
	ed.SPSSODescriptors[0].KeyDescriptors = kds
	// Only HTTP-POST: artifact resolution would make Gatehouse call the IdP back, which the ACS
	// refuses (CheckSAMLResponse).
	acs := ed.SPSSODescriptors[0].AssertionConsumerServices[:0]
	for _, e := range ed.SPSSODescriptors[0].AssertionConsumerServices {
		if e.Binding == saml.HTTPPostBinding {
			acs = append(acs, e)
		}
	}
	ed.SPSSODescriptors[0].AssertionConsumerServices = acs
	b, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return "", err
	}
	// crewjam's EntityDescriptor writes a zero validUntil as the year 1 (its RelaxedTime is a
	// struct, which omitempty does not leave out): the attribute goes.
	return xml.Header + strings.Replace(string(b), ` validUntil="0001-01-01T00:00:00Z"`, "", 1), nil
}

// SAMLRequest is an AuthnRequest ready to send.
type SAMLRequest struct {
	// URL is, by the HTTP-Redirect binding (Form nil), the IdP's SSO URL with SAMLRequest,
	// RelayState and, when the connection signs requests, SigAlg and Signature; by the
	// HTTP-POST binding, the SSO URL the browser posts Form to.
	URL string
	// Form is what the browser posts by the HTTP-POST binding (SAML bindings §3.5.4):
	// SAMLRequest, the request's XML in base64 (signed within when the connection signs
	// requests), and RelayState. nil by the HTTP-Redirect binding.
	Form url.Values
	// ID is the request's ID, which the response's InResponseTo must name.
	ID string
}

// NewSAMLRequest makes the AuthnRequest for a sign-in through conn, by the connection's
// binding (its ssoBinding), signed with the current SP key when the connection's signRequests
// is set: over the query string by HTTP-Redirect, with an enveloped XML signature by
// HTTP-POST (SAML bindings §3.4.4.1, §3.5.4). requestID is the flow's (crewjam makes one when
// it is empty); relayState travels to the IdP and back with the response.
func NewSAMLRequest(sp *provision.SAMLSP, conn *models.Connection, requestID, relayState string, opts ...SAMLRequestOption) (*SAMLRequest, error) {
	// Without the IdP's metadata: nothing in a request comes from it, and parsing the
	// connection's certificates for it cost each sign-in's start some 40 µs. The ACS reads them
	// (SAMLResponses.certificates); the API refused a connection whose certificate does not parse.
	s, err := serviceProvider(sp, sp.Keys.Current, nil)
	if err != nil {
		return nil, fmt.Errorf("sso: saml request: %w", err)
	}
	if conn.SAMLSignRequests {
		s.SignatureMethod = rsaSHA256
	}
	// Made as for the redirect binding, that is unsigned: crewjam would sign a request for the
	// POST binding as it makes it, before the flow's ID and the options are set.
	req, err := s.MakeAuthenticationRequest(conn.SAMLSSOURL, saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return nil, fmt.Errorf("sso: saml request: %w", err)
	}
	if requestID != "" {
		req.ID = requestID
	}
	for _, o := range opts {
		o(req)
	}
	if conn.SSOBinding() == models.SAMLBindingPost {
		form, err := postForm(req, relayState, s)
		if err != nil {
			return nil, fmt.Errorf("sso: saml request: %w", err)
		}
		return &SAMLRequest{URL: conn.SAMLSSOURL, Form: form, ID: req.ID}, nil
	}
	u, err := redirectURL(req, url.QueryEscape(relayState), s)
	if err != nil {
		return nil, fmt.Errorf("sso: saml request: %w", err)
	}
	return &SAMLRequest{URL: u, ID: req.ID}, nil
}

// SAMLRequestOption sets an attribute of an AuthnRequest.
type SAMLRequestOption func(*saml.AuthnRequest)

// ForceAuthn asks the IdP to authenticate the person afresh, whatever session it has
// (prompt=login, max_age).
func ForceAuthn() SAMLRequestOption {
	return func(r *saml.AuthnRequest) { t := true; r.ForceAuthn = &t }
}

// IsPassive asks the IdP not to interact with the person: it signs them in silently or
// answers the status NoPassive (prompt=none).
func IsPassive() SAMLRequestOption {
	return func(r *saml.AuthnRequest) { t := true; r.IsPassive = &t }
}

// statusNoPassive is the second-level status of an IdP that could not sign in passively.
const statusNoPassive = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"

// responseSecondStatus reads the second-level status code of a response as the ACS received
// it (base64), "" when there is none. It reads only what a refusal says: the response failed
// its checks (ErrBadStatus) before it is called.
func responseSecondStatus(form string) string {
	raw, err := base64.StdEncoding.DecodeString(form)
	if err != nil {
		return ""
	}
	var r struct {
		Status struct {
			StatusCode struct {
				StatusCode struct {
					Value string `xml:",attr"`
				} `xml:"urn:oasis:names:tc:SAML:2.0:protocol StatusCode"`
			} `xml:"urn:oasis:names:tc:SAML:2.0:protocol StatusCode"`
		} `xml:"urn:oasis:names:tc:SAML:2.0:protocol Status"`
	}
	if xml.Unmarshal(raw, &r) != nil {
		return ""
	}
	return r.Status.StatusCode.StatusCode.Value
}

// deflaters reuse DEFLATE writers: crewjam's AuthnRequest.Redirect allocates a best-compression
// writer (about a megabyte of tables to clear) per request, which cost more than the rest of
// the request. BestSpeed deflates a request of a few hundred bytes about as small.
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// redirectURL is crewjam's AuthnRequest.Redirect (the same XML and query) with a reused
// DEFLATE writer, and a signature over what the binding signs where crewjam's covers more (an
// SSO URL with a query of its own); TestRedirectURLIsCrewjams holds it to crewjam's.
// relayState is appended as given.
func redirectURL(r *saml.AuthnRequest, relayState string, sp *saml.ServiceProvider) (string, error) {
	var xmlReq bytes.Buffer
	doc := etree.NewDocument()
	doc.SetRoot(r.Element())
	if _, err := doc.WriteTo(&xmlReq); err != nil {
		return "", err
	}
	var deflated bytes.Buffer
	fw := deflaters.Get().(*flate.Writer)
	fw.Reset(&deflated)
	_, err := fw.Write(xmlReq.Bytes())
	if err == nil {
		err = fw.Close()
	}
	deflaters.Put(fw)
	if err != nil {
		return "", err
	}
	rv, err := url.Parse(r.Destination)
	if err != nil {
		return "", err
	}
	// The signature covers SAMLRequest, RelayState and SigAlg, in that order and as they stand
	// in the query, and nothing else (SAML bindings §3.4.4.1: "SAMLRequest=value&RelayState=
	// value&SigAlg=value"): an IdP rebuilds that string from the three parameters it received.
	// crewjam signs the whole query, with the SSO URL's own parameters first (Google's
	// ?idpid=…), which such an IdP cannot verify; they stay in the URL, unsigned.
	signed := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflated.Bytes()))
	if relayState != "" {
		signed += "&RelayState=" + relayState
	}
	if sp.SignatureMethod != "" {
		signed += "&SigAlg=" + url.QueryEscape(sp.SignatureMethod)
		signer, err := saml.GetSigningContext(sp)
		if err != nil {
			return "", err
		}
		sig, err := signer.SignString(signed)
		if err != nil {
			return "", err
		}
		signed += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	if rv.RawQuery != "" {
		signed = rv.RawQuery + "&" + signed
	}
	rv.RawQuery = signed
	return rv.String(), nil
}

// postForm is the form of r by the HTTP-POST binding (crewjam's AuthnRequest.Post, whose page
// runs an inline script a strict Content-Security-Policy forbids: webpage.FormPost writes the
// page): the request's XML in base64, not deflated, signed with crewjam's enveloped signature
// (the Signature after the Issuer, as the schema orders them) when sp signs requests.
func postForm(r *saml.AuthnRequest, relayState string, sp *saml.ServiceProvider) (url.Values, error) {
	if sp.SignatureMethod != "" {
		if err := sp.SignAuthnRequest(r); err != nil {
			return nil, err
		}
	}
	doc := etree.NewDocument()
	doc.SetRoot(r.Element())
	xmlReq, err := doc.WriteToBytes()
	if err != nil {
		return nil, err
	}
	form := url.Values{"SAMLRequest": {base64.StdEncoding.EncodeToString(xmlReq)}}
	if relayState != "" {
		form.Set("RelayState", relayState)
	}
	return form, nil
}

// SAMLLogin is a response that passed every check.
type SAMLLogin struct {
	Identity provision.Identity
	// AssertionID must be accepted once (provision.AcceptSAMLAnswer) until KeepUntil, after
	// which crewjam's issue-delay check refuses the assertion by itself.
	AssertionID string
	KeepUntil   time.Time
	// SHA1: the response or assertion is signed with SHA-1, which the connection accepts
	// (samlConfig.acceptSha1Signatures); the ACS warns of it.
	SHA1 bool
	// Warnings are what the administrator running a test sign-in is told of a response that
	// was accepted (the SHA-1 it was signed with: SHA1); a real sign-in logs SHA1 instead
	// (warnSHA1).
	Warnings []string
}

// LoginError is a failed upstream login: Public is what the person may see; Private, the
// cause, goes to the log and the sign-in event only (crewjam's InvalidResponseError pattern).
type LoginError struct {
	Public  string
	Private error
}

func (e *LoginError) Error() string { return e.Public }
func (e *LoginError) Unwrap() error { return e.Private }

// MaxSAMLResponse bounds the ACS form body; real responses are a few KiB.
const MaxSAMLResponse = 256 << 10

const publicSAMLFailure = "The identity provider's response could not be accepted."

// CheckSAMLResponse checks the IdP's POST to the ACS (r, its form parsed) for the request
// requestID sent through conn: XML safety, signature with the connection's certificate,
// Destination, Recipient, audience, InResponseTo, validity window, decryption with the SP
// keys. It returns the normalised identity. It parses the certificate at each call; the ACS
// uses SAMLResponses.Check, which keeps it parsed.
func CheckSAMLResponse(r *http.Request, sp *provision.SAMLSP, conn *models.Connection, requestID string) (*SAMLLogin, error) {
	return (*SAMLResponses)(nil).Check(r, sp, conn, requestID)
}

// Check is CheckSAMLResponse with the connection's certificate from c's cache. A response
// with one assertion, plain or encrypted, as the Response's child is read once
// (checkResponse); anything else is crewjam's ParseXMLResponse's.
func (c *SAMLResponses) Check(r *http.Request, sp *provision.SAMLSP, conn *models.Connection, requestID string) (*SAMLLogin, error) {
	if r.Form.Get("SAMLart") != "" || r.PostForm.Get("SAMLResponse") == "" {
		// crewjam would resolve an artifact with an outbound request of its own.
		return nil, &LoginError{Public: publicSAMLFailure, Private: errors.New("no SAMLResponse in the POST (the artifact binding is not supported)")}
	}
	raw, err := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
	if err != nil {
		return nil, &LoginError{Public: publicSAMLFailure, Private: fmt.Errorf("cannot parse base64: %w", err)}
	}
	// One reading of the bytes: crewjam's XML validation, and what would cost far more than it
	// is worth to read is refused, as the tree the checks read is built (readXML).
	doc, shape, err := readXML(raw)
	if err != nil {
		return nil, &LoginError{Public: publicSAMLFailure, Private: err}
	}
	certs, err := c.certificates(conn)
	if err != nil {
		return nil, &LoginError{Public: publicSAMLFailure, Private: err}
	}
	// The URL the IdP posted to is the ACS as the public URL names it: crewjam compares
	// Destination with the request's URL, which on the server is relative ("/saml/acs"), and
	// a Destination must name the ACS itself.
	acs, err := url.Parse(sp.ACSURL)
	if err != nil {
		return nil, &LoginError{Public: publicSAMLFailure, Private: err}
	}
	// An IdP encrypting to one of the SP metadata's keys sends one EncryptedKey: only then are
	// the other SP keys worth an RSA decryption each.
	rotate := shape.encryptedKeys == 1
	policy := &sha1Policy{accept: conn.SAMLAcceptSHA1}
	a, destination, err := checkResponse(doc, sp, conn, certs, requestID, *acs, saml.TimeNow(), rotate, policy)
	if err == errLeftToCrewjam {
		a, err = parseResponse(raw, sp, conn, requestID, *acs, rotate, policy)
		destination = responseDestination(raw)
	}
	if err != nil {
		return nil, &LoginError{Public: publicSAMLFailure, Private: privateCause(err)}
	}
	// crewjam checks Destination only when it is present on an unsigned Response; the issue
	// requires Destination = ACS on every response (crewjam has compared a present one).
	if destination == "" {
		return nil, &LoginError{Public: publicSAMLFailure, Private: errors.New("the Response has no Destination")}
	}
	if a.Subject == nil || a.Subject.NameID == nil || strings.TrimSpace(a.Subject.NameID.Value) == "" {
		return nil, &LoginError{Public: "The identity provider did not say who you are (no NameID).", Private: errors.New("assertion has no NameID")}
	}
	// NameID is the identifier a person is bound by. A transient one is new at each sign-in
	// (SAML core §8.3.8): bound once, it would never match again, and the person would be
	// refused from the second sign-in on as someone else.
	if strings.TrimSpace(a.Subject.NameID.Format) == string(saml.TransientNameIDFormat) {
		return nil, &LoginError{Public: "The identity provider sent a one-time identifier (a transient NameID), which cannot identify you: your administrator must set it to send a persistent one.",
			Private: errors.New("the NameID is transient (a new value at each sign-in): set the IdP's Name ID format to persistent, unspecified or emailAddress")}
	}
	// crewjam checks the Recipient of each SubjectConfirmation there is; the Web SSO profile
	// (SAML profiles §4.1.4.2) requires a bearer one, naming the ACS: an assertion without
	// one is refused, so that one issued for another purpose never signs anyone in here.
	if !hasBearerConfirmation(a) {
		return nil, &LoginError{Public: publicSAMLFailure, Private: errors.New("assertion has no bearer SubjectConfirmation (no Recipient)")}
	}
	login := &SAMLLogin{Identity: samlIdentity(a, conn.SAMLConfig().AttributeMapping), AssertionID: a.ID,
		KeepUntil: a.IssueInstant.Add(maxIssueAge + time.Minute), SHA1: policy.used}
	if w := policy.warning(); w != "" {
		login.Warnings = append(login.Warnings, w)
	}
	return login, nil
}

// bearerMethod is the SubjectConfirmation method of the Web SSO profile.
const bearerMethod = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

// hasBearerConfirmation reports whether the assertion has a bearer SubjectConfirmation with
// its data (whose Recipient the checks compared with the ACS).
func hasBearerConfirmation(a *saml.Assertion) bool {
	for _, sc := range a.Subject.SubjectConfirmations {
		if sc.Method == bearerMethod && sc.SubjectConfirmationData != nil {
			return true
		}
	}
	return false
}

// parseResponse is crewjam's ParseXMLResponse with the current SP key and, when rotate is set,
// with each other SP key in turn: another key is tried only when decryption failed (an IdP may
// still encrypt to the previous certificate, or already to the next one). Check sets rotate
// for a response with exactly one EncryptedKey, which an IdP encrypting to one of the keys of
// the SP metadata sends: each key tried costs an RSA decryption. Signatures made with SHA-1
// are as policy says.
func parseResponse(raw []byte, sp *provision.SAMLSP, conn *models.Connection, requestID string, currentURL url.URL, rotate bool, policy *sha1Policy) (*saml.Assertion, error) {
	keys := sp.Keys.All()
	if !rotate {
		keys = keys[:1]
	}
	var a *saml.Assertion
	var err error
	for i, kp := range keys {
		var s *saml.ServiceProvider
		if s, err = serviceProvider(sp, kp, conn); err != nil {
			return nil, err
		}
		s.SignatureVerifier = policy
		a, err = s.ParseXMLResponse(raw, []string{requestID}, currentURL)
		if err == nil || i == len(keys)-1 || !strings.Contains(privateCause(err).Error(), "decrypt") {
			break
		}
	}
	return a, err
}

func privateCause(err error) error {
	var ire *saml.InvalidResponseError
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		return ire.PrivateErr // never ire.Response: that is the assertion itself
	}
	return err
}

// Attribute names read when attributeMapping does not name one: the usual ones of Entra ID
// (claims URIs), Okta and Google (as their setup guides suggest), and the LDAP/eduPerson OIDs.
var defaultAttributes = map[string][]string{
	"email": {"email", "mail", "emailAddress", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
		"urn:oid:0.9.2342.19200300.100.1.3"},
	"firstName": {"firstName", "givenName", "given_name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
		"urn:oid:2.5.4.42"},
	"lastName": {"lastName", "surname", "sn", "family_name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
		"urn:oid:2.5.4.4"},
}

// authnMethodsAttribute is the attribute in which Entra ID and AD FS list the authentication
// methods of the sign-in.
const authnMethodsAttribute = "http://schemas.microsoft.com/claims/authnmethodsreferences"

// samlIdentity normalises an assertion: NameID is the identifier; claims hold every attribute
// under its Name (a string, or a list when multi-valued) and under each attributeMapping key
// that names it; email and names come from the mapped attributes, else the usual names, and
// the email falls back to a NameID that is an address.
func samlIdentity(a *saml.Assertion, mapping map[string]any) provision.Identity {
	claims := map[string]any{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			var vs []string
			for _, v := range at.Values {
				vs = append(vs, v.Value)
			}
			if len(vs) == 0 {
				continue
			}
			var v any = vs[0]
			if len(vs) > 1 {
				l := make([]any, len(vs))
				for i, s := range vs {
					l[i] = s
				}
				v = l
			}
			claims[at.Name] = v
			if at.FriendlyName != "" {
				if _, taken := claims[at.FriendlyName]; !taken {
					claims[at.FriendlyName] = v
				}
			}
		}
	}
	for k, name := range mapping {
		if n, ok := name.(string); ok {
			if v, ok := claims[n]; ok {
				claims[k] = v
			}
		}
	}
	first := func(key string) string {
		names := defaultAttributes[key]
		if n, ok := mapping[key].(string); ok {
			names = []string{n}
		}
		for _, n := range names {
			switch v := claims[n].(type) {
			case string:
				return v
			case []any:
				return v[0].(string)
			}
		}
		return ""
	}
	id := provision.Identity{Identifier: strings.TrimSpace(a.Subject.NameID.Value), Email: first("email"),
		FirstName: first("firstName"), LastName: first("lastName"), Claims: claims}
	for _, st := range a.AuthnStatements { // when and how the person authenticated at the IdP
		if !st.AuthnInstant.IsZero() {
			id.AuthTime = st.AuthnInstant
			if ref := st.AuthnContext.AuthnContextClassRef; ref != nil {
				id.ACR = strings.TrimSpace(ref.Value)
			}
			break
		}
	}
	// Entra ID and AD FS say how in an attribute, by default (…/claims/multipleauthn after a
	// second factor): the id_token's amr.
	switch v := claims[authnMethodsAttribute].(type) {
	case string:
		id.AMR = []string{v}
	case []any:
		for _, s := range v {
			id.AMR = append(id.AMR, s.(string))
		}
	}
	// A mapped full name stands in for missing given and family names (nameParts).
	if id.FirstName == "" && id.LastName == "" {
		if n, ok := mapping["name"].(string); ok {
			if full, ok := claims[n].(string); ok {
				id.FirstName, id.LastName = nameParts(full)
			}
		}
	}
	if id.Email == "" {
		if addr, err := mail.ParseAddress(id.Identifier); err == nil && addr.Address == id.Identifier {
			id.Email = id.Identifier
		}
	}
	return id
}
