package sso_test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"gatehouse/sso/samltest"
)

// oaepTransport is how an IdP transports an assertion's AES key to the SP's encryption
// certificate: the EncryptionMethod it writes (Algorithm, DigestMethod, MGF, "" when left out)
// and the hashes it really uses.
type oaepTransport struct {
	algorithm, digest, mgf string
	hash, mgfHash          crypto.Hash
	// wif writes the EncryptedKey as Microsoft's WIF serializer (AD FS, Entra ID) does: a
	// default-namespace KeyInfo holding e:EncryptedKey, whose own KeyInfo names the SP
	// certificate by issuer and serial in a WS-Security SecurityTokenReference.
	wif bool
}

const (
	xmlencRSAOAEPMGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	xmlenc11RSAOAEP    = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
)

// encryptAssertion replaces the response's plain (signed) assertion by an EncryptedAssertion
// as AD FS and Okta write one: AES-256-CBC data, the EncryptedKey inside the EncryptedData's
// KeyInfo, transported to cert as kt says. The Response's own signature goes, as at an IdP that
// signs the assertion only (AD FS's default, SamlResponseSignature AssertionOnly).
func encryptAssertion(t *testing.T, doc string, cert *x509.Certificate, kt oaepTransport) string {
	t.Helper()
	doc = samltest.DropResponseSignature(doc)
	i, j := strings.Index(doc, "<saml:Assertion"), strings.Index(doc, "</saml:Assertion>")
	if i < 0 || j < 0 {
		t.Fatalf("no plain assertion in %s", doc)
	}
	j += len("</saml:Assertion>")
	plaintext := []byte(doc[i:j])

	key := make([]byte, 32)
	iv := make([]byte, aes.BlockSize)
	rand.Read(key)
	rand.Read(iv)
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	plaintext = append(plaintext, bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, len(plaintext))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(data, plaintext)
	wrapped, err := rsa.EncryptOAEPWithOptions(rand.Reader, cert.PublicKey.(*rsa.PublicKey), key,
		&rsa.OAEPOptions{Hash: kt.hash, MGFHash: kt.mgfHash})
	if err != nil {
		t.Fatal(err)
	}
	var method strings.Builder
	if kt.digest != "" {
		fmt.Fprintf(&method, `<ds:DigestMethod Algorithm="%s"/>`, kt.digest)
	}
	if kt.mgf != "" {
		fmt.Fprintf(&method, `<xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="%s"/>`, kt.mgf)
	}
	if kt.wif {
		encrypted := `<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
			`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>` +
			`<KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><e:EncryptedKey xmlns:e="http://www.w3.org/2001/04/xmlenc#">` +
			`<e:EncryptionMethod Algorithm="` + kt.algorithm + `"><DigestMethod Algorithm="` + kt.digest + `"/></e:EncryptionMethod>` +
			`<KeyInfo><o:SecurityTokenReference xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">` +
			`<X509Data><X509IssuerSerial><X509IssuerName>` + cert.Issuer.String() + `</X509IssuerName><X509SerialNumber>` + cert.SerialNumber.String() +
			`</X509SerialNumber></X509IssuerSerial></X509Data></o:SecurityTokenReference></KeyInfo>` +
			`<e:CipherData><e:CipherValue>` + base64.StdEncoding.EncodeToString(wrapped) + `</e:CipherValue></e:CipherData>` +
			`</e:EncryptedKey></KeyInfo>` +
			`<xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(append(iv, data...)) + `</xenc:CipherValue></xenc:CipherData>` +
			`</xenc:EncryptedData></saml:EncryptedAssertion>`
		return doc[:i] + encrypted + doc[j:]
	}
	encrypted := `<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
		`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>` +
		`<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>` +
		`<xenc:EncryptionMethod Algorithm="` + kt.algorithm + `">` + method.String() + `</xenc:EncryptionMethod>` +
		`<ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + base64.StdEncoding.EncodeToString(cert.Raw) + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` +
		`<xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(wrapped) + `</xenc:CipherValue></xenc:CipherData>` +
		`</xenc:EncryptedKey></ds:KeyInfo>` +
		`<xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(append(iv, data...)) + `</xenc:CipherValue></xenc:CipherData>` +
		`</xenc:EncryptedData></saml:EncryptedAssertion>`
	return doc[:i] + encrypted + doc[j:]
}

// TestSAMLSignInKeyTransports: an encrypted assertion signs the person in whichever RSA-OAEP
// the IdP transports its key with, as XML Encryption defines them and the docs promise
// ("key transport RSA-OAEP"), through the browser's real path (authorize, the IdP's POST to the
// ACS, the continuation, the code):
//
//   - AD FS and Entra ID: xmlenc#rsa-oaep-mgf1p with a SHA-1 digest, AES-256-CBC, the
//     EncryptedKey as Microsoft's WIF serializer writes it (its KeyInfo a SecurityTokenReference
//     naming the certificate by issuer and serial, as in the EncryptedData of MS-LWSSP's and the
//     Dynamics CRM SOAP samples); Okta: the same algorithms (OpenSAML's default digest);
//   - rsa-oaep-mgf1p with a SHA-256 digest as XML Encryption names it (xmlenc#sha256; the mask
//     stays MGF1 with SHA-1, XML Encryption 1.0 §5.4.2): node-xml-encryption 5 (auth0/node-samlp
//     IdPs) with keyEncryptionDigest sha256, Shibboleth or Keycloak set to digest with SHA-256.
//     crewjam knew no such URI and refused it;
//   - rsa-oaep-mgf1p with crewjam's own xmldsig#sha256 and MGF1 with SHA-256, what an IdP built
//     on crewjam's xmlenc.OAEP() (and node-xml-encryption before 5) sends: read before, still read;
//   - XML Encryption 1.1's xmlenc11#rsa-oaep, with SHA-256 and MGF1-SHA-256 (ITfoxtec.Identity.Saml2
//     4.20, ComponentSpace's RsaOaepXmlKeyEncryptionExtension), with SHA-256 and the default mask
//     (MGF1-SHA-1), and with no parameters (SHA-1 both): crewjam did not have the algorithm at all.
//
// A digest no spec defines is refused, with the failure every decryption failure gets.
func TestSAMLSignInKeyTransports(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		// The IdP sends the assertion plain, and the test encrypts it as the IdP would.
		w.idp.TrustSP(t, samltest.WithoutEncryption(w.spMetadata(t, e)))
		_, encryption := spMetadataCerts(t, e.URL)
		der, _ := base64.StdEncoding.DecodeString(encryption[0])
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		const (
			sha1URI         = "http://www.w3.org/2000/09/xmldsig#sha1"
			sha256URI       = "http://www.w3.org/2001/04/xmlenc#sha256"
			crewjamSHA256   = "http://www.w3.org/2000/09/xmldsig#sha256"
			mgf1SHA1        = "http://www.w3.org/2009/xmlenc11#mgf1sha1"
			mgf1SHA256      = "http://www.w3.org/2009/xmlenc11#mgf1sha256"
			unknownDigestOf = "http://www.w3.org/2001/04/xmldsig-more#md5"
		)
		for _, c := range []struct {
			name string
			kt   oaepTransport
			ok   bool
		}{
			{"AD FS, Entra ID (WIF): rsa-oaep-mgf1p, SHA-1", oaepTransport{xmlencRSAOAEPMGF1P, sha1URI, "", crypto.SHA1, crypto.SHA1, true}, true},
			{"Okta: rsa-oaep-mgf1p, SHA-1", oaepTransport{xmlencRSAOAEPMGF1P, sha1URI, "", crypto.SHA1, crypto.SHA1, false}, true},
			{"rsa-oaep-mgf1p, no DigestMethod", oaepTransport{xmlencRSAOAEPMGF1P, "", "", crypto.SHA1, crypto.SHA1, false}, true},
			{"rsa-oaep-mgf1p, SHA-256", oaepTransport{xmlencRSAOAEPMGF1P, sha256URI, "", crypto.SHA256, crypto.SHA1, false}, true},
			{"rsa-oaep-mgf1p, crewjam's SHA-256", oaepTransport{xmlencRSAOAEPMGF1P, crewjamSHA256, "", crypto.SHA256, crypto.SHA256, false}, true},
			{"xmlenc11 rsa-oaep, SHA-256, MGF1-SHA-256", oaepTransport{xmlenc11RSAOAEP, sha256URI, mgf1SHA256, crypto.SHA256, crypto.SHA256, false}, true},
			{"xmlenc11 rsa-oaep, SHA-256, MGF1-SHA-1", oaepTransport{xmlenc11RSAOAEP, sha256URI, mgf1SHA1, crypto.SHA256, crypto.SHA1, false}, true},
			{"xmlenc11 rsa-oaep, SHA-256, the default MGF", oaepTransport{xmlenc11RSAOAEP, sha256URI, "", crypto.SHA256, crypto.SHA1, false}, true},
			{"xmlenc11 rsa-oaep, the defaults", oaepTransport{xmlenc11RSAOAEP, "", "", crypto.SHA1, crypto.SHA1, false}, true},
			{"a digest no spec defines", oaepTransport{xmlencRSAOAEPMGF1P, unknownDigestOf, "", crypto.SHA256, crypto.SHA1, false}, false},
			{"xmlenc11 rsa-oaep, the MGF named wrongly", oaepTransport{xmlenc11RSAOAEP, sha256URI, mgf1SHA1, crypto.SHA256, crypto.SHA256, false}, false},
		} {
			b := w.browser()
			page, verifier := w.toIdP(t, b)
			resp, body := w.postEdited(t, b, e.URL, page, func(doc string) string { return encryptAssertion(t, doc, cert, c.kt) })
			q := w.appResult(t, resp, body)
			if !c.ok {
				if q.Get("error") != "access_denied" || q.Get("code") != "" {
					t.Fatalf("%s: %v", c.name, q)
				}
				continue
			}
			if q.Get("code") == "" {
				t.Fatalf("%s: %v", c.name, q)
			}
			if claims := w.exchange(t, q.Get("code"), verifier); claims["email"] != "ada@example.com" {
				t.Fatalf("%s: claims %v", c.name, claims)
			}
		}
	})
}
