package sso

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/crewjam/saml"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/transform"

	"gatehouse/models"
	"gatehouse/provision"
)

// readMetadata fetches a SAML IdP's metadata document (parseMetadata).
func (r *Remote) readMetadata(ctx context.Context, url string) (*saml.EntityDescriptor, string) {
	body, problem := r.fetch(ctx, "metadata", url, maxDocument)
	if problem != "" {
		return nil, problem
	}
	return parseMetadata(body, "metadata "+url, declaredCharset)
}

// parseMetadata reads a SAML IdP's metadata document: an EntityDescriptor with an
// IDPSSODescriptor, or an EntitiesDescriptor holding exactly one such (as some federations
// and AD FS exports wrap it). charset reads the document in the encoding its XML declaration
// names (declaredCharset for bytes, passThrough for text already decoded). A problem starts
// with what (the document's name).
func parseMetadata(doc []byte, what string, charset func(string, io.Reader) (io.Reader, error)) (*saml.EntityDescriptor, string) {
	unmarshal := func(v any) error {
		d := xml.NewDecoder(bytes.NewReader(doc))
		d.CharsetReader = charset
		return d.Decode(v)
	}
	var root struct{ XMLName xml.Name }
	if err := unmarshal(&root); err != nil {
		var unknown unknownCharset
		if errors.As(err, &unknown) {
			return nil, fmt.Sprintf("%s declares the character encoding %q, which Gatehouse cannot read: save it as UTF-8",
				what, clipName(string(unknown)))
		}
		return nil, fmt.Sprintf("%s is not XML: %s", what, models.Clip(err.Error(), 256))
	}
	var idps []saml.EntityDescriptor
	switch root.XMLName.Local {
	case "EntityDescriptor":
		var ed saml.EntityDescriptor
		if err := unmarshal(&ed); err != nil {
			return nil, fmt.Sprintf("%s is not a SAML EntityDescriptor: %s", what, models.Clip(err.Error(), 256))
		}
		idps = append(idps, ed)
	case "EntitiesDescriptor":
		var eds saml.EntitiesDescriptor
		if err := unmarshal(&eds); err != nil {
			return nil, fmt.Sprintf("%s is not a SAML EntitiesDescriptor: %s", what, models.Clip(err.Error(), 256))
		}
		idps = eds.EntityDescriptors
	default:
		return nil, fmt.Sprintf("%s is not SAML metadata: its root element is <%s>, not <EntityDescriptor>", what, clipName(root.XMLName.Local))
	}
	idps = slices.DeleteFunc(idps, func(ed saml.EntityDescriptor) bool { return len(ed.IDPSSODescriptors) == 0 })
	switch len(idps) {
	case 0:
		return nil, fmt.Sprintf("%s has no IDPSSODescriptor", what)
	case 1:
		return &idps[0], ""
	}
	return nil, fmt.Sprintf("%s describes %d identity providers; give the metadata of the one to connect", what, len(idps))
}

// unknownCharset is the encoding an XML declaration names that declaredCharset cannot read.
type unknownCharset string

func (u unknownCharset) Error() string {
	return fmt.Sprintf("unknown character encoding %q", string(u))
}

// declaredCharset is the CharsetReader of a metadata document fetched as bytes: encoding/xml
// reads UTF-8 alone, and older AD FS and Shibboleth exports declare ISO-8859-1 or
// windows-1252. A name is looked up among the IANA charset names (which XML 1.0 §4.3.3 asks a
// declaration to use), then among the WHATWG labels browsers accept (cp1252, latin1).
func declaredCharset(label string, input io.Reader) (io.Reader, error) {
	enc, err := ianaindex.IANA.Encoding(label)
	if err != nil || enc == nil { // nil: registered, but x/text has no decoder for it
		if enc, err = htmlindex.Get(label); err != nil {
			return nil, unknownCharset(label)
		}
	}
	return transform.NewReader(input, enc.NewDecoder()), nil
}

