package sso

import (
	"crypto"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"gatehouse/cache"
	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/provision"
)

// The ACS's check of a response that carries one assertion, plain or encrypted, as the
// Response's child: what IdPs send (encrypted when the SP metadata's encryption key is used, as
// AD FS does by default). crewjam/saml's ParseXMLResponse reads such a response four times
// after its XML round-trip validation: an etree parse, a serialisation of the Response and an
// xml.Unmarshal of it (the assertion included), then a serialisation and an xml.Unmarshal of
// the assertion alone; it decrypts an EncryptedAssertion and validates and parses its plaintext
// with no bound on what the plaintext holds; and it parses the IdP certificate again (regexp,
// base64, X.509) for each signature. The ACS reads the response's bytes once (readXML: the
// same round-trip validation, the limits, and the etree tree for the signatures, in one
// pass); checkResponse unmarshals the values from that tree's tokens (decodeTree) and takes
// the certificate parsed from the connection's PEM; an encrypted assertion's plaintext is
// decrypted as crewjam decrypts it, then read the same way within readXML's limits (anyone
// may encrypt to the SP's published key). The checks are
// crewjam's, in crewjam's order (parseResponse, parseEncryptedAssertion, validateSignature,
// validateAssertion, service_provider.go v0.5.1), with its MaxIssueDelay and MaxClockSkew;
// TestSAMLCheckIsCrewjams and TestSAMLEncryptedCheckIsCrewjams hold it to ParseXMLResponse over
// valid and tampered responses. One difference is known and kept: crewjam unmarshals the
// assertion from a serialisation that takes each prefix's last declaration anywhere in the
// document, so a saml prefix declared again deeper after the assertion makes it refuse a
// valid one; checkResponse reads the assertion as signed. A second is a fix: crewjam keeps one
// Audience per AudienceRestriction (the last), so it refuses a restriction that names the SP
// among several audiences but not last, which SAML allows (core §2.5.1.4); checkResponse reads
// every Audience (assertionAudiences). A third is a fix too: crewjam allows a response and its
// assertion to have been issued MaxIssueDelay (90 s) before they arrive, by Gatehouse's clock
// and with no skew, so an IdP whose clock is 90 s behind fails every sign-in while one 3
// minutes ahead passes; checkResponse allows the same skew both ways (maxIssueAge). A fourth
// is an addition: crewjam does not read a Subject's EncryptedID (its Subject has no field for
// one), so the NameID of such an assertion is missing; checkResponse decrypts it with the SP
// keys (decryptNameID). Anything else that checkXML let through (an assertion that
// is not the Response's child, one in another namespace) goes to ParseXMLResponse itself.

// maxIssueAge is how long before it arrives a response or an assertion may have been issued:
// crewjam's MaxIssueDelay, plus the clock skew allowed to every other instant (MaxClockSkew),
// because IssueInstant is read by the IdP's clock. The SAML2int deployment profile asks for 3
// to 5 minutes of skew in either direction. The replay cache keeps an assertion ID longer
// than this (SAMLLogin.KeepUntil).
var maxIssueAge = saml.MaxIssueDelay + saml.MaxClockSkew // not a constant: crewjam declares them as variables

// SAMLResponses checks responses at the ACS. It keeps the connections' IdP certificates
// parsed, keyed by their PEM text: a connection whose certificates change is checked against
// the new ones at once.
type SAMLResponses struct {
	certs *cache.Cache[string, []*x509.Certificate]
}

// maxIdPCertificates bounds the certificate cache (one entry per SAML connection in use, a few
// KB each); the least recently used goes first, and an hour unused.
const maxIdPCertificates = 1_000

// NewSAMLResponses builds the checker with its certificate cache in g (nil: no metrics).
func NewSAMLResponses(g *cache.Group, clk clock.Clock) *SAMLResponses {
	return &SAMLResponses{certs: cache.New[string, []*x509.Certificate](g, "saml_idp_certificates",
		cache.Options{MaxEntries: maxIdPCertificates, TTL: time.Hour, Clock: clk})}
}

