package sso

import (
	"testing"

	"github.com/crewjam/saml"
)

// TestSAMLIdentityFullName: a full name mapped to name stands in for missing given and family
// names, split at its first space; Entra ID's …/claims/name, which the WorldFlow document's
// example maps to name, is the user principal name, and an address is never taken for a name.
func TestSAMLIdentityFullName(t *testing.T) {
	const nameClaim = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	mapping := map[string]any{"email": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", "name": nameClaim}
	assertion := func(attrs map[string]string) *saml.Assertion {
		a := &saml.Assertion{Subject: &saml.Subject{NameID: &saml.NameID{Value: "3f2a-object-id"}}}
		st := saml.AttributeStatement{}
		for name, v := range attrs {
			st.Attributes = append(st.Attributes, saml.Attribute{Name: name, Values: []saml.AttributeValue{{Value: v}}})
		}
		a.AttributeStatements = []saml.AttributeStatement{st}
		return a
	}
	for _, c := range []struct {
		name        string
		attrs       map[string]string
		first, last string
	}{
		{"a display name", map[string]string{nameClaim: "Jane van Doe"}, "Jane", "van Doe"},
		{"Entra's user principal name", map[string]string{nameClaim: "jane@contoso.com"}, "", ""},
		{"given and family names win", map[string]string{nameClaim: "J. Doe",
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname": "Jane",
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname":   "Doe"}, "Jane", "Doe"},
	} {
		id := samlIdentity(assertion(c.attrs), mapping)
		if id.FirstName != c.first || id.LastName != c.last || id.Identifier != "3f2a-object-id" {
			t.Errorf("%s: %q %q (identifier %q), want %q %q", c.name, id.FirstName, id.LastName, id.Identifier, c.first, c.last)
		}
	}
}
