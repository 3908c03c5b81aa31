package sso

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/sso/samltest"
)

// TestRefuseSHA1ReadsEverySignedInfoAlgorithm: refuseSHA1 finds SHA-1 as the signature method
// and as a reference's digest, in SignedInfo only (an EncryptedKey's OAEP digest is SHA-1 in
// most IdPs' responses, and sound), with the Algorithm attribute under any prefix and a
// Signature or SignedInfo in any namespace (goxmldsig reads them with encoding/xml, which
// matches local names), and lets SHA-256 through.
func TestRefuseSHA1ReadsEverySignedInfoAlgorithm(t *testing.T) {
	const sha256Method, sha256Digest = dsig.RSASHA256SignatureMethod, "http://www.w3.org/2001/04/xmlenc#sha256"
	signed := func(method, digest string) string {
		return `<Response xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Signature><ds:SignedInfo>` +
			`<ds:SignatureMethod Algorithm="` + method + `"/><ds:Reference URI="#r"><ds:DigestMethod Algorithm="` + digest + `"/>` +
			`</ds:Reference></ds:SignedInfo></ds:Signature></Response>`
	}
	for _, c := range []struct {
		name, doc string
		refused   string // "": accepted
	}{
		{name: "RSA-SHA256, SHA-256 digest", doc: signed(sha256Method, sha256Digest)},
		{name: "RSA-SHA1", doc: signed(dsig.RSASHA1SignatureMethod, sha256Digest), refused: "RSA-SHA1"},
		{name: "ECDSA-SHA1", doc: signed(dsig.ECDSASHA1SignatureMethod, sha256Digest), refused: "ECDSA-SHA1"},
		{name: "RSA-SHA256 over a SHA-1 digest", doc: signed(sha256Method, "http://www.w3.org/2000/09/xmldsig#sha1"), refused: "a SHA-1 digest"},
		{name: "a second Reference with a SHA-1 digest", refused: "a SHA-1 digest",
			doc: strings.Replace(signed(sha256Method, sha256Digest), "</ds:SignedInfo>",
				`<ds:Reference URI="#s"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></ds:Reference></ds:SignedInfo>`, 1)},
		{name: "a prefixed Algorithm attribute", refused: "RSA-SHA1",
			doc: strings.Replace(signed(sha256Method, sha256Digest), `<ds:SignatureMethod Algorithm="`+sha256Method+`"/>`,
				`<ds:SignatureMethod xmlns:x="urn:x" x:Algorithm="`+dsig.RSASHA1SignatureMethod+`"/>`, 1)},
		{name: "a Signature in no namespace", refused: "RSA-SHA1",
			doc: `<Response><Signature><SignedInfo><SignatureMethod Algorithm="` + dsig.RSASHA1SignatureMethod + `"/></SignedInfo></Signature></Response>`},
		{name: "an OAEP digest of SHA-1 outside SignedInfo", doc: strings.Replace(signed(sha256Method, sha256Digest), "</ds:Signature>",
			`<ds:KeyInfo><EncryptedKey><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></EncryptedKey></ds:KeyInfo></ds:Signature>`, 1)},
		{name: "a SHA-1 signature of a child element (not this one's)",
			doc: `<Response><Assertion>` + strings.TrimSuffix(strings.TrimPrefix(signed(dsig.RSASHA1SignatureMethod, sha256Digest), `<Response xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`), "</Response>") +
				`</Assertion></Response>`},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := etree.NewDocument()
			if err := doc.ReadFromString(c.doc); err != nil {
				t.Fatal(err)
			}
			err := refuseSHA1(doc.Root())
			var se sha1SignatureError
			if c.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.As(err, &se) || se.name != c.refused || !strings.Contains(err.Error(), "acceptSha1Signatures") {
				t.Fatalf("%v, want a refusal naming %s", err, c.refused)
			}
		})
	}
}