// certificates returns the connection's IdP certificates (models.ParseSAMLCertificates),
// parsed once per PEM text.
func (c *SAMLResponses) certificates(conn *models.Connection) ([]*x509.Certificate, error) {
	if c != nil && c.certs != nil {
		if certs, ok := c.certs.Get(conn.SAMLCertificate); ok {
			return certs, nil
		}
	}
	certs, err := models.ParseSAMLCertificates(conn.SAMLCertificate)
	if err != nil {
		return nil, fmt.Errorf("the connection's certificate: %w", err)
	}
	if c != nil && c.certs != nil {
		c.certs.Set(conn.SAMLCertificate, certs)
	}
	return certs, nil
}

const (
	assertionNS = "urn:oasis:names:tc:SAML:2.0:assertion"
	dsigNS      = "http://www.w3.org/2000/09/xmldsig#"
)

// errLeftToCrewjam sends a response to crewjam's ParseXMLResponse: it is well-formed but its
// one assertion is not the Response's child.
var errLeftToCrewjam = errors.New("sso: not a response with one assertion as its child")

// errNoSignature is crewjam's errSignatureElementNotPresent.
var errNoSignature = errors.New("signature element not present")

// checkResponse checks doc, the decoded response that readXML let through and read (Check's
// first step, crewjam's validation included), as crewjam's ParseXMLResponse does with the
// connection's certificates certs, for the request requestID, received at currentURL. An
// EncryptedAssertion (and an EncryptedID) is decrypted with the SP's current key and, when
// rotate is set, with each other SP key in turn (parseResponse's rule). Signatures made with
// SHA-1 are as policy says. It returns errLeftToCrewjam, before any check that could refuse,
// for a response it leaves to crewjam.
// The Response's Destination comes back with the assertion.
func checkResponse(doc *etree.Document, sp *provision.SAMLSP, conn *models.Connection, certs []*x509.Certificate, requestID string, currentURL url.URL, now time.Time, rotate bool, policy *sha1Policy) (*saml.Assertion, string, error) {
	root := doc.Root()
	if root == nil {
		return nil, "", errors.New("invalid xml: no root")
	}
	// The one assertion (checkXML counted them), plain or encrypted, as the Response's
	// child in the assertion namespace: where crewjam looks for it.
	var assertionEl, encryptedEl *etree.Element
	for _, el := range root.ChildElements() {
		if el.Tag != "Assertion" && el.Tag != "EncryptedAssertion" {
			continue
		}
		if assertionEl != nil || encryptedEl != nil || el.NamespaceURI() != assertionNS {
			return nil, "", errLeftToCrewjam
		}
		if el.Tag == "Assertion" {
			assertionEl = el
		} else {
			encryptedEl = el
		}
	}
	if assertionEl == nil && encryptedEl == nil {
		return nil, "", errLeftToCrewjam
	}
	acs, err := url.Parse(sp.ACSURL)
	if err != nil {
		return nil, "", err
	}
	acsURL := acs.String()

	// The values, read before verifySignature changes the tree (it may drop a KeyInfo).
	var response saml.Response
	decodeErr := decodeTree(root, &response)
	// parseResponse: the Response's signature is checked first, acted on after its attributes.
	respSigErr := verifySignature(root, certs, policy)
	if decodeErr != nil {
		return nil, "", fmt.Errorf("cannot unmarshal response: %v", decodeErr)
	}
	if respSigErr != errNoSignature || response.Destination != "" {
		if !sameEndpoint(response.Destination, currentURL.String()) && !sameEndpoint(response.Destination, acsURL) {
			return nil, "", fmt.Errorf("`Destination` does not match requested URL or AcsURL (destination %q, requested %q, acs %q)",
				response.Destination, currentURL.String(), acsURL)
		}
	}
	if response.InResponseTo != requestID {
		return nil, "", fmt.Errorf("`InResponseTo` does not match any of the possible request IDs (expected %v)", []string{requestID})
	}
	if response.IssueInstant.Add(maxIssueAge).Before(now) {
		return nil, "", fmt.Errorf("response IssueInstant expired at %s", response.IssueInstant.Add(maxIssueAge))
	}
	if response.Issuer != nil && response.Issuer.Value != conn.SAMLEntityID {
		return nil, "", fmt.Errorf("response Issuer does not match the IDP metadata (expected %q)", conn.SAMLEntityID)
	}
	if response.Status.StatusCode.Value != saml.StatusSuccess {
		return nil, "", saml.ErrBadStatus{Status: response.Status.StatusCode.Value}
	}
	if respSigErr != nil && respSigErr != errNoSignature {
		return nil, "", respSigErr
	}
	// The one assertion: encoding/xml read it as the Response's only Assertion child, or it is
	// the plaintext of the only EncryptedAssertion child.
	a := response.Assertion
	if encryptedEl != nil {
		var err error
		if assertionEl, a, err = decryptAssertion(encryptedEl, decryptionKeys(sp, rotate)); err != nil {
			return nil, "", fmt.Errorf("failed to decrypt EncryptedAssertion: %v", err)
		}
	}
	if a == nil {
		return nil, "", errors.New("expected at least one valid Assertion, none found")
	}
	if respSigErr == errNoSignature { // an unsigned Response: the assertion must be signed
		if err := verifySignature(assertionEl, certs, policy); err != nil {
			return nil, "", err
		}
	}
	if err := foreignElements(assertionEl); err != nil {
		return nil, "", err
	}
	if err := validateAssertion(a, assertionAudiences(assertionEl), sp.EntityID, conn.SAMLEntityID, acsURL, requestID, now); err != nil {
		return nil, "", err
	}
	// An EncryptedID in place of the NameID (SAML core §2.4.1: SimpleSAMLphp's
	// nameid.encryption, Shibboleth's encryptNameIDs), inside an assertion checked above:
	// decrypted as an EncryptedAssertion is, with the same keys.
	switch ids := subjectEncryptedIDs(assertionEl); {
	case len(ids) > 1 || len(ids) == 1 && a.Subject.NameID != nil:
		// The schema allows one identifier; which of several to take would be a guess.
		return nil, "", errors.New("the assertion's Subject names the person more than once (NameID and EncryptedID, or two EncryptedIDs)")
	case len(ids) == 1:
		nameID, err := decryptNameID(ids[0], decryptionKeys(sp, rotate))
		if err != nil {
			return nil, "", fmt.Errorf("failed to decrypt the EncryptedID: %v", err)
		}
		a.Subject.NameID = nameID
	}
	return a, response.Destination, nil
}

