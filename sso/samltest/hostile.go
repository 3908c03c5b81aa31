package samltest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
)

// Edits of a response document (the decoded SAMLResponse of an IdP's page), for tests and
// benchmarks of what a hostile POST to the ACS may cost: a response made by anyone, around or
// beside what this IdP signed. Each edit panics when the document has not the shape it edits,
// so that a test cannot pass on an edit that changed nothing.

var responseSignature = regexp.MustCompile(`(?s)<ds:Signature .*?</ds:Signature>`)

// DropResponseSignature removes the Response's signature (its first ds:Signature, after its
// Issuer): crewjam then reads the assertions, which must be signed themselves.
func DropResponseSignature(doc string) string {
	loc := responseSignature.FindStringIndex(doc)
	if loc == nil || !strings.HasPrefix(doc, "<samlp:Response ") || strings.Index(doc, "<saml:Issuer") > loc[0] {
		panic("samltest: no Response signature")
	}
	return doc[:loc[0]] + doc[loc[1]:]
}

// DropAssertion removes the response's assertion, plain or encrypted: what is left is what
// anyone may send without having signed in at the IdP.
func DropAssertion(doc string) string {
	for _, tag := range []string{"saml:EncryptedAssertion", "saml:Assertion"} {
		i, j := strings.Index(doc, "<"+tag), strings.Index(doc, "</"+tag+">")
		if i >= 0 && j >= 0 {
			return doc[:i] + doc[j+len("</"+tag+">"):]
		}
	}
	panic("samltest: no assertion")
}

// insertBeforeStatus puts s in the Response before its Status.
func insertBeforeStatus(doc, s string) string {
	i := strings.Index(doc, "<samlp:Status")
	if i < 0 {
		panic("samltest: no Status")
	}
	return doc[:i] + s + doc[i:]
}

// Markup puts n copies of markup (a comment, a CDATA section: no element) in a
// samlp:Extensions of the Response.
func Markup(markup string) func(doc string, n int) string {
	return func(doc string, n int) string {
		return insertBeforeStatus(doc, "<samlp:Extensions>"+strings.Repeat(markup, n)+"</samlp:Extensions>")
	}
}

// Nest puts depth nested elements in a samlp:Extensions of the Response.
func Nest(doc string, depth int) string {
	return insertBeforeStatus(doc, "<samlp:Extensions>"+strings.Repeat("<a>", depth)+strings.Repeat("</a>", depth)+"</samlp:Extensions>")
}

// Attributes puts n attributes in a samlp:Extensions of the Response, perElement to an
// element.
func Attributes(doc string, n, perElement int) string {
	var b strings.Builder
	b.WriteString("<samlp:Extensions>")
	for i := range n {
		if i%perElement == 0 {
			if i > 0 {
				b.WriteString("/>")
			}
			b.WriteString("<a")
		}
		fmt.Fprintf(&b, ` a%d=""`, i)
	}
	if n > 0 {
		b.WriteString("/>")
	}
	return insertBeforeStatus(doc, b.String()+"</samlp:Extensions>")
}

// Spread puts n empty sibling elements in a samlp:Extensions of the Response.
func Spread(doc string, n int) string {
	return insertBeforeStatus(doc, "<samlp:Extensions>"+strings.Repeat("<a/>", n)+"</samlp:Extensions>")
}

// Namespaces declares n unused namespace prefixes on the Response: every element is in
// their scope, and the signature check copies what is in scope at each element it walks.
func Namespaces(doc string, n int) string {
	i := strings.Index(doc, "<samlp:Response")
	if i < 0 {
		panic("samltest: no Response")
	}
	i += len("<samlp:Response")
	var b strings.Builder
	for k := range n {
		fmt.Fprintf(&b, ` xmlns:p%d="u"`, k)
	}
	return doc[:i] + b.String() + doc[i:]
}

// DecoySignatures puts n empty ds:Signature elements in a samlp:Extensions of the Response:
// the signature check reads every Signature under the element it checks.
func DecoySignatures(doc string, n int) string {
	decoy := `<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:SignedInfo><ds:SignatureValue/></ds:Signature>`
	return insertBeforeStatus(doc, "<samlp:Extensions>"+strings.Repeat(decoy, n)+"</samlp:Extensions>")
}

