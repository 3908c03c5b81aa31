package main

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/sso"
)

// The lean bench IdP writes its signed assertion from a template. These tests prove it
// equivalent to a real signer (goxmldsig, which crewjam's IdP uses) and accepted, untampered
// only, by the server's own check (sso.CheckSAMLResponse), so that the bench measures the
// server doing exactly the work a real IdP's response costs it.

type idpWorld struct {
	idp  *samlIdP
	sp   *provision.SAMLSP
	conn *models.Connection
	who  samlUser
}

func newIdPWorld(t testing.TB) *idpWorld {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	w := &idpWorld{idp: newSAMLIdP(),
		sp: &provision.SAMLSP{EntityID: "https://gh.example.com/saml/metadata", ACSURL: "https://gh.example.com/saml/acs",
			Keys: provision.SPKeys{Current: provision.SPKeyPair{Key: key, Certificate: cert}}},
		who: samlUser{NameID: "user-7", Email: "user7@example.com", GivenName: "Bench & <Co>", Surname: `User "7"`}}
	w.idp.spEntityID, w.idp.spACS = w.sp.EntityID, w.sp.ACSURL
	w.conn = &models.Connection{ID: [16]byte{1}, Protocol: models.ProtocolSAML, SAMLEntityID: w.idp.entityID,
		SAMLSSOURL: w.idp.ssoURL, SAMLCertificate: w.idp.certPEM,
		SAMLAttributeMapping: `{"email":"urn:oid:0.9.2342.19200300.100.1.3","firstName":"urn:oid:2.5.4.42","lastName":"urn:oid:2.5.4.4"}`}
	return w
}

// login makes the server's AuthnRequest and lets the IdP answer it: the request ID and the ACS POST.
func (w *idpWorld) login(t testing.TB) (string, url.Values) {
	t.Helper()
	req, err := sso.NewSAMLRequest(w.sp, w.conn, "", "relay-1")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(req.URL)
	acs, form, err := w.idp.answer(u, w.who)
	if err != nil {
		t.Fatal(err)
	}
	if acs != w.sp.ACSURL || form.Get("RelayState") != "relay-1" {
		t.Fatalf("answer to %s with RelayState %q", acs, form.Get("RelayState"))
	}
	return req.ID, form
}

func (w *idpWorld) check(requestID string, form url.Values) (*sso.SAMLLogin, error) {
	r := httptest.NewRequest("POST", w.sp.ACSURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return sso.CheckSAMLResponse(r, w.sp, w.conn, requestID)
}

func TestLeanIdPResponseAccepted(t *testing.T) {
	w := newIdPWorld(t)
	id, form := w.login(t)
	login, err := w.check(id, form)
	if err != nil {
		t.Fatalf("the server refused the lean IdP's response: %v", err)
	}
	got := login.Identity
	if got.Identifier != w.who.NameID || got.Email != w.who.Email || got.FirstName != w.who.GivenName || got.LastName != w.who.Surname {
		t.Fatalf("identity %+v, want %+v", got, w.who)
	}
	if login.AssertionID == "" {
		t.Fatal("no assertion ID")
	}
}

// TestLeanIdPEncryptedResponseAccepted: with encryptTo set the assertion goes encrypted to
// the SP's key, and the server's check decrypts and accepts it.
func TestLeanIdPEncryptedResponseAccepted(t *testing.T) {
	w := newIdPWorld(t)
	w.idp.encryptTo = w.sp.Keys.Current.Certificate
	id, form := w.login(t)
	raw, _ := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
	if !strings.Contains(string(raw), "<saml:EncryptedAssertion") || strings.Contains(string(raw), "user7@example.com") {
		t.Fatal("the assertion is not encrypted")
	}
	login, err := w.check(id, form)
	if err != nil {
		t.Fatalf("the server refused the lean IdP's encrypted response: %v", err)
	}
	if got := login.Identity; got.Identifier != w.who.NameID || got.Email != w.who.Email {
		t.Fatalf("identity %+v, want %+v", got, w.who)
	}
}

// TestLeanIdPLoadsTheSP: loadSP reads the SP metadata as the server serves it: the entity ID,
// the HTTP-POST ACS and, with encrypt, the use="encryption" certificate.
func TestLeanIdPLoadsTheSP(t *testing.T) {
	w := newIdPWorld(t)
	md, err := sso.New(sso.Options{}).SPMetadataXML(w.sp.Keys, w.sp.EntityID, w.sp.ACSURL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.Write([]byte(md)) }))
	defer srv.Close()
	idp := newSAMLIdP()
	idp.encrypt = true
	if err := idp.loadSP(srv.URL); err != nil {
		t.Fatal(err)
	}
	if idp.spEntityID != w.sp.EntityID || idp.spACS != w.sp.ACSURL || idp.encryptTo == nil || !idp.encryptTo.Equal(w.sp.Keys.Current.Certificate) {
		t.Fatalf("loaded %q %q, encryption certificate %v", idp.spEntityID, idp.spACS, idp.encryptTo != nil)
	}
}