// sameEndpoint reports whether got, a Destination or Recipient the IdP wrote, names the
// endpoint want: crewjam compares them byte for byte, but some IdPs echo the ACS URL as an
// admin typed it into their console, with an upper-cased host or scheme. RFC 3986 §6.2.2.1
// and §6.2.3 make those case-insensitive and a port equal to the scheme's default the same as
// none; the path, query and fragment stay exact (they are case-sensitive, and a different
// path is a different endpoint).
func sameEndpoint(got, want string) bool {
	if got == want {
		return true
	}
	g, err := url.Parse(got)
	if err != nil {
		return false
	}
	w, err := url.Parse(want)
	if err != nil {
		return false
	}
	return strings.EqualFold(g.Scheme, w.Scheme) && g.Opaque == "" && w.Opaque == "" && g.User.String() == w.User.String() &&
		strings.EqualFold(g.Hostname(), w.Hostname()) && effectivePort(g) == effectivePort(w) &&
		g.Path == w.Path && g.RawPath == w.RawPath && g.RawQuery == w.RawQuery && g.ForceQuery == w.ForceQuery &&
		g.Fragment == w.Fragment && g.RawFragment == w.RawFragment
}

// effectivePort is u's port, its scheme's default when it names none.
func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// decryptionKeys are the SP keys an encrypted element may be encrypted to: the current one,
// and with rotate the next and the previous.
func decryptionKeys(sp *provision.SAMLSP, rotate bool) []provision.SPKeyPair {
	if !rotate {
		return []provision.SPKeyPair{sp.Keys.Current}
	}
	return sp.Keys.All()
}

// subjectEncryptedIDs are the EncryptedIDs of the Subject of the assertion el (its own
// children only: one in a SubjectConfirmation names the presenter, not the person).
func subjectEncryptedIDs(el *etree.Element) []*etree.Element {
	var ids []*etree.Element
	for _, subject := range assertionChildren(el, "Subject") {
		ids = append(ids, assertionChildren(subject, "EncryptedID")...)
	}
	return ids
}

