package sso_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"gatehouse/sso/samltest"
)

// TestSAMLConnectionFromRealIdPMetadata: a SAML connection is created from each IdP's
// metadata document as its console serves it (samlConfig.metadataXml), and takes the entity
// ID, the HTTP-Redirect SSO URL and every signing certificate from it, whatever else the
// document holds:
//
//   - Entra ID's federationmetadata.xml: a UTF-8 byte order mark and an XML declaration, the
//     document's own ds:Signature, two WS-Federation RoleDescriptors (xsi:type
//     fed:SecurityTokenServiceType, fed:ApplicationServiceType) before the IDPSSODescriptor,
//     and, during a certificate rollover, two signing KeyDescriptors (the document Microsoft's
//     SaaS tutorials, such as azure-docs' TOPdesk one, have admins read the RoleDescriptor
//     xsi:type fed:ApplicationServiceType of);
//   - AD FS's FederationMetadata.xml: one EntityDescriptor holding an SPSSODescriptor beside
//     the IDPSSODescriptor, an encryption KeyDescriptor beside the signing one, the
//     certificate's base64 broken into lines, and HTTP-POST listed before HTTP-Redirect;
//   - Okta's and Google's: the md: prefix, a KeyDescriptor with use="signing", Google's
//     validUntil and standalone="no", Okta's HTTP-POST before HTTP-Redirect;
//   - a KeyDescriptor without use (SAML metadata §2.4.1.1: both uses), as OneLogin's and
//     Shibboleth's documents may write it.
func TestSAMLConnectionFromRealIdPMetadata(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		_, c1, _ := samltest.NewKeyPair(t)
		_, c2, _ := samltest.NewKeyPair(t)
		b1, b2 := base64.StdEncoding.EncodeToString(c1.Raw), base64.StdEncoding.EncodeToString(c2.Raw)
		var lines strings.Builder
		for i := 0; i < len(b1); i += 64 {
			lines.WriteString("\n          " + b1[i:min(i+64, len(b1))])
		}
		wrapped := lines.String() + "\n        "
		dsKey := func(use, b string) string {
			if use != "" {
				use = ` use="` + use + `"`
			}
			return `<KeyDescriptor` + use + `><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>` + b +
				`</X509Certificate></X509Data></KeyInfo></KeyDescriptor>`
		}
		mdKey := func(b string) string {
			return `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>` + b +
				`</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`
		}
		const (
			redirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
			post     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
			wsfed    = `xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706"`
		)
		for _, c := range []struct {
			name, doc, entityID, ssoURL string
			certs                       int
		}{
			{"Entra ID", "\ufeff" + `<?xml version="1.0" encoding="utf-8"?><EntityDescriptor ID="_7a1e7134-1822-4f88-a294-5cfb571c333f" entityID="https://sts.windows.net/9122040d-6c67-4c5b-b112-36a304b66dad/" xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` +
				`<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></SignedInfo><SignatureValue>AAAA</SignatureValue></Signature>` +
				`<RoleDescriptor xsi:type="fed:SecurityTokenServiceType" ` + wsfed + `>` + dsKey("signing", b1) + dsKey("signing", b2) +
				`<fed:ClaimTypesOffered><auth:ClaimType Uri="http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name" xmlns:auth="http://docs.oasis-open.org/wsfed/authorization/200706"><auth:DisplayName>Name</auth:DisplayName></auth:ClaimType></fed:ClaimTypesOffered>` +
				`<fed:PassiveRequestorEndpoint><wsa:EndpointReference xmlns:wsa="http://www.w3.org/2005/08/addressing"><wsa:Address>https://login.microsoftonline.com/9122040d-6c67-4c5b-b112-36a304b66dad/wsfed</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint></RoleDescriptor>` +
				`<RoleDescriptor xsi:type="fed:ApplicationServiceType" ` + wsfed + `>` + dsKey("signing", b1) + dsKey("signing", b2) + `</RoleDescriptor>` +
				`<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + dsKey("signing", b1) + dsKey("signing", b2) +
				`<SingleLogoutService Binding="` + redirect + `" Location="https://login.microsoftonline.com/9122040d-6c67-4c5b-b112-36a304b66dad/saml2"/>` +
				`<SingleSignOnService Binding="` + redirect + `" Location="https://login.microsoftonline.com/9122040d-6c67-4c5b-b112-36a304b66dad/saml2"/>` +
				`<SingleSignOnService Binding="` + post + `" Location="https://login.microsoftonline.com/9122040d-6c67-4c5b-b112-36a304b66dad/saml2"/>` +
				`</IDPSSODescriptor></EntityDescriptor>`,
				"https://sts.windows.net/9122040d-6c67-4c5b-b112-36a304b66dad/", "https://login.microsoftonline.com/9122040d-6c67-4c5b-b112-36a304b66dad/saml2", 2},
			{"AD FS", `<EntityDescriptor ID="_e4d7" entityID="http://adfs.example.com/adfs/services/trust" xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` +
				`<SPSSODescriptor WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + dsKey("encryption", b2) + dsKey("signing", b1) +
				`<AssertionConsumerService Binding="` + post + `" Location="https://adfs.example.com/adfs/ls/" index="0" isDefault="true"/></SPSSODescriptor>` +
				`<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + dsKey("encryption", b2) + dsKey("signing", wrapped) +
				`<NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>` +
				`<SingleSignOnService Binding="` + post + `" Location="https://adfs.example.com/adfs/ls/"/>` +
				`<SingleSignOnService Binding="` + redirect + `" Location="https://adfs.example.com/adfs/ls/"/>` +
				`</IDPSSODescriptor></EntityDescriptor>`,
				"http://adfs.example.com/adfs/services/trust", "https://adfs.example.com/adfs/ls/", 1},
			{"Okta", `<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://www.okta.com/exk1abc">` +
				`<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + mdKey(b1) +
				`<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat><md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>` +
				`<md:SingleSignOnService Binding="` + post + `" Location="https://contoso.okta.com/app/contoso_portal_1/exk1abc/sso/saml"/>` +
				`<md:SingleSignOnService Binding="` + redirect + `" Location="https://contoso.okta.com/app/contoso_portal_1/exk1abc/sso/saml"/>` +
				`</md:IDPSSODescriptor></md:EntityDescriptor>`,
				"http://www.okta.com/exk1abc", "https://contoso.okta.com/app/contoso_portal_1/exk1abc/sso/saml", 1},
			{"Google Workspace", `<?xml version="1.0" encoding="UTF-8" standalone="no"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://accounts.google.com/o/saml2?idpid=C01abcde" validUntil="2031-08-30T19:10:29.000Z">` +
				`<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + mdKey(wrapped) +
				`<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>` +
				`<md:SingleSignOnService Binding="` + redirect + `" Location="https://accounts.google.com/o/saml2/idp?idpid=C01abcde"/>` +
				`<md:SingleSignOnService Binding="` + post + `" Location="https://accounts.google.com/o/saml2/idp?idpid=C01abcde"/>` +
				`</md:IDPSSODescriptor></md:EntityDescriptor>`,
				"https://accounts.google.com/o/saml2?idpid=C01abcde", "https://accounts.google.com/o/saml2/idp?idpid=C01abcde", 1},
			{"no use", `<EntityDescriptor entityID="https://app.onelogin.com/saml/metadata/1234" xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` +
				`<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + dsKey("", b1) +
				`<SingleSignOnService Binding="` + redirect + `" Location="https://contoso.onelogin.com/trust/saml2/http-redirect/sso/1234"/>` +
				`</IDPSSODescriptor></EntityDescriptor>`,
				"https://app.onelogin.com/saml/metadata/1234", "https://contoso.onelogin.com/trust/saml2/http-redirect/sso/1234", 1},
		} {
			body, _ := json.Marshal(map[string]any{"name": "From " + c.name, "protocol": "saml", "samlConfig": map[string]any{"metadataXml": c.doc, "ownEntityId": true}})
			resp := e.REST(e.AdminToken(), "POST", "/api/v1/sso/connections", string(body))
			if resp.Status != 201 {
				t.Fatalf("%s: %d %v", c.name, resp.Status, resp.Body)
			}
			cfg := get(resp.Body, "connection", "samlConfig").(map[string]any)
			if cfg["entityId"] != c.entityID || cfg["ssoUrl"] != c.ssoURL || strings.Count(cfg["certificate"].(string), "BEGIN CERTIFICATE") != c.certs {
				t.Fatalf("%s: %v", c.name, cfg)
			}
		}
	})
}
