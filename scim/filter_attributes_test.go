package scim_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"

	"gatehouse/scim"
)

// Every attribute of the core and enterprise User schemas, as GET /Schemas publishes them, can
// be filtered with every operator RFC 7644 §3.4.2.2 defines for its type, and the filter agrees
// with the document the server shows: the value, and its case-exactness as the schema states.
// An attribute added to the schemas fails here until the test user carries it and the store
// can filter it (ARCHITECTURE.md, "Adding a SCIM attribute").
func TestSCIMFilterEveryUserAttribute(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("idp"))
		bare := e.SCIMUser(tok, map[string]any{"userName": "bare"})
		mv := func(value, typ string) []any {
			return []any{map[string]any{"value": value, "display": "Shown " + value, "type": typ, "primary": true}}
		}
		full := e.SCIMUser(tok, map[string]any{
			"schemas":    []string{scim.URNUser, scim.URNEnterprise},
			"userName":   "Full.Person",
			"externalId": "Ext-Full",
			"name": map[string]any{"formatted": "Ms. Full M Person III", "familyName": "Person", "givenName": "Full",
				"middleName": "Middle", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
			"displayName": "Full Person", "nickName": "Fulla", "profileUrl": "https://example.com/Full",
			"title": "Chief Tester", "userType": "Employee", "preferredLanguage": "en-GB", "locale": "en-GB",
			"timezone": "Europe/London", "active": true, "password": "Not-Stored-1",
			"emails":       []any{map[string]any{"value": "Full@Example.com", "display": "Work Mail", "type": "work", "primary": true}},
			"phoneNumbers": mv("+44 20 7946 0000", "work"), "ims": mv("full@im.example", "xmpp"),
			"photos": mv("https://example.com/Full.jpg", "photo"), "entitlements": mv("Admin-Entitlement", "grant"),
			"roles": mv("Tester-Role", "role"), "x509Certificates": mv("MIIDQzCCAqygAwIBAgICEAAwDQ", "cert"),
			"addresses": []any{map[string]any{"formatted": "1 Main St, London", "streetAddress": "1 Main St",
				"locality": "London", "region": "Greater London", "postalCode": "EC1A 1BB", "country": "GB",
				"type": "work", "primary": true}},
			scim.URNEnterprise: map[string]any{"employeeNumber": "E-701", "costCenter": "CC-4130",
				"organization": "Universal Studios", "division": "Theme Park", "department": "Tour Operations",
				"manager": map[string]any{"value": bare, "displayName": "Bare Boss"}},
		})
		e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Testers Group",
			"members": []any{map[string]any{"value": full}}}).Must(t, 201)
		docs := map[string]any{
			"full": e.Call("GET", "/scim/v2/Users/"+full, tok, nil).Must(t, 200).Body,
			"bare": e.Call("GET", "/scim/v2/Users/"+bare, tok, nil).Must(t, 200).Body,
		}

		// has reports whether filter finds the full user (and fails on a refused filter).
		has := func(filter string) bool { return slices.Contains(e.scimFilter(tok, filter), "Full.Person") }
		hasBare := func(filter string) bool { return slices.Contains(e.scimFilter(tok, filter), "bare") }
		refused := func(filter string) {
			t.Helper()
			r := e.Call("GET", "/scim/v2/Users?filter="+url.QueryEscape(filter), tok, nil)
			if r.Status != 400 || str(r.Body, "scimType") != "invalidFilter" {
				t.Errorf("filter %s: %d %s, want 400 invalidFilter", filter, r.Status, r.Raw)
			}
		}
		expect := func(filter string, want bool) {
			t.Helper()
			if got := has(filter); got != want {
				t.Errorf("filter %s: finds the user: %v, want %v", filter, got, want)
			}
		}

		checked := 0
		for _, urn := range []string{scim.URNUser, scim.URNEnterprise} {
			sch := e.Call("GET", "/scim/v2/Schemas/"+urn, tok, nil).Must(t, 200).Body
			prefix, node := "", func(d any) any { return d }
			if urn == scim.URNEnterprise {
				prefix, node = urn+":", func(d any) any { return get(d, urn) }
			}
			for _, a := range get(sch, "attributes").([]any) {
				name := str(a, "name")
				if name == "password" { // write-only, never stored: nothing to compare
					refused(`password eq "Not-Stored-1"`)
					refused(`password pr`)
					continue
				}
				attrs := []filteredAttr{{prefix + name, a, func(d any) any { return get(node(d), name) }}}
				for _, sub := range asList(get(a, "subAttributes")) {
					sn := str(sub, "name")
					attrs = append(attrs, filteredAttr{prefix + name + "." + sn, sub, func(d any) any {
						v := get(node(d), name)
						if l, isList := v.([]any); isList { // the test user has one element of each
							v = get(l, 0)
						}
						return get(v, sn)
					}})
				}
				for _, at := range attrs {
					v, bareV := at.val(docs["full"]), at.val(docs["bare"])
					if v == nil {
						t.Errorf("%s: the test user does not carry it", at.path)
						continue
					}
					checked++
					p := at.path
					switch str(at.def, "type") {
					case "complex":
						expect(p+" pr", true)
						if bareV == nil && hasBare(p+" pr") {
							t.Errorf("filter %s pr: finds the user without it", p)
						}
						if l, isList := v.([]any); isList {
							if value, ok := get(l, 0, "value").(string); ok {
								expect(p+` eq "`+value+`"`, true)
							}
						}
					case "boolean":
						b := v.(bool)
						expect(p+" eq "+boolText(b), true)
						expect(p+" eq "+boolText(!b), false)
						expect(p+" ne "+boolText(b), false)
						expect(p+" pr", true)
						for _, op := range []string{"gt", "ge", "lt", "le", "co", "sw", "ew"} {
							refused(p + " " + op + " " + boolText(b))
						}
						// Written as text, as Entra writes booleans (models.ParseSCIMBool).
						expect(p+` eq "`+titleCase(boolText(b))+`"`, true)
						expect(p+` eq " `+strings.ToUpper(boolText(b))+` "`, true)
						expect(p+` eq "`+titleCase(boolText(!b))+`"`, false)
						expect(p+` ne "`+boolText(b)+`"`, false)
						for _, v := range []string{`"yes"`, `"on"`, `""`, `1`} {
							refused(p + " eq " + v)
						}
						refused(p + ` gt "` + titleCase(boolText(b)) + `"`)
					default: // string, reference
						s := v.(string)
						q := func(x string) string { return `"` + strings.ReplaceAll(x, `"`, `\"`) + `"` }
						expect(p+" eq "+q(s), true)
						if swapped := swapCase(s); swapped != s {
							expect(p+" eq "+q(swapped), get(at.def, "caseExact") != true)
						}
						expect(p+" ne "+q(s), false)
						expect(p+" co "+q(s[1:len(s)-1]), true)
						expect(p+" sw "+q(s[:len(s)-1]), true)
						expect(p+" ew "+q(s[1:]), true)
						expect(p+" pr", true)
						if bareV == nil && hasBare(p+" pr") {
							t.Errorf("filter %s pr: finds the user without it", p)
						}
						expect(p+" gt "+q(s), false)
						expect(p+" ge "+q(s), true)
						expect(p+" lt "+q(s), false)
						expect(p+" le "+q(s), true)
						if hasBare(p + " eq " + q(s)) {
							t.Errorf("filter %s eq: finds the user without that value", p)
						}
					}
				}
			}
		}
		if checked < 60 {
			t.Errorf("only %d attributes checked: the schemas were not walked", checked)
		}

		// The outside suite's case, and absent attributes under not.
		if got := e.scimFilter(tok, `nickName pr and userName eq "full.person"`); !slices.Equal(got, []string{"Full.Person"}) {
			t.Errorf("nickName pr and userName eq: %v", got)
		}
		if !hasBare(`not (nickName eq "Fulla")`) || has(`not (nickName eq "Fulla")`) {
			t.Errorf("not (nickName eq …) must find exactly the users without that nickName")
		}
		// A value path over a stored list: one element must match every condition.
		expect(`phoneNumbers[type eq "work" and value co "7946"]`, true)
		expect(`phoneNumbers[type eq "home" and value co "7946"]`, false)
		expect(`phoneNumbers[type eq "work"].value eq "+44 20 7946 0000"`, true) // Entra's form
		expect(`addresses[locality eq "LONDON" and primary eq true]`, true)
		expect(`addresses[locality eq "London" and primary eq false]`, false)
		expect(`addresses[not (country eq "GB")]`, false)
		expect(`name pr and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr`, true)
		refused(`addresses eq "1 Main St"`) // no value sub-attribute: pr or a sub-attribute
	})
}

// filteredAttr is an attribute path to filter, its /Schemas definition and its value in a User
// document.
type filteredAttr struct {
	path string
	def  any
	val  func(doc any) any
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// titleCase upper-cases the first letter of an ASCII word ("true" → "True").
func titleCase(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// swapCase turns upper case into lower case and back.
func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}, s)
}