// decryptNameID decrypts an EncryptedID (decryptPlaintext): its plaintext must be one NameID
// element in the assertion namespace.
func decryptNameID(encryptedIDEl *etree.Element, keys []provision.SPKeyPair) (*saml.NameID, error) {
	root, err := decryptPlaintext(encryptedIDEl, keys)
	if err != nil {
		return nil, err
	}
	if root.Tag != "NameID" || root.NamespaceURI() != assertionNS {
		return nil, errors.New("the plaintext is not a NameID element in the SAML assertion namespace")
	}
	var nameID saml.NameID
	if err := decodeTree(root, &nameID); err != nil {
		return nil, err
	}
	return &nameID, nil
}

// decryptAssertion is crewjam's decryptElement (ServiceProvider.decryptElement) trying each of
// keys, followed by what crewjam does with the plaintext, once each: validation and an etree
// parse for the signature, and an xml.Unmarshal of the same bytes for the values
// (decryptPlaintext).
func decryptAssertion(encryptedEl *etree.Element, keys []provision.SPKeyPair) (*etree.Element, *saml.Assertion, error) {
	root, err := decryptPlaintext(encryptedEl, keys)
	if err != nil {
		return nil, nil, err
	}
	var a saml.Assertion
	if err := decodeTree(root, &a); err != nil {
		return nil, nil, err
	}
	return root, &a, nil
}

