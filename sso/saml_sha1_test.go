package sso

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"gatehouse/sso/samltest"
)

// TestRefuseSHA1ReadsEverySignedInfoAlgorithm: refuseSHA1 finds SHA-1 as the signature method
// and as a reference's digest, in SignedInfo only (an EncryptedKey's OAEP digest is SHA-1 in
// most IdPs' responses, and sound), with the Algorithm attribute under any prefix and a
// Signature or SignedInfo in any namespace (goxmldsig reads them with encoding/xml, which
// matches local names), any SHA-1 signature in the element whatever it signs, a namespace
// declared as a SHA-1 algorithm on the element or above it, and lets SHA-256 through.
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
		at        string // the element checked, by tag ("": the root)
	}{
		{name: "RSA-SHA256, SHA-256 digest", doc: signed(sha256Method, sha256Digest)},
		{name: "xmlns:Algorithm declared on the Response, the assertion checked", refused: "RSA-SHA1", at: "Assertion",
			doc: `<Response xmlns:Algorithm="` + dsig.RSASHA1SignatureMethod + `"><Assertion ID="a">` +
				strings.TrimSuffix(strings.TrimPrefix(strings.Replace(signed(sha256Method, sha256Digest), `<ds:SignatureMethod Algorithm="`+sha256Method+`"/>`,
					`<ds:SignatureMethod Algorithm:x=""/>`, 1), `<Response xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`), "</Response>") +
				`</Assertion></Response>`},
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
		{name: "an OAEP digest of SHA-1 in an EncryptedAssertion of the signed element", doc: strings.Replace(signed(sha256Method, sha256Digest), "</Response>",
			`<EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><ds:KeyInfo><xenc:EncryptedKey>`+
				`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>`+
				`</xenc:EncryptionMethod></xenc:EncryptedKey></ds:KeyInfo></xenc:EncryptedData></EncryptedAssertion></Response>`, 1)},
		{name: "a SHA-1 signature of this element below a SHA-256 decoy", refused: "RSA-SHA1",
			doc: `<Response ID="r">` + strings.TrimSuffix(strings.TrimPrefix(signed(sha256Method, sha256Digest), `<Response xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`), "</Response>") +
				`<Assertion ID="a">` + strings.TrimSuffix(strings.TrimPrefix(signed(dsig.RSASHA1SignatureMethod, sha256Digest), `<Response xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`), "</Response>") +
				`</Assertion></Response>`},
		{name: "a SHA-1 signature below, its Reference without a URI", refused: "RSA-SHA1",
			doc: `<Response ID="r"><Extensions>` + strings.Replace(strings.TrimSuffix(strings.TrimPrefix(signed(dsig.RSASHA1SignatureMethod, sha256Digest),
				`<Response xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`), "</Response>"), `<ds:Reference URI="#r">`, `<ds:Reference>`, 1) +
				`</Extensions></Response>`},
		{name: "a SHA-1 signature below, the prefix URI declared in its scope", refused: "RSA-SHA1",
			doc: `<Response ID="r"><Extensions xmlns:URI="#r">` + strings.Replace(strings.TrimSuffix(strings.TrimPrefix(signed(dsig.RSASHA1SignatureMethod, sha256Digest),
				`<Response xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`), "</Response>"), `<ds:Reference URI="#r">`, `<ds:Reference URI="#other" URI:x="">`, 1) +
				`</Extensions></Response>`},
		{name: "a SHA-1 signature below of another element", refused: "RSA-SHA1", doc: `<Response ID="r"><Extensions>` +
			strings.Replace(strings.TrimSuffix(strings.TrimPrefix(signed(dsig.RSASHA1SignatureMethod, sha256Digest),
				`<Response xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`), "</Response>"), `<ds:Reference URI="#r">`, `<ds:Reference URI="#other">`, 1) +
			`</Extensions></Response>`},
		{name: "xmlns:Algorithm declared above SignedInfo", refused: "RSA-SHA1",
			doc: strings.Replace(strings.Replace(signed(sha256Method, sha256Digest), `<Response `, `<Response xmlns:Algorithm="`+dsig.RSASHA1SignatureMethod+`" `, 1),
				`<ds:SignatureMethod Algorithm="`+sha256Method+`"/>`, `<ds:SignatureMethod Algorithm:x=""/>`, 1)},
		{name: "a SHA-1 signature of a child element (not this one's)", refused: "RSA-SHA1",
			doc: `<Response><Assertion>` + strings.TrimSuffix(strings.TrimPrefix(signed(dsig.RSASHA1SignatureMethod, sha256Digest), `<Response xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`), "</Response>") +
				`</Assertion></Response>`},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := etree.NewDocument()
			if err := doc.ReadFromString(c.doc); err != nil {
				t.Fatal(err)
			}
			el := doc.Root()
			if c.at != "" {
				el = doc.FindElement("//" + c.at)
			}
			err := refuseSHA1(el)
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
// response is marked (SAMLLogin.SHA1, which the ACS warns of) and has a warning naming the
// algorithm (SAMLLogin.Warnings, which a test sign-in shows); a SHA-256 one has neither.
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
				// The warning a test sign-in shows names the algorithm, from either reader.
				named := "signed the response with RSA-SHA1 (" + dsig.RSASHA1SignatureMethod + ")"
				if c.sha256 && (len(login.Warnings) != 0 || crewjamPolicy.warning() != "") ||
					!c.sha256 && (len(login.Warnings) != 1 || !strings.Contains(login.Warnings[0], named) || !strings.Contains(crewjamPolicy.warning(), named)) {
					t.Fatalf("warnings %q (crewjam's reading: %q)", login.Warnings, crewjamPolicy.warning())
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

// sha1Decoy is a Signature that names SHA-256 and references nothing: goxmldsig passes it by.
const sha1Decoy = `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>` +
	`<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>` +
	`<ds:SignatureMethod Algorithm="` + dsig.RSASHA256SignatureMethod + `"/>` +
	`<ds:Reference URI="#nothing"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>` +
	`<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>`

// TestRefuseSHA1ReadsWhatGoxmldsigVerifies: responses whose signature goxmldsig verifies with
// RSA-SHA1 although the direct child Signature that refuseSHA1 used to read alone names
// SHA-256, made with the IdP's key, are refused by Check and by crewjam's reading when the
// connection does not accept SHA-1, and accepted and marked (SAMLLogin.SHA1) when it does: the
// second half shows that the signature verifies, and with SHA-1. Both were accepted
// unmarked before refuseSHA1 read them. The first is refused even when SHA-1 is accepted,
// since ownSignature (its decoy references "#nothing", not the Response): that goxmldsig
// verifies it, with SHA-1, is then shown by goxmldsig alone (goxmldsigVerifies).
//   - a SHA-256 decoy (a direct child referencing nothing) and the IdP's SHA-1 signature of the
//     Response as the Assertion's child: goxmldsig takes the first Signature, at any depth,
//     that references the element;
//   - a SignatureMethod with no Algorithm attribute, using a prefix Algorithm declared on the
//     Response as the RSA-SHA1 URI: the exclusive canonicalisation of SignedInfo moves the
//     declaration onto the SignatureMethod, where encoding/xml reads it as Algorithm.
func TestRefuseSHA1ReadsWhatGoxmldsigVerifies(t *testing.T) {
	w := newPlainSAMLWorld(t)
	key, cert, certPEM := samltest.NewKeyPair(t)
	w.idp.UseKey(key, cert)
	w.conn.SAMLCertificate = certPEM
	w.idp.Unsigned(true) // the test signs
	defer func() { w.conn.SAMLAcceptSHA1 = false }()
	for _, c := range []struct {
		name  string
		decoy bool // refused by ownSignature when SHA-1 is accepted
		make  func(t *testing.T, resp *etree.Element) *etree.Element
	}{
		{name: "the SHA-1 signature below a SHA-256 decoy", decoy: true, make: func(t *testing.T, resp *etree.Element) *etree.Element {
			resp.InsertChildAt(resp.SelectElement("Issuer").Index()+1, etreeRoot(t, sha1Decoy))
			signed := signEnveloped(t, resp, key, cert, dsig.RSASHA1SignatureMethod)
			sig := signed.ChildElements()[len(signed.ChildElements())-1] // SignEnveloped's
			signed.RemoveChild(sig)
			a := signed.SelectElement("Assertion")
			a.InsertChildAt(a.SelectElement("Issuer").Index()+1, sig)
			return signed
		}},
		{name: "xmlns:Algorithm above SignedInfo", make: func(t *testing.T, resp *etree.Element) *etree.Element {
			signed := signEnveloped(t, resp, key, cert, dsig.RSASHA256SignatureMethod)
			signed.CreateAttr("xmlns:Algorithm", dsig.RSASHA1SignatureMethod)
			signedInfo := signed.FindElement("./Signature/SignedInfo")
			method := signedInfo.SelectElement("SignatureMethod")
			method.RemoveAttr("Algorithm")
			method.CreateAttr("Algorithm:x", "")
			// SignedInfo signed with RSA-SHA1 as goxmldsig canonicalises it.
			ctx, err := etreeutils.NSBuildParentContext(signedInfo)
			if err != nil {
				t.Fatal(err)
			}
			detached, err := etreeutils.NSDetatch(ctx, signedInfo)
			if err != nil {
				t.Fatal(err)
			}
			canonical, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(detached)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(canonical), `<ds:SignatureMethod xmlns:Algorithm="`+dsig.RSASHA1SignatureMethod+`"`) {
				t.Fatalf("canonical SignedInfo %s", canonical)
			}
			sum := sha1.Sum(canonical)
			value, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, sum[:])
			if err != nil {
				t.Fatal(err)
			}
			signed.FindElement("./Signature/SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
			return signed
		}},
	} {
		for _, accept := range []bool{false, true} {
			name := c.name + ", refused"
			if accept {
				name = c.name + ", accepted"
			}
			t.Run(name, func(t *testing.T) {
				w.conn.SAMLAcceptSHA1 = accept
				sr, r := w.login(t, "relay")
				raw, _ := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
				if strings.Contains(string(raw), "Signature") {
					t.Fatal("the IdP signed")
				}
				doc := etree.NewDocument()
				doc.SetRoot(c.make(t, etreeRoot(t, string(raw))))
				if c.decoy {
					goxmldsigVerifies(t, doc.Root(), cert)
				}
				edited, err := doc.WriteToString()
				if err != nil {
					t.Fatal(err)
				}
				readBoth(t, w, r, sr.ID, edited, accept, c.decoy)
			})
		}
	}
}

// TestRefuseSHA1ReadsWhatGoxmldsigVerifiesInPlaintext is the first shape of
// TestRefuseSHA1ReadsWhatGoxmldsigVerifies inside an encrypted assertion (an unsigned
// Response): the plaintext's SHA-1 signature of the assertion below a SHA-256 decoy, put in
// the SubjectConfirmationData. Refused by both readers for SHA-1 unless SHA-1 is accepted,
// and by ownSignature when it is; goxmldsig alone verifies it.
func TestRefuseSHA1ReadsWhatGoxmldsigVerifiesInPlaintext(t *testing.T) {
	w := newPlainSAMLWorld(t)
	key, cert, certPEM := samltest.NewKeyPair(t)
	w.idp.UseKey(key, cert)
	w.conn.SAMLCertificate = certPEM
	w.idp.Unsigned(true) // the test signs, and encrypts
	defer func() { w.conn.SAMLAcceptSHA1 = false }()
	for _, accept := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "accepted"}[accept], func(t *testing.T) {
			w.conn.SAMLAcceptSHA1 = accept
			sr, r := w.login(t, "relay")
			raw, _ := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
			if strings.Contains(string(raw), "Signature") {
				t.Fatal("the IdP signed")
			}
			resp := etreeRoot(t, string(raw))
			a := resp.SelectElement("Assertion")
			a.InsertChildAt(a.SelectElement("Issuer").Index()+1, etreeRoot(t, sha1Decoy))
			signed := signEnveloped(t, a, key, cert, dsig.RSASHA1SignatureMethod)
			sig := signed.ChildElements()[len(signed.ChildElements())-1]
			signed.RemoveChild(sig)
			// Where SAML's schema takes any element (foreignElements refuses a Signature in the
			// Subject itself), and goxmldsig still finds it first.
			signed.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData").AddChild(sig)
			goxmldsigVerifies(t, signed, cert)
			doc := etree.NewDocument()
			doc.SetRoot(signed)
			plaintext, err := doc.WriteToString()
			if err != nil {
				t.Fatal(err)
			}
			// The Response unsigned, its assertion encrypted to the SP as an IdP encrypts it.
			i := a.Index()
			resp.RemoveChild(a)
			resp.InsertChildAt(i, etreeRoot(t, samltest.EncryptedAssertion(w.sp.Keys.Current.Certificate, plaintext)))
			doc = etree.NewDocument()
			doc.SetRoot(resp)
			edited, err := doc.WriteToString()
			if err != nil {
				t.Fatal(err)
			}
			readBoth(t, w, r, sr.ID, edited, accept, true)
		})
	}
}