// SecondAssertion puts a copy of the response's plain assertion, its NameID changed to nameID
// (so its signature no longer verifies), before the assertion.
func SecondAssertion(doc, nameID string) string {
	i, j := strings.Index(doc, "<saml:Assertion "), strings.Index(doc, "</saml:Assertion>")
	if i < 0 || j < 0 {
		panic("samltest: no plain assertion")
	}
	a := doc[i : j+len("</saml:Assertion>")]
	evil := regexp.MustCompile(`(<saml:NameID[^>]*>)[^<]*<`).ReplaceAllString(a, "${1}"+nameID+"<")
	if evil == a {
		panic("samltest: no NameID")
	}
	return doc[:i] + evil + doc[i:]
}

// encryptedKey is an EncryptedKey of random ciphertext, RSA-OAEP with a 2048-bit key's
// length: decrypting it costs the SP one RSA private-key operation, and fails.
func encryptedKey() string {
	c := make([]byte, 256)
	_, _ = rand.Read(c)
	return `<xenc:EncryptedKey xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>` +
		`<xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(c) + `</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>`
}

// EncryptedAssertions puts n EncryptedAssertions, each with one EncryptedKey of random
// ciphertext, in the Response before its Status.
func EncryptedAssertions(doc string, n int) string {
	var b strings.Builder
	for range n {
		fmt.Fprintf(&b, `<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">`+
			`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">%s</ds:KeyInfo>`+
			`<xenc:CipherData><xenc:CipherValue>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>`, encryptedKey())
	}
	return insertBeforeStatus(doc, b.String())
}

// EncryptedKeys puts n more EncryptedKeys of random ciphertext after the first EncryptedKey of
// the response's encrypted assertion.
func EncryptedKeys(doc string, n int) string {
	i := strings.Index(doc, "</xenc:EncryptedKey>")
	if i < 0 {
		panic("samltest: no EncryptedKey")
	}
	i += len("</xenc:EncryptedKey>")
	return doc[:i] + strings.Repeat(encryptedKey(), n) + doc[i:]
}

// EncryptedNest returns an edit that replaces the response's EncryptedAssertion with one
// encrypted to cert (the SP's, which its metadata publishes: anyone may encrypt to it) whose
// plaintext is an assertion holding depth nested elements, as crewjam's IdP encrypts.
func EncryptedNest(cert *x509.Certificate) func(doc string, depth int) string {
	return func(doc string, depth int) string {
		return ReplaceEncryptedAssertion(doc, cert, `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">`+
			strings.Repeat("<a>", depth)+strings.Repeat("</a>", depth)+`</saml:Assertion>`)
	}
}

// ReplaceEncryptedAssertion replaces the response's EncryptedAssertion with plaintext
// encrypted to cert as crewjam's IdP encrypts (RSA-OAEP, AES-128-CBC, the EncryptedKey in the
// EncryptedData's KeyInfo).
func ReplaceEncryptedAssertion(doc string, cert *x509.Certificate, plaintext string) string {
	e := xmlenc.OAEP()
	e.BlockCipher = xmlenc.AES128CBC
	e.DigestMethod = &xmlenc.SHA1
	return replaceEncryptedAssertion(doc, cert, plaintext, e)
}

// Reencrypt returns an edit that decrypts the response's EncryptedAssertion with the SP's key
// and encrypts the same assertion (its signature intact) to cert again, its key transported
// with RSA PKCS#1 v1.5 (xmlenc#rsa-1_5) when pkcs1v15, else as crewjam's IdP does (RSA-OAEP,
// AES-128-CBC).
func Reencrypt(key *rsa.PrivateKey, cert *x509.Certificate, pkcs1v15 bool) func(doc string) string {
	e := xmlenc.OAEP()
	e.BlockCipher = xmlenc.AES128CBC
	e.DigestMethod = &xmlenc.SHA1
	if pkcs1v15 {
		e = xmlenc.PKCS1v15()
		e.BlockCipher = xmlenc.AES128CBC
	}
	return ReencryptWith(key, cert, e)
}