// decryptPlaintext decrypts an encrypted element (an EncryptedAssertion, an EncryptedID) with
// each of keys in turn, the next one only when decryption failed (decryptElement: RSA PKCS#1
// v1.5 key transport and Triple DES refused), and returns the root of its plaintext. The
// plaintext is read by readXML, whose limits bound it as they bound the response: anyone may
// encrypt to the SP's published key, and crewjam would spend a quarter of a second and 200 MB
// on a plaintext of 140 KB of nested elements.
func decryptPlaintext(el *etree.Element, keys []provision.SPKeyPair) (*etree.Element, error) {
	var plaintext []byte
	var err error
	for _, kp := range keys {
		if plaintext, err = decryptElement(el, kp.Key); err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	doc, _, err := readXML(plaintext)
	if err != nil {
		return nil, fmt.Errorf("plaintext: %w", err)
	}
	if doc.Root() == nil {
		return nil, errors.New("invalid xml: no root in the plaintext")
	}
	return doc.Root(), nil
}

// decodeTree is xml.Unmarshal of the document whose root element is el (as readXML, or
// etree, read it) into v, without reading its bytes again: encoding/xml's decoder takes the
// tree's tokens (treeTokens), as a RawToken of the bytes gave them, and does what it does with
// its own (namespaces, the values). That reading was most of the unmarshal's cost. The tree
// keeps every token but the ones around the root, which Unmarshal skips, and an attribute
// repeated on an element once, with its last value, which Unmarshal keeps too.
// TestDecodeTreeIsUnmarshal and FuzzDecodeTree hold it to xml.Unmarshal.
func decodeTree(el *etree.Element, v any) error {
	return xml.NewTokenDecoder(&treeTokens{start: el}).Decode(v)
}

// treeTokens gives the raw tokens of an etree element: prefixes as written, not resolved.
type treeTokens struct {
	start *etree.Element // the root, not yet given
	open  []treeFrame
}

type treeFrame struct {
	el   *etree.Element
	next int // the index of the next child to give
}

// Token is xml.TokenReader's.
func (r *treeTokens) Token() (xml.Token, error) {
	if r.start != nil {
		el := r.start
		r.start = nil
		r.open = append(r.open, treeFrame{el: el})
		return startToken(el), nil
	}
	for len(r.open) > 0 {
		top := &r.open[len(r.open)-1]
		if top.next == len(top.el.Child) {
			end := xml.EndElement{Name: xml.Name{Space: top.el.Space, Local: top.el.Tag}}
			r.open = r.open[:len(r.open)-1]
			return end, nil
		}
		child := top.el.Child[top.next]
		top.next++
		switch c := child.(type) {
		case *etree.Element:
			r.open = append(r.open, treeFrame{el: c})
			return startToken(c), nil
		case *etree.CharData:
			return xml.CharData(c.Data), nil
		case *etree.Comment:
			return xml.Comment(c.Data), nil
		case *etree.Directive:
			return xml.Directive(c.Data), nil
		case *etree.ProcInst:
			return xml.ProcInst{Target: c.Target, Inst: []byte(c.Inst)}, nil
		}
	}
	return nil, io.EOF
}

func startToken(el *etree.Element) xml.StartElement {
	t := xml.StartElement{Name: xml.Name{Space: el.Space, Local: el.Tag}}
	if len(el.Attr) > 0 {
		t.Attr = make([]xml.Attr, len(el.Attr))
		for i, a := range el.Attr {
			t.Attr[i] = xml.Attr{Name: xml.Name{Space: a.Space, Local: a.Key}, Value: a.Value}
		}
	}
	return t
}

// keyTransportPKCS1v15 is XML Encryption's RSAES-PKCS1-v1_5 key transport.
const keyTransportPKCS1v15 = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"

// errPKCS1v15 refuses RSA PKCS#1 v1.5 key transport (decryptElement says why).
var errPKCS1v15 = errors.New("the assertion's key is encrypted with RSA PKCS#1 v1.5 (xmlenc#rsa-1_5), which is refused: " +
	"set the IdP's key transport algorithm to RSA-OAEP")

// decryptElement is the decryption of crewjam's ServiceProvider.decryptElement: the
// EncryptedAssertion's EncryptedData, with the key of an EncryptedKey beside it (decrypted
// with key) or of one in its KeyInfo (xmlenc), or with key itself.
//
// Key transport with RSAES-PKCS1-v1_5 (xmlenc#rsa-1_5), which xmlenc would take, is refused
// before any decryption: whether its padding checks out is an oracle (Bleichenbacher's attack,
// shown against XML Encryption by Jager, Schinzel and Somorovsky, ESORICS 2012) which, queried
// through the ACS, decrypts any RSA ciphertext for the SP key and so forges its signatures: the
// key signs AuthnRequests and OIDC client assertions too (provision.RelyingPartyKeys). The SP
// metadata offers RSA-OAEP only, the default of the IdPs that encrypt.
func decryptElement(encryptedEl *etree.Element, key crypto.Signer) ([]byte, error) {
	for _, m := range encryptedEl.FindElements(".//EncryptionMethod") {
		if m.SelectAttrValue("Algorithm", "") == keyTransportPKCS1v15 {
			return nil, errPKCS1v15
		}
	}
	encryptedDataEl, err := findChild(encryptedEl, xmlencNS, "EncryptedData")
	if err != nil {
		return nil, err
	}
	if encryptedDataEl == nil {
		return nil, fmt.Errorf("cannot find %s:EncryptedData element", xmlencNS)
	}
	var dataKey any = key
	if keyEl := encryptedEl.FindElement("./EncryptedKey"); keyEl != nil {
		if dataKey, err = xmlenc.Decrypt(key, keyEl); err != nil {
			return nil, fmt.Errorf("failed to decrypt key from response: %s", err)
		}
	}
	return xmlenc.Decrypt(dataKey, encryptedDataEl)
}

// validateAssertion is crewjam's (ServiceProvider.validateAssertion) for one request ID and
// Gatehouse's audience rule over audiences (assertionAudiences); where crewjam dereferences a
// missing Subject, confirmation data or Conditions (and panics), it refuses.
func validateAssertion(a *saml.Assertion, audiences [][]string, entityID, idpEntityID, acsURL, requestID string, now time.Time) error {
	if a.IssueInstant.Add(maxIssueAge).Before(now) {
		return fmt.Errorf("expired on %s", a.IssueInstant.Add(maxIssueAge))
	}
	if a.Issuer.Value != idpEntityID {
		return fmt.Errorf("issuer is not %q", idpEntityID)
	}
	if a.Subject == nil {
		return errors.New("assertion has no Subject")
	}
	for _, sc := range a.Subject.SubjectConfirmations {
		scd := sc.SubjectConfirmationData
		if scd == nil {
			return errors.New("assertion SubjectConfirmation has no SubjectConfirmationData")
		}
		if scd.InResponseTo != requestID {
			return fmt.Errorf("assertion SubjectConfirmation one of the possible request IDs (%v)", []string{requestID})
		}
		if !sameEndpoint(scd.Recipient, acsURL) {
			return fmt.Errorf("assertion SubjectConfirmation Recipient is not %s", acsURL)
		}
		if scd.NotOnOrAfter.Add(saml.MaxClockSkew).Before(now) {
			return errors.New("assertion SubjectConfirmationData is expired")
		}
	}
	if a.Conditions == nil {
		return errors.New("assertion has no Conditions")
	}
	if a.Conditions.NotBefore.Add(-saml.MaxClockSkew).After(now) {
		return errors.New("assertion Conditions is not yet valid")
	}
	if a.Conditions.NotOnOrAfter.Add(saml.MaxClockSkew).Before(now) {
		return errors.New("assertion Conditions is expired")
	}
	if err := checkAudiences(entityID, audiences); err != nil {
		return fmt.Errorf("audience restriction validation failed: %w", err)
	}
	return nil
}

// assertionAudiences are the Audiences of each AudienceRestriction of the Conditions of the
// assertion el, read from the tree checked for its signature: crewjam's AudienceRestriction
// keeps one Audience (the last), where SAML lets a restriction list several. An Audience's
// value is its character data, as encoding/xml gives it to crewjam.
func assertionAudiences(el *etree.Element) [][]string {
	var restrictions [][]string
	for _, conditions := range assertionChildren(el, "Conditions") {
		for _, ar := range assertionChildren(conditions, "AudienceRestriction") {
			audiences := []string{}
			for _, a := range assertionChildren(ar, "Audience") {
				var text strings.Builder
				for _, c := range a.Child {
					if cd, ok := c.(*etree.CharData); ok {
						text.WriteString(cd.Data)
					}
				}
				audiences = append(audiences, text.String())
			}
			restrictions = append(restrictions, audiences)
		}
	}
	return restrictions
}

// assertionChildren are the child elements of el named tag in the assertion namespace.
func assertionChildren(el *etree.Element, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == assertionNS {
			out = append(out, c)
		}
	}
	return out
}

