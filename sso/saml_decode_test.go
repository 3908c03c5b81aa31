package sso

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"testing"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

// decodeTree (the values of a response, unmarshalled from etree's tokens) against
// xml.Unmarshal of the bytes, the plain path it replaces.

// unmarshalBoth decodes doc into a fresh value of v's type both ways. ok is false when the
// ACS would not get as far (checkXML or etree refuses doc).
func unmarshalBoth[T any](t *testing.T, doc []byte) (fromTree, fromBytes *T, treeErr, bytesErr error, ok bool) {
	if _, err := checkXML(doc); err != nil {
		return nil, nil, nil, nil, false
	}
	et := etree.NewDocument()
	if err := et.ReadFromBytes(doc); err != nil || et.Root() == nil {
		return nil, nil, nil, nil, false
	}
	fromTree, fromBytes = new(T), new(T)
	treeErr = decodeTree(et.Root(), fromTree)
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.CharsetReader = passThrough // as etree reads
	bytesErr = d.Decode(fromBytes)
	return fromTree, fromBytes, treeErr, bytesErr, true
}

func sameDecoding[T any](t *testing.T, doc []byte) bool {
	t.Helper()
	fromTree, fromBytes, treeErr, bytesErr, ok := unmarshalBoth[T](t, doc)
	if !ok {
		return false
	}
	if (treeErr != nil) != (bytesErr != nil) {
		t.Fatalf("%T: from the tree: %v; from the bytes: %v\n%s", fromTree, treeErr, bytesErr, doc)
	}
	if treeErr == nil && !reflect.DeepEqual(fromTree, fromBytes) {
		t.Fatalf("%T: from the tree\n%+v\nfrom the bytes\n%+v\n%s", fromTree, fromTree, fromBytes, doc)
	}
	return treeErr == nil
}

// decodeCases are documents where reading etree's tokens could differ from reading the bytes.
var decodeCases = []string{
	// (A repeated attribute, which etree would keep once with its last value, never gets
	// here: readXML refuses it.)
	// Text in pieces: comments, CDATA, references, a processing instruction.
	`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">` +
		`<saml:Issuer> a <!-- c --> b<![CDATA[ <c> ]]>&amp;&#x41;<?pi x?>d` + "\r\n" + `</saml:Issuer></samlp:Response>`,
	// A default namespace, redeclared deeper; a prefix declared again on a child.
	`<Response xmlns="urn:oasis:names:tc:SAML:2.0:protocol" IssueInstant="2026-12-04T12:00:00Z"><Issuer xmlns="urn:oasis:names:tc:SAML:2.0:assertion">i</Issuer>` +
		`<Status><StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></Status></Response>`,
	`<p:Response xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol"><p:Issuer xmlns:p="urn:oasis:names:tc:SAML:2.0:assertion">i</p:Issuer></p:Response>`,
	// The wrong root, and a value encoding/xml cannot read.
	`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`,
	`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" IssueInstant="yesterday"/>`,
	// An assertion with its attributes' xsi:type, the xml: prefix, and a prolog.
	`<?xml version="1.0" encoding="UTF-8"?><!-- before --><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" ` +
		`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="x" IssueInstant="2026-12-04T12:00:00.123Z" xml:lang="en"><saml:Subject><saml:NameID Format="f">n</saml:NameID></saml:Subject>` +
		`<saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue xsi:type="xs:string">a@b.c</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion><!-- after -->`,
}

func TestDecodeTreeIsUnmarshal(t *testing.T) {
	decoded := 0
	for _, name := range savedResponseNames {
		raw := savedResponse(t, name)
		if !sameDecoding[saml.Response](t, raw) {
			t.Fatalf("%s: not decoded", name)
		}
		decoded++
	}
	for _, doc := range decodeCases {
		if sameDecoding[saml.Response](t, []byte(doc)) {
			decoded++
		}
		if sameDecoding[saml.Assertion](t, []byte(doc)) {
			decoded++
		}
	}
	// A real response's assertion is what the ACS reads: it must come out whole.
	raw := savedResponse(t, "plain")
	fromTree, _, _, _, _ := unmarshalBoth[saml.Response](t, raw)
	if a := fromTree.Assertion; a == nil || a.Subject == nil || a.Subject.NameID == nil || a.Subject.NameID.Value == "" ||
		len(a.AttributeStatements) == 0 || a.Conditions == nil || a.IssueInstant.IsZero() {
		t.Fatalf("the assertion read from the tree: %+v", fromTree.Assertion)
	}
	if decoded < 6 {
		t.Fatalf("only %d documents decoded", decoded)
	}
}

// FuzzDecodeTree holds decodeTree to xml.Unmarshal over any document the ACS would unmarshal.
func FuzzDecodeTree(f *testing.F) {
	for _, name := range savedResponseNames {
		f.Add(savedResponse(f, name))
	}
	for _, doc := range decodeCases {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		sameDecoding[saml.Response](t, doc)
		sameDecoding[saml.Assertion](t, doc)
	})
}
