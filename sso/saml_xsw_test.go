package sso

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/provision"
	"gatehouse/sso/samltest"
)

// wrapAttacker is who the signature-wrapping edits try to sign in as: someone of the
// connection's own domain, so that linking by e-mail would find nobody else either.
var wrapAttacker = samltest.User{NameID: "00u1eve", Email: "eve@example.com"}

// wrapCase is a response of crewjam's IdP edited by someone without the IdP's key, and what
// Check and crewjam's ParseXMLResponse make of it.
type wrapCase struct {
	name string
	// encrypted: the IdP encrypts its assertion to the SP (newSAMLWorld), else it sends it
	// plain (newPlainSAMLWorld). Its Response and its assertion are signed.
	encrypted bool
	// user is who is signed in at the IdP (nil: Ada, 00u1ada).
	user *samltest.User
	edit func(t *testing.T, w *samlWorld, doc string) string
	// cause: Check refuses, for a private cause naming this; "": Check signs in identity.
	cause    string
	identity string
	// check, when set, looks further at an identity Check accepted.
	check func(t *testing.T, id provision.Identity)
	// crewjam is the NameID crewjam's ParseXMLResponse returns ("": it refuses). Where it
	// accepts what Check refuses, it takes the IdP's signed assertion among several (the first
	// that verifies), never the attacker's: Gatehouse refuses them all (checkXML).
	crewjam string
	// uncounted, for a response checkXML refuses for its assertions, is the NameID that
	// checkResponse (or crewjam, where it leaves the response to crewjam) would sign in without
	// that refusal ("": none): the checks beneath it do not take the attacker either.
	uncounted string
}

