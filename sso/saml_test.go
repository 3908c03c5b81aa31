package sso

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"

	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/sso/samltest"
)

// samlWorld is an IdP (samlidp, real signed and encrypted assertions) that trusts an SP.
type samlWorld struct {
	idp  *samltest.IdP
	sp   *provision.SAMLSP
	conn *models.Connection
}

func newSAMLWorld(t testing.TB) *samlWorld {
	t.Helper()
	idp := samltest.New(t)
	key, cert, _ := samltest.NewKeyPair(t)
	sp := &provision.SAMLSP{EntityID: "https://gh.example.com/saml/metadata", ACSURL: "https://gh.example.com/saml/acs",
		Keys: provision.SPKeys{Current: provision.SPKeyPair{Key: key, Certificate: cert}}}
	md, err := New(Options{}).SPMetadataXML(sp.Keys, sp.EntityID, sp.ACSURL)
	if err != nil {
		t.Fatal(err)
	}
	idp.TrustSP(t, []byte(md))
	idp.SignIn(samltest.User{NameID: "00u1ada", Email: "ada@example.com", GivenName: "Ada", Surname: "Lovelace",
		Attributes: map[string][]string{"companyName": {"Acme"}, "groups": {"a", "b"}}})
	conn := &models.Connection{ID: [16]byte{1}, Protocol: models.ProtocolSAML, SAMLEntityID: idp.EntityID, SAMLSSOURL: idp.SSOURL,
		SAMLCertificate: idp.CertificatePEM, SAMLSignRequests: true, SAMLAttributeMapping: `{"company":"companyName"}`}
	return &samlWorld{idp: idp, sp: sp, conn: conn}
}

// login sends an AuthnRequest through the IdP as a browser would and returns the request and
// the POST the IdP's page makes to the ACS (form parsed).
func (w *samlWorld) login(t testing.TB, relay string) (*SAMLRequest, *http.Request) {
	t.Helper()
	sr, err := NewSAMLRequest(w.sp, w.conn, "", relay)
	if err != nil {
		t.Fatal(err)
	}
	resp, page := samltest.Follow(t, http.DefaultClient, sr.URL)
	if resp.StatusCode != 200 {
		t.Fatalf("IdP: %d %s", resp.StatusCode, page)
	}
	return sr, acsPost(t, w.sp, page, relay)
}