// ReencryptGCM is Reencrypt with AES-GCM and a key of keySize bytes (16 or 32; XML Encryption
// 1.1: the 96-bit nonce, then the ciphertext and its tag), the key transported with RSA-OAEP.
// crewjam's GCM encrypter is broken (it seals zeros, and drops the nonce), so the data is sealed
// here, in an encryption crewjam made whose key is replaced.
func ReencryptGCM(key *rsa.PrivateKey, cert *x509.Certificate, keySize int) func(doc string) string {
	return func(doc string) string {
		doc = Reencrypt(key, cert, false)(doc)
		d := etree.NewDocument()
		if err := d.ReadFromString(doc); err != nil {
			panic(err)
		}
		data := d.FindElement("//EncryptedAssertion/EncryptedData")
		plaintext, err := xmlenc.Decrypt(key, data)
		if err != nil {
			panic(err)
		}
		aesKey := make([]byte, keySize)
		rand.Read(aesKey)
		wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, cert.PublicKey.(*rsa.PublicKey), aesKey, nil)
		if err != nil {
			panic(err)
		}
		data.FindElement("./KeyInfo/EncryptedKey/CipherData/CipherValue").SetText(base64.StdEncoding.EncodeToString(wrapped))
		block, err := aes.NewCipher(aesKey)
		if err != nil {
			panic(err)
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			panic(err)
		}
		nonce := make([]byte, gcm.NonceSize())
		rand.Read(nonce)
		data.FindElement("./EncryptionMethod").CreateAttr("Algorithm", fmt.Sprintf("http://www.w3.org/2009/xmlenc11#aes%d-gcm", 8*keySize))
		data.FindElement("./CipherData/CipherValue").SetText(base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, plaintext, nil)))
		out, err := d.WriteToString()
		if err != nil {
			panic(err)
		}
		return out
	}
}

// ReencryptWith is Reencrypt with the key transport and block cipher of e.
func ReencryptWith(key *rsa.PrivateKey, cert *x509.Certificate, e xmlenc.RSA) func(doc string) string {
	return func(doc string) string {
		d := etree.NewDocument()
		if err := d.ReadFromString(doc); err != nil {
			panic(err)
		}
		data := d.FindElement("//EncryptedAssertion/EncryptedData")
		if data == nil {
			panic("samltest: no EncryptedData")
		}
		plaintext, err := xmlenc.Decrypt(key, data)
		if err != nil {
			panic(err)
		}
		return replaceEncryptedAssertion(doc, cert, string(plaintext), e)
	}
}

func replaceEncryptedAssertion(doc string, cert *x509.Certificate, plaintext string, e xmlenc.RSA) string {
	return withEncryptedAssertion(doc, encryptedAssertion(cert, plaintext, e))
}

// withEncryptedAssertion is doc with its EncryptedAssertion replaced by ea.
func withEncryptedAssertion(doc, ea string) string {
	i, j := strings.Index(doc, "<saml:EncryptedAssertion"), strings.Index(doc, "</saml:EncryptedAssertion>")
	if i < 0 || j < 0 {
		panic("samltest: no EncryptedAssertion")
	}
	return doc[:i] + ea + doc[j+len("</saml:EncryptedAssertion>"):]
}

// EncryptedAssertion is a saml:EncryptedAssertion element (its prefix declared by the
// Response it goes in) of plaintext encrypted to cert as crewjam's IdP encrypts: what anyone
// may make with the SP's published encryption certificate.
func EncryptedAssertion(cert *x509.Certificate, plaintext string) string {
	e := xmlenc.OAEP()
	e.BlockCipher = xmlenc.AES128CBC
	e.DigestMethod = &xmlenc.SHA1
	return encryptedAssertion(cert, plaintext, e)
}

func encryptedAssertion(cert *x509.Certificate, plaintext string, e xmlenc.RSA) string {
	data, err := e.Encrypt(cert, []byte(plaintext), nil)
	if err != nil {
		panic(err)
	}
	return encryptedAssertionOf(data)
}