// TestSAMLSignatureWrapping is the battery of signature-wrapping (XSW), comment-injection,
// signature-reference, namespace and encryption attacks against Check, each made from a real
// response of crewjam's IdP by someone without its key (Somorovsky et al., "On Breaking SAML",
// 2012; CVE-2017-11427; the XML round-trip advisories of mattermost/xml-roundtrip-validator).
// None signs in the attacker: each is refused for a cause that names what is wrong, or signs
// in exactly whom the IdP signed, read whole. crewjam's ParseXMLResponse, the oracle of
// checkResponse, is run on each too: it never returns the attacker either.
func TestSAMLSignatureWrapping(t *testing.T) {
	plain, encrypted := newPlainSAMLWorld(t), withRotationKeys(t, newSAMLWorld(t))
	_, attackerX509, _ := samltest.NewKeyPair(t)
	attackerKey, attackerCert, _ := samltest.NewKeyPair(t)

	unsigned := func(_ *testing.T, _ *samlWorld, doc string) string { return samltest.DropResponseSignature(doc) }
	then := func(fs ...func(*testing.T, *samlWorld, string) string) func(*testing.T, *samlWorld, string) string {
		return func(t *testing.T, w *samlWorld, doc string) string {
			for _, f := range fs {
				doc = f(t, w, doc)
			}
			return doc
		}
	}
	xsw := func(n int) func(*testing.T, *samlWorld, string) string {
		return func(_ *testing.T, _ *samlWorld, doc string) string { return samltest.XSW(n, doc, wrapAttacker) }
	}
	replace := func(old, new string) func(*testing.T, *samlWorld, string) string {
		return func(t *testing.T, _ *samlWorld, doc string) string {
			if !strings.Contains(doc, old) {
				t.Fatalf("no %q in the response", old)
			}
			return strings.Replace(doc, old, new, 1)
		}
	}
	replaceAll := func(old, new string) func(*testing.T, *samlWorld, string) string {
		return func(t *testing.T, _ *samlWorld, doc string) string {
			if !strings.Contains(doc, old) {
				t.Fatalf("no %q in the response", old)
			}
			return strings.ReplaceAll(doc, old, new)
		}
	}
	editDoc := func(edit func(resp *etree.Element)) func(*testing.T, *samlWorld, string) string {
		return func(_ *testing.T, _ *samlWorld, doc string) string { return samltest.EditDoc(doc, edit) }
	}
	editSig := func(path string, edit func(sig *etree.Element)) func(*testing.T, *samlWorld, string) string {
		return func(_ *testing.T, _ *samlWorld, doc string) string { return samltest.EditSignature(doc, path, edit) }
	}
	reference := func(sig *etree.Element) *etree.Element { return sig.FindElement("./SignedInfo/Reference") }
	// beforeStatus puts markup in the Response before its Status (where Extensions go).
	beforeStatus := func(markup string) func(*testing.T, *samlWorld, string) string {
		return replace("<samlp:Status>", markup+"<samlp:Status>")
	}
	// theAssertion replaces the response's plain assertion with what f makes of it.
	theAssertion := func(f func(assertion string) string) func(*testing.T, *samlWorld, string) string {
		return func(_ *testing.T, _ *samlWorld, doc string) string {
			i, j := strings.Index(doc, "<saml:Assertion "), strings.Index(doc, "</saml:Assertion>")+len("</saml:Assertion>")
			return doc[:i] + stripProlog(f(samltest.AssertionOf(doc))) + doc[j:]
		}
	}
	// inPlaintext edits the plaintext of the response's EncryptedAssertion and encrypts it
	// again to the SP's current key, as anyone may.
	inPlaintext := func(f func(plaintext string) string) func(*testing.T, *samlWorld, string) string {
		return func(t *testing.T, w *samlWorld, doc string) string {
			p := plaintextOf(t, doc, w.sp.Keys.Current.Key)
			return samltest.ReplaceEncryptedAssertion(doc, w.sp.Keys.Current.Certificate, f(p))
		}
	}
	// anEncryptedAssertion is the attacker's: an unsigned assertion naming them, made from
	// the IdP's plain one, encrypted to the SP.
	anEncryptedAssertion := func(w *samlWorld, doc string) string {
		return samltest.EncryptedAssertion(w.sp.Keys.Current.Certificate, samltest.UnsignedAs(samltest.AssertionOf(doc), wrapAttacker))
	}
	// The CVE-2017-11427 identity: someone whose address at the IdP ends another's address.
	suffixed := &samltest.User{NameID: "ada@example.com.evil.com", Email: "ada@example.com.evil.com", GivenName: "Eve", Surname: "Suffix",
		Attributes: map[string][]string{"companyName": {"Acme"}}}
	wholeSuffixed := func(t *testing.T, id provision.Identity) {
		if id.Email != "ada@example.com.evil.com" {
			t.Fatalf("e-mail %q, want the whole text as signed", id.Email)
		}
	}
	commentInNameID := replace(">ada@example.com.evil.com</saml:NameID>", ">ada@example.com<!---->.evil.com</saml:NameID>")
	commentInMail := replaceAll(`xsi:type="xs:string">ada@example.com.evil.com<`, `xsi:type="xs:string">ada@example.com<!-- a comment -->.evil.com<`)

	const (
		twoAssertions      = "2 Assertion and 0 EncryptedAssertion elements, not one"
		plainAndEncrypted  = "1 Assertion and 1 EncryptedAssertion elements, not one"
		responseSignature  = "cannot validate signature on Response"
		assertionSignature = "cannot validate signature on Assertion"
	)
	cases := []wrapCase{
		{name: "as the IdP sent it", identity: "00u1ada", crewjam: "00u1ada"},
		{name: "as the IdP sent it, encrypted", encrypted: true, identity: "00u1ada", crewjam: "00u1ada"},
	}

	// 1. XSW1–XSW8. With the Response signed, it no longer verifies over the root, and two
	// assertions are refused before; with the assertion alone signed, crewjam takes the
	// IdP's assertion where it is still the Response's child and verifies.
	for n := 1; n <= 8; n++ {
		cases = append(cases, wrapCase{name: fmt.Sprintf("XSW%d, Response signed", n), edit: xsw(n), cause: twoAssertions})
	}
	for _, v := range []struct {
		n       int
		crewjam string
	}{{3, "00u1ada"}, {4, ""}, {5, ""}, {6, ""}, {7, "00u1ada"}, {8, ""}} {
		cases = append(cases, wrapCase{name: fmt.Sprintf("XSW%d, only the assertion signed", v.n), edit: then(unsigned, xsw(v.n)),
			cause: twoAssertions, crewjam: v.crewjam, uncounted: v.crewjam})
	}
	cases = append(cases,
		// One assertion: what the IdP signed is changed, and its signature is moved where a
		// verifier might look for another.
		wrapCase{name: "the signed assertion names the attacker", cause: assertionSignature,
			edit: then(unsigned, editDoc(func(resp *etree.Element) { renameIn(resp.SelectElement("Assertion")) }))},
		wrapCase{name: "the Response's signature moved into Extensions, the assertion naming the attacker",
			edit: editDoc(func(resp *etree.Element) {
				sig := resp.SelectElement("Signature")
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(sig)
				resp.InsertChildAt(resp.SelectElement("Status").Index(), ext)
				renameIn(resp.SelectElement("Assertion"))
			}), cause: assertionSignature},
		wrapCase{name: "the Response's signature moved into the assertion in place of its own, the assertion naming the attacker",
			edit: editDoc(func(resp *etree.Element) {
				a := resp.SelectElement("Assertion")
				own := a.SelectElement("Signature")
				a.InsertChildAt(own.Index(), resp.SelectElement("Signature"))
				a.RemoveChild(own)
				renameIn(a)
			}), cause: "the Assertion's signature references \"#id-"},
		// 3. Duplicate IDs, and what a Signature references.
		wrapCase{name: "the Response takes the assertion's ID and signature, the assertion naming the attacker",
			edit: then(unsigned, editDoc(func(resp *etree.Element) {
				a := resp.SelectElement("Assertion")
				resp.CreateAttr("ID", a.SelectAttrValue("ID", ""))
				resp.InsertChildAt(resp.SelectElement("Status").Index(), a.SelectElement("Signature"))
				renameIn(a)
			})), cause: responseSignature},
		wrapCase{name: "an unsigned assertion with the signed one's ID, first", edit: then(unsigned, editDoc(func(resp *etree.Element) {
			a := resp.SelectElement("Assertion")
			evil := a.Copy()
			evil.RemoveChild(evil.SelectElement("Signature"))
			renameIn(evil)
			resp.InsertChildAt(a.Index(), evil)
		})), cause: twoAssertions, crewjam: "00u1ada", uncounted: "00u1ada"},
		wrapCase{name: "an unsigned assertion after the signed one", edit: then(unsigned, editDoc(func(resp *etree.Element) {
			evil := resp.SelectElement("Assertion").Copy()
			evil.RemoveChild(evil.SelectElement("Signature"))
			evil.CreateAttr("ID", "id-evil")
			renameIn(evil)
			resp.AddChild(evil)
		})), cause: twoAssertions, crewjam: "00u1ada", uncounted: "00u1ada"},
		// The attacker's NameID where no assertion is: read nowhere, Ada signs in.
		wrapCase{name: "an element of the assertion's ID naming the attacker, in Extensions", identity: "00u1ada", crewjam: "00u1ada",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				id := etreeRoot(t, doc).SelectElement("Assertion").SelectAttrValue("ID", "")
				return beforeStatus(`<samlp:Extensions><saml:Subject ID="`+id+`"><saml:NameID>00u1eve</saml:NameID></saml:Subject></samlp:Extensions>`)(t, w, doc)
			})},
		wrapCase{name: "a Subject naming the attacker as the Response's child", identity: "00u1ada", crewjam: "00u1ada",
			edit: then(unsigned, beforeStatus(`<saml:Subject><saml:NameID>00u1eve</saml:NameID></saml:Subject>`))},
		// Inside a Signature, which the enveloped-signature transform takes out of the digest:
		// the signature still verifies, and what is there is not read.
		wrapCase{name: "the attacker's Subject in an Object of the assertion's signature", identity: "00u1ada", crewjam: "00u1ada",
			edit: then(unsigned, editSig("Assertion", func(sig *etree.Element) {
				sig.CreateElement("ds:Object").AddChild(subjectOf(wrapAttacker.NameID))
			}))},
		wrapCase{name: "the attacker's Subject in an Object of the Response's signature", identity: "00u1ada", crewjam: "00u1ada",
			edit: editSig(".", func(sig *etree.Element) { sig.CreateElement("ds:Object").AddChild(subjectOf(wrapAttacker.NameID)) })},
		// A Signature's Reference is "#" + the ID of the element it is the child of (ownSignature):
		// these are refused for it before goxmldsig, which would find the SignedInfo changed.
		wrapCase{name: "the assertion's Reference URI emptied (the whole document)", cause: "the Assertion's signature references \"\", not its ID",
			edit: then(unsigned, editSig("Assertion", func(sig *etree.Element) { reference(sig).CreateAttr("URI", "") }))},
		wrapCase{name: "the Response's Reference URI emptied", cause: "the Response's signature references \"\", not its ID",
			edit: editSig(".", func(sig *etree.Element) { reference(sig).CreateAttr("URI", "") })},
		wrapCase{name: "the assertion's Reference pointing at the Response", cause: "the Assertion's signature references \"#id-",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				id := etreeRoot(t, doc).SelectAttrValue("ID", "")
				return editSig("Assertion", func(sig *etree.Element) { reference(sig).CreateAttr("URI", "#"+id) })(t, w, doc)
			})},
		wrapCase{name: "a Signature with no Reference", cause: "the Assertion's signature holds 1 SignedInfo and 0 References",
			edit: then(unsigned, editSig("Assertion", func(sig *etree.Element) {
				r := reference(sig)
				r.Parent().RemoveChild(r)
			}))},
		// The IdP's key signs a SignedInfo with a second Reference (an IdP's mistake), whose
		// digest is the attacker's assertion's: refused for the second Reference itself
		// (oneReference); goxmldsig before v1.6.0 verified the last Reference's digest, and
		// took the attacker's assertion (TestGoxmldsigChecksTheReferenceToTheElement).
		wrapCase{name: "a second Reference the IdP signed, to the attacker's assertion", cause: "SignedInfo holds 2 References",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				key, cert := w.idp.SigningKey()
				return theAssertion(func(a string) string { return samltest.WithDecoyReference(a, wrapAttacker, key, cert) })(t, w, doc)
			})},
		// Signed by the IdP's key, a Signature that does not name the element it is the child
		// of, or is not the one goxmldsig verifies: refused by ownSignature (SAML core §5.4.2,
		// crewjam v0.6's rule). Without it each signs Ada in: goxmldsig takes an empty URI to
		// name the element, and verifies the first Signature naming it in document order,
		// wherever it is, the direct child a decoy that the other rules checked.
		wrapCase{name: "the IdP signs the assertion's Reference with an empty URI", cause: "the Assertion's signature references \"\", not its ID",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				key, _ := w.idp.SigningKey()
				return samltest.EditSignedInfo(doc, "Assertion", key, func(sig *etree.Element) { reference(sig).CreateAttr("URI", "") })
			})},
		wrapCase{name: "the IdP signs the Response's Reference with an empty URI", cause: "the Response's signature references \"\", not its ID",
			edit: func(t *testing.T, w *samlWorld, doc string) string {
				key, _ := w.idp.SigningKey()
				return samltest.EditSignedInfo(doc, ".", key, func(sig *etree.Element) { reference(sig).CreateAttr("URI", "") })
			}},
		wrapCase{name: "the IdP signs the assertion by a Signature in its SubjectConfirmationData, a decoy its child",
			cause: "a signature below the Assertion besides its own references it too",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				key, cert := w.idp.SigningKey()
				return theAssertion(func(a string) string {
					return samltest.SignedBelow(a, key, cert, func(root, sig *etree.Element) {
						root.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData").AddChild(sig)
					})
				})(t, w, doc)
			})},
		wrapCase{name: "the IdP signs the Response by a Signature in its Issuer, a decoy its child",
			cause: "a signature below the Response besides its own references it too",
			edit: func(t *testing.T, w *samlWorld, doc string) string {
				key, cert := w.idp.SigningKey()
				// The assertion's signature removed: the Response's covers it, and checkXML
				// takes two Signatures at most.
				doc = samltest.EditDoc(doc, func(resp *etree.Element) {
					a := resp.SelectElement("Assertion")
					a.RemoveChild(a.SelectElement("Signature"))
				})
				return samltest.SignedBelow(doc, key, cert, func(root, sig *etree.Element) { root.SelectElement("Issuer").AddChild(sig) })
			}},
		// Signed by the IdP's key, elements of another namespace where SAML's schema has only
		// its own: encoding/xml reads them by local name (GO-2026-6909), and so does crewjam's
		// ParseXMLResponse, which Check leaves no such response to (foreignElements).
		wrapCase{name: "the IdP signs a NameID of another namespace, naming the attacker", cause: "the assertion's Subject holds an element NameID of namespace \"urn:example:foreign\"",
			crewjam: wrapAttacker.NameID,
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				key, cert := w.idp.SigningKey()
				return theAssertion(func(a string) string {
					a = strings.Replace(a, "<saml:NameID", `<x:NameID xmlns:x="urn:example:foreign"`, 1)
					a = strings.Replace(a, "</saml:NameID>", "</x:NameID>", 1)
					return samltest.SignedAs(a, wrapAttacker, key, cert)
				})(t, w, doc)
			})},
		wrapCase{name: "the IdP signs an Attribute of another namespace", cause: "the assertion's AttributeStatement holds an element Attribute of namespace \"urn:example:foreign\"",
			crewjam: "00u1ada",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				key, cert := w.idp.SigningKey()
				return theAssertion(func(a string) string {
					a = strings.Replace(a, "<saml:Attribute ", `<x:Attribute xmlns:x="urn:example:foreign" `, 1)
					a = strings.Replace(a, "</saml:Attribute>", "</x:Attribute>", 1)
					return samltest.SignedAs(a, wrapAda, key, cert)
				})(t, w, doc)
			})},
		wrapCase{name: "the IdP signs an element of another namespace in the SubjectConfirmationData, where SAML takes any", identity: "00u1ada", crewjam: "00u1ada",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				key, cert := w.idp.SigningKey()
				return theAssertion(func(a string) string {
					return samltest.SignedAs(samltest.EditDoc(a, func(el *etree.Element) {
						el.FindElement("./Subject/SubjectConfirmation/SubjectConfirmationData").CreateElement("x:Hint").CreateAttr("xmlns:x", "urn:example:foreign")
					}), wrapAda, key, cert)
				})(t, w, doc)
			})},
		wrapCase{name: "an XPath transform added", cause: assertionSignature + ": crypto/rsa: verification error",
			edit: then(unsigned, editSig("Assertion", func(sig *etree.Element) {
				tr := reference(sig).SelectElement("Transforms").CreateElement("ds:Transform")
				tr.CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
				tr.CreateElement("ds:XPath").SetText("not(ancestor-or-self::ds:Signature)")
			}))},
		wrapCase{name: "no enveloped-signature transform", cause: assertionSignature + ": crypto/rsa: verification error",
			edit: then(unsigned, editSig("Assertion", func(sig *etree.Element) {
				ts := reference(sig).SelectElement("Transforms")
				ts.RemoveChildAt(ts.ChildElements()[0].Index())
			}))},
		wrapCase{name: "no transforms", cause: assertionSignature + ": crypto/rsa: verification error",
			edit: then(unsigned, editSig("Assertion", func(sig *etree.Element) {
				r := reference(sig)
				r.RemoveChild(r.SelectElement("Transforms"))
			}))},
		wrapCase{name: "signed with the attacker's key, its certificate in KeyInfo", cause: "Could not verify certificate against trusted certs",
			edit: then(unsigned, theAssertion(func(a string) string { return samltest.SignedAs(a, wrapAttacker, attackerKey, attackerCert) }))},
		wrapCase{name: "signed with the attacker's key, no KeyInfo", cause: assertionSignature + ": crypto/rsa: verification error",
			edit: then(unsigned, theAssertion(func(a string) string { return samltest.SignedAs(a, wrapAttacker, attackerKey, nil) }))},
		wrapCase{name: "a processing instruction in the NameID (canonicalisation keeps it)", cause: assertionSignature + ": Signature could not be verified",
			edit: then(unsigned, replace(">00u1ada<", ">00u1<?x?>ada<"))},

		// 2. Comments, which exclusive c14n without comments takes out: the signature still
		// verifies, and the text is read whole, never up to the comment.
		wrapCase{name: "a comment in the NameID, Response signed", user: suffixed, edit: commentInNameID,
			identity: "ada@example.com.evil.com", crewjam: "ada@example.com.evil.com"},
		wrapCase{name: "a comment in the NameID, only the assertion signed", user: suffixed, edit: then(unsigned, commentInNameID),
			identity: "ada@example.com.evil.com", crewjam: "ada@example.com.evil.com"},
		wrapCase{name: "a comment in the e-mail attributes", user: suffixed, edit: then(unsigned, commentInMail), check: wholeSuffixed,
			identity: "ada@example.com.evil.com", crewjam: "ada@example.com.evil.com"},
		wrapCase{name: "comments in the NameID and the e-mail attributes, Response signed", user: suffixed, check: wholeSuffixed,
			edit: then(commentInNameID, commentInMail), identity: "ada@example.com.evil.com", crewjam: "ada@example.com.evil.com"},
		wrapCase{name: "a comment splitting an attribute value", identity: "00u1ada", crewjam: "00u1ada",
			edit: then(unsigned, replace(`xsi:type="xs:string">Acme<`, `xsi:type="xs:string">Ac<!---->me<`)),
			check: func(t *testing.T, id provision.Identity) {
				if id.Claims["companyName"] != "Acme" || id.Claims["company"] != "Acme" {
					t.Fatalf("claims %v", id.Claims)
				}
			}},
		wrapCase{name: "a comment in the NameID of an encrypted assertion", encrypted: true, user: suffixed,
			edit: then(unsigned, inPlaintext(func(p string) string {
				return strings.Replace(p, ">ada@example.com.evil.com</saml:NameID>", ">ada@example.com<!---->.evil.com</saml:NameID>", 1)
			})), check: wholeSuffixed, identity: "ada@example.com.evil.com", crewjam: "ada@example.com.evil.com"},

		// 4. Namespaces.
		wrapCase{name: "the assertion declares saml as another namespace", cause: "expected at least one valid Assertion, none found",
			edit: then(unsigned, replace(`<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`, `<saml:Assertion xmlns:saml="urn:evil"`))},
		wrapCase{name: "the Subject declares saml as another namespace", cause: assertionSignature,
			edit: then(unsigned, replace("<saml:Subject>", `<saml:Subject xmlns:saml="urn:evil">`))},
		// The assertion declares saml itself: the Response's declaration does not reach it.
		wrapCase{name: "the Response declares saml as another namespace", identity: "00u1ada", crewjam: "00u1ada",
			edit: then(unsigned, replace(`<samlp:Response xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`, `<samlp:Response xmlns:saml="urn:evil"`))},
		wrapCase{name: "a NameID of another namespace in the Subject", cause: assertionSignature,
			edit: then(unsigned, replace("<saml:Subject>", `<saml:Subject><x:NameID xmlns:x="urn:evil">00u1eve</x:NameID>`))},
		wrapCase{name: "an Assertion of another namespace naming the attacker, before the real one", cause: twoAssertions, crewjam: "00u1ada", uncounted: "00u1ada",
			edit: then(unsigned, editDoc(func(resp *etree.Element) {
				a := resp.SelectElement("Assertion")
				evil := a.Copy()
				evil.RemoveChild(evil.SelectElement("Signature"))
				evil.CreateAttr("xmlns:saml", "urn:evil")
				renameIn(evil)
				resp.InsertChildAt(a.Index(), evil)
			}))},
		wrapCase{name: "an Assertion of another namespace naming the attacker, in place of the real one", cause: "expected at least one valid Assertion, none found",
			edit: then(unsigned, editDoc(func(resp *etree.Element) {
				a := resp.SelectElement("Assertion")
				a.RemoveChild(a.SelectElement("Signature"))
				a.CreateAttr("xmlns:saml", "urn:evil")
				renameIn(a)
			}))},
		wrapCase{name: "an unprefixed Assertion by a default declaration, naming the attacker, before the real one", cause: twoAssertions, crewjam: "00u1ada", uncounted: "00u1ada",
			edit: then(unsigned, editDoc(func(resp *etree.Element) {
				a := resp.SelectElement("Assertion")
				evil := a.Copy()
				evil.RemoveChild(evil.SelectElement("Signature"))
				evil.Space = ""
				evil.CreateAttr("xmlns", assertionNS)
				renameIn(evil)
				resp.InsertChildAt(a.Index(), evil)
			}))},
		// The xml prefix is the XML namespace's whatever declares it (encoding/xml), while etree
		// follows the declaration: the assertion etree finds is none to encoding/xml.
		wrapCase{name: "the xml prefix declared as the assertion namespace, an xml:Assertion naming the attacker in place of the real one",
			cause: "a declaration of the reserved prefix xml",
			edit: then(unsigned, editDoc(func(resp *etree.Element) {
				resp.CreateAttr("xmlns:xml", assertionNS)
				a := resp.SelectElement("Assertion")
				a.RemoveChild(a.SelectElement("Signature"))
				a.Space = "xml"
				renameIn(a)
			}))},
		// Round-trip ambiguity (CVE-2020-27846 and the validator's advisories): markup that
		// encoding/xml once read one way and wrote another. Refused where it still does; where
		// it reads as it writes (Go 1.17 on), one tree is read by every check, and the markup
		// is what it is to all: a directive, a name with a colon first.
		wrapCase{name: "a doubled colon in an attribute name", cause: "invalid xml: XML syntax error on line 1: expected attribute name in element",
			edit: then(unsigned, replace("<saml:Subject>", `<saml:Subject x::a="1">`))},
		wrapCase{name: "an element hidden in a directive", identity: "00u1ada", crewjam: "00u1ada",
			edit: then(unsigned, beforeStatus(`<samlp:Extensions><! ">" <saml:Subject><saml:NameID>00u1eve</saml:NameID></saml:Subject>></samlp:Extensions>`))},
		wrapCase{name: "a comment-looking directive", identity: "00u1ada", crewjam: "00u1ada",
			edit: then(unsigned, beforeStatus(`<samlp:Extensions><! <<!-- -->!-- x --> y></samlp:Extensions>`))},
		wrapCase{name: "an assertion naming the attacker named :Assertion, before the real one", identity: "00u1ada", crewjam: "00u1ada",
			edit: then(unsigned, editDoc(func(resp *etree.Element) {
				a := resp.SelectElement("Assertion")
				evil := a.Copy()
				evil.RemoveChild(evil.SelectElement("Signature"))
				evil.Space, evil.Tag = "", ":Assertion"
				renameIn(evil)
				resp.InsertChildAt(a.Index(), evil)
			}))},

		// 5. Encryption: anyone may encrypt to the SP's published certificate.
		wrapCase{name: "an attacker's EncryptedAssertion in an Object of the Response's signature", cause: plainAndEncrypted, crewjam: "00u1ada", uncounted: "00u1ada",
			edit: func(t *testing.T, w *samlWorld, doc string) string {
				ea := anEncryptedAssertion(w, doc)
				return samltest.EditSignature(doc, ".", func(sig *etree.Element) {
					obj := sig.CreateElement("ds:Object")
					d := etree.NewDocument()
					if err := d.ReadFromString(`<r xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">` + ea + `</r>`); err != nil {
						t.Fatal(err)
					}
					obj.AddChild(d.Root().ChildElements()[0])
				})
			}},
		wrapCase{name: "an attacker's EncryptedAssertion beside the signed plain one", cause: plainAndEncrypted, crewjam: "00u1ada", uncounted: "00u1ada",
			edit: func(t *testing.T, w *samlWorld, doc string) string {
				doc = samltest.DropResponseSignature(doc)
				return replace("<saml:Assertion ", anEncryptedAssertion(w, doc)+"<saml:Assertion ")(t, w, doc)
			}},
		wrapCase{name: "an attacker's EncryptedAssertion in place of the plain one, Response signature kept", cause: responseSignature,
			edit: func(t *testing.T, w *samlWorld, doc string) string {
				i, j := strings.Index(doc, "<saml:Assertion "), strings.Index(doc, "</saml:Assertion>")+len("</saml:Assertion>")
				return doc[:i] + anEncryptedAssertion(w, doc) + doc[j:]
			}},
		wrapCase{name: "the EncryptedAssertion replaced by the attacker's, Response signed", encrypted: true, cause: responseSignature,
			edit: inPlaintext(func(p string) string { return samltest.UnsignedAs(p, wrapAttacker) })},
		wrapCase{name: "the EncryptedAssertion replaced by the attacker's, Response signature removed", encrypted: true, cause: "signature element not present",
			edit: then(unsigned, inPlaintext(func(p string) string { return samltest.UnsignedAs(p, wrapAttacker) }))},
		wrapCase{name: "the IdP's encrypted assertion naming the attacker, encrypted again", encrypted: true, cause: assertionSignature,
			edit: then(unsigned, inPlaintext(func(p string) string { return renameSigned(p) }))},
		wrapCase{name: "XSW4 inside the encrypted assertion", encrypted: true, cause: twoAssertions,
			edit: then(unsigned, inPlaintext(func(p string) string {
				d := etree.NewDocument()
				if err := d.ReadFromString(p); err != nil {
					panic(err)
				}
				a := d.Root()
				evil := a.Copy()
				evil.RemoveChild(evil.SelectElement("Signature"))
				evil.CreateAttr("ID", "id-evil")
				renameIn(evil)
				evil.AddChild(a)
				out := etree.NewDocument()
				out.SetRoot(evil)
				s, err := out.WriteToString()
				if err != nil {
					panic(err)
				}
				return s
			}))},
		wrapCase{name: "an attacker's plain assertion beside the EncryptedAssertion", encrypted: true, cause: plainAndEncrypted, crewjam: "00u1ada", uncounted: "00u1ada",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				evil := stripProlog(samltest.UnsignedAs(plaintextOf(t, doc, w.sp.Keys.Current.Key), wrapAttacker))
				return replace("<saml:EncryptedAssertion", evil+"<saml:EncryptedAssertion")(t, w, doc)
			})},
		wrapCase{name: "an encrypted assertion signed with the attacker's key", encrypted: true, cause: "Could not verify certificate against trusted certs",
			edit: then(unsigned, inPlaintext(func(p string) string { return samltest.SignedAs(p, wrapAttacker, attackerKey, attackerCert) }))},
		// The IdP's own assertion, encrypted again under a key that an AES-CBC EncryptedKey
		// wraps, itself under an RSA-OAEP one to the SP: refused for the block cipher on the
		// key (dataOnly), before anything is decrypted with it; accepted (Ada) without that rule.
		wrapCase{name: "the IdP's assertion under a key wrapped with AES-CBC", encrypted: true, cause: "an EncryptedKey is encrypted with http://www.w3.org/2001/04/xmlenc#aes128-cbc",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				return samltest.ReplaceWithKeyWrappedKey(doc, w.sp.Keys.Current.Certificate, plaintextOf(t, doc, w.sp.Keys.Current.Key))
			})},
		wrapCase{name: "encrypted to a key the SP does not have", encrypted: true, cause: "failed to decrypt EncryptedAssertion",
			edit: then(unsigned, func(t *testing.T, w *samlWorld, doc string) string {
				return samltest.ReplaceEncryptedAssertion(doc, attackerX509, plaintextOf(t, doc, w.sp.Keys.Current.Key))
			})},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := plain
			if c.encrypted {
				w = encrypted
			}
			runWrapCase(t, w, c)
		})
	}
}

