package sso

import (
	"encoding/xml"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"gatehouse/models"
	"gatehouse/sso/samltest"
)

// FuzzReadSAMLMetadata: whatever an admin pastes as metadataXml (or an IdP serves at its
// metadata URL), reading it never panics, and what it accepts is an IdP's metadata: the
// entity ID of the one EntityDescriptor with an IDPSSODescriptor, its certificates each once,
// an SSO URL that is a location of its HTTP-Redirect binding, else of its HTTP-POST binding,
// or none.
func FuzzReadSAMLMetadata(f *testing.F) {
	// An IdP's metadata as crewjam's IdP renders it (no server: a fuzz worker's setup starts
	// none).
	key, cert, _ := samltest.NewKeyPair(f)
	base, _ := url.Parse("https://idp.example.com")
	mdURL, ssoURL := *base, *base
	mdURL.Path, ssoURL.Path = "/metadata", "/sso"
	rendered, err := xml.Marshal((&saml.IdentityProvider{Key: key, Certificate: cert, MetadataURL: mdURL, SSOURL: ssoURL}).Metadata())
	if err != nil {
		f.Fatal(err)
	}
	doc := string(rendered)
	for _, seed := range []string{
		doc,
		`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + doc + `</EntitiesDescriptor>`,
		`<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + doc + doc + `</EntitiesDescriptor>`,
		strings.ReplaceAll(doc, "HTTP-Redirect", "HTTP-POST"),
		strings.Replace(doc, `use="signing"`, ``, 1),
		`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><IDPSSODescriptor><KeyDescriptor><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>!!</X509Certificate></X509Data></KeyInfo></KeyDescriptor></IDPSSODescriptor></EntityDescriptor>`,
		`<html/>`, `MIIC`, ``,
	} {
		f.Add(seed)
	}
	r := New(Options{})
	f.Fuzz(func(t *testing.T, doc string) {
		md, err := r.ReadSAMLMetadata(doc)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "metadataXml") {
				t.Fatalf("an error that does not name the field's document: %v", err)
			}
			return
		}
		ed, problem := parseMetadata([]byte(doc), "metadataXml", passThrough)
		if problem != "" || ed.EntityID != md.EntityID || len(ed.IDPSSODescriptors) == 0 {
			t.Fatalf("accepted %q as %+v, but it parses as %+v (%s)", doc, md, ed, problem)
		}
		binding := map[models.SAMLBinding]string{models.SAMLBindingRedirect: saml.HTTPRedirectBinding, models.SAMLBindingPost: saml.HTTPPostBinding}[md.SSOBinding]
		if md.SSOURL != "" && !slices.ContainsFunc(ed.IDPSSODescriptors[0].SingleSignOnServices, func(e saml.Endpoint) bool {
			return e.Binding == binding && strings.TrimSpace(e.Location) == md.SSOURL
		}) {
			t.Fatalf("SSO URL %q is no %s location of %+v", md.SSOURL, md.SSOBinding, ed.IDPSSODescriptors[0].SingleSignOnServices)
		}
		// HTTP-POST only when the IdP offers no HTTP-Redirect: Gatehouse prefers the redirect.
		if md.SSOBinding == models.SAMLBindingPost && slices.ContainsFunc(ed.IDPSSODescriptors[0].SingleSignOnServices, func(e saml.Endpoint) bool {
			return e.Binding == saml.HTTPRedirectBinding
		}) {
			t.Fatalf("HTTP-POST taken beside an HTTP-Redirect binding: %+v", ed.IDPSSODescriptors[0].SingleSignOnServices)
		}
		for i, c := range md.SigningCertificates {
			if len(c.Raw) == 0 || slices.ContainsFunc(md.SigningCertificates[:i], c.Equal) {
				t.Fatalf("certificate %d empty or repeated", i)
			}
		}
	})
}
