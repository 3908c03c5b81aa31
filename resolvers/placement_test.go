package resolvers_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestBrandsCompaniesAccounts(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()

		t.Run("brands: create, validate, update, get, list with pagination", func(t *testing.T) {
			d := e.MustGQL(tok, `mutation { createBrand(input: {name: "  Acme Academy ", portalUrl: "https://learn.acme.test"}) {
				brand { id name slug portalUrl identityProviderConfigurations { companyClaim } } errors { label } } }`, nil)
			b := get(d, "createBrand", "brand")
			if str(b, "name") != "Acme Academy" || str(b, "slug") != "acme-academy" || str(b, "portalUrl") != "https://learn.acme.test" ||
				len(get(b, "identityProviderConfigurations").([]any)) != 0 {
				t.Fatalf("createBrand: %v", d)
			}
			id := str(b, "id")
			for _, c := range []struct{ in, want string }{
				{`{name: ""}`, "name"},
				{`{name: "acme academy", slug: "other"}`, "name"},
				{`{name: "Other", slug: "acme-academy"}`, "slug"},
				{`{name: "Other", slug: "Not A Slug"}`, "slug"},
				{`{name: "Other", portalUrl: "ftp://x"}`, "portalUrl"},
				{fmt.Sprintf(`{name: %q}`, strings.Repeat("x", 129)), "name"},
			} {
				d := e.MustGQL(tok, `mutation { createBrand(input: `+c.in+`) { brand { id } errors { label code } } }`, nil)
				errs := payloadErrors(t, d, "createBrand")
				if len(errs) != 1 || str(errs[0], "label") != c.want || get(d, "createBrand", "brand") != nil {
					t.Errorf("createBrand(%s): %v", c.in, d)
				}
			}
			d = e.MustGQL(tok, `mutation($id: ID!) { updateBrand(input: {id: $id, name: "Acme Learning", portalUrl: ""}) {
				brand { name slug portalUrl } errors { label } } }`, map[string]any{"id": id})
			if b := get(d, "updateBrand", "brand"); str(b, "name") != "Acme Learning" || str(b, "slug") != "acme-academy" || get(b, "portalUrl") != nil {
				t.Fatalf("updateBrand: %v", d)
			}
			d = e.MustGQL(tok, `mutation { updateBrand(input: {id: "nope", name: "x"}) { brand { id } errors { label code } } }`, nil)
			if errs := payloadErrors(t, d, "updateBrand"); len(errs) != 1 || str(errs[0], "code") != "NOT_FOUND" || str(errs[0], "label") != "id" {
				t.Fatalf("updateBrand missing: %v", d)
			}
			for i := 0; i < 4; i++ {
				e.CreateBrand(tok, fmt.Sprintf("Brand %d", i))
			}
			var names []string
			var after any
			for pages := 0; ; pages++ {
				d := e.MustGQL(tok, `query($a: String) { brands(first: 2, after: $a) { nodes { name } pageInfo { hasNextPage endCursor } } }`,
					map[string]any{"a": after})
				for _, n := range get(d, "brands", "nodes").([]any) {
					names = append(names, str(n, "name"))
				}
				if get(d, "brands", "pageInfo", "hasNextPage") != true {
					break
				}
				after = get(d, "brands", "pageInfo", "endCursor")
				if pages > 5 {
					t.Fatal("pagination does not end")
				}
			}
			if got := strings.Join(names, ","); got != "Acme Learning,Brand 0,Brand 1,Brand 2,Brand 3" {
				t.Fatalf("brands: %s", got)
			}
			d = e.MustGQL(tok, `query($id: ID!) { brand(id: $id) { name } missing: brand(id: "0190a0b0-0000-7000-8000-000000000000") { name } bad: brand(id: "x") { name } }`,
				map[string]any{"id": id})
			if str(d, "brand", "name") != "Acme Learning" || d["missing"] != nil || d["bad"] != nil {
				t.Fatalf("brand: %v", d)
			}
		})

		t.Run("companies and accounts", func(t *testing.T) {
			acme := e.CreateCompany(tok, "Acme")
			d := e.MustGQL(tok, `mutation { createCompany(input: {name: "ACME"}) { company { id } errors { label code } } }`, nil)
			if errs := payloadErrors(t, d, "createCompany"); len(errs) != 1 || str(errs[0], "code") != "TAKEN" {
				t.Fatalf("company names are unique case-insensitively: %v", d)
			}
			a1 := e.CreateAccount(tok, "Acme HQ", acme)
			e.CreateAccount(tok, "Jane Doe", "")
			cases := []struct{ in, want string }{
				{`{name: "x", type: COMPANY}`, "companyId"},
				{`{name: "x", type: INDIVIDUAL, companyId: "` + acme + `"}`, "companyId"},
				{`{name: "x", type: COMPANY, companyId: "0190a0b0-0000-7000-8000-000000000000"}`, "companyId"},
				{`{name: "", type: INDIVIDUAL}`, "name"},
			}
			for _, c := range cases {
				d := e.MustGQL(tok, `mutation { createAccount(input: `+c.in+`) { account { id } errors { label code } } }`, nil)
				errs := payloadErrors(t, d, "createAccount")
				if len(errs) != 1 || str(errs[0], "label") != c.want {
					t.Errorf("createAccount(%s): %v", c.in, d)
				}
			}
			d = e.MustGQL(tok, `query($c: ID!) { accounts(companyId: $c) { nodes { id name type company { id name } } }
				individuals: accounts(type: INDIVIDUAL) { nodes { name company { id } } }
				companies { nodes { name } } }`, map[string]any{"c": acme})
			if n := get(d, "accounts", "nodes").([]any); len(n) != 1 || str(n[0], "id") != a1 || str(n[0], "type") != "COMPANY" ||
				str(n[0], "company", "name") != "Acme" {
				t.Fatalf("accounts of Acme: %v", d)
			}
			if n := get(d, "individuals", "nodes").([]any); len(n) != 1 || str(n[0], "name") != "Jane Doe" || get(n[0], "company") != nil {
				t.Fatalf("individual accounts: %v", d)
			}
			d = e.MustGQL(tok, `mutation($id: ID!) { updateAccount(input: {id: $id, name: "Acme Head Office"}) { account { name type company { name } } errors { label } } }`,
				map[string]any{"id": a1})
			if str(d, "updateAccount", "account", "name") != "Acme Head Office" || str(d, "updateAccount", "account", "company", "name") != "Acme" {
				t.Fatalf("updateAccount: %v", d)
			}
			d = e.MustGQL(tok, `mutation($id: ID!) { updateCompany(input: {id: $id, name: "Acme Ltd"}) { company { name } errors { label } } }`,
				map[string]any{"id": acme})
			if str(d, "updateCompany", "company", "name") != "Acme Ltd" {
				t.Fatalf("updateCompany: %v", d)
			}
		})

		t.Run("a user account's account and role", func(t *testing.T) {
			acc := e.CreateAccount(tok, "Solo", "")
			d0 := e.MustGQL(tok, `mutation { createUserAccount(input: {email: "solo@example.com"}) { userAccount { uuid role account { id } } errors { label } } }`, nil)
			u := str(d0, "createUserAccount", "userAccount", "uuid")
			if str(d0, "createUserAccount", "userAccount", "role") != "viewer" || get(d0, "createUserAccount", "userAccount", "account") != nil {
				t.Fatalf("a new user account: %v", d0)
			}
			q := `mutation($u: ID!, $a: ID) { setUserAccountAccount(input: {uuid: $u, accountId: $a}) { userAccount { uuid role account { id name } } errors { label code } } }`
			d := e.MustGQL(tok, q, map[string]any{"u": u, "a": acc})
			if ua := get(d, "setUserAccountAccount", "userAccount"); str(ua, "account", "id") != acc || str(ua, "role") != "viewer" {
				t.Fatalf("setUserAccountAccount: %v", d)
			}
			d = e.MustGQL(tok, `{ userAccounts { nodes { email account { name } } } }`, nil)
			found := false
			for _, n := range get(d, "userAccounts", "nodes").([]any) {
				found = found || str(n, "email") == "solo@example.com" && str(n, "account", "name") == "Solo"
			}
			if !found {
				t.Fatalf("userAccounts: %v", d)
			}
			d = e.MustGQL(tok, q, map[string]any{"u": u, "a": "0190a0b0-0000-7000-8000-000000000000"})
			if errs := payloadErrors(t, d, "setUserAccountAccount"); len(errs) != 1 || str(errs[0], "label") != "accountId" {
				t.Fatalf("unknown account: %v", d)
			}
			d = e.MustGQL(tok, q, map[string]any{"u": u, "a": nil})
			if ua := get(d, "setUserAccountAccount", "userAccount"); get(ua, "account") != nil {
				t.Fatalf("clear account: %v", d)
			}
		})

		t.Run("workspace scoping", func(t *testing.T) {
			brand := e.CreateBrand(tok, "Scoped Brand")
			acc := e.CreateAccount(tok, "Scoped Account", "")
			idp := e.CreateOIDCConnection(tok, "Scoped IdP", "scoped")
			d := e.MustGQL(tok, `mutation { createWorkspace(input: {name: "Other"}) { workspace { id } errors { label } } }`, nil)
			ws := str(d, "createWorkspace", "workspace", "id")
			id, sec := e.CreateClient(tok, []string{"graphql"}, ws)
			other := e.Token(id, sec)
			d = e.MustGQL(other, `query($b: ID!, $a: ID!) { brand(id: $b) { id } account(id: $a) { id } brands { nodes { id } } accounts { nodes { id } } }`,
				map[string]any{"b": brand, "a": acc})
			if d["brand"] != nil || d["account"] != nil || len(get(d, "brands", "nodes").([]any)) != 0 || len(get(d, "accounts", "nodes").([]any)) != 0 {
				t.Fatalf("other workspace sees: %v", d)
			}
			otherBrand := e.CreateBrand(other, "Their Brand")
			d = e.MustGQL(other, seedWith(seedCreateIdPConfiguration, otherBrand, idp, acc), nil)
			if _, labels := brandsPayload(t, d, "createIdentityProviderConfiguration"); strings.Join(labels, ",") != "identityProviderId,defaultAccountId" {
				t.Fatalf("cross-workspace references: %v", d)
			}
			r := e.GQL(other, `query($b: ID!, $i: ID!) { simulatePlacement(brandId: $b, identityProviderId: $i, claims: {}) { rule } }`,
				map[string]any{"b": brand, "i": idp})
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "NOT_FOUND" {
				t.Fatalf("cross-workspace simulation: %s", r.Raw)
			}
		})
	})
}

