package sso_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"gatehouse/sso/samltest"
)

// TestSAMLSignInSignatureWrapping is TestSAMLSignatureWrapping (in saml_xsw_test.go, which
// runs the whole battery against Check) through the ACS of a running Gatehouse, for a few of
// its attacks: a browser that started at the application posts the IdP's response as someone
// without the IdP's key edited it. Each refused one ends at the application with
// access_denied and no code, its cause in the sign-in event; the ones that are read as the
// IdP signed them sign in whom the IdP signed in. Nobody is ever signed in as the attacker.
func TestSAMLSignInSignatureWrapping(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		md := w.spMetadata(t, e)
		spCert := encryptionCertificate(t, md)
		attacker := samltest.User{NameID: "00u-eve", Email: "eve@example.com"}
		attackerKey, attackerCert, _ := samltest.NewKeyPair(t)
		ada := samltest.User{NameID: "00u-ada", Email: "ada@example.com", GivenName: "Ada", Surname: "Lovelace",
			Attributes: map[string][]string{"companyName": {"Analytical Engines"}}}
		unsigned := samltest.DropResponseSignature
		// The attacker cannot decrypt what the IdP encrypts to the SP: what they encrypt is
		// made from the plain assertion of a sign-in of theirs they kept.
		w.idp.TrustSP(t, samltest.WithoutEncryption(md))
		kept := w.keptAssertion(t)
		for _, c := range []struct {
			name  string
			plain bool
			edit  func(doc string) string
			cause string // "": signed in, as the IdP's person
			email string // signed in: the id_token's e-mail
		}{
			{name: "XSW1, Response signed", plain: true, cause: "2 Assertion and 0 EncryptedAssertion",
				edit: func(doc string) string { return samltest.XSW(1, doc, attacker) }},
			{name: "XSW3, only the assertion signed", plain: true, cause: "2 Assertion and 0 EncryptedAssertion",
				edit: func(doc string) string { return samltest.XSW(3, unsigned(doc), attacker) }},
			{name: "XSW8, only the assertion signed", plain: true, cause: "2 Assertion and 0 EncryptedAssertion",
				edit: func(doc string) string { return samltest.XSW(8, unsigned(doc), attacker) }},
			{name: "the Response takes the assertion's ID and signature", plain: true, cause: "cannot validate signature on Response",
				edit: func(doc string) string {
					return samltest.EditDoc(unsigned(doc), func(resp *etree.Element) {
						a := resp.SelectElement("Assertion")
						resp.CreateAttr("ID", a.SelectAttrValue("ID", ""))
						resp.InsertChildAt(resp.SelectElement("Status").Index(), a.SelectElement("Signature"))
						samltest.NameAs(a, attacker)
					})
				}},
			{name: "the attacker's Subject in an Object of the assertion's signature", plain: true, email: "ada@example.com",
				edit: func(doc string) string {
					return samltest.EditSignature(unsigned(doc), "Assertion", func(sig *etree.Element) {
						s := sig.CreateElement("ds:Object").CreateElement("saml:Subject")
						s.CreateAttr("xmlns:saml", "urn:oasis:names:tc:SAML:2.0:assertion")
						s.CreateElement("saml:NameID").SetText(attacker.NameID)
					})
				}},
			{name: "the Reference URI emptied", plain: true, cause: `the Assertion's signature references "", not its ID`,
				edit: func(doc string) string {
					return samltest.EditSignature(unsigned(doc), "Assertion", func(sig *etree.Element) {
						sig.FindElement("./SignedInfo/Reference").CreateAttr("URI", "")
					})
				}},
			// Signed with the IdP's key (what an IdP that signs so sends): refused by
			// ownSignature, signed in as Ada without it.
			{name: "the Reference URI emptied, signed again by the IdP", plain: true, cause: `the Assertion's signature references "", not its ID`,
				edit: func(doc string) string {
					key, _ := w.idp.SigningKey()
					return samltest.EditSignedInfo(unsigned(doc), "Assertion", key, func(sig *etree.Element) {
						sig.FindElement("./SignedInfo/Reference").CreateAttr("URI", "")
					})
				}},
			{name: "the assertion signed by the IdP in its SubjectConfirmationData, a decoy Signature its child", plain: true,
				cause: "a signature below the Assertion besides its own references it too",
				edit: func(doc string) string {
					key, cert := w.idp.SigningKey()
					doc = unsigned(doc)
					i, j := strings.Index(doc, "<saml:Assertion "), strings.Index(doc, "</saml:Assertion>")+len("</saml:Assertion>")
					return doc[:i] + samltest.SignedBelow(samltest.AssertionOf(doc), key, cert, func(root, sig *etree.Element) {
						root.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData").AddChild(sig)
					}) + doc[j:]
				}},
			{name: "an attacker's EncryptedAssertion of an unsigned assertion, Response signature removed",
				cause: "signature element not present", edit: func(doc string) string {
					return samltest.ReplaceEncryptedAssertion(unsigned(doc), spCert, samltest.UnsignedAs(kept, attacker))
				}},
			{name: "an attacker's EncryptedAssertion signed with their own key and certificate",
				cause: "Could not verify certificate against trusted certs", edit: func(doc string) string {
					return samltest.ReplaceEncryptedAssertion(unsigned(doc), spCert, samltest.SignedAs(kept, attacker, attackerKey, attackerCert))
				}},
		} {
			t.Run(c.name, func(t *testing.T) {
				if c.plain {
					w.idp.TrustSP(t, samltest.WithoutEncryption(md))
				} else {
					w.idp.TrustSP(t, md)
				}
				accounts, failures := w.count(t, "user_accounts"), w.failures(t)
				b := w.browser()
				page, verifier := w.toIdP(t, b)
				edited := false
				resp, body := w.postEdited(t, b, e.URL, page, func(doc string) string {
					out := c.edit(doc)
					edited = out != doc
					return out
				})
				if !edited {
					t.Fatal("the edit changed nothing")
				}
				q := w.appResult(t, resp, body)
				if c.cause == "" {
					claims := w.exchange(t, q.Get("code"), verifier)
					if claims["email"] != c.email {
						t.Fatalf("claims %v, want %s signed in", claims, c.email)
					}
					return
				}
				if q.Get("error") != "access_denied" || q.Get("code") != "" ||
					q.Get("error_description") != "The identity provider's response could not be accepted." {
					t.Fatalf("refusal: %v", q)
				}
				if n := w.failures(t); n != failures+1 || !strings.Contains(w.lastCause(t), c.cause) {
					t.Fatalf("%d failed events, %d before; the last's cause %q, want one naming %q", n, failures, w.lastCause(t), c.cause)
				}
				if n := w.count(t, "user_accounts"); n != accounts {
					t.Fatalf("%d accounts, %d before", n, accounts)
				}
			})
		}

		// CVE-2017-11427: someone whose identifier and address at the IdP begin with Ada's
		// puts comments after Ada's part. The comments do not count in the signature, and the
		// text is read whole: they are not Ada (her binding, or her verified address).
		t.Run("comments in the NameID and the e-mail attributes", func(t *testing.T) {
			w.idp.TrustSP(t, samltest.WithoutEncryption(md))
			b := w.browser()
			page, verifier := w.toIdP(t, b)
			resp, body := w.post(t, b, e.URL, page)
			adaSub := w.exchange(t, w.appResult(t, resp, body).Get("code"), verifier)["sub"]

			w.idp.SignIn(samltest.User{NameID: "00u-ada.evil.com", Email: "ada@example.com.evil.com", GivenName: "Eve", Surname: "Suffix"})
			defer w.idp.SignIn(ada)
			b = w.browser()
			page, verifier = w.toIdP(t, b)
			resp, body = w.postEdited(t, b, e.URL, page, func(doc string) string {
				for old, new := range map[string]string{
					">00u-ada.evil.com</saml:NameID>":                ">00u-ada<!---->.evil.com</saml:NameID>",
					`xsi:type="xs:string">ada@example.com.evil.com<`: `xsi:type="xs:string">ada@example.com<!-- -->.evil.com<`,
				} {
					if !strings.Contains(doc, old) {
						t.Fatalf("no %q in the response", old)
					}
					doc = strings.ReplaceAll(doc, old, new)
				}
				return doc
			})
			q := w.appResult(t, resp, body)
			if q.Get("code") == "" {
				t.Fatalf("no code: %v", q)
			}
			if claims := w.exchange(t, q.Get("code"), verifier); claims["sub"] == adaSub || claims["sign_in"] != "provisioned" ||
				claims["email"] != "ada@example.com.evil.com" {
				t.Fatalf("signed in %v; Ada is %v", claims, adaSub)
			}
		})
		// A connection that follows its IdP's metadata reads it again after a signature fails
		// (RefreshSAMLCertificatesAfterFailure), and checks the response again if the
		// certificates changed: the metadata names the IdP's certificate, never the one the
		// response carries in its KeyInfo, and the response is refused all the same.
		t.Run("signed with the attacker's key, on a connection that follows its IdP's metadata", func(t *testing.T) {
			cfg, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"metadataUrl": w.idp.EntityID, "refreshCertificatesFromMetadata": true}})
			e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(cfg)).Must(t, 200)
			w.activate(w.conn, "")
			w.idp.TrustSP(t, samltest.WithoutEncryption(md))
			before := w.samlConfig(t)
			certificate := before["certificate"]
			if before["metadataCheckedAt"] != nil {
				t.Fatalf("the metadata read already: %v", before)
			}
			accounts, failures := w.count(t, "user_accounts"), w.failures(t)
			b := w.browser()
			page, _ := w.toIdP(t, b)
			resp, body := w.postEdited(t, b, e.URL, page, func(doc string) string {
				doc = unsigned(doc)
				i, j := strings.Index(doc, "<saml:Assertion "), strings.Index(doc, "</saml:Assertion>")+len("</saml:Assertion>")
				return doc[:i] + samltest.SignedAs(samltest.AssertionOf(doc), attacker, attackerKey, attackerCert) + doc[j:]
			})
			if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" || q.Get("code") != "" {
				t.Fatalf("refusal: %v", q)
			}
			if n, cause := w.failures(t), w.lastCause(t); n != failures+1 || !strings.Contains(cause, "Could not verify certificate against trusted certs") {
				t.Fatalf("%d failed events, %d before; the last's cause %q", n, failures, cause)
			}
			if n := w.count(t, "user_accounts"); n != accounts {
				t.Fatalf("%d accounts, %d before", n, accounts)
			}
			if after := w.samlConfig(t); after["certificate"] != certificate || certificate == nil || after["metadataCheckedAt"] == nil {
				t.Fatalf("after the failure: %v (the certificate was %v, the metadata to be read)", after, certificate)
			}
			w.signsIn(t) // the IdP's own responses still sign Ada in
		})

		// Ada (00u-ada) and the person of the comments (00u-ada.evil.com), each bound once; no
		// credential, account or successful sign-in of the attacker's.
		for _, q := range []struct {
			sql  string
			want int
		}{
			{"SELECT count(*) FROM credentials WHERE identifier_key IN ('00u-eve', 'eve@example.com')", 0},
			{"SELECT count(*) FROM user_accounts WHERE lower(email) = 'eve@example.com'", 0},
			{"SELECT count(*) FROM sign_in_events WHERE outcome <> 'failed' AND lower(identifier) IN ('00u-eve', 'eve@example.com')", 0},
			{"SELECT count(*) FROM credentials WHERE identifier_key = '00u-ada'", 1},
			{"SELECT count(*) FROM credentials WHERE identifier_key = '00u-ada.evil.com'", 1},
			{"SELECT count(*) FROM user_accounts", 2},
		} {
			var n int
			if err := e.App.Store().RawScan(context.Background(), &n, q.sql); err != nil || n != q.want {
				t.Fatalf("%s: %d (%v), want %d", q.sql, n, err, q.want)
			}
		}
	})
}