// encryptedAssertionOf is a saml:EncryptedAssertion element holding the EncryptedData data.
func encryptedAssertionOf(data *etree.Element) string {
	data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
	ea := etree.NewElement("saml:EncryptedAssertion")
	ea.AddChild(data)
	d := etree.NewDocument()
	d.SetRoot(ea)
	s, err := d.WriteToString()
	if err != nil {
		panic(err)
	}
	return s
}

// EncryptedKeysIn is EncryptedKeys with as many keys as fit in a form of size bytes (the
// SAMLResponse field, base64 and form-encoded).
func EncryptedKeysIn(doc string, size int) string { return fill(doc, size, EncryptedKeys) }

// EncryptedAssertionsIn is EncryptedAssertions with as many as fit in a form of size bytes.
func EncryptedAssertionsIn(doc string, size int) string { return fill(doc, size, EncryptedAssertions) }

// MarkupIn is Markup with as many copies as fit in a form of size bytes.
func MarkupIn(doc, markup string, size int) string { return fill(doc, size, Markup(markup)) }

// NestIn is Nest as deep as fits in a form of size bytes.
func NestIn(doc string, size int) string { return fill(doc, size, Nest) }

// AttributesIn is Attributes with as many as fit in a form of size bytes.
func AttributesIn(doc string, perElement, size int) string {
	return fill(doc, size, func(doc string, n int) string { return Attributes(doc, n, perElement) })
}

// DecoySignaturesIn is DecoySignatures with as many as fit in a form of size bytes.
func DecoySignaturesIn(doc string, size int) string { return fill(doc, size, DecoySignatures) }

// SpreadIn is Spread with as many elements as fit in a form of size bytes.
func SpreadIn(doc string, size int) string { return fill(doc, size, Spread) }

// EncryptedNestIn is EncryptedNest as deep as fits in a form of size bytes.
func EncryptedNestIn(doc string, cert *x509.Certificate, size int) string {
	return fill(doc, size, EncryptedNest(cert))
}

// fill applies edit with the largest n whose result's form field fits in size bytes.
func fill(doc string, size int, edit func(string, int) string) string {
	fits := func(n int) bool { return FormSize(edit(doc, n)) <= size }
	lo, hi := 0, 1
	for fits(hi) {
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return edit(doc, lo)
}

// FormSize is the size of "SAMLResponse=<doc, base64, form-encoded>".
func FormSize(doc string) int {
	b64 := base64.StdEncoding.EncodeToString([]byte(doc))
	return len("SAMLResponse=") + len(b64) + 2*(strings.Count(b64, "+")+strings.Count(b64, "/")+strings.Count(b64, "="))
}

// ReplaceWithKeyWrappedKey replaces the response's EncryptedAssertion with plaintext
// encrypted under a key that is itself encrypted with AES-128-CBC under a second key, which
// alone is transported to cert by RSA-OAEP: an EncryptedKey named by a block cipher, in the
// EncryptedData's KeyInfo, holding the RSA-OAEP EncryptedKey in its own. XML Encryption's
// schema allows the nesting; it is how the attacks on its CBC mode make the SP decrypt blocks
// of their choosing under a key they do not know.
func ReplaceWithKeyWrappedKey(doc string, cert *x509.Certificate, plaintext string) string {
	dataKey := make([]byte, 16)
	if _, err := rand.Read(dataKey); err != nil {
		panic(err)
	}
	e := xmlenc.OAEP()
	e.BlockCipher = xmlenc.AES128CBC
	e.DigestMethod = &xmlenc.SHA1
	wrapped, err := e.Encrypt(cert, dataKey, nil) // an EncryptedData of the key, its own key RSA-OAEP
	if err != nil {
		panic(err)
	}
	wrapped.Tag = "EncryptedKey"
	data, err := xmlenc.AES128CBC.Encrypt(dataKey, []byte(plaintext), nil)
	if err != nil {
		panic(err)
	}
	keyInfo := etree.NewElement("ds:KeyInfo")
	keyInfo.CreateAttr("xmlns:ds", "http://www.w3.org/2000/09/xmldsig#")
	keyInfo.AddChild(wrapped)
	data.InsertChildAt(data.SelectElement("EncryptionMethod").Index()+1, keyInfo)
	return withEncryptedAssertion(doc, encryptedAssertionOf(data))
}