func acsPost(t testing.TB, sp *provision.SAMLSP, page, relay string) *http.Request {
	t.Helper()
	action, vals, err := samltest.Form(page)
	if err != nil {
		t.Fatal(err)
	}
	if action != sp.ACSURL || vals.Get("RelayState") != relay {
		t.Fatalf("IdP posts to %q with RelayState %q", action, vals.Get("RelayState"))
	}
	r := httptest.NewRequest(http.MethodPost, action, strings.NewReader(vals.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.ParseForm(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSAMLLogin(t *testing.T) {
	w := newSAMLWorld(t)
	sr, r := w.login(t, "flow/+relay=1")
	raw, _ := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
	if !strings.Contains(string(raw), "EncryptedAssertion") || strings.Contains(string(raw), "ada@example.com") {
		t.Fatal("the IdP did not encrypt the assertion to the SP's encryption certificate")
	}
	login, err := CheckSAMLResponse(r, w.sp, w.conn, sr.ID)
	if err != nil {
		t.Fatalf("check: %v (%v)", err, privateCause(err))
	}
	id := login.Identity
	if id.Identifier != "00u1ada" || id.Email != "ada@example.com" || id.FirstName != "Ada" || id.LastName != "Lovelace" ||
		id.Claims["company"] != "Acme" || id.Claims["companyName"] != "Acme" || len(id.Claims["groups"].([]any)) != 2 {
		t.Fatalf("identity %+v", id)
	}
	// The replay cache keeps the ID while the assertion could be accepted, and not much longer.
	if login.AssertionID == "" || !login.KeepUntil.After(time.Now().Add(maxIssueAge)) || login.KeepUntil.After(time.Now().Add(maxIssueAge+2*time.Minute)) {
		t.Fatalf("assertion %q kept until %s", login.AssertionID, login.KeepUntil)
	}

	// An IdP whose clock is 2 minutes behind signs in, and its assertion ID is kept as long as
	// the assertion could still be accepted (until its IssueInstant plus maxIssueAge).
	w.idp.Tamper(idpClockBehind(2 * time.Minute))
	defer w.idp.Tamper(nil)
	sr, r = w.login(t, "relay")
	login, err = CheckSAMLResponse(r, w.sp, w.conn, sr.ID)
	if err != nil {
		t.Fatalf("an IdP 2 minutes behind: %v (%v)", err, privateCause(err))
	}
	if !login.KeepUntil.After(time.Now().Add(maxIssueAge - 2*time.Minute)) {
		t.Fatalf("an IdP 2 minutes behind: its assertion kept until %s only", login.KeepUntil)
	}
	// One 2 minutes ahead: its assertion can be accepted until 2 minutes after maxIssueAge
	// from now, so it is kept at least that long (a KeepUntil counted from the arrival would
	// forget it first).
	w.idp.Tamper(idpClockBehind(-2 * time.Minute))
	sr, r = w.login(t, "relay")
	login, err = CheckSAMLResponse(r, w.sp, w.conn, sr.ID)
	if err != nil {
		t.Fatalf("an IdP 2 minutes ahead: %v (%v)", err, privateCause(err))
	}
	if !login.KeepUntil.After(time.Now().Add(maxIssueAge + 2*time.Minute)) {
		t.Fatalf("an IdP 2 minutes ahead: its assertion kept until %s only", login.KeepUntil)
	}
}

// TestSAMLSignedRequest verifies the redirect-binding signature as an IdP does, with the
// use="signing" certificate of the SP metadata; unsigned connections send no signature.
func TestSAMLSignedRequest(t *testing.T) {
	w := newSAMLWorld(t)
	md, _ := New(Options{}).SPMetadataXML(w.sp.Keys, w.sp.EntityID, w.sp.ACSURL)
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal([]byte(md), &ed); err != nil {
		t.Fatal(err)
	}
	var signing []byte
	for _, kd := range ed.SPSSODescriptors[0].KeyDescriptors {
		if kd.Use == "signing" && signing == nil {
			signing, _ = base64.StdEncoding.DecodeString(kd.KeyInfo.X509Data.X509Certificates[0].Data)
		}
	}
	cert, err := parseDER(signing)
	if err != nil {
		t.Fatalf("signing certificate in metadata: %v", err)
	}
	for _, sign := range []bool{true, false} {
		w.conn.SAMLSignRequests = sign
		sr, err := NewSAMLRequest(w.sp, w.conn, "_fixed-id", "r1")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(sr.URL)
		q := u.Query()
		if !sign {
			if q.Has("Signature") || q.Has("SigAlg") {
				t.Fatalf("unsigned connection sent a signature: %s", sr.URL)
			}
			continue
		}
		if q.Get("SigAlg") != rsaSHA256 || q.Get("RelayState") != "r1" {
			t.Fatalf("query %v", q)
		}
		// The signed octets are the raw query up to &Signature (SAML bindings §3.4.4.1).
		signed := u.RawQuery[:strings.Index(u.RawQuery, "&Signature=")]
		sig, _ := base64.StdEncoding.DecodeString(q.Get("Signature"))
		sum := sha256.Sum256([]byte(signed))
		if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
			t.Fatalf("signature does not verify with the metadata's signing certificate: %v", err)
		}
		sum[0] ^= 1
		if rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig) == nil {
			t.Fatal("the check cannot fail")
		}
	}
}

// TestSAMLSignedRequestOwnQuery: a signed request to an SSO URL with a query of its own
// (Google's https://accounts.google.com/o/saml2/idp?idpid=…) keeps that query, and its
// signature verifies as SAML bindings §3.4.4.1 has the IdP verify it: over SAMLRequest,
// RelayState and SigAlg alone.
func TestSAMLSignedRequestOwnQuery(t *testing.T) {
	w := newSAMLWorld(t)
	conn := *w.conn
	conn.SAMLSSOURL = "https://accounts.google.com/o/saml2/idp?idpid=C01abcde"
	sr, err := NewSAMLRequest(w.sp, &conn, "", "flow/1+2")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(sr.URL)
	if q := u.Query(); !strings.HasPrefix(u.RawQuery, "idpid=C01abcde&SAMLRequest=") || q.Get("RelayState") != "flow/1+2" {
		t.Fatalf("URL %s", sr.URL)
	}
	pub := w.sp.Keys.Current.Certificate.PublicKey.(*rsa.PublicKey)
	if err := verifyRedirectSignature(u.RawQuery, pub); err != nil {
		t.Fatalf("the signature does not verify over SAMLRequest, RelayState and SigAlg: %v", err)
	}
	other, _, _ := samltest.NewKeyPair(t)
	if verifyRedirectSignature(u.RawQuery, &other.PublicKey) == nil {
		t.Fatal("the check cannot fail")
	}
}

// shiftAssertion moves every instant of the assertion by d (a tampering of samltest.IdP).
func shiftAssertion(d time.Duration) func(*saml.IdpAuthnRequest) {
	return func(req *saml.IdpAuthnRequest) {
		a := req.Assertion
		a.IssueInstant = a.IssueInstant.Add(d)
		a.Conditions.NotBefore = a.Conditions.NotBefore.Add(d)
		a.Conditions.NotOnOrAfter = a.Conditions.NotOnOrAfter.Add(d)
		for i := range a.Subject.SubjectConfirmations {
			scd := a.Subject.SubjectConfirmations[i].SubjectConfirmationData
			scd.NotOnOrAfter = scd.NotOnOrAfter.Add(d)
		}
	}
}

// idpClockBehind makes the response and its assertion as an IdP whose clock is d behind
// Gatehouse's issues them (a tampering of samltest.IdP).
func idpClockBehind(d time.Duration) func(*saml.IdpAuthnRequest) {
	shift := shiftAssertion(-d)
	return func(req *saml.IdpAuthnRequest) {
		shift(req)
		req.Now = req.Now.Add(-d) // the Response's IssueInstant
	}
}

// issuedAgo moves the IssueInstant of the response, of the assertion or of both d into the
// past, and nothing else (a tampering of samltest.IdP).
func issuedAgo(d time.Duration, response, assertion bool) func(*saml.IdpAuthnRequest) {
	return func(req *saml.IdpAuthnRequest) {
		if response {
			req.Now = req.Now.Add(-d)
		}
		if assertion {
			req.Assertion.IssueInstant = req.Assertion.IssueInstant.Add(-d)
		}
	}
}

// addAudience adds an AudienceRestriction naming audience after the assertion's (a tampering
// of samltest.IdP).
func addAudience(audience string) func(*saml.IdpAuthnRequest) {
	return func(req *saml.IdpAuthnRequest) {
		req.Assertion.Conditions.AudienceRestrictions = append(req.Assertion.Conditions.AudienceRestrictions,
			saml.AudienceRestriction{Audience: saml.Audience{Value: audience}})
	}
}

// other is another service provider's entity ID.
const other = "https://other.example.com/saml/metadata"

// audiences adds audience to the i-th AudienceRestriction of an assertion's element, before
// its Audience when first, else after it.
func audiences(i int, first bool, audience string) func(*etree.Element) {
	return func(el *etree.Element) {
		ar := el.FindElements("./Conditions/AudienceRestriction")[i]
		ours := ar.FindElement("./Audience")
		a := etree.NewElement(ours.Space + ":Audience")
		a.SetText(audience)
		if first {
			ar.InsertChildAt(ours.Index(), a)
		} else {
			ar.AddChild(a)
		}
	}
}

func TestSAMLResponseRefusals(t *testing.T) {
	w := newSAMLWorld(t)
	_, _, otherCert := samltest.NewKeyPair(t)
	cases := []struct {
		name     string
		tamper   func(*saml.IdpAuthnRequest)
		edit     func(*etree.Element) // the assertion's element, then unsigned in a signed Response
		unsigned bool
		cert     string // the connection's IdP certificate, when not the IdP's
		otherID  bool   // check against another request ID
		cause    string
	}{
		{name: "accepted"},
		{name: "wrong signature", cert: otherCert, cause: "signature"},
		{name: "unsigned", unsigned: true, cause: "signature"},
		{name: "wrong audience", cause: "AudienceRestriction", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Conditions.AudienceRestrictions[0].Audience.Value = "https://other.example.com/saml/metadata"
		}},
		// Every AudienceRestriction must name the SP (SAML core §2.5.1.4).
		{name: "a second AudienceRestriction, another SP's", cause: "AudienceRestriction 2 of 2", tamper: addAudience("https://other.example.com/saml/metadata")},
		{name: "another SP's AudienceRestriction first", cause: "AudienceRestriction 1 of 2", tamper: func(req *saml.IdpAuthnRequest) {
			ours := req.Assertion.Conditions.AudienceRestrictions[0]
			req.Assertion.Conditions.AudienceRestrictions[0].Audience.Value = "https://other.example.com/saml/metadata"
			req.Assertion.Conditions.AudienceRestrictions = append(req.Assertion.Conditions.AudienceRestrictions, ours)
		}},
		{name: "two AudienceRestrictions naming the SP", tamper: addAudience("https://gh.example.com/saml/metadata")},
		// The audiences of one restriction are ORed, whatever their order; crewjam's struct
		// keeps only the last one.
		{name: "one restriction: another SP's audience, then the SP's", edit: audiences(0, true, other)},
		{name: "one restriction: the SP's audience, then another SP's", edit: audiences(0, false, other)},
		{name: "one restriction of two audiences, neither the SP's", cause: "AudienceRestriction 1 of 1", edit: func(el *etree.Element) {
			audiences(0, true, other)(el)
			ar := el.FindElement("./Conditions/AudienceRestriction")
			ar.RemoveChildAt(ar.FindElements("./Audience")[1].Index()) // the SP's
			third := etree.NewElement(ar.Space + ":Audience")
			third.SetText("https://third.example.com")
			ar.AddChild(third)
		}},
		{name: "a second restriction lists other audiences only", cause: "AudienceRestriction 2 of 2", edit: func(el *etree.Element) {
			audiences(0, true, other)(el)
			c := el.FindElement("./Conditions")
			second := c.FindElement("./AudienceRestriction").Copy()
			second.RemoveChildAt(second.FindElements("./Audience")[1].Index()) // the SP's
			c.AddChild(second)
		}},
		{name: "the audience elements' text split by a comment", edit: func(el *etree.Element) {
			a := el.FindElement("./Conditions/AudienceRestriction/Audience")
			text := a.Text()
			a.SetText(text[:10])
			a.CreateComment("split")
			a.CreateText(text[10:])
		}},
		{name: "wrong recipient", cause: "Recipient", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://other.example.com/saml/acs"
		}},
		{name: "expired", tamper: shiftAssertion(-10 * time.Minute), cause: "expired"},
		{name: "not yet valid beyond 3 minutes of skew", cause: "not yet valid", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Conditions.NotBefore = time.Now().Add(4 * time.Minute)
		}},
		{name: "not yet valid within 2 minutes of skew", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Conditions.NotBefore = time.Now().Add(2 * time.Minute)
		}},
		{name: "wrong InResponseTo", otherID: true, cause: "InResponseTo"},
		// Each instant and reference checked on its own, the others fresh and right.
		{name: "Conditions expired beyond 3 minutes of skew", cause: "Conditions is expired", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Conditions.NotOnOrAfter = time.Now().Add(-4 * time.Minute)
		}},
		{name: "Conditions expired within 2 minutes of skew", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Conditions.NotOnOrAfter = time.Now().Add(-2 * time.Minute)
		}},
		{name: "confirmation expired beyond 3 minutes of skew", cause: "SubjectConfirmationData is expired", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-4 * time.Minute)
		}},
		{name: "the assertion answers another request", cause: "possible request IDs", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = "id-0123456789"
		}},
		{name: "no NameID", cause: "NameID", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Subject.NameID.Value = " "
		}},
		{name: "a transient NameID", cause: "transient", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Subject.NameID.Format = string(saml.TransientNameIDFormat)
		}},
		{name: "a persistent NameID", tamper: func(req *saml.IdpAuthnRequest) {
			req.Assertion.Subject.NameID.Format = string(saml.PersistentNameIDFormat)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w.idp.Tamper(c.tamper)
			w.idp.EditAssertion(c.edit)
			w.idp.Unsigned(c.unsigned)
			defer func() { w.idp.Tamper(nil); w.idp.EditAssertion(nil); w.idp.Unsigned(false) }()
			w.conn.SAMLCertificate = w.idp.CertificatePEM
			if c.cert != "" {
				w.conn.SAMLCertificate = c.cert
			}
			sr, r := w.login(t, "relay")
			want := sr.ID
			if c.otherID {
				want = "id-0123456789"
			}
			login, err := CheckSAMLResponse(r, w.sp, w.conn, want)
			wantCheck(t, login, err, c.cause)
		})
	}
}

