package sso

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	xrv "github.com/mattermost/xml-roundtrip-validator"

	"gatehouse/provision"
	"gatehouse/sso/samltest"
)

// newPlainSAMLWorld is newSAMLWorld with an IdP that does not encrypt: the SP metadata it is
// given lists no encryption key, so its assertions are plain, as most IdPs send them.
func newPlainSAMLWorld(t testing.TB) *samlWorld {
	t.Helper()
	idp := samltest.New(t)
	w := newSAMLWorld(t)
	md, err := New(Options{}).SPMetadataXML(w.sp.Keys, w.sp.EntityID, w.sp.ACSURL)
	if err != nil {
		t.Fatal(err)
	}
	idp.TrustSP(t, samltest.WithoutEncryption([]byte(md)))
	idp.SignIn(samltest.User{NameID: "00u1ada", Email: "ada@example.com", GivenName: "Ada", Surname: "Lovelace",
		Attributes: map[string][]string{"companyName": {"Acme"}, "groups": {"a", "b"}}})
	w.idp = idp
	w.conn.SAMLEntityID, w.conn.SAMLSSOURL, w.conn.SAMLCertificate = idp.EntityID, idp.SSOURL, idp.CertificatePEM
	return w
}

// crewjamCheck is the reference: crewjam's full ParseXMLResponse (through parseResponse, the
// fallback of Check) and the root's Destination. A panic in crewjam is a refusal.
func crewjamCheck(raw []byte, sp *provision.SAMLSP, w *samlWorld, requestID string, u url.URL) (a *saml.Assertion, dest string, err error) {
	defer func() {
		if p := recover(); p != nil {
			a, dest, err = nil, "", fmt.Errorf("crewjam panicked: %v", p)
		}
	}()
	a, err = parseResponse(raw, sp, w.conn, requestID, u, true, &sha1Policy{accept: w.conn.SAMLAcceptSHA1})
	if err != nil {
		return nil, "", err
	}
	return a, responseDestination(raw), nil
}

