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
		{"two spaces", map[string]string{nameClaim: " Jane  van Doe "}, "Jane", "van Doe"},
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

// TestOIDCIdentityFullName: the name claim stands in for missing given_name and family_name as
// a SAML name attribute does (nameParts): Auth0 sets name to the address of a user who gave
// none.
func TestOIDCIdentityFullName(t *testing.T) {
	for _, c := range []struct {
		name        string
		claims      map[string]any
		first, last string
	}{
		{"a display name", map[string]any{"name": "Jane van Doe"}, "Jane", "van Doe"},
		{"two spaces", map[string]any{"name": " Jane  van Doe "}, "Jane", "van Doe"},
		{"one word", map[string]any{"name": "Jane"}, "Jane", ""},
		{"an address", map[string]any{"name": "jane@example.com"}, "", ""},
		{"given and family names win", map[string]any{"name": "J. Doe", "given_name": "Jane", "family_name": "Doe"}, "Jane", "Doe"},
	} {
		id, cause := identityOf(claimRules{identifier: "sub"}, "00u1", c.claims)
		if cause != "" || id.FirstName != c.first || id.LastName != c.last {
			t.Errorf("%s: %q %q (%s), want %q %q", c.name, id.FirstName, id.LastName, cause, c.first, c.last)
		}
	}
}