// wrapAda is who newSAMLWorld and newPlainSAMLWorld sign in at the IdP.
var wrapAda = samltest.User{NameID: "00u1ada", Email: "ada@example.com", GivenName: "Ada", Surname: "Lovelace",
	Attributes: map[string][]string{"companyName": {"Acme"}, "groups": {"a", "b"}}}

// runWrapCase runs c through w's IdP and Check, and through crewjam's ParseXMLResponse.
func runWrapCase(t *testing.T, w *samlWorld, c wrapCase) {
	t.Helper()
	if c.user != nil {
		w.idp.SignIn(*c.user)
		defer w.idp.SignIn(wrapAda)
	}
	sr, r := w.login(t, "relay")
	raw, err := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "EncryptedAssertion") != c.encrypted {
		t.Fatalf("the IdP encrypted its assertion: %v, the case expects %v", !c.encrypted, c.encrypted)
	}
	if c.edit != nil {
		edited := c.edit(t, w, string(raw))
		if edited == string(raw) {
			t.Fatal("the edit changed nothing")
		}
		raw = []byte(edited)
		r = editedPost(t, r, func(string) string { return edited })
	}
	login, err := NewSAMLResponses(nil, nil).Check(r, w.sp, w.conn, sr.ID)
	if c.cause != "" {
		var le *LoginError
		if err == nil || !errorsAs(err, &le) || !strings.Contains(le.Private.Error(), c.cause) {
			cause := privateCause(err)
			if le != nil {
				cause = le.Private
			}
			t.Fatalf("want a refusal for %q, got %v (%v)", c.cause, err, cause)
		}
		if le.Public != publicSAMLFailure {
			t.Fatalf("public message %q", le.Public)
		}
		if errors.Is(le.Private, errRefused) && strings.Contains(c.cause, " Assertion and ") {
			// Beneath checkXML's count: the tree etree reads, through checkResponse, as
			// checkAgainstCrewjam does.
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(raw); err != nil {
				t.Fatal(err)
			}
			certs, err := (*SAMLResponses)(nil).certificates(w.conn)
			if err != nil {
				t.Fatal(err)
			}
			a, _, err := checkResponse(doc, w.sp, w.conn, certs, sr.ID, *r.URL, saml.TimeNow(), true, &sha1Policy{})
			if err == errLeftToCrewjam {
				a, _, err = crewjamCheck(raw, w.sp, w, sr.ID, *r.URL)
			}
			got := ""
			if err == nil {
				got = strings.TrimSpace(a.Subject.NameID.Value)
			}
			if got != c.uncounted {
				t.Fatalf("without checkXML's count, %q is signed in (%v), want %q", got, err, c.uncounted)
			}
		} else if c.uncounted != "" {
			t.Fatal("uncounted is for a refusal of checkXML's count")
		}
	} else {
		if err != nil {
			t.Fatalf("refused: %v", privateCause(err))
		}
		id := login.Identity
		if id.Identifier != c.identity || id.Identifier == wrapAttacker.NameID || id.Email == wrapAttacker.Email {
			t.Fatalf("signed in %q (%s), want %q", id.Identifier, id.Email, c.identity)
		}
		if c.check != nil {
			c.check(t, id)
		}
	}
	a, _, err := crewjamCheck(raw, w.sp, w, sr.ID, *r.URL)
	got := ""
	if err == nil {
		got = strings.TrimSpace(a.Subject.NameID.Value)
	}
	if got != c.crewjam {
		t.Fatalf("crewjam signs in %q (%v), want %q", got, privateCause(err), c.crewjam)
	}
	if c.cause == "" && got != c.identity {
		t.Fatalf("Check signs in %q, crewjam %q", c.identity, got)
	}
}