// TestSAMLCheckIsCrewjams holds checkPlain, the one-parse check of a response with one plain
// assertion, to crewjam's ParseXMLResponse: over valid responses of crewjam's own IdP
// (Response and Assertion signed) and each way of tampering with them, both accept or both
// refuse, and when they accept they read the same assertion and Destination.
func TestSAMLCheckIsCrewjams(t *testing.T) {
	w := newPlainSAMLWorld(t)
	_, _, otherCert := samltest.NewKeyPair(t)
	_, _, thirdCert := samltest.NewKeyPair(t)
	// Edits of the signed document. The Response's signature is its first ds:Signature
	// (after its Issuer), the Assertion's the second.
	sigRE := regexp.MustCompile(`(?s)<ds:Signature .*?</ds:Signature>`)
	dropSig := func(n int) func(string) string {
		return func(doc string) string {
			locs := sigRE.FindAllStringIndex(doc, -1)
			return doc[:locs[n][0]] + doc[locs[n][1]:]
		}
	}
	dropBoth := func(doc string) string { return dropSig(0)(dropSig(1)(doc)) }
	replace := func(old, new string) func(string) string {
		return func(doc string) string { return strings.Replace(doc, old, new, 1) }
	}
	then := func(fs ...func(string) string) func(string) string {
		return func(doc string) string {
			for _, f := range fs {
				doc = f(doc)
			}
			return doc
		}
	}
	assertionOf := func(doc string) string {
		return doc[strings.Index(doc, "<saml:Assertion ") : strings.Index(doc, "</saml:Assertion>")+len("</saml:Assertion>")]
	}
	cases := []oracleCase{
		{name: "accepted", ok: true},
		{name: "wrong certificate", cert: otherCert},
		{name: "two certificates, the IdP's second (a rollover)", cert: otherCert + "\n" + w.idp.CertificatePEM, ok: true},
		{name: "two certificates, neither the IdP's", cert: otherCert + "\n" + thirdCert},
		{name: "unsigned", unsigned: true},
		{name: "no Destination, assertion signed", noDestination: true, ok: true}, // Check refuses it after (no Destination)
		{name: "failed status", status: saml.StatusRequester},
		{name: "attribute changed", edit: replace("ada@example.com", "eve@example.com")},
		{name: "Response signature removed", edit: dropSig(0), ok: true},
		{name: "Assertion signature removed", edit: dropSig(1)},
		{name: "both signatures removed", edit: dropBoth},
		{name: "Response signature removed, attribute changed", edit: then(dropSig(0), replace("ada@example.com", "eve@example.com"))},
		{name: "Response signature removed, Destination changed", edit: then(dropSig(0), replace(`Destination="https://gh.example.com/saml/acs"`, `Destination="https://evil.example.com/saml/acs"`))},
		{name: "Response signature removed, Destination removed", ok: true, edit: then(dropSig(0), replace(`Destination="https://gh.example.com/saml/acs"`, ``))},
		{name: "Response signature removed, Response InResponseTo changed", edit: func(doc string) string {
			doc = dropSig(0)(doc)
			i := strings.Index(doc, `InResponseTo="`) + len(`InResponseTo="`)
			return doc[:i] + "x" + doc[i:]
		}},
		{name: "Response signature removed, Response issuer changed", edit: then(dropSig(0), func(doc string) string {
			i := strings.Index(doc, "<saml:Issuer")
			j := strings.Index(doc[i:], "</saml:Issuer>") + i
			k := strings.Index(doc[i:j], ">") + i + 1
			return doc[:k] + "https://evil.example.com" + doc[j:]
		})},
		{name: "Response signature removed, status changed", edit: then(dropSig(0), replace(saml.StatusSuccess, saml.StatusResponder))},
		{name: "two Response signatures", refusedByCheckXML: "more than 2 Signature elements", edit: func(doc string) string {
			s := sigRE.FindString(doc)
			return strings.Replace(doc, s, s+s, 1)
		}},
		{name: "comment in NameID", ok: true, edit: replace(">00u1ada<", ">00u1<!-- x -->ada<")},
		{name: "KeyInfo without certificate", ok: true, edit: then(dropSig(0), func(doc string) string {
			return regexp.MustCompile(`(?s)<ds:X509Data>.*?</ds:X509Data>`).ReplaceAllString(doc,
				`<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>AAAA</ds:Modulus><ds:Exponent>AQAB</ds:Exponent></ds:RSAKeyValue></ds:KeyValue>`)
		})},
		{name: "XML that does not survive a round trip", edit: replace("<saml:Subject>", `<saml:Subject x::a="1">`)},
		{name: "a DOCTYPE", ok: true, edit: func(doc string) string { return `<!DOCTYPE r [<!ENTITY e "x">]>` + doc }},
		{name: "an entity of the DOCTYPE", refusedByCheckXML: "invalid character entity &e;", edit: func(doc string) string {
			return `<!DOCTYPE r [<!ENTITY e "x">]>` + strings.Replace(doc, ">00u1ada<", ">00u1ada&e;<", 1)
		}},
		{name: "trailing garbage", edit: func(doc string) string { return doc + "<" }},
		{name: "an unsigned assertion wrapped in Extensions, Response signature removed", ok: true, refusedByCheckXML: "2 Assertion and", edit: then(dropSig(0), func(doc string) string {
			evil := strings.Replace(dropSig(0)(assertionOf(doc)), "00u1ada", "00u1eve", 1)
			i := strings.Index(doc, "<samlp:Status")
			return doc[:i] + `<samlp:Extensions>` + evil + `</samlp:Extensions>` + doc[i:]
		})},
		{name: "a second, unsigned assertion first, Response signature removed", leftToCrewjam: true, ok: true, refusedByCheckXML: "2 Assertion and", edit: then(dropSig(0), func(doc string) string {
			evil := strings.Replace(dropSig(0)(assertionOf(doc)), "00u1ada", "00u1eve", 1)
			i := strings.Index(doc, "<saml:Assertion ")
			return doc[:i] + evil + doc[i:]
		})},
		{name: "an assertion in another namespace", leftToCrewjam: true, edit: then(dropSig(0), func(doc string) string {
			return strings.ReplaceAll(strings.ReplaceAll(doc, "<saml:Assertion ", `<x:Assertion xmlns:x="urn:other" `), "</saml:Assertion>", "</x:Assertion>")
		})},
		{name: "not a Response", leftToCrewjam: true, edit: func(doc string) string { return "<Envelope>" + doc + "</Envelope>" }},
		// crewjam unmarshals a serialisation of the assertion to which it adds, for each
		// prefix, the last declaration anywhere in the document (elementToBytes walks the whole
		// document, breadth first), overwriting the assertion's own: a declaration of saml
		// deeper than the assertion, after it, makes crewjam refuse a valid assertion.
		// checkResponse reads the assertion as it is.
		{name: "the saml prefix declared again deeper, after the assertion", crewjamRefuses: "but have urn:other",
			edit: then(dropSig(0), replace("</samlp:Response>",
				`<samlp:Extensions><a><a><a><a><a><a><a><saml:X xmlns:saml="urn:other"/></a></a></a></a></a></a></a></samlp:Extensions></samlp:Response>`))},
	}
	for _, c := range append(tamperedAssertions, cases...) {
		t.Run(c.name, func(t *testing.T) { checkAgainstCrewjam(t, w, c, false) })
	}
}