// verifySignature is crewjam's ServiceProvider.validateSignature with the IdP certificates
// given: the enveloped signature of el, a direct child in the xmldsig namespace, checked by
// goxmldsig against certs only (any one of them may have signed), SHA-1 as policy says.
func verifySignature(el *etree.Element, certs []*x509.Certificate, policy *sha1Policy) error {
	sigEl, err := findChild(el, dsigNS, "Signature")
	if err != nil {
		return err
	}
	if sigEl == nil {
		return errNoSignature
	}
	if err := policy.allows(el); err != nil {
		return err
	}
	if err := oneReference(el); err != nil {
		return err
	}
	if err := ownSignature(el); err != nil {
		return err
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: certs})
	vc.IdAttribute = "ID"
	if saml.Clock != nil {
		vc.Clock = saml.Clock
	}
	// As crewjam: a KeyInfo without a certificate (an RSAKeyValue, say) is removed, so that the
	// signature is checked against the connection's certificate.
	if el.FindElement("./Signature/KeyInfo/X509Data/X509Certificate") == nil {
		if s := el.FindElement("./Signature"); s != nil {
			if keyInfo := s.FindElement("KeyInfo"); keyInfo != nil {
				s.RemoveChild(keyInfo)
			}
		}
	}
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return fmt.Errorf("cannot validate signature on %s: %v", el.Tag, err)
	}
	ctx, err = ctx.SubContext(el)
	if err != nil {
		return fmt.Errorf("cannot validate signature on %s: %v", el.Tag, err)
	}
	detached, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return fmt.Errorf("cannot validate signature on %s: %v", el.Tag, err)
	}
	if _, err := vc.Validate(detached); err != nil {
		return signatureError{fmt.Errorf("cannot validate signature on %s: %v", el.Tag, err)}
	}
	return nil
}