// readBoth posts edited, an answer to the request id that w's connection sent (r, the IdP's
// post), through Check and through crewjam's reading (parseResponse), the connection accepting
// SHA-1 or not: accepted by both, as the IdP's person and marked signed with SHA-1, when it
// does (refused by both for a decoy direct child Signature, ownSignature, when decoy); refused
// by both naming RSA-SHA1 when it does not.
func readBoth(t *testing.T, w *samlWorld, r *http.Request, id, edited string, accept, decoy bool) {
	t.Helper()
	r = editedPost(t, r, func(string) string { return edited })
	login, checkErr := NewSAMLResponses(nil, nil).Check(r, w.sp, w.conn, id)
	policy := &sha1Policy{accept: accept}
	_, crewjamErr := parseResponse([]byte(edited), w.sp, w.conn, id, *r.URL, true, policy)
	if accept && decoy {
		const own = `signature references "#nothing", not its ID`
		var le *LoginError
		if !errors.As(checkErr, &le) || !strings.Contains(le.Private.Error(), own) || crewjamErr == nil || !strings.Contains(privateCause(crewjamErr).Error(), own) {
			t.Fatalf("Check: %v; crewjam: %v; want ownSignature's refusal", checkErr, privateCause(crewjamErr))
		}
		return
	}
	if accept {
		if checkErr != nil || crewjamErr != nil {
			t.Fatalf("Check: %v; crewjam: %v", privateCause(checkErr), privateCause(crewjamErr))
		}
		if login.Identity.Identifier != "00u1ada" || !login.SHA1 || !policy.used {
			t.Fatalf("identity %+v, marked signed with SHA-1 %v (crewjam's reading: %v)", login.Identity, login.SHA1, policy.used)
		}
		return
	}
	var se sha1SignatureError
	if !errors.As(privateCause(checkErr), &se) || se.name != "RSA-SHA1" {
		t.Fatalf("Check: %v, want the refusal of RSA-SHA1", privateCause(checkErr))
	}
	if !errors.As(privateCause(crewjamErr), &se) || se.name != "RSA-SHA1" {
		t.Fatalf("crewjam: %v, want the refusal of RSA-SHA1", privateCause(crewjamErr))
	}
}