// TestSAMLSHA1Signatures: a response of crewjam's IdP signed with RSA-SHA1 (Response and
// assertion, or the assertion alone) is refused by a connection that does not accept SHA-1, by
// Check and by crewjam's reading (parseResponse, which Check leaves some responses to), saying
// what to change; a connection that accepts SHA-1 signs the same person in; and neither reader
// accepts a SHA-1 response signed with another key when SHA-1 is accepted. An accepted SHA-1
// response is marked (SAMLLogin.SHA1, which the ACS warns of); a SHA-256 one is not.
func TestSAMLSHA1Signatures(t *testing.T) {
	w := newPlainSAMLWorld(t)
	w.idp.SignWith(dsig.RSASHA1SignatureMethod)
	defer func() { w.conn.SAMLAcceptSHA1 = false }()
	for _, c := range []struct {
		name            string
		responseSigned  bool
		accept          bool
		otherCert       bool
		sha256          bool   // the IdP signs with RSA-SHA256 instead
		wantRefusalText string // "": accepted
	}{
		{name: "both signed, refused", responseSigned: true, wantRefusalText: "signed with RSA-SHA1"},
		{name: "the assertion signed, refused", wantRefusalText: "signed with RSA-SHA1"},
		{name: "both signed, accepted", responseSigned: true, accept: true},
		{name: "the assertion signed, accepted", accept: true},
		{name: "SHA-256, the connection accepting SHA-1", responseSigned: true, accept: true, sha256: true},
		{name: "SHA-256, the assertion signed, the connection accepting SHA-1", accept: true, sha256: true},
		{name: "accepted, but another key signed", responseSigned: true, accept: true, otherCert: true, wantRefusalText: "cannot validate signature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w.conn.SAMLAcceptSHA1 = c.accept
			w.conn.SAMLCertificate = w.idp.CertificatePEM
			if c.otherCert {
				_, _, other := samltest.NewKeyPair(t)
				w.conn.SAMLCertificate = other
			}
			if !c.responseSigned {
				w.idp.UnsignedResponseTo(w.sp.ACSURL)
				defer w.idp.NoDestination(false)
			}
			if c.sha256 {
				w.idp.SignWith(dsig.RSASHA256SignatureMethod)
				defer w.idp.SignWith(dsig.RSASHA1SignatureMethod)
			}
			sr, r := w.login(t, "relay")
			raw, _ := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
			if strings.Contains(string(raw), dsig.RSASHA1SignatureMethod) == c.sha256 {
				t.Fatalf("the IdP signed with RSA-SHA1: %v; the case wants %v", !c.sha256, !c.sha256)
			}
			login, checkErr := NewSAMLResponses(nil, nil).Check(r, w.sp, w.conn, sr.ID)
			crewjamPolicy := &sha1Policy{accept: c.accept}
			_, crewjamErr := parseResponse(raw, w.sp, w.conn, sr.ID, *r.URL, true, crewjamPolicy)
			if c.wantRefusalText == "" {
				if checkErr != nil || crewjamErr != nil {
					t.Fatalf("Check: %v; crewjam: %v", checkErr, crewjamErr)
				}
				if login.Identity.Identifier != "00u1ada" || login.SHA1 == c.sha256 || crewjamPolicy.used == c.sha256 {
					t.Fatalf("identity %+v, marked signed with SHA-1 %v (crewjam's reading: %v)", login.Identity, login.SHA1, crewjamPolicy.used)
				}
				return
			}
			var le *LoginError
			if !errors.As(checkErr, &le) || !strings.Contains(le.Private.Error(), c.wantRefusalText) || le.Public != publicSAMLFailure {
				t.Fatalf("Check: %v, want a refusal saying %q", checkErr, c.wantRefusalText)
			}
			if crewjamErr == nil || !strings.Contains(privateCause(crewjamErr).Error(), c.wantRefusalText) {
				t.Fatalf("crewjam: %v, want a refusal saying %q", crewjamErr, c.wantRefusalText)
			}
			// A SHA-1 refusal is not a certificate mismatch: it must not send a connection that
			// follows its metadata to read it again (RefreshSAMLCertificatesAfterFailure).
			var sigErr signatureError
			if !c.otherCert && errors.As(le.Private, &sigErr) {
				t.Fatalf("the SHA-1 refusal reads as a signature no certificate verifies: %v", le.Private)
			}
		})
	}
}