// renameIn makes the assertion a name the attacker (wrapAttacker).
func renameIn(a *etree.Element) { samltest.NameAs(a, wrapAttacker) }

// renameSigned is the assertion document assertion naming the attacker, its signature kept.
func renameSigned(assertion string) string {
	return samltest.EditDoc(assertion, renameIn)
}

// subjectOf is a saml:Subject naming nameID.
func subjectOf(nameID string) *etree.Element {
	s := etree.NewElement("saml:Subject")
	s.CreateAttr("xmlns:saml", assertionNS)
	s.CreateElement("saml:NameID").SetText(nameID)
	return s
}

// etreeRoot is the root element of doc.
func etreeRoot(t *testing.T, doc string) *etree.Element {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromString(doc); err != nil {
		t.Fatal(err)
	}
	return d.Root()
}

// stripProlog removes an XML declaration from the start of doc, which is to go inside
// another document.
func stripProlog(doc string) string {
	if strings.HasPrefix(doc, "<?xml") {
		return doc[strings.Index(doc, "?>")+2:]
	}
	return doc
}

// TestGoxmldsigChecksTheReferenceToTheElement holds the goxmldsig this module requires to
// v1.6.0 or later (GHSA-479m-364c-43vc), beneath oneReference: of a SignedInfo with two
// References, the IdP's signature over both, it checks the digest of the one naming the
// element, so the attacker's assertion behind the second does not verify. v1.4.0 checked the
// last one's and returned no error.
func TestGoxmldsigChecksTheReferenceToTheElement(t *testing.T) {
	w := newPlainSAMLWorld(t)
	_, r := w.login(t, "relay")
	raw, err := base64.StdEncoding.DecodeString(r.PostForm.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	key, cert := w.idp.SigningKey()
	forged := etree.NewDocument()
	if err := forged.ReadFromString(samltest.WithDecoyReference(samltest.AssertionOf(string(raw)), wrapAttacker, key, cert)); err != nil {
		t.Fatal(err)
	}
	el := forged.Root()
	if got := el.FindElement("./Subject/NameID").Text(); got != wrapAttacker.NameID {
		t.Fatalf("the forged assertion names %q", got)
	}
	if err := oneReference(el); err == nil {
		t.Fatal("oneReference let two References through")
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	vc.IdAttribute = "ID"
	if _, err := vc.Validate(el); err == nil || !strings.Contains(err.Error(), "Signature could not be verified") {
		t.Fatalf("goxmldsig verified the attacker's assertion behind a second Reference (%v): require github.com/russellhaering/goxmldsig v1.6.0 or later", err)
	}
	// The same SignedInfo, its second Reference naming the genuine assertion's digest: it is
	// the construction that is refused, not a signature made wrong.
	genuine := etree.NewDocument()
	if err := genuine.ReadFromString(samltest.WithDecoyReference(samltest.AssertionOf(string(raw)), wrapAda, key, cert)); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.Validate(genuine.Root()); err != nil {
		t.Fatalf("the IdP's own assertion behind two References does not verify: %v", err)
	}
}
