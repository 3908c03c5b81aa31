package sso

import (
	"crypto/x509"
	"testing"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"

	"gatehouse/sso/samltest"
)

// encryptedNameID returns an edit that replaces the assertion's NameID by an EncryptedID of
// plaintext encrypted to cert with e (the EncryptedKey in the EncryptedData's KeyInfo, as
// SimpleSAMLphp's nameid.encryption and Shibboleth's encryptNameIDs send it).
func encryptedNameID(t *testing.T, cert *x509.Certificate, e xmlenc.RSA, plaintext string) func(*etree.Element) {
	return func(el *etree.Element) {
		subject := el.FindElement("./Subject")
		nameID := subject.FindElement("./NameID")
		subject.InsertChildAt(nameID.Index(), newEncryptedID(t, cert, e, plaintext))
		subject.RemoveChild(nameID)
	}
}

// newEncryptedID is an EncryptedID of plaintext encrypted to cert with e (the EncryptedKey in
// the EncryptedData's KeyInfo). The edits run on the IdP's goroutine: an encryption that fails
// marks the test failed (t.Error) and leaves the EncryptedID empty.
func newEncryptedID(t *testing.T, cert *x509.Certificate, e xmlenc.RSA, plaintext string) *etree.Element {
	data, err := e.Encrypt(cert, []byte(plaintext), nil)
	if err != nil {
		t.Error(err)
		return etree.NewElement("saml:EncryptedID")
	}
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	encryptedID := etree.NewElement("saml:EncryptedID")
	encryptedID.AddChild(data)
	return encryptedID
}

// confirmationEncryptedID returns an edit that moves the person's NameID out of the Subject and
// puts an EncryptedID of plaintext, encrypted to cert with e, in its SubjectConfirmation, where
// SAML core §2.4.1.1 lets it name the party that may present the assertion (the attesting
// entity), who is not the person.
func confirmationEncryptedID(t *testing.T, cert *x509.Certificate, e xmlenc.RSA, plaintext string) func(*etree.Element) {
	return func(el *etree.Element) {
		subject := el.FindElement("./Subject")
		subject.RemoveChild(subject.FindElement("./NameID"))
		subject.FindElement("./SubjectConfirmation").InsertChildAt(0, newEncryptedID(t, cert, e, plaintext))
	}
}

// TestSAMLEncryptedNameID: an assertion whose Subject carries an EncryptedID instead of a
// NameID (SAML core §2.4.1, §2.2.4) signs the person in by the decrypted NameID; one
// Gatehouse cannot decrypt, or whose plaintext is no NameID, is refused saying so, and one
// elsewhere in the assertion names nobody.
func TestSAMLEncryptedNameID(t *testing.T) {
	w := newSAMLWorld(t)
	_, otherCert, _ := samltest.NewKeyPair(t)
	spCert := w.sp.Keys.Current.Certificate
	oaep := xmlenc.OAEP()
	oaep.BlockCipher = xmlenc.AES128CBC
	oaep.DigestMethod = &xmlenc.SHA1
	pkcs1 := xmlenc.PKCS1v15()
	pkcs1.BlockCipher = xmlenc.AES128CBC
	const persistent = `<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">00u1ada</saml:NameID>`
	cases := []struct {
		name, cause string
		edit        func(*etree.Element)
	}{
		{name: "a persistent NameID, encrypted", edit: encryptedNameID(t, spCert, oaep, persistent)},
		{name: "a transient NameID, encrypted", cause: "transient", edit: encryptedNameID(t, spCert, oaep,
			`<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">00u1ada</saml:NameID>`)},
		{name: "encrypted to another certificate", cause: "EncryptedID", edit: encryptedNameID(t, otherCert, oaep, persistent)},
		{name: "its key transported with RSA PKCS#1 v1.5", cause: "PKCS#1 v1.5", edit: encryptedNameID(t, spCert, pkcs1, persistent)},
		{name: "a plaintext that is no NameID", cause: "not a NameID", edit: encryptedNameID(t, spCert, oaep,
			`<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">00u1ada</saml:Issuer>`)},
		{name: "a NameID in no namespace", cause: "not a NameID", edit: encryptedNameID(t, spCert, oaep, `<NameID>00u1ada</NameID>`)},
		// Only the Subject's own EncryptedID names the person: one in a SubjectConfirmation
		// names the presenter, and taken for the person it would sign the presenter in.
		{name: "an EncryptedID in the SubjectConfirmation, none in the Subject", cause: "no NameID",
			edit: confirmationEncryptedID(t, spCert, oaep, persistent)},
		// The Subject names the person once: beside a NameID, or twice, an EncryptedID is refused
		// rather than one of them guessed.
		{name: "an EncryptedID beside the NameID", cause: "names the person more than once", edit: func(el *etree.Element) {
			nameID := el.FindElement("./Subject/NameID").Copy()
			encryptedNameID(t, spCert, oaep, persistent)(el)
			subject := el.FindElement("./Subject")
			subject.InsertChildAt(0, nameID)
		}},
		{name: "two EncryptedIDs", cause: "names the person more than once", edit: func(el *etree.Element) {
			encryptedNameID(t, spCert, oaep, persistent)(el)
			subject := el.FindElement("./Subject")
			subject.InsertChildAt(0, subject.FindElement("./EncryptedID").Copy())
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w.idp.EditAssertion(c.edit)
			defer w.idp.EditAssertion(nil)
			sr, r := w.login(t, "relay")
			login, err := CheckSAMLResponse(r, w.sp, w.conn, sr.ID)
			wantCheck(t, login, err, c.cause)
			if c.cause == "" {
				if login.Identity.Email != "ada@example.com" {
					t.Fatalf("identity %+v", login.Identity)
				}
			}
		})
	}
}