func TestSimulatePlacement(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()
		brand := e.CreateBrand(tok, "Portal")
		idp := e.CreateOIDCConnection(tok, "Okta", "okta")
		acme := e.CreateCompany(tok, "Acme")
		acmeFirst := e.CreateAccount(tok, "Acme First", acme)
		e.CreateAccount(tok, "Acme Second", acme)
		e.CreateCompany(tok, "Empty Co")
		fallback := e.CreateAccount(tok, "Fallback", "")

		configure := func(mutation string, defaultAccount any, claim string) {
			t.Helper()
			in := map[string]any{"brandId": brand, "identityProviderId": idp, "autoProvisionLearners": true,
				"defaultAccountId": defaultAccount, "companyClaim": claim}
			typ := "CreateIdentityProviderConfigurationInput"
			if mutation == "update" {
				typ = "UpdateIdentityProviderConfigurationInput"
			}
			d := e.MustGQL(tok, `mutation($in: `+typ+`!) { brands { `+mutation+`IdentityProviderConfiguration(input: $in) { errors { label message } } } }`,
				map[string]any{"in": in})
			if _, labels := brandsPayload(t, d, mutation+"IdentityProviderConfiguration"); len(labels) != 0 {
				t.Fatalf("configure: %v", d)
			}
		}
		simulate := func(claims map[string]any) (rule, accountID, explanation string) {
			t.Helper()
			d := e.MustGQL(tok, `query($b: ID!, $i: ID!, $c: JSON!) { simulatePlacement(brandId: $b, identityProviderId: $i, claims: $c) {
				account { id name } rule explanation } }`, map[string]any{"b": brand, "i": idp, "c": claims})
			s := get(d, "simulatePlacement")
			return str(s, "rule"), str(s, "account", "id"), str(s, "explanation")
		}

		r := e.GQL(tok, `query($b: ID!, $i: ID!) { simulatePlacement(brandId: $b, identityProviderId: $i, claims: {}) { rule } }`,
			map[string]any{"b": brand, "i": idp})
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "NOT_FOUND" || !strings.Contains(r.Errors[0].Message, "no configuration") {
			t.Fatalf("without a configuration: %s", r.Raw)
		}

		configure("create", nil, "company")
		counts := func() string {
			d := e.MustGQL(tok, `{ accounts(first: 100) { nodes { id } } auditEvents(first: 100) { id } userAccounts { totalCount } }`, nil)
			return fmt.Sprint(len(get(d, "accounts", "nodes").([]any)), len(get(d, "auditEvents").([]any)), get(d, "userAccounts", "totalCount"))
		}
		before := counts()
		cases := []struct {
			name     string
			claims   map[string]any
			rule     string
			account  string
			explains string
		}{
			{"company match takes the oldest account", map[string]any{"company": "Acme"}, "COMPANY_MATCH", acmeFirst, `first account "Acme First"`},
			{"a SAML-style list claim", map[string]any{"company": []any{"Acme"}}, "COMPANY_MATCH", acmeFirst, "exactly matches"},
			{"exact match only: case", map[string]any{"company": "acme"}, "INDIVIDUAL_ACCOUNT", "", `no company is named exactly "acme"`},
			{"exact match only: spaces", map[string]any{"company": "Acme "}, "INDIVIDUAL_ACCOUNT", "", "no company is named exactly"},
			{"exact match only: prefix", map[string]any{"company": "Acm"}, "INDIVIDUAL_ACCOUNT", "", "no company is named exactly"},
			{"no claim", map[string]any{"email": "a@b.c"}, "INDIVIDUAL_ACCOUNT", "", `claim "company" is missing`},
			{"company without accounts", map[string]any{"company": "Empty Co"}, "INDIVIDUAL_ACCOUNT", "", "has no accounts"},
			{"claim that is not text", map[string]any{"company": 42}, "INDIVIDUAL_ACCOUNT", "", "not text"},
			{"another claim name is ignored", map[string]any{"organization": "Acme"}, "INDIVIDUAL_ACCOUNT", "", "missing"},
		}
		for _, c := range cases {
			rule, acc, why := simulate(c.claims)
			if rule != c.rule || acc != c.account || !strings.Contains(why, c.explains) {
				t.Errorf("%s: rule %s account %s explanation %q", c.name, rule, acc, why)
			}
		}

		if after := counts(); after != before {
			t.Fatalf("simulatePlacement wrote something: %s → %s", before, after)
		}

		// The claim name is configurable.
		configure("update", nil, "organization")
		if rule, acc, _ := simulate(map[string]any{"organization": "Acme", "company": "Empty Co"}); rule != "COMPANY_MATCH" || acc != acmeFirst {
			t.Fatalf("companyClaim organization: %s %s", rule, acc)
		}
		// A default account beats a company match.
		configure("update", fallback, "organization")
		before = counts()
		if rule, acc, why := simulate(map[string]any{"organization": "Acme"}); rule != "DEFAULT_ACCOUNT" || acc != fallback || !strings.Contains(why, `"Fallback"`) {
			t.Fatalf("default account: %s %s %s", rule, acc, why)
		}
		if after := counts(); after != before {
			t.Fatalf("simulatePlacement wrote something: %s → %s", before, after)
		}
	})
}