// plaintextOf decrypts the EncryptedAssertion of doc with key.
func plaintextOf(t testing.TB, doc string, key crypto.Signer) string {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromString(doc); err != nil {
		t.Fatal(err)
	}
	ea := d.Root().SelectElement("EncryptedAssertion")
	if ea == nil {
		t.Fatal("no EncryptedAssertion")
	}
	plaintext, err := decryptElement(ea, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(plaintext)
}

// TestSAMLEncryptedCheckIsCrewjams is TestSAMLCheckIsCrewjams for responses whose assertion is
// encrypted to the SP (crewjam's IdP given an SP metadata with an encryption key): the
// Response's checks, the decryption with each SP key, and the assertion's checks on its
// plaintext, against crewjam's ParseXMLResponse, over valid responses and tampered ones (the
// plaintext edited and encrypted again, as anyone holding the SP's public key can).
func TestSAMLEncryptedCheckIsCrewjams(t *testing.T) {
	w := withRotationKeys(t, newSAMLWorld(t))
	_, _, otherCert := samltest.NewKeyPair(t)
	_, otherX509, _ := samltest.NewKeyPair(t)
	replace := func(old, new string) func(string) string {
		return func(doc string) string { return strings.Replace(doc, old, new, 1) }
	}
	// inPlaintext edits the assertion's plaintext and encrypts it again, to cert.
	inPlaintext := func(cert *x509.Certificate, edit func(string) string) func(string) string {
		return func(doc string) string {
			return samltest.ReplaceEncryptedAssertion(doc, cert, edit(plaintextOf(t, doc, w.sp.Keys.Current.Key)))
		}
	}
	plain := func(edit func(string) string) func(string) string {
		return inPlaintext(w.sp.Keys.Current.Certificate, edit)
	}
	same := func(p string) string { return p }
	unsignedResponse := func(edit func(string) string) func(string) string {
		return func(doc string) string { return edit(samltest.DropResponseSignature(doc)) }
	}
	dropAssertionSig := func(p string) string {
		return regexp.MustCompile(`(?s)<ds:Signature .*?</ds:Signature>`).ReplaceAllString(p, "")
	}
	cases := []oracleCase{
		{name: "accepted", ok: true},
		{name: "wrong certificate", cert: otherCert},
		{name: "two certificates, the IdP's second (a rollover)", cert: otherCert + "\n" + w.idp.CertificatePEM, ok: true},
		// (An unsigned response and a failed status are plain: TestSAMLCheckIsCrewjams.)
		{name: "Response signature removed", edit: samltest.DropResponseSignature, ok: true},
		{name: "encrypted again, Response signed", edit: plain(same)},
		{name: "encrypted again, Response signature removed", edit: unsignedResponse(plain(same)), ok: true},
		{name: "attribute changed", edit: unsignedResponse(plain(replace("ada@example.com", "eve@example.com")))},
		{name: "NameID changed", edit: unsignedResponse(plain(replace(">00u1ada<", ">00u1eve<")))},
		{name: "assertion signature removed", edit: unsignedResponse(plain(dropAssertionSig))},
		{name: "assertion signature removed, attribute changed", edit: unsignedResponse(plain(func(p string) string {
			return replace("ada@example.com", "eve@example.com")(dropAssertionSig(p))
		}))},
		{name: "Destination changed", edit: unsignedResponse(replace(`Destination="https://gh.example.com/saml/acs"`, `Destination="https://evil.example.com/saml/acs"`))},
		{name: "Destination removed", ok: true, edit: unsignedResponse(replace(`Destination="https://gh.example.com/saml/acs"`, ``))},
		{name: "comment in NameID", ok: true, edit: unsignedResponse(plain(replace(">00u1ada<", ">00u1<!-- x -->ada<")))},
		{name: "a DOCTYPE before the assertion", ok: true, edit: unsignedResponse(plain(func(p string) string { return `<!DOCTYPE r [<!ENTITY e "x">]>` + p }))},
		{name: "an entity of the DOCTYPE", edit: unsignedResponse(plain(func(p string) string {
			return `<!DOCTYPE r [<!ENTITY e "x">]>` + strings.Replace(p, ">00u1ada<", ">00u1ada&e;<", 1)
		}))},
		{name: "XML that does not survive a round trip", edit: unsignedResponse(plain(replace("<saml:Subject>", `<saml:Subject x::a="1">`)))},
		{name: "trailing garbage", edit: unsignedResponse(plain(func(p string) string { return p + "<" }))},
		{name: "not an Assertion", edit: unsignedResponse(plain(func(p string) string { return "<Envelope>" + p + "</Envelope>" }))},
		// The Assertion, its Subject and 31 more: the plaintext is scanned before it is read.
		{name: "nested 33 deep", refusedFirst: "nested more than 32 deep", edit: unsignedResponse(plain(func(p string) string {
			return strings.Replace(p, "</saml:Subject>", strings.Repeat("<a>", 31)+strings.Repeat("</a>", 31)+"</saml:Subject>", 1)
		}))},
		{name: "a second assertion inside", refusedFirst: "2 Assertion and 0 EncryptedAssertion", edit: unsignedResponse(plain(func(p string) string {
			i := strings.Index(p, "<saml:Subject>")
			return p[:i] + "<saml:Advice>" + p + "</saml:Advice>" + p[i:]
		}))},
		{name: "the EncryptedKey beside the EncryptedData", ok: true, edit: unsignedResponse(func(doc string) string {
			key := regexp.MustCompile(`(?s)<xenc:EncryptedKey .*?</xenc:EncryptedKey>`).FindString(doc)
			if key == "" {
				t.Fatal("no EncryptedKey")
			}
			doc = strings.Replace(doc, key, "", 1)
			return strings.Replace(doc, "</saml:EncryptedAssertion>", key+"</saml:EncryptedAssertion>", 1)
		})},
		{name: "encrypted to the previous SP key", ok: true, edit: unsignedResponse(inPlaintext(w.sp.Keys.Previous.Certificate, same))},
		{name: "encrypted to the next SP key", ok: true, edit: unsignedResponse(inPlaintext(w.sp.Keys.Next.Certificate, same))},
		{name: "encrypted to a key the SP does not have", edit: unsignedResponse(inPlaintext(otherX509, same))},
		{name: "an EncryptedAssertion in another namespace", leftToCrewjam: true, edit: unsignedResponse(func(doc string) string {
			return strings.ReplaceAll(strings.ReplaceAll(doc, "<saml:EncryptedAssertion", `<x:EncryptedAssertion xmlns:x="urn:other"`), "</saml:EncryptedAssertion>", "</x:EncryptedAssertion>")
		})},
		{name: "no EncryptedData", edit: unsignedResponse(func(doc string) string {
			return strings.ReplaceAll(strings.ReplaceAll(doc, "<xenc:EncryptedData ", "<xenc:Other "), "</xenc:EncryptedData>", "</xenc:Other>")
		})},
	}
	for _, c := range append(tamperedAssertions, cases...) {
		t.Run(c.name, func(t *testing.T) { checkAgainstCrewjam(t, w, c, true) })
	}
}

// TestSAMLCertificateCache: the certificate is cached by its PEM text, so a connection whose
// certificate changes is checked against the new one at once, and back.
func TestSAMLCertificateCache(t *testing.T) {
	w := newPlainSAMLWorld(t)
	_, _, otherCert := samltest.NewKeyPair(t)
	c := NewSAMLResponses(nil, nil)
	for i, cert := range []string{w.idp.CertificatePEM, otherCert, w.idp.CertificatePEM} {
		w.conn.SAMLCertificate = cert
		sr, r := w.login(t, "relay")
		_, err := c.Check(r, w.sp, w.conn, sr.ID)
		if ok := cert == w.idp.CertificatePEM; (err == nil) != ok {
			t.Fatalf("check %d with the %s certificate: %v", i, map[bool]string{true: "IdP's", false: "other"}[ok], err)
		}
	}
}

// FuzzCheckXML holds checkXML's validation to the round-trip validator crewjam uses
// (xml-roundtrip-validator's Validate): checkXML accepts nothing Validate refuses, and refuses
// what Validate accepts only for its limits and structure (errRefused).
func FuzzCheckXML(f *testing.F) {
	for _, doc := range []string{
		// The validator's own test documents.
		`<Root></Root>`, `<x:Root></x:Root>`, `<x:Root xmlns:x="http://example.com/"></x:Root>`,
		`<x:Root xmlns="http://example.com/"></x:Root>`, `<Root xmlns="http://example.com/1" xmlns="http://example.com/2"></Root>`,
		`<?xml version="1.0" encoding="EUC-JP"?><Root></Root>`, `<Root>text &quot;hello&quot;</Root>`,
		`<Root><![CDATA[text "hello"]]></Root>`, `<!-- comment --><Root/>`, `<Root xmlns="http://example.com/1" x:attr="y"/>`,
		`<x:Root xmlns="http://example.com/1" x:attr="y" x:attr2="z"/>`,
		`<x:Root xmlns:x="http://example.com/"><Element xmlns:x="http://example.com/"/></x:Root>`, `&reference;`,
		`<x::Root/>`, `<Root><x::Element></::Element></Root>`, `<Root><Element ::attr="foo"></Element></Root>`,
		`<Root></x::Element></Root>`, `<x:>`, `</x:>`, `<Root :="value"/>`, `<Root x:="value"/>`,
		`<Root xmlns="x" xmlns:="y"></Root>`, "<Root>\n\t\t\t<! <<!-- -->!-->\"--> \" >\n\t\t\t<! \">\" <X/>>\n\t\t</Root>",
		`<Root><! <<!-- -->!-- x --> y></Root>`,
		`<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">`,
		`<! ">" <X/>>`, `<!name <!-- comment --><nesting <more nesting>>>`, `<Root><!--`, `<Root>]]></Root>`,
		`<Root ::attr="x">]]><x::Element/></Root>`, "<Root>\r\n    <! <<!-- -->!-- x --> y>\r\n</Root>",
		// Gatehouse's: a response's shapes.
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:NameID>a<!---->b</saml:NameID></saml:Assertion></samlp:Response>`,
		`<a xmlns:x="u" x:b="1" c="&#x9;&#xD;&lt;"><?pi x?>t&amp;</a>`, "<a>\x00</a>", "<a b='\xff'/>",
	} {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, got := checkXML(doc)
		want := xrv.Validate(bytes.NewReader(doc))
		if got == nil && want != nil || got != nil && want == nil && !errors.Is(got, errRefused) {
			t.Fatalf("checkXML: %v; the validator: %v", got, want)
		}
	})
}

// responseWorlds are the two kinds of response of crewjam's IdP: with its assertion encrypted
// (the SP metadata lists an encryption key) and plain.
var responseWorlds = []struct {
	name  string
	world func(testing.TB) *samlWorld
}{{"encrypted", newSAMLWorld}, {"plain", newPlainSAMLWorld}}

// BenchmarkSAMLCheck is Check, what the ACS spends on a response, for a response of crewjam's
// IdP with its assertion encrypted and plain:
// go test -run '^$' -bench SAMLCheck ./sso
func BenchmarkSAMLCheck(b *testing.B) {
	for _, c := range responseWorlds {
		b.Run(c.name, func(b *testing.B) {
			w := c.world(b)
			sr, r := w.login(b, "relay")
			responses := NewSAMLResponses(nil, nil)
			b.ReportAllocs()
			defer reportCPU(b, processCPU())
			for b.Loop() {
				if _, err := responses.Check(r, w.sp, w.conn, sr.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// tamperedAssertions are responses of an IdP that signed what it should not have (or for
// another request): the checks after the signatures must refuse them, plain or encrypted.
var tamperedAssertions = []oracleCase{
	{name: "wrong InResponseTo", otherID: true},
	{name: "wrong audience", tamper: func(req *saml.IdpAuthnRequest) {
		req.Assertion.Conditions.AudienceRestrictions[0].Audience.Value = "https://other.example.com/saml/metadata"
	}},
	{name: "a second audience, another SP's", tamper: addAudience("https://other.example.com/saml/metadata")},
	{name: "no audience", tamper: func(req *saml.IdpAuthnRequest) { req.Assertion.Conditions.AudienceRestrictions = nil }},
	{name: "wrong recipient", tamper: func(req *saml.IdpAuthnRequest) {
		req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://other.example.com/saml/acs"
	}},
	{name: "assertion InResponseTo", tamper: func(req *saml.IdpAuthnRequest) {
		req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = "id-other"
	}},
	{name: "assertion issuer", tamper: func(req *saml.IdpAuthnRequest) { req.Assertion.Issuer.Value = "https://evil.example.com" }},
	{name: "expired", tamper: shiftAssertion(-10 * time.Minute)},
	// crewjam allows no skew on IssueInstant: an assertion issued 2 minutes before it
	// arrives, by an IdP's clock 2 minutes behind, fails there (maxIssueAge).
	{name: "issued long ago, still within its window", crewjamRefuses: "expired on", tamper: func(req *saml.IdpAuthnRequest) {
		req.Assertion.IssueInstant = req.Assertion.IssueInstant.Add(-2 * time.Minute)
	}},
	{name: "an IdP clock 2 minutes behind", crewjamRefuses: "IssueInstant expired", tamper: idpClockBehind(2 * time.Minute)},
	{name: "an IdP clock 4 minutes 40 behind: beyond 90 s and the skew", tamper: idpClockBehind(4*time.Minute + 40*time.Second)},
	// maxIssueAge's own bound, the validity windows still open: 4 minutes old is taken, 4
	// minutes 40 is not, for the response and for the assertion alone.
	{name: "issued 4 minutes ago, its windows open", crewjamRefuses: "IssueInstant expired", tamper: issuedAgo(4*time.Minute, true, true)},
	{name: "issued 4 minutes 40 ago, its windows open", tamper: issuedAgo(4*time.Minute+40*time.Second, true, true)},
	{name: "the response issued 4 minutes 40 ago, its assertion now", tamper: issuedAgo(4*time.Minute+40*time.Second, true, false)},
	{name: "the assertion issued 4 minutes 40 ago, its response now", tamper: issuedAgo(4*time.Minute+40*time.Second, false, true)},
	{name: "not yet valid beyond 3 minutes of skew", tamper: func(req *saml.IdpAuthnRequest) {
		req.Assertion.Conditions.NotBefore = time.Now().Add(4 * time.Minute)
	}},
	{name: "not yet valid within 2 minutes of skew", ok: true, tamper: func(req *saml.IdpAuthnRequest) {
		req.Assertion.Conditions.NotBefore = time.Now().Add(2 * time.Minute)
	}},
	{name: "confirmation expired beyond skew", tamper: func(req *saml.IdpAuthnRequest) {
		req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-4 * time.Minute)
	}},
	{name: "no NameID", ok: true, tamper: func(req *saml.IdpAuthnRequest) { req.Assertion.Subject.NameID.Value = " " }}, // Check refuses it after
}

// oracleCase is a response of crewjam's IdP, tampered with or not, that checkResponse and
// crewjam's ParseXMLResponse must both accept or both refuse.
type oracleCase struct {
	name          string
	tamper        func(*saml.IdpAuthnRequest)
	unsigned      bool
	noDestination bool
	status        string
	cert          string
	otherID       bool
	edit          func(doc string) string
	leftToCrewjam bool
	ok            bool
	// refusedByCheckXML: checkXML refuses the response (its limits, this cause), before
	// checkResponse, which is compared with crewjam all the same; Check refuses it, whatever
	// crewjam does (it accepts a response with two assertions).
	refusedByCheckXML string
	// refusedFirst: Check refuses before crewjam would (checkXML's limits); crewjam
	// refuses too.
	refusedFirst string
	// crewjamRefuses: crewjam refuses, for this cause, a response checkResponse accepts (a
	// crewjam bug, explained at the case).
	crewjamRefuses string
}

// checkAgainstCrewjam runs c through w's IdP (whose assertions are encrypted or not, as
// encrypted says) and compares checkResponse, then Check, with crewjam.
func checkAgainstCrewjam(t *testing.T, w *samlWorld, c oracleCase, encrypted bool) {
	w.idp.Tamper(c.tamper)
	w.idp.Unsigned(c.unsigned)
	w.idp.NoDestination(c.noDestination)
	w.idp.FailWith(c.status)
	defer func() { w.idp.Tamper(nil); w.idp.Unsigned(false); w.idp.NoDestination(false); w.idp.FailWith("") }()
	w.conn.SAMLCertificate = w.idp.CertificatePEM
	if c.cert != "" {
		w.conn.SAMLCertificate = c.cert
	}
	sr, r := w.login(t, "relay")
	raw, _ := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
	if strings.Contains(string(raw), "EncryptedAssertion") != encrypted {
		t.Fatalf("the IdP encrypted the assertion: %v, the test expects %v", !encrypted, encrypted)
	}
	if c.edit != nil {
		edited := c.edit(string(raw))
		if edited == string(raw) {
			t.Fatal("the edit changed nothing")
		}
		raw = []byte(edited)
	}
	id := sr.ID
	if c.otherID {
		id = "id-0123456789"
	}
	certs, err := (*SAMLResponses)(nil).certificates(w.conn)
	if err != nil {
		t.Fatal(err)
	}
	wantA, wantDest, wantErr := crewjamCheck(raw, w.sp, w, id, *r.URL)
	// As Check: checkXML, then checkResponse; a response checkXML refuses for its two
	// assertions is compared with crewjam too (Check's refusal is below).
	doc, shape, xmlErr := readXML(raw)
	if errors.Is(xmlErr, errRefused) != (c.refusedByCheckXML != "") || xmlErr != nil && !strings.Contains(xmlErr.Error(), c.refusedByCheckXML) {
		t.Fatalf("checkXML: %v, want a refusal for %q", xmlErr, c.refusedByCheckXML)
	}
	var gotA *saml.Assertion
	var gotDest string
	gotErr := xmlErr
	if xmlErr != nil && c.refusedByCheckXML != "" { // checkResponse reads the tree etree reads, if any
		doc = etree.NewDocument()
		if gotErr = doc.ReadFromBytes(raw); gotErr != nil {
			doc = nil
		}
	}
	if doc != nil {
		gotA, gotDest, gotErr = checkResponse(doc, w.sp, w.conn, certs, id, *r.URL, saml.TimeNow(), shape.encryptedKeys == 1, &sha1Policy{})
	}
	if (gotErr == errLeftToCrewjam) != c.leftToCrewjam {
		t.Fatalf("left to crewjam: %v, want %v", gotErr == errLeftToCrewjam, c.leftToCrewjam)
	}
	if c.leftToCrewjam {
		gotA, gotDest, gotErr = wantA, wantDest, wantErr // what Check does
	}
	if c.crewjamRefuses != "" {
		if wantErr == nil || !strings.Contains(privateCause(wantErr).Error(), c.crewjamRefuses) || gotErr != nil {
			t.Fatalf("crewjam: %v, want a refusal for %q; checkResponse: %v, want an acceptance", wantErr, c.crewjamRefuses, gotErr)
		}
		return
	}
	if (wantErr == nil) != c.ok {
		t.Fatalf("crewjam accepted: %v (%v), the case expects %v", wantErr == nil, wantErr, c.ok)
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("checkResponse: %v; crewjam: %v", gotErr, wantErr)
	}
	if c.refusedFirst != "" && (gotErr == nil || !strings.Contains(gotErr.Error(), c.refusedFirst)) {
		t.Fatalf("checkResponse: %v, want %q", gotErr, c.refusedFirst)
	}
	if wantErr != nil {
		return
	}
	if gotDest != wantDest {
		t.Fatalf("Destination %q, crewjam %q", gotDest, wantDest)
	}
	// The Signature elements are etree copies of different parses (crewjam unmarshals
	// a serialisation); the values are compared.
	gotA.Signature, wantA.Signature = nil, nil
	if !reflect.DeepEqual(gotA, wantA) {
		t.Fatalf("assertion\n%+v\ncrewjam\n%+v", gotA, wantA)
	}
	// And through Check, which the ACS calls.
	form := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}, "RelayState": {"relay"}}
	req := httptest.NewRequest(http.MethodPost, w.sp.ACSURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := req.ParseForm(); err != nil {
		t.Fatal(err)
	}
	login, err := NewSAMLResponses(nil, nil).Check(req, w.sp, w.conn, id)
	refused := wantDest == "" || strings.TrimSpace(wantA.Subject.NameID.Value) == "" || c.refusedByCheckXML != ""
	if (err != nil) != refused {
		t.Fatalf("Check: %v", err)
	}
	var le *LoginError
	if c.refusedByCheckXML != "" && (!errorsAs(err, &le) || !strings.Contains(le.Private.Error(), c.refusedByCheckXML)) {
		t.Fatalf("Check: %v", err)
	}
	if err == nil && login.Identity.Identifier != strings.TrimSpace(wantA.Subject.NameID.Value) {
		t.Fatalf("identity %+v", login.Identity)
	}
}