// keptAssertion is the plain assertion of a response the IdP makes now for a sign-in at the
// application that goes no further: what someone keeps of a sign-in of theirs, to edit and
// encrypt to the SP later.
// failures counts the failed sign-in events.
func (w *samlWorld) failures(t *testing.T) int {
	t.Helper()
	var n int
	if err := w.e.App.Store().RawScan(context.Background(), &n, "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'"); err != nil {
		t.Fatal(err)
	}
	return n
}

func (w *samlWorld) keptAssertion(t *testing.T) string {
	t.Helper()
	page, _ := w.toIdP(t, w.browser())
	_, vals, err := samltest.Form(page)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	if strings.Contains(string(raw), "EncryptedAssertion") {
		t.Fatal("the IdP encrypted its assertion")
	}
	return samltest.AssertionOf(string(raw))
}

// encryptionCertificate is the use="encryption" certificate of SP metadata md.
func encryptionCertificate(t *testing.T, md []byte) *x509.Certificate {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(md); err != nil {
		t.Fatal(err)
	}
	for _, kd := range d.FindElements("//KeyDescriptor") {
		if kd.SelectAttrValue("use", "") != "encryption" {
			continue
		}
		c := kd.FindElement(".//X509Certificate")
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.Text()))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	t.Fatal("no encryption certificate in the SP metadata")
	return nil
}