// foreignElements refuses an assertion (el, signed and verified, or decrypted) that holds an
// element of another namespace where SAML's schema has only its own. encoding/xml, which reads
// the assertion into crewjam's structs (decodeTree), matches an element by its local name in
// any namespace: a <x:NameID> in the Subject is read as the NameID, a <x:Attribute> as an
// attribute, the last of two as the one (GO-2026-6909, reported against crewjam's reading of
// the same structs). Only an IdP's key makes such an assertion verify, but an IdP that copies
// a value of the person's into an element it signs is the weakness; the schema (SAML core
// §2) is simpler to hold to than a list of what would be misread. The places that take any
// content are not descended into: SubjectConfirmationData (a KeyInfo), AttributeValue (its
// text is what is read), Advice, AuthnContextDecl, a Condition or Statement of an extension
// type, and the encrypted elements (their xenc content: decryptNameID reads an EncryptedID's
// plaintext with namespaces). The assertion's ds:Signature is the one element of another
// namespace among its children.
func foreignElements(assertion *etree.Element) error { return foreignBelow(assertion, true) }

// foreignBelow is foreignElements for the children of el, the assertion itself when top.
func foreignBelow(el *etree.Element, top bool) error {
	for _, t := range el.Child { // not ChildElements, which allocates a slice at each element
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		ns := c.NamespaceURI()
		switch {
		case top && ns == dsigNS && c.Tag == "Signature":
			continue
		case ns != assertionNS:
			return fmt.Errorf("the assertion's %s holds an element %s of namespace %q, where SAML has only its own elements", el.Tag, c.Tag, ns)
		}
		switch c.Tag {
		case "SubjectConfirmationData", "AttributeValue", "Advice", "AuthnContextDecl", "Condition", "Statement",
			"EncryptedID", "EncryptedAttribute", "EncryptedAssertion":
			continue
		}
		if err := foreignBelow(c, false); err != nil {
			return err
		}
	}
	return nil
}

