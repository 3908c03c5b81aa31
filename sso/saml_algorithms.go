package sso

import (
	"errors"
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/provision"
)

// SHA-1 in SAML signatures. SHA-1 is broken for collisions (SHAttered, 2017; a chosen prefix,
// 2020), and an XML signature over SHA-1 is only as strong as the hash; every IdP Gatehouse
// documents signs with SHA-256 unless told otherwise, as do the toolkits' defaults (OneLogin's
// python3-saml and java-saml refuse SHA-1 since 2022; Keycloak on Java 17 cannot verify it).
// So a connection refuses a response or assertion in which a signature uses SHA-1, as the
// signature algorithm or as a reference's digest, unless it accepts them
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
		"algorithm to SHA-256 (RSA-SHA256), or, for an IdP that cannot, set the connection's samlConfig.acceptSha1Signatures to true", e.name, e.uri)
}

// sha1Digest is the one SHA-1 algorithm with a sound use in a response: RSA-OAEP's digest, in
// an EncryptedKey.
const sha1Digest = "http://www.w3.org/2000/09/xmldsig#sha1"

// refuseSHA1 returns a sha1SignatureError when el, a signed element about to be verified, or
// anything in it names SHA-1 for a signature: any SignedInfo's algorithms (its SignatureMethod,
// its References' DigestMethod), a SHA-1 signature method anywhere, and a namespace declared as
// a SHA-1 algorithm URI on el, in it or above it. It does not ask which of the signatures
// goxmldsig will verify el with: goxmldsig takes the first Signature in document order, at
// any depth, with a Reference to el (a SHA-256 decoy as el's own child does not decide it),
// and exclusive canonicalisation moves a declaration of the prefix Algorithm onto an element
// below SignedInfo, which encoding/xml then reads as its Algorithm
// (TestRefuseSHA1ReadsWhatGoxmldsigVerifies, from a review). Every SHA-1 signature in what is
// verified is refused instead, whatever it signs; the rule is simpler than any reading of
// which one counts, and no IdP mixes algorithms. SignedInfo and Algorithm are matched by
// local name, in any namespace, under any prefix (encoding/xml, which goxmldsig reads with,
// does). RSA-OAEP's SHA-1 digest in an EncryptedKey, outside any SignedInfo, is sound and
// left alone.
func refuseSHA1(el *etree.Element) error {
	for p := el.Parent(); p != nil; p = p.Parent() {
		if err := sha1Declared(p); err != nil {
			return err
		}
	}
	return sha1Below(el, false)
}

// sha1Below is refuseSHA1 for el and what is in it; inSignedInfo: el is below a SignedInfo.
func sha1Below(el *etree.Element, inSignedInfo bool) error {
	inSignedInfo = inSignedInfo || el.Tag == "SignedInfo"
	if err := sha1Declared(el); err != nil {
		return err
	}
	for _, a := range el.Attr {
		if a.Key != "Algorithm" || a.Space == "xmlns" {
			continue
		}
		if name, ok := sha1Algorithms[a.Value]; ok && (inSignedInfo || a.Value != sha1Digest) {
			return sha1SignatureError{name: name, uri: a.Value}
		}
	}
	for _, c := range el.ChildElements() {
		if err := sha1Below(c, inSignedInfo); err != nil {
			return err
		}
	}
	return nil
}

// sha1Declared finds a namespace declaration on el whose URI is a SHA-1 algorithm's.
func sha1Declared(el *etree.Element) error {
	for _, a := range el.Attr {
		if a.Space != "xmlns" && (a.Space != "" || a.Key != "xmlns") {
			continue
		}
		if name, ok := sha1Algorithms[a.Value]; ok {
			return sha1SignatureError{name: name, uri: a.Value}
		}
	}
	return nil
}

// sha1Policy is a connection's rule on SHA-1 (models.Connection.SAMLAcceptSHA1) applied to
// the signatures the check of one response verifies, by both readers: verifySignature and,
// as crewjam's ServiceProvider.SignatureVerifier, parseResponse. Used records that a signature
// it let through was made with SHA-1 (the ACS warns of it: SAMLLogin.SHA1), and alg which
// algorithm (the first one found: SAMLLogin.Warnings names it).
type sha1Policy struct {
	accept bool
	used   bool
	alg    sha1SignatureError
}

// allows refuses el's signature when it is made with SHA-1 and SHA-1 is not accepted.
func (p *sha1Policy) allows(el *etree.Element) error {
	err := refuseSHA1(el)
	if err != nil && p.accept {
		if !p.used {
			errors.As(err, &p.alg)
		}
		p.used = true
		return nil
	}
	return err
}

// warning is what a test sign-in shows when the policy let a SHA-1 signature through: the
// algorithm, and the way off it ("" when none was).
func (p *sha1Policy) warning() string {
	if !p.used {
		return ""
	}
	return fmt.Sprintf("The identity provider signed the response with %s (%s). SHA-1 is broken for collisions, and this connection "+
		"accepts it only because its samlConfig.acceptSha1Signatures is true: %s.", p.alg.name, p.alg.uri, provision.SHA1Advice)
}

// VerifySignature is crewjam's verification with allows, oneReference and ownSignature first.
func (p *sha1Policy) VerifySignature(vc *dsig.ValidationContext, el *etree.Element) error {
	if err := p.allows(el); err != nil {
		return err
	}
	if err := oneReference(el); err != nil {
		return err
	}
	if err := ownSignature(el); err != nil {
		return err
	}
	if _, err := vc.Validate(el); err != nil {
		return fmt.Errorf("cannot validate signature on %s: %v", el.Tag, err) // crewjam's words
	}
	return nil
}