// goxmldsigVerifies fails t unless goxmldsig alone, trusting cert, verifies a signature of el.
func goxmldsigVerifies(t *testing.T, el *etree.Element, cert *x509.Certificate) {
	t.Helper()
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	vc.IdAttribute = "ID"
	if _, err := vc.Validate(el); err != nil {
		t.Fatalf("goxmldsig does not verify it: %v", err)
	}
}

// signEnveloped is el signed by key with method (its hash the digest's too) as crewjam's IdP
// signs, the Signature its last child, read again so that every element has its parent.
func signEnveloped(t *testing.T, el *etree.Element, key *rsa.PrivateKey, cert *x509.Certificate, method string) *etree.Element {
	t.Helper()
	ctx, err := dsig.NewSigningContext(key, [][]byte{cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(signed)
	s, err := doc.WriteToString()
	if err != nil {
		t.Fatal(err)
	}
	return etreeRoot(t, s)
}

// TestSAMLSHA1MixedSignatures: every signature in what is verified counts, not only the one
// verified: a Response signed with RSA-SHA1 around an assertion signed with RSA-SHA256, and a
// Response signed with RSA-SHA256 around an assertion signed with RSA-SHA1 (which neither
// reader verifies, the Response's covering it), are both refused by a connection that refuses
// SHA-1, by Check and by crewjam's reading (refuseSHA1 reads no further than that: no IdP
// mixes algorithms, and which signature goxmldsig takes is not a question worth a reader).
func TestSAMLSHA1MixedSignatures(t *testing.T) {
	w := newPlainSAMLWorld(t)
	key, cert, certPEM := samltest.NewKeyPair(t)
	w.idp.UseKey(key, cert)
	w.conn.SAMLCertificate = certPEM
	defer w.idp.SignWith(dsig.RSASHA256SignatureMethod)
	for _, c := range []struct {
		name                      string
		assertionMethod, respHash string
		refused                   bool
	}{
		{name: "an RSA-SHA1 Response around an RSA-SHA256 assertion", assertionMethod: dsig.RSASHA256SignatureMethod, respHash: dsig.RSASHA1SignatureMethod, refused: true},
		{name: "an RSA-SHA256 Response around an RSA-SHA1 assertion", assertionMethod: dsig.RSASHA1SignatureMethod, respHash: dsig.RSASHA256SignatureMethod, refused: true},
		// The control: the same construction with SHA-256 throughout signs in, so the two
		// refusals above are SHA-1's, not the re-signed Response's.
		{name: "an RSA-SHA256 Response around an RSA-SHA256 assertion", assertionMethod: dsig.RSASHA256SignatureMethod, respHash: dsig.RSASHA256SignatureMethod},
	} {
		t.Run(c.name, func(t *testing.T) {
			w.idp.SignWith(c.assertionMethod)
			sr, r := w.login(t, "relay")
			raw, _ := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
			resp := etreeRoot(t, samltest.DropResponseSignature(string(raw)))
			doc := etree.NewDocument()
			doc.SetRoot(signEnveloped(t, resp, key, cert, c.respHash))
			edited, err := doc.WriteToString()
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 + boolInt(c.assertionMethod == c.respHash); strings.Count(edited, c.assertionMethod) != want || strings.Count(edited, c.respHash) != want {
				t.Fatalf("not one signature of each: %s", edited)
			}
			r = editedPost(t, r, func(string) string { return edited })
			login, checkErr := NewSAMLResponses(nil, nil).Check(r, w.sp, w.conn, sr.ID)
			policy := &sha1Policy{}
			_, crewjamErr := parseResponse([]byte(edited), w.sp, w.conn, sr.ID, *r.URL, true, policy)
			if !c.refused {
				if checkErr != nil || crewjamErr != nil {
					t.Fatalf("Check: %v; crewjam: %v", privateCause(checkErr), privateCause(crewjamErr))
				}
				if login.SHA1 || policy.used {
					t.Fatalf("marked as signed with SHA-1: %v, crewjam's reading %v", login.SHA1, policy.used)
				}
				return
			}
			var se sha1SignatureError
			if !errors.As(privateCause(checkErr), &se) || !errors.As(privateCause(crewjamErr), &se) {
				t.Fatalf("Check: %v; crewjam: %v; want the refusal of RSA-SHA1", privateCause(checkErr), privateCause(crewjamErr))
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
