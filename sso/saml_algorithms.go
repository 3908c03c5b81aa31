package sso

import (
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// SHA-1 in SAML signatures. SHA-1 is broken for collisions (SHAttered, 2017; a chosen prefix,
// 2020), and an XML signature over SHA-1 is only as strong as the hash; every IdP Gatehouse
// documents signs with SHA-256 unless told otherwise, as do the toolkits' defaults (OneLogin's
// python3-saml and java-saml refuse SHA-1 since 2022; Keycloak on Java 17 cannot verify it).
// So a connection refuses a response or assertion signed with SHA-1, as the signature
// algorithm or as a reference's digest, unless it accepts them
// (models.Connection.SAMLAcceptSHA1: the connections that existed before this rule, and one an
// admin sets for an IdP that cannot sign otherwise). Both readers of responses apply it
// (sha1Policy).

// sha1Algorithms are the xmldsig algorithm URIs that hash with SHA-1, with their usual names.
var sha1Algorithms = map[string]string{
	dsig.RSASHA1SignatureMethod:                   "RSA-SHA1",
	dsig.ECDSASHA1SignatureMethod:                 "ECDSA-SHA1",
	"http://www.w3.org/2000/09/xmldsig#dsa-sha1":  "DSA-SHA1",
	"http://www.w3.org/2000/09/xmldsig#hmac-sha1": "HMAC-SHA1",
	"http://www.w3.org/2000/09/xmldsig#sha1":      "a SHA-1 digest",
}

// sha1SignatureError names the SHA-1 algorithm a signature was made with, and what to do.
type sha1SignatureError struct{ name, uri string }

func (e sha1SignatureError) Error() string {
	return fmt.Sprintf("the identity provider signed with %s (%s), which this connection refuses: set the IdP's signature "+
		"algorithm to SHA-256 (RSA-SHA256), or, for an IdP that cannot, set the connection's samlConfig.acceptSha1Signatures", e.name, e.uri)
}

// refuseSHA1 returns a sha1SignatureError when a signature goxmldsig may verify el with names
// a SHA-1 algorithm in its SignedInfo: the SignatureMethod, or a Reference's DigestMethod. It
// reads more widely than goxmldsig does, so that no SHA-1 it would verify is missed:
//
//   - the signatures: an enveloped one (a direct child named Signature), and any other
//     Signature below el that may reference el (signatureMayReference). goxmldsig's Validate
//     takes the first Signature in document order, at any depth, with a Reference to el, and
//     crewjam's and verifySignature's look for a direct child only decides whether el is
//     signed at all: a SHA-256 decoy as the direct child and the IdP's SHA-1 signature of el
//     deeper (an Assertion's child, an Extensions') is verified with SHA-1. A Signature below
//     el of another element (an assertion's own, inside a signed Response) is not what
//     verifies el, and is left to the check of that element if there is one;
//   - a Signature or SignedInfo in any namespace, every element below SignedInfo, an
//     Algorithm attribute with any prefix (encoding/xml, which goxmldsig reads with, matches
//     it), and a namespace declaration of the prefix Algorithm in scope of SignedInfo: the
//     exclusive canonicalisation moves xmlns:Algorithm from an ancestor onto an element
//     below SignedInfo that uses the prefix, and encoding/xml then reads that declaration as
//     the element's Algorithm attribute (TestRefuseSHA1ReadsWhatGoxmldsigVerifies).
//
// The digests of an EncryptedKey (RSA-OAEP's, often SHA-1, which is sound there) are outside
// SignedInfo and not read.
func refuseSHA1(el *etree.Element) error {
	var err error
	var walk func(parent *etree.Element)
	walk = func(parent *etree.Element) {
		for _, c := range parent.ChildElements() {
			if err != nil {
				return
			}
			if c.Tag == "Signature" && (parent == el || signatureMayReference(c, el)) {
				for _, signedInfo := range c.ChildElements() {
					if signedInfo.Tag != "SignedInfo" {
						continue
					}
					if err = sha1DeclaredAbove(signedInfo); err != nil {
						return
					}
					if err = sha1In(signedInfo); err != nil {
						return
					}
				}
			}
			walk(c)
		}
	}
	walk(el)
	return err
}

// signatureMayReference reports whether goxmldsig may take sig as el's signature: a Reference
// (in any namespace, anywhere below a SignedInfo) whose URI is empty or names el's ID, as
// goxmldsig compares them (URI[1:], whatever its first character), or that has no URI of its
// own (encoding/xml then reads an empty one), or one in the scope of a declaration of the
// prefix URI (which encoding/xml may read as its URI once canonicalisation moved it there).
func signatureMayReference(sig, el *etree.Element) bool {
	var ids []string
	for _, a := range el.Attr {
		if a.Key == "ID" {
			ids = append(ids, a.Value)
		}
	}
	if len(ids) == 0 {
		ids = []string{""}
	}
	var refers func(e *etree.Element) bool
	refers = func(e *etree.Element) bool {
		for _, c := range e.ChildElements() {
			if c.Tag == "Reference" {
				if declares(c, "URI") {
					return true
				}
				uris := 0
				for _, a := range c.Attr {
					if a.Key != "URI" {
						continue
					}
					uris++
					if a.Value == "" {
						return true
					}
					for _, id := range ids {
						if a.Value[1:] == id {
							return true
						}
					}
				}
				if uris == 0 {
					return true
				}
			}
			if refers(c) {
				return true
			}
		}
		return false
	}
	for _, signedInfo := range sig.ChildElements() {
		if signedInfo.Tag == "SignedInfo" && refers(signedInfo) {
			return true
		}
	}
	return false
}

// declares reports whether the prefix is declared on el or an ancestor.
func declares(el *etree.Element, prefix string) bool {
	for p := el; p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			if a.Space == "xmlns" && a.Key == prefix {
				return true
			}
		}
	}
	return false
}

