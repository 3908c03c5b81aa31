package sso

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// realAssertionsDir holds responses real IdPs issued, with where each came from and its
// license (README.md there).
const realAssertionsDir = "testdata/real-assertions"

// TestSAMLRealIdPsPassTheSchemaRules holds the responses of real IdPs (Google, Entra ID,
// AD FS, Okta, OneLogin, PingFederate, Shibboleth, Keycloak, SimpleSAMLphp, Auth0, Oracle,
// VMware, ...) to the rules checkResponse adds to crewjam's checks, which an IdP that writes
// its assertions differently from Gatehouse's test IdPs could trip on, failing every sign-in
// through it: each SignedInfo holds one Reference (oneReference, SAML core §5.4.2); the
// signed Response's or assertion's own Signature references its ID, and no other Signature
// below it does (ownSignature); the assertion holds no element of another namespace where
// SAML's schema has only its own (foreignElements). Each file is read as the ACS reads a
// response (readXML); its assertion is the one checkResponse takes, the Response's Assertion
// child (or the file's root when the file is a bare assertion). Signatures, times and
// audiences are not checked: these responses were signed long ago with keys Gatehouse does
// not hold.
func TestSAMLRealIdPsPassTheSchemaRules(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(realAssertionsDir, "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(realAssertionsDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("%d responses in %s: the corpus went missing", len(files), realAssertionsDir)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".xml"), func(t *testing.T) {
			if !strings.Contains(string(readme), "| "+name+" |") {
				t.Errorf("%s is not in the README's table: say where it came from and under which license", name)
			}
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			doc, shape, err := readXML(raw)
			if err != nil {
				t.Fatalf("the ACS refuses to read it: %v", err)
			}
			root := doc.Root()
			assertion := root
			if root.Tag == "Response" {
				children := assertionChildren(root, "Assertion")
				if shape.assertions != 1 || shape.encryptedAssertions != 0 || len(children) != 1 {
					t.Fatalf("not a response with one plain assertion as its child: %+v", shape)
				}
				assertion = children[0]
			}
			if assertion == nil || assertion.Tag != "Assertion" || assertion.NamespaceURI() != assertionNS {
				t.Fatalf("no assertion where checkResponse looks for it (root %s)", root.Tag)
			}
			// The Response holds the assertion: every SignedInfo of either, whichever of them
			// verifySignature checks.
			if err := oneReference(root); err != nil {
				t.Errorf("oneReference refuses it: %v", err)
			}
			if err := foreignElements(assertion); err != nil {
				t.Errorf("foreignElements refuses it: %v", err)
			}
			// The Response and its assertion, each that has a Signature child: whichever of
			// them verifySignature checks.
			elements := []*etree.Element{root}
			if assertion != root {
				elements = append(elements, assertion)
			}
			signed := 0
			for _, el := range elements {
				sig, err := findChild(el, dsigNS, "Signature")
				if err != nil {
					t.Errorf("its %s's Signature: %v", el.Tag, err)
				}
				if sig == nil {
					continue
				}
				signed++
				if err := ownSignature(el); err != nil {
					t.Errorf("ownSignature refuses its %s: %v", el.Tag, err)
				}
			}
			if signed == 0 {
				t.Error("neither the Response nor its assertion is signed")
			}
		})
	}
}