func TestLeanIdPTamperedResponseRefused(t *testing.T) {
	w := newIdPWorld(t)
	for name, tamper := range map[string]func(doc string) string{
		"attribute value": func(doc string) string { return strings.Replace(doc, "user7@example.com", "admin@example.com", 1) },
		"NameID":          func(doc string) string { return strings.Replace(doc, ">user-7<", ">user-8<", 1) },
		"audience": func(doc string) string {
			return strings.Replace(doc, "<saml:Audience>https://gh", "<saml:Audience>https://other", 1)
		},
		"signature value": func(doc string) string {
			i := strings.Index(doc, "<ds:SignatureValue>") + len("<ds:SignatureValue>")
			c := "A"
			if doc[i] == 'A' {
				c = "B"
			}
			return doc[:i] + c + doc[i+1:]
		},
		"signature removed": func(doc string) string {
			return doc[:strings.Index(doc, "<ds:Signature ")] + doc[strings.Index(doc, "</ds:Signature>")+len("</ds:Signature>"):]
		},
	} {
		t.Run(name, func(t *testing.T) {
			id, form := w.login(t)
			raw, _ := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
			changed := tamper(string(raw))
			if changed == string(raw) {
				t.Fatal("the tamper changed nothing")
			}
			form.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(changed)))
			if _, err := w.check(id, form); err == nil {
				t.Fatal("a tampered response was accepted")
			}
		})
	}
	t.Run("another request", func(t *testing.T) {
		_, form := w.login(t)
		other, _ := w.login(t)
		if _, err := w.check(other, form); err == nil {
			t.Fatal("a response to another request was accepted")
		}
	})
}

// TestLeanIdPSignatureIsGoxmldsigs signs the IdP's assertion again with goxmldsig (enveloped,
// exclusive c14n, RSA-SHA256): digest and signature value must be byte-identical (PKCS #1 v1.5
// signatures are deterministic), so the template is canonical XML.
func TestLeanIdPSignatureIsGoxmldsigs(t *testing.T) {
	w := newIdPWorld(t)
	raw := w.idp.response("_req1", w.sp.EntityID, w.sp.ACSURL, w.who, time.Now())
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	assertion := doc.FindElement("/Response/Assertion")
	sig := assertion.FindElement("./Signature")
	want := map[string]string{"DigestValue": sig.FindElement(".//DigestValue").Text(), "SignatureValue": sig.FindElement("./SignatureValue").Text()}
	assertion.RemoveChild(sig)
	ctx, err := dsig.NewSigningContext(w.idp.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(assertion.Copy())
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range want {
		if got := signed.FindElement(".//" + name).Text(); got != v {
			t.Errorf("%s: goxmldsig %s, lean IdP %s", name, got, v)
		}
	}
}

// TestLeanIdPReadsTheRequest: the IdP answers only the SP it knows, at its registered ACS.
func TestLeanIdPReadsTheRequest(t *testing.T) {
	w := newIdPWorld(t)
	deflate := func(xml string) string {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, 1)
		fw.Write([]byte(xml))
		fw.Close()
		return base64.StdEncoding.EncodeToString(b.Bytes())
	}
	for name, req := range map[string]string{
		"unknown SP":  `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://evil.example.com</saml:Issuer></samlp:AuthnRequest>`,
		"another ACS": `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" AssertionConsumerServiceURL="https://evil.example.com/acs"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">https://gh.example.com/saml/metadata</saml:Issuer></samlp:AuthnRequest>`,
	} {
		u := &url.URL{Scheme: "http", Host: "127.0.0.1:9", Path: "/idp/sso", RawQuery: url.Values{"SAMLRequest": {deflate(req)}}.Encode()}
		if _, _, err := w.idp.answer(u, w.who); err == nil {
			t.Errorf("%s: answered", name)
		}
	}
}

// BenchmarkCheckSAMLResponse is the server's check of one lean-IdP response (what the ACS
// spends on the XML), for profiling: go test -bench CheckSAML -cpuprofile … ./bench/signin
func BenchmarkCheckSAMLResponse(b *testing.B) {
	w := newIdPWorld(b)
	id, form := w.login(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.check(id, form); err != nil {
			b.Fatal(err)
		}
	}
}