func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// SAMLMetadata fetches a SAML IdP's metadata document and reads it (metadataOf).
func (r *Remote) SAMLMetadata(ctx context.Context, url string) (provision.SAMLMetadata, error) {
	ed, problem := r.readMetadata(ctx, url)
	if problem != "" {
		return provision.SAMLMetadata{}, errors.New(problem)
	}
	return metadataOf(ed, "metadata "+url)
}

// ReadSAMLMetadata reads a SAML IdP's metadata document given as text (an admin's upload).
func (r *Remote) ReadSAMLMetadata(doc string) (provision.SAMLMetadata, error) {
	// The text is characters already (the API's JSON or GraphQL string): a declaration's
	// encoding names what its bytes were once, and decoding them again would garble them.
	ed, problem := parseMetadata([]byte(doc), "metadataXml", passThrough)
	if problem != "" {
		return provision.SAMLMetadata{}, errors.New(problem)
	}
	return metadataOf(ed, "metadataXml")
}

// bindingOf are the bindings Gatehouse sends AuthnRequests by, by their URN in metadata.
var bindingOf = map[string]models.SAMLBinding{saml.HTTPRedirectBinding: models.SAMLBindingRedirect, saml.HTTPPostBinding: models.SAMLBindingPost}

// metadataOf reads what a connection takes from its IdP's metadata: the entity ID, the
// single sign-on URL of the HTTP-Redirect binding (the one Gatehouse prefers to send
// AuthnRequests by), else of the HTTP-POST binding (an IdP that offers only that one), whether
// the IdP wants them signed, and the signing certificates (KeyDescriptor
// use="signing", or with no use), in the document's order, each once. A certificate that
// does not parse fails the whole document: taking the others would silently drop the one
// the IdP may sign with next. It lists every SingleSignOnService too (ssoServicesOf), for
// provision's rules on the connection's ssoUrl.
func metadataOf(ed *saml.EntityDescriptor, what string) (provision.SAMLMetadata, error) {
	md := provision.SAMLMetadata{EntityID: ed.EntityID, SingleSignOnServices: ssoServicesOf(ed)}
	for _, e := range md.SingleSignOnServices {
		switch {
		case e.Binding == models.SAMLBindingRedirect && md.SSOBinding != models.SAMLBindingRedirect:
			md.SSOURL, md.SSOBinding = e.Location, models.SAMLBindingRedirect
		case e.Binding == models.SAMLBindingPost && md.SSOURL == "":
			md.SSOURL, md.SSOBinding = e.Location, models.SAMLBindingPost
		}
	}
	for _, d := range ed.IDPSSODescriptors {
		if d.WantAuthnRequestsSigned != nil && *d.WantAuthnRequestsSigned {
			md.WantAuthnRequestsSigned = true
		}
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for i, xc := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
				if err != nil {
					return provision.SAMLMetadata{}, fmt.Errorf("%s: signing certificate %d is not base64: %v", what, i+1, err)
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return provision.SAMLMetadata{}, fmt.Errorf("%s: a signing certificate does not parse: %v", what, err)
				}
				if !slices.ContainsFunc(md.SigningCertificates, cert.Equal) {
					md.SigningCertificates = append(md.SigningCertificates, cert)
				}
			}
		}
	}
	return md, nil
}

// ssoServicesOf are every SingleSignOnService of ed's IDPSSODescriptors, in the document's
// order: the Location trimmed of the white space XML may put around it, and the binding
// Gatehouse sends by (bindingOf), "" for the others (SOAP, Artifact, ...).
func ssoServicesOf(ed *saml.EntityDescriptor) []provision.SAMLEndpoint {
	var out []provision.SAMLEndpoint
	for _, d := range ed.IDPSSODescriptors {
		for _, sso := range d.SingleSignOnServices {
			out = append(out, provision.SAMLEndpoint{Location: strings.TrimSpace(sso.Location), Binding: bindingOf[sso.Binding]})
		}
	}
	return out
}