// oneReference refuses el, a signed element about to be verified, when a SignedInfo in it
// holds more than one Reference. SAML core §5.4.2 says a signature MUST hold a single
// Reference, to the ID of the element it signs, and every IdP signs so. goxmldsig verifies
// the digest of one Reference, the one it takes to name el, and the other References of a
// SignedInfo nothing at all. Before v1.6.0 it took the last Reference whatever it named
// (GHSA-479m-364c-43vc, a loop variable's address): a SignedInfo the IdP signed with a second
// Reference, to content of anyone's choosing, verified that content in place of el's. The
// rule keeps every reading of which Reference counts out of the question, for that version
// and any later one. Like refuseSHA1, it counts every SignedInfo in el, at any depth, by local
// name in any namespace: goxmldsig verifies the first Signature in document order with a
// Reference to el, which need not be el's child. A SignedInfo with no Reference is refused
// in el's own Signature (ownSignature) and left to goxmldsig elsewhere: it names nothing.
func oneReference(el *etree.Element) error {
	if el.Tag == "SignedInfo" {
		n := 0
		for _, t := range el.Child {
			if c, ok := t.(*etree.Element); ok && c.Tag == "Reference" {
				n++
			}
		}
		if n > 1 {
			return fmt.Errorf("a signature's SignedInfo holds %d References: SAML allows one, to the element signed (SAML core 5.4.2)", n)
		}
		return nil
	}
	for _, t := range el.Child { // not ChildElements, which allocates a slice at each element
		if c, ok := t.(*etree.Element); ok {
			if err := oneReference(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// ownSignature refuses el, a signed element about to be verified, unless its direct child
// ds:Signature (findChild's, the one crewjam and verifySignature require) is the signature of
// el alone and the one goxmldsig verifies. SAML core §5.4.2: the signature holds a single
// Reference, to the ID of the element it signs; crewjam v0.6 refuses any other. goxmldsig
// takes as el's signature the first ds:Signature at any depth below el, in document order,
// with a Reference whose URI is empty (to XML-DSig the whole document; to goxmldsig el) or,
// less its first character ('#' or any other), el's ID; it removes that one alone as the
// enveloped signature. So:
//   - el has a non-empty ID and its own Signature's one SignedInfo one Reference, whose URI
//     is "#" + that ID: not "", nor another element's;
//   - no other Signature below el, at any depth (in an Issuer, a SubjectConfirmationData, the
//     own Signature's Object, wherever the schema takes foreign content, before or after the
//     own one), has a Reference goxmldsig would take to name el. Otherwise goxmldsig may verify
//     that one when it comes first, and the own Signature, which the rules here checked and
//     which stays in the digest, proves nothing.
//
// With both, the first Signature goxmldsig takes is the own one. Like oneReference, it reads
// Signature, SignedInfo and Reference by local name in any namespace, which takes in every
// element goxmldsig reads as one.
func ownSignature(el *etree.Element) error {
	own, err := findChild(el, dsigNS, "Signature")
	if err != nil {
		return err
	}
	if own == nil {
		return errNoSignature
	}
	id := el.SelectAttrValue("ID", "") // goxmldsig's IdAttribute, as verifySignature sets it
	if id == "" {
		return fmt.Errorf("the signed %s has no ID for its signature to reference (SAML core 5.4.2)", el.Tag)
	}
	var refs []*etree.Element
	signedInfos := 0
	for _, si := range localChildren(own, "SignedInfo") {
		signedInfos++
		refs = append(refs, localChildren(si, "Reference")...)
	}
	if signedInfos != 1 || len(refs) != 1 {
		return fmt.Errorf("the %s's signature holds %d SignedInfo and %d References: SAML allows one Reference, to the element signed (SAML core 5.4.2)", el.Tag, signedInfos, len(refs))
	}
	if uri := refs[0].SelectAttrValue("URI", ""); uri != "#"+id {
		return fmt.Errorf("the %s's signature references %q, not its ID %q (SAML core 5.4.2)", el.Tag, uri, "#"+id)
	}
	if r := otherReference(el, own, id); r != nil {
		return fmt.Errorf("a signature below the %s besides its own references it too (URI %q), which goxmldsig may verify in place of its own", el.Tag, r.SelectAttrValue("URI", ""))
	}
	return nil
}

// otherReference is a Reference, of a Signature below el other than own, that goxmldsig takes
// to name the element of ID id (ownSignature); nil when there is none.
func otherReference(el, own *etree.Element, id string) *etree.Element {
	for _, t := range el.Child { // not ChildElements, which allocates a slice at each element
		c, ok := t.(*etree.Element)
		if !ok {
			continue
		}
		if c.Tag == "Signature" && c != own {
			for _, si := range localChildren(c, "SignedInfo") {
				for _, r := range localChildren(si, "Reference") {
					if uri := r.SelectAttrValue("URI", ""); uri == "" || uri[1:] == id {
						return r
					}
				}
			}
		}
		if r := otherReference(c, own, id); r != nil {
			return r
		}
	}
	return nil
}

// localChildren are the child elements of el named tag, in any namespace.
func localChildren(el *etree.Element, tag string) []*etree.Element {
	var out []*etree.Element
	for _, t := range el.Child {
		if c, ok := t.(*etree.Element); ok && c.Tag == tag {
			out = append(out, c)
		}
	}
	return out
}

// signatureError is a signature that none of the connection's certificates verifies: the
// ACS then has a connection that follows its IdP's metadata read it
// (RefreshSAMLCertificatesAfterFailure), in case the IdP signs with a certificate it has
// just published.
type signatureError struct{ error }

func (e signatureError) Unwrap() error { return e.error }

// findChild is crewjam's: the direct child ns:tag of parent, nil when there is none, an error
// when there are several or a prefix is undeclared.
func findChild(parent *etree.Element, ns, tag string) (*etree.Element, error) {
	var found *etree.Element
	for _, child := range parent.ChildElements() {
		if child.Tag != tag {
			continue
		}
		ctx, err := etreeutils.NSBuildParentContext(child)
		if err != nil {
			return nil, err
		}
		if ctx, err = ctx.SubContext(child); err != nil {
			return nil, err
		}
		uri, err := ctx.LookupPrefix(child.Space)
		if err != nil {
			return nil, fmt.Errorf("[%s]:%s cannot find prefix %s: %v", ns, tag, child.Space, err)
		}
		if uri != ns {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("expected at most one %s:%s element", ns, tag)
		}
		found = child
	}
	return found, nil
}