// sha1DeclaredAbove finds a declaration of the prefix Algorithm bound to a SHA-1 algorithm URI
// on an ancestor of signedInfo (sha1In reads signedInfo and what is below it).
func sha1DeclaredAbove(signedInfo *etree.Element) error {
	for p := signedInfo.Parent(); p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			if a.Space != "xmlns" || a.Key != "Algorithm" {
				continue
			}
			if name, ok := sha1Algorithms[a.Value]; ok {
				return sha1SignatureError{name: name, uri: a.Value}
			}
		}
	}
	return nil
}

// sha1In finds a SHA-1 Algorithm on el or below it (an xmlns:Algorithm declaration too).
func sha1In(el *etree.Element) error {
	for _, a := range el.Attr {
		if a.Key != "Algorithm" {
			continue
		}
		if name, ok := sha1Algorithms[a.Value]; ok {
			return sha1SignatureError{name: name, uri: a.Value}
		}
	}
	for _, c := range el.ChildElements() {
		if err := sha1In(c); err != nil {
			return err
		}
	}
	return nil
}

// sha1Policy is a connection's rule on SHA-1 (models.Connection.SAMLAcceptSHA1) applied to
// the signatures the check of one response verifies, by both readers: verifySignature and,
// as crewjam's ServiceProvider.SignatureVerifier, parseResponse. Used records that a signature
// it let through was made with SHA-1 (the ACS warns of it: SAMLLogin.SHA1).
type sha1Policy struct {
	accept bool
	used   bool
}

// allows refuses el's signature when it is made with SHA-1 and SHA-1 is not accepted.
func (p *sha1Policy) allows(el *etree.Element) error {
	err := refuseSHA1(el)
	if err != nil && p.accept {
		p.used = true
		return nil
	}
	return err
}

// VerifySignature is crewjam's verification with allows first.
func (p *sha1Policy) VerifySignature(vc *dsig.ValidationContext, el *etree.Element) error {
	if err := p.allows(el); err != nil {
		return err
	}
	if _, err := vc.Validate(el); err != nil {
		return fmt.Errorf("cannot validate signature on %s: %v", el.Tag, err) // crewjam's words
	}
	return nil
}