// wantCheck holds the outcome of a check to a case: the IdP's person signed in when cause is
// "", else a LoginError whose private cause names cause and whose public message is safe.
func wantCheck(t *testing.T, login *SAMLLogin, err error, cause string) *LoginError {
	t.Helper()
	if cause == "" {
		if err != nil {
			t.Fatalf("refused: %v", privateCause(err))
		}
		if login.Identity.Identifier != "00u1ada" {
			t.Fatalf("identity %+v", login.Identity)
		}
		return nil
	}
	var le *LoginError
	if err == nil || !errorsAs(err, &le) || !strings.Contains(le.Private.Error(), cause) {
		t.Fatalf("want a refusal for %q, got %v (%v)", cause, err, privateCause(err))
	}
	if strings.Contains(le.Error(), "ada") || le.Error() == "" {
		t.Fatalf("public message %q", le.Error())
	}
	return le
}

// TestSAMLArtifactRefused: an artifact is never resolved (no outbound request), and the
// metadata offers the HTTP-POST binding only.
func TestSAMLArtifactRefused(t *testing.T) {
	w := newSAMLWorld(t)
	r := httptest.NewRequest(http.MethodPost, w.sp.ACSURL, strings.NewReader("SAMLart=AAQAAM&RelayState=x"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.ParseForm()
	var le *LoginError
	if _, err := CheckSAMLResponse(r, w.sp, w.conn, "id-x"); !errorsAs(err, &le) || !strings.Contains(le.Private.Error(), "artifact") {
		t.Fatalf("artifact: %v", err)
	}
	md, _ := New(Options{}).SPMetadataXML(w.sp.Keys, w.sp.EntityID, w.sp.ACSURL)
	if strings.Contains(md, "HTTP-Artifact") || !strings.Contains(md, "HTTP-POST") {
		t.Fatalf("metadata bindings:\n%s", md)
	}
}

// TestSAMLUnsolicited: an IdP-initiated response answers no request Gatehouse sent.
func TestSAMLUnsolicited(t *testing.T) {
	w := newSAMLWorld(t)
	page := w.idp.InitiatedResponse(t, w.sp.EntityID, "")
	r := acsPost(t, w.sp, page, "")
	_, err := CheckSAMLResponse(r, w.sp, w.conn, "id-anything")
	var le *LoginError
	if !errorsAs(err, &le) || !strings.Contains(le.Private.Error(), "InResponseTo") {
		t.Fatalf("unsolicited response: %v", err)
	}
}

// TestSAMLKeyRotation: an IdP that still encrypts to the previous SP certificate, or already
// to the next one, is understood; a key outside the rotation is not.
func TestSAMLKeyRotation(t *testing.T) {
	w := newSAMLWorld(t) // the IdP encrypts to w.sp.Keys.Current
	old := w.sp.Keys.Current
	k2, c2, _ := samltest.NewKeyPair(t)
	fresh := provision.SPKeyPair{Key: k2, Certificate: c2}
	for _, tc := range []struct {
		name string
		keys provision.SPKeys
		// moreKeys EncryptedKeys follow the IdP's: the other keys are tried only for a
		// response with one, as an RSA decryption each (checkXML).
		moreKeys int
		ok       bool
	}{
		{"previous", provision.SPKeys{Current: fresh, Previous: &old}, 0, true},
		{"next", provision.SPKeys{Current: fresh, Next: &old}, 0, true},
		{"retired", provision.SPKeys{Current: fresh}, 0, false},
		{"current, two EncryptedKeys", provision.SPKeys{Current: old, Next: &fresh}, 1, true},
		{"previous, two EncryptedKeys", provision.SPKeys{Current: fresh, Previous: &old}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.sp.Keys = provision.SPKeys{Current: old}
			sr, r := w.login(t, "relay")
			if tc.moreKeys > 0 {
				r = editedPost(t, r, func(doc string) string {
					return samltest.EncryptedKeys(samltest.DropResponseSignature(doc), tc.moreKeys)
				})
			}
			w.sp.Keys = tc.keys
			_, err := CheckSAMLResponse(r, w.sp, w.conn, sr.ID)
			if (err == nil) != tc.ok {
				t.Fatalf("ok=%v: %v", tc.ok, privateCause(err))
			}
		})
	}
}

// TestSAMLKeyTransportPKCS1v15: an assertion whose key is encrypted with RSA PKCS#1 v1.5
// (xmlenc#rsa-1_5) is refused before Gatehouse decrypts anything (decryptElement: a padding
// oracle on the key that also signs), wherever the EncryptedKey is (in the EncryptedData's
// KeyInfo, as crewjam's IdP puts it, or beside it) and when the data itself is RSA-encrypted;
// the same assertion encrypted with RSA-OAEP is read. Nothing in the process decrypts rsa-1_5:
// xmlenc's registry refuses it too (refusedAlgorithm), for crewjam's own paths.
func TestSAMLKeyTransportPKCS1v15(t *testing.T) {
	w := newSAMLWorld(t)
	key := w.sp.Keys.Current.Key.(*rsa.PrivateKey)
	cert := w.sp.Keys.Current.Certificate
	reencrypted := func(pkcs1v15 bool) func(string) string {
		return func(doc string) string {
			doc = samltest.Reencrypt(key, cert, pkcs1v15)(samltest.DropResponseSignature(doc))
			if strings.Contains(doc, "xmlenc#rsa-1_5") != pkcs1v15 {
				t.Fatalf("re-encrypted (PKCS#1 v1.5: %v): %s", pkcs1v15, doc)
			}
			return doc
		}
	}
	// edit reads the response's EncryptedAssertion, lets f change it, and writes it back.
	edit := func(f func(ea *etree.Element)) func(string) string {
		return func(doc string) string {
			d := etree.NewDocument()
			if err := d.ReadFromString(doc); err != nil {
				t.Fatal(err)
			}
			ea := d.FindElement("//EncryptedAssertion")
			f(ea)
			out, err := d.WriteToString()
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	keyBeside := edit(func(ea *etree.Element) { // the EncryptedKey moved out of KeyInfo, beside the data
		data := ea.FindElement("./EncryptedData")
		ek := data.FindElement("./KeyInfo/EncryptedKey")
		data.FindElement("./KeyInfo").RemoveChild(ek)
		ea.AddChild(ek)
	})
	dataRSA := edit(func(ea *etree.Element) { // the data encrypted with RSA itself, no key
		data := ea.FindElement("./EncryptedData")
		data.RemoveChild(data.FindElement("./KeyInfo"))
		data.FindElement("./EncryptionMethod").CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmlenc#rsa-1_5")
	})
	relabelled := func(algorithm string, cipherBytes int) func(string) string { // the data's method and ciphertext changed
		return edit(func(ea *etree.Element) {
			data := ea.FindElement("./EncryptedData")
			data.FindElement("./EncryptionMethod").CreateAttr("Algorithm", algorithm)
			if cipherBytes > 0 {
				data.FindElement("./CipherData/CipherValue").SetText(base64.StdEncoding.EncodeToString(make([]byte, cipherBytes)))
			}
		})
	}
	gcm := func(keySize int) func(string) string {
		return func(doc string) string {
			doc = samltest.ReencryptGCM(key, cert, keySize)(samltest.DropResponseSignature(doc))
			if !strings.Contains(doc, fmt.Sprintf("xmlenc11#aes%d-gcm", 8*keySize)) {
				t.Fatalf("not encrypted with AES-GCM: %s", doc)
			}
			return doc
		}
	}
	flipLastByte := edit(func(ea *etree.Element) { // of the data's ciphertext: its tag
		v := ea.FindElement("./EncryptedData/CipherData/CipherValue")
		ct, _ := base64.StdEncoding.DecodeString(v.Text())
		ct[len(ct)-1] ^= 1
		v.SetText(base64.StdEncoding.EncodeToString(ct))
	})
	const pkcs1v15Refused = "xmlenc#rsa-1_5), which is refused"
	for _, c := range []struct {
		name  string
		edit  func(string) string
		cause string // "": read
	}{
		{"RSA-OAEP", reencrypted(false), ""},
		{"RSA-OAEP, AES-128-GCM", gcm(16), ""},
		{"RSA-OAEP, AES-256-GCM", gcm(32), ""},
		{"AES-256-GCM, the tag changed", func(doc string) string { return flipLastByte(gcm(32)(doc)) }, "message authentication failed"},
		{"PKCS#1 v1.5, the key in KeyInfo", reencrypted(true), pkcs1v15Refused},
		{"PKCS#1 v1.5, the key beside the data", func(doc string) string { return keyBeside(reencrypted(true)(doc)) }, pkcs1v15Refused},
		{"PKCS#1 v1.5, the data itself", func(doc string) string { return dataRSA(reencrypted(true)(doc)) }, pkcs1v15Refused},
		// crewjam's decrypters would panic on these (xmlenc_registry.go checks first).
		{"AES-GCM, 10 bytes", func(doc string) string {
			return relabelled("http://www.w3.org/2009/xmlenc11#aes128-gcm", 10)(reencrypted(false)(doc))
		}, "aes128-gcm ciphertext of 10 bytes is too short"},
		{"AES-CBC, 40 bytes", func(doc string) string {
			return relabelled("http://www.w3.org/2001/04/xmlenc#aes128-cbc", 40)(reencrypted(false)(doc))
		}, "aes128-cbc ciphertext of 40 bytes is too short or not whole blocks"},
		{"Triple DES", func(doc string) string {
			return relabelled("http://www.w3.org/2001/04/xmlenc#tripledes-cbc", 0)(reencrypted(false)(doc))
		}, "Triple DES (xmlenc#tripledes-cbc), which is refused"},
	} {
		sr, r := w.login(t, "relay")
		r = editedPost(t, r, c.edit)
		login, err := CheckSAMLResponse(r, w.sp, w.conn, sr.ID)
		var le *LoginError
		switch {
		case c.cause == "" && (err != nil || login.Identity.Email != "ada@example.com"):
			var le *LoginError
			errorsAs(err, &le)
			t.Fatalf("%s: %v (%v)", c.name, err, privateCause(le.Private))
		case c.cause != "" && (!errorsAs(err, &le) || !strings.Contains(fmt.Sprint(privateCause(le.Private)), c.cause)):
			t.Fatalf("%s: %v", c.name, err)
		}
	}

	// Straight into xmlenc, as crewjam's own paths go: PKCS#1 v1.5 is refused there too.
	data, err := func() (*etree.Element, error) {
		e := xmlenc.PKCS1v15()
		e.BlockCipher = xmlenc.AES128CBC
		return e.Encrypt(cert, []byte("<saml:Assertion/>"), nil)
	}()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := xmlenc.Decrypt(key, data); !errors.Is(err, errPKCS1v15) {
		t.Fatalf("xmlenc decrypted PKCS#1 v1.5 key transport: %v", err)
	}
}

// TestSPMetadataEncryptionMethods: the SP metadata offers AES-GCM first (an IdP that reads the
// list then encrypts without CBC's padding oracle), AES-CBC for the others, and RSA-OAEP as the
// only key transport; each is one the ACS decrypts (TestSAMLKeyTransportPKCS1v15 reads GCM).
func TestSPMetadataEncryptionMethods(t *testing.T) {
	w := newSAMLWorld(t)
	md, err := New(Options{}).SPMetadataXML(w.sp.Keys, w.sp.EntityID, w.sp.ACSURL)
	if err != nil {
		t.Fatal(err)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal([]byte(md), &ed); err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, kd := range ed.SPSSODescriptors[0].KeyDescriptors {
		if kd.Use == "encryption" {
			for _, m := range kd.EncryptionMethods {
				methods = append(methods, m.Algorithm)
			}
			break
		}
	}
	want := []string{"http://www.w3.org/2009/xmlenc11#aes128-gcm", "http://www.w3.org/2009/xmlenc11#aes256-gcm", "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
		"http://www.w3.org/2001/04/xmlenc#aes192-cbc", "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
		"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"}
	if strings.Join(methods, " ") != strings.Join(want, " ") {
		t.Fatalf("encryption methods %v", methods)
	}
}

func errorsAs(err error, le **LoginError) bool { return errors.As(err, le) }

func parseDER(der []byte) (*x509.Certificate, error) { return x509.ParseCertificate(der) }

// TestRedirectURLIsCrewjams holds redirectURL (a reused DEFLATE writer) to crewjam's
// AuthnRequest.Redirect, the plain path: the same parameters in the same order, the same
// AuthnRequest XML once inflated. The signature verifies as SAML bindings §3.4.4.1 has an IdP
// verify it (redirectSignedOctets): crewjam's does too, but for an SSO URL with a query of its
// own (Google's ?idpid=…), whose parameters crewjam signs as well.
func TestRedirectURLIsCrewjams(t *testing.T) {
	w := newSAMLWorld(t)
	for _, c := range []struct {
		sso  string
		sign bool
	}{{w.conn.SAMLSSOURL, false}, {w.conn.SAMLSSOURL, true}, {"https://idp.example.com/sso?tenant=a&x=%2F", true}} {
		// crewjam's service provider knows the IdP's metadata; NewSAMLRequest's does not, as
		// nothing in a request comes from it.
		s, err := serviceProvider(w.sp, w.sp.Keys.Current, w.conn)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := serviceProvider(w.sp, w.sp.Keys.Current, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.sign {
			s.SignatureMethod, ours.SignatureMethod = rsaSHA256, rsaSHA256
		}
		req, err := s.MakeAuthenticationRequest(c.sso, saml.HTTPRedirectBinding, saml.HTTPPostBinding)
		if err != nil {
			t.Fatal(err)
		}
		relay := url.QueryEscape("relay/1+2")
		want, err := req.Redirect(relay, s)
		if err != nil {
			t.Fatal(err)
		}
		ourReq, err := ours.MakeAuthenticationRequest(c.sso, saml.HTTPRedirectBinding, saml.HTTPPostBinding)
		if err != nil {
			t.Fatal(err)
		}
		ourReq.ID, ourReq.IssueInstant = req.ID, req.IssueInstant
		for i := 0; i < 2; i++ { // the second time with a reused writer
			got, err := redirectURL(ourReq, relay, ours)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := url.Parse(got)
			names := func(raw string) (out []string) {
				for _, kv := range strings.Split(raw, "&") {
					k, _, _ := strings.Cut(kv, "=")
					out = append(out, k)
				}
				return out
			}
			if gn, wn := strings.Join(names(g.RawQuery), ","), strings.Join(names(want.RawQuery), ","); gn != wn {
				t.Fatalf("parameters %s, crewjam %s", gn, wn)
			}
			gq, wq := g.Query(), want.Query()
			for _, k := range []string{"RelayState", "SigAlg", "tenant", "x"} {
				if gq.Get(k) != wq.Get(k) {
					t.Fatalf("%s: %q, crewjam %q", k, gq.Get(k), wq.Get(k))
				}
			}
			if g.Scheme+g.Host+g.Path != want.Scheme+want.Host+want.Path {
				t.Fatalf("URL %s, crewjam %s", got, want)
			}
			if gx, wx := inflateRequest(t, gq.Get("SAMLRequest")), inflateRequest(t, wq.Get("SAMLRequest")); gx != wx {
				t.Fatalf("AuthnRequest\n%s\ncrewjam\n%s", gx, wx)
			}
			if c.sign {
				pub := w.sp.Keys.Current.Certificate.PublicKey.(*rsa.PublicKey)
				if err := verifyRedirectSignature(g.RawQuery, pub); err != nil {
					t.Fatalf("signature: %v", err)
				}
				if err := verifyRedirectSignature(want.RawQuery, pub); (err == nil) != !strings.Contains(c.sso, "?") {
					t.Fatalf("crewjam's signature of %s, verified as the binding says: %v", c.sso, err)
				}
			} else if gq.Has("Signature") {
				t.Fatal("an unsigned request has a signature")
			}
		}
	}
}

// redirectSignedOctets is what an IdP verifies the signature of an HTTP-Redirect message
// against (SAML bindings §3.4.4.1): "SAMLRequest=value&RelayState=value&SigAlg=value", each
// value as it stands URL-encoded in the query it received (RelayState only when present), and
// none of the query's other parameters.
func redirectSignedOctets(rawQuery string) string {
	raw := map[string]string{}
	for _, kv := range strings.Split(rawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		raw[k] = kv
	}
	octets := raw["SAMLRequest"]
	if rs, ok := raw["RelayState"]; ok {
		octets += "&" + rs
	}
	return octets + "&" + raw["SigAlg"]
}

// verifyRedirectSignature verifies the RSA-SHA256 Signature of an HTTP-Redirect query with
// pub, as an IdP does (redirectSignedOctets).
func verifyRedirectSignature(rawQuery string, pub *rsa.PublicKey) error {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return err
	}
	if q.Get("SigAlg") != rsaSHA256 {
		return fmt.Errorf("SigAlg %q", q.Get("SigAlg"))
	}
	sig, err := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(redirectSignedOctets(rawQuery)))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

func inflateRequest(t *testing.T, b64 string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return string(x)
}

// BenchmarkNewSAMLRequest is what a SAML sign-in's start spends on its AuthnRequest (unsigned,
// as most connections send it): go test -run '^$' -bench NewSAMLRequest ./sso
func BenchmarkNewSAMLRequest(b *testing.B) {
	w := newSAMLWorld(b)
	conn := *w.conn
	conn.SAMLSignRequests = false // an RSA signature would be nine tenths of it
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	for b.Loop() {
		if _, err := NewSAMLRequest(w.sp, &conn, "id-1", "relay"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSPMetadataDoesNotExpire: the SP metadata has no validUntil, which an IdP that imports it
// once (SimpleSAMLphp's metadata converter, a pysaml2 metadata file) would take as the end of
// the registration and refuse every sign-in after it; it has a cacheDuration for the IdPs that
// fetch it.
func TestSPMetadataDoesNotExpire(t *testing.T) {
	w := newSAMLWorld(t)
	md, err := New(Options{}).SPMetadataXML(w.sp.Keys, w.sp.EntityID, w.sp.ACSURL)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(md, "validUntil") {
		t.Fatalf("the SP metadata expires:\n%s", md)
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal([]byte(md), &ed); err != nil {
		t.Fatal(err)
	}
	if ed.CacheDuration != 24*time.Hour || !ed.ValidUntil.IsZero() || ed.SPSSODescriptors[0].ValidUntil != nil {
		t.Fatalf("cacheDuration %s, validUntil %s, SPSSODescriptor validUntil %v", ed.CacheDuration, ed.ValidUntil, ed.SPSSODescriptors[0].ValidUntil)
	}
}

// TestSAMLEndpointCase: an IdP that echoes the ACS URL as an admin typed it (upper-cased
// scheme and host, the default port written out) in the Response's Destination and the
// Recipient is understood, as RFC 3986 compares those parts; a different path, query or
// host is still another endpoint.
func TestSAMLEndpointCase(t *testing.T) {
	w := newSAMLWorld(t) // its ACS is https://gh.example.com/saml/acs
	for _, c := range []struct {
		name, acs, cause string
	}{
		{name: "as published", acs: "https://gh.example.com/saml/acs"},
		{name: "upper-cased scheme and host", acs: "HTTPS://GH.EXAMPLE.COM/saml/acs"},
		{name: "mixed-case host, default port", acs: "https://Gh.Example.Com:443/saml/acs"},
		{name: "another path", acs: "HTTPS://GH.EXAMPLE.COM/SAML/ACS", cause: "Destination"},
		{name: "a query added", acs: "https://gh.example.com/saml/acs?x=1", cause: "Destination"},
		{name: "another port", acs: "https://gh.example.com:8443/saml/acs", cause: "Destination"},
		{name: "another scheme", acs: "http://gh.example.com/saml/acs", cause: "Destination"},
		{name: "another host", acs: "https://GH.EXAMPLE.NET/saml/acs", cause: "Destination"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The IdP's endpoint for the SP: the Response's Destination, the Recipient and
			// where its page posts.
			w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
				ep := *req.ACSEndpoint
				ep.Location = c.acs
				req.ACSEndpoint = &ep
				req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = c.acs
			})
			defer w.idp.Tamper(nil)
			sr, err := NewSAMLRequest(w.sp, w.conn, "", "relay")
			if err != nil {
				t.Fatal(err)
			}
			resp, page := samltest.Follow(t, http.DefaultClient, sr.URL)
			action, vals, err := samltest.Form(page)
			if err != nil || resp.StatusCode != 200 || action != c.acs {
				t.Fatalf("IdP: %d, posts to %q: %v", resp.StatusCode, action, err)
			}
			raw, _ := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
			if !strings.Contains(string(raw), `Destination="`+c.acs+`"`) {
				t.Fatalf("the response's Destination is not %s", c.acs)
			}
			r := httptest.NewRequest(http.MethodPost, w.sp.ACSURL, strings.NewReader(vals.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			login, err := CheckSAMLResponse(r, w.sp, w.conn, sr.ID)
			wantCheck(t, login, err, c.cause)
		})
	}
}

// TestSAMLRecipientCase: the Recipient alone is compared as the Destination is (a Response
// whose Destination is exact).
func TestSAMLRecipientCase(t *testing.T) {
	w := newSAMLWorld(t)
	for _, c := range []struct{ recipient, cause string }{
		{recipient: "HTTPS://GH.EXAMPLE.COM:443/saml/acs"},
		{recipient: "https://gh.example.com/Saml/acs", cause: "Recipient"},
	} {
		t.Run(c.recipient, func(t *testing.T) {
			w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
				req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = c.recipient
			})
			defer w.idp.Tamper(nil)
			sr, r := w.login(t, "relay")
			login, err := CheckSAMLResponse(r, w.sp, w.conn, sr.ID)
			wantCheck(t, login, err, c.cause)
		})
	}
}
