package resolvers_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// Tenant isolation, generated from the interfaces themselves: every GraphQL query and
// mutation field that takes an ID (found by introspection, so a new field is covered, or this
// test fails until it is), every REST route and every SCIM route (read from their
// registrations in the source) is called by workspace A with workspace B's IDs. A must read
// nothing of B (B's names carry a marker that must never appear in A's answers) and change
// nothing (B's data, read by B before and after, is identical).

// marker is in every name, email and domain of workspace B's objects (compared
// case-insensitively).
const marker = "Bmark"

// tenantIDs are the objects of one workspace the calls refer to.
type tenantIDs struct {
	user, conn, slug, domain, brand, company, account, scimToken, clientID, audit string
	scimUser, scimGroup                                                           string
	workspace                                                                     string
	app                                                                           string // an application of the brand
	test                                                                          string // a test sign-in of the connection
}

// gqlCall is one GraphQL operation of the table: its query and variables.
type gqlCall struct {
	query string
	vars  map[string]any
}

// isolationCalls says how to call each ID-taking GraphQL field as A with B's IDs (and, where
// a field takes several IDs, with a mix of A's and B's). The payload selections include the
// objects' names, so a leak would show the marker.
func isolationCalls(a, b tenantIDs) map[string][]gqlCall {
	user := `userAccount { uuid email firstName } errors { code }`
	conn := `connection { id name } errors { code }`
	cfg := `brand { id name identityProviderConfigurations { identityProvider { name } } } identityProviderConfiguration { companyClaim } errors { code }`
	one := func(q string, vars map[string]any) []gqlCall { return []gqlCall{{q, vars}} }
	return map[string][]gqlCall{
		// queries
		"userAccount":        one(`query($id: ID!) { userAccount(uuid: $id) { uuid email } }`, map[string]any{"id": b.user}),
		"connection":         one(`query($id: ID!) { connection(id: $id) { id name domains { domain } } }`, map[string]any{"id": b.conn}),
		"auditEvents":        one(`query($id: ID) { auditEvents(first: 100, before: $id) { id action summary } }`, map[string]any{"id": b.audit}),
		"brand":              one(`query($id: ID!) { brand(id: $id) { id name } }`, map[string]any{"id": b.brand}),
		"company":            one(`query($id: ID!) { company(id: $id) { id name } }`, map[string]any{"id": b.company}),
		"account":            one(`query($id: ID!) { account(id: $id) { id name } }`, map[string]any{"id": b.account}),
		"accounts":           one(`query($id: ID) { accounts(companyId: $id) { nodes { id name company { name } } } }`, map[string]any{"id": b.company}),
		"integrationClients": one(`query($w: ID) { integrationClients(workspaceId: $w) { clientId name } }`, map[string]any{"w": b.workspace}),
		"scimToken":          one(`query($id: ID!) { scimToken(id: $id) { id name } }`, map[string]any{"id": b.scimToken}),
		"simulatePlacement": {
			{`query($b: ID!, $c: ID!) { simulatePlacement(brandId: $b, identityProviderId: $c, claims: {company: "Bmark Co"}) { account { name } rule explanation } }`, map[string]any{"b": b.brand, "c": b.conn}},
			{`query($b: ID!, $c: ID!) { simulatePlacement(brandId: $b, identityProviderId: $c, claims: {company: "Bmark Co"}) { account { name } rule explanation } }`, map[string]any{"b": a.brand, "c": b.conn}},
		},
		// mutations
		"createIntegrationClient":       one(`mutation($w: ID) { createIntegrationClient(input: {name: "x", scopes: ["graphql"], workspaceId: $w}) { integrationClient { clientId } clientSecret errors { code } } }`, map[string]any{"w": b.workspace}),
		"rotateIntegrationClientSecret": one(`mutation($c: String!) { rotateIntegrationClientSecret(input: {clientId: $c}) { integrationClient { name } clientSecret errors { code } } }`, map[string]any{"c": b.clientID}),
		"revokeIntegrationClient":       one(`mutation($c: String!) { revokeIntegrationClient(input: {clientId: $c}) { integrationClient { name } errors { code } } }`, map[string]any{"c": b.clientID}),
		"updateUserAccount":             one(`mutation($id: ID!) { updateUserAccount(input: {uuid: $id, firstName: "Mallory"}) { `+user+` } }`, map[string]any{"id": b.user}),
		"deactivateUserAccount":         one(`mutation($id: ID!) { deactivateUserAccount(input: {uuid: $id}) { `+user+` } }`, map[string]any{"id": b.user}),
		"reactivateUserAccount":         one(`mutation($id: ID!) { reactivateUserAccount(input: {uuid: $id}) { `+user+` } }`, map[string]any{"id": b.user}),
		"updateConnection":              one(`mutation($id: ID!) { updateConnection(input: {id: $id, name: "Mallory"}) { `+conn+` } }`, map[string]any{"id": b.conn}),
		"updateUserAccountCredentials": {
			{`mutation($id: ID!, $m: String!) { updateUserAccountCredentials(input: {accountUuid: $id, authModule: $m, identifier: "mallory"}) { ` + user + ` } }`, map[string]any{"id": b.user, "m": b.slug}},
			{`mutation($id: ID!, $m: String!) { updateUserAccountCredentials(input: {accountUuid: $id, authModule: $m, identifier: "mallory"}) { ` + user + ` } }`, map[string]any{"id": a.user, "m": b.slug}},
		},
		"removeUserAccountCredentials": one(`mutation($id: ID!, $m: String!) { removeUserAccountCredentials(input: {accountUuid: $id, authModule: $m}) { `+user+` } }`, map[string]any{"id": b.user, "m": b.slug}),
		"bulkUpdateUserAccountCredentials": {
			{`mutation($id: ID!, $m: String!) { bulkUpdateUserAccountCredentials(input: {items: [{accountUuid: $id, authModule: $m, identifier: "mallory"}]}) { results { ` + user + ` } errors { code } } }`,
				map[string]any{"id": b.user, "m": b.slug}},
			{`mutation($id: ID!, $m: String!) { bulkUpdateUserAccountCredentials(input: {items: [{accountUuid: $id, authModule: $m, identifier: "mallory"}], dryRun: true}) { results { ` + user + ` } errors { code } } }`,
				map[string]any{"id": b.user, "m": b.slug}},
			{`mutation($id: ID!, $m: String!) { bulkUpdateUserAccountCredentials(input: {items: [{accountUuid: $id, authModule: $m, identifier: "mallory"}], dryRun: true}) { results { ` + user + ` } errors { code } } }`,
				map[string]any{"id": a.user, "m": b.slug}},
		},
		"updateBrand":   one(`mutation($id: ID!) { updateBrand(input: {id: $id, name: "Mallory"}) { brand { name } errors { code } } }`, map[string]any{"id": b.brand}),
		"updateCompany": one(`mutation($id: ID!) { updateCompany(input: {id: $id, name: "Mallory"}) { company { name } errors { code } } }`, map[string]any{"id": b.company}),
		"createAccount": one(`mutation($c: ID) { createAccount(input: {name: "Mallory", type: COMPANY, companyId: $c}) { account { name company { name } } errors { code } } }`, map[string]any{"c": b.company}),
		"updateAccount": {
			{`mutation($id: ID!) { updateAccount(input: {id: $id, name: "Mallory"}) { account { name } errors { code } } }`, map[string]any{"id": b.account}},
			{`mutation($id: ID!, $c: ID) { updateAccount(input: {id: $id, type: COMPANY, companyId: $c}) { account { name company { name } } errors { code } } }`, map[string]any{"id": a.account, "c": b.company}},
		},
		"setUserAccountAccount": {
			{`mutation($u: ID!, $a: ID) { setUserAccountAccount(input: {uuid: $u, accountId: $a}) { userAccount { email account { name } } errors { code } } }`, map[string]any{"u": b.user, "a": a.account}},
			{`mutation($u: ID!, $a: ID) { setUserAccountAccount(input: {uuid: $u, accountId: $a}) { userAccount { email account { name } } errors { code } } }`, map[string]any{"u": a.user, "a": b.account}},
		},
		"brands.createIdentityProviderConfiguration": configCalls("createIdentityProviderConfiguration", cfg, a, b),
		"brands.updateIdentityProviderConfiguration": configCalls("updateIdentityProviderConfiguration", cfg, a, b),
		"brands.removeIdentityProviderConfiguration": {
			{`mutation($b: ID!, $c: ID!) { brands { removeIdentityProviderConfiguration(input: {brandId: $b, identityProviderId: $c}) { brand { name } errors { code } } } }`, map[string]any{"b": b.brand, "c": b.conn}},
		},
		"startTestSignIn": {
			{`mutation($c: ID!) { startTestSignIn(connectionId: $c) { id url errors { code } } }`, map[string]any{"c": b.conn}},
			{`mutation($c: ID!, $b: ID) { startTestSignIn(connectionId: $c, brandId: $b) { id url errors { code } } }`, map[string]any{"c": a.conn, "b": b.brand}},
		},
		"testSignIn": {
			{`query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { id status identity { email } } }`, map[string]any{"c": b.conn, "i": b.test}},
			{`query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { id status identity { email } } }`, map[string]any{"c": a.conn, "i": b.test}},
		},
		"testConnection":          one(`mutation($id: ID!) { testConnection(input: {id: $id}) { success connection { name } errors { code } } }`, map[string]any{"id": b.conn}),
		"activateConnection":      one(`mutation($id: ID!) { activateConnection(input: {id: $id}) { `+conn+` } }`, map[string]any{"id": b.conn}),
		"refreshSamlCertificates": one(`mutation($id: ID!) { refreshSamlCertificates(input: {id: $id}) { changed problem `+conn+` } }`, map[string]any{"id": b.conn}),
		"deactivateConnection":    one(`mutation($id: ID!) { deactivateConnection(input: {id: $id}) { `+conn+` } }`, map[string]any{"id": b.conn}),
		"deleteConnection":        one(`mutation($id: ID!) { deleteConnection(input: {id: $id}) { deletedConnectionId errors { code } } }`, map[string]any{"id": b.conn}),
		"addDomain":               one(`mutation($id: ID!) { addDomain(input: {connectionId: $id, domain: "mallory.example"}) { domain { domain } errors { code } } }`, map[string]any{"id": b.conn}),
		"verifyDomain":            domainCalls("verifyDomain", `success domain { domain } errors { code }`, a, b),
		"setPrimaryDomain":        domainCalls("setPrimaryDomain", `domain { domain } errors { code }`, a, b),
		"removeDomain":            domainCalls("removeDomain", `removedDomainId errors { code }`, a, b),
		"createScimToken":         one(`mutation($c: ID) { createScimToken(input: {name: "Mallory", connectionId: $c}) { token { id } plainValue errors { code } } }`, map[string]any{"c": b.conn}),
		"revokeScimToken":         one(`mutation($id: ID!) { revokeScimToken(input: {id: $id}) { token { name } errors { code } } }`, map[string]any{"id": b.scimToken}),
		"deleteScimToken":         one(`mutation($id: ID!) { deleteScimToken(input: {id: $id}) { deletedId errors { code } } }`, map[string]any{"id": b.scimToken}),
		// browser sign-in (issue 10)
		"application":  one(`query($id: ID!) { application(id: $id) { id name redirectUris brand { name } } }`, map[string]any{"id": b.app}),
		"applications": one(`query($b: ID!) { applications(brandId: $b) { id name redirectUris } }`, map[string]any{"b": b.brand}),
		"signInEvents": {
			{`query($c: ID) { signInEvents(connectionId: $c, pageSize: 100) { events { identifier reason connection { slug } application { clientId } } total } }`, map[string]any{"c": b.conn}},
			{`query($b: ID) { signInEvents(brandId: $b, pageSize: 100) { events { identifier reason connection { slug } application { clientId } } total } }`, map[string]any{"b": b.brand}},
		},
		"createApplication":       one(`mutation($b: ID!) { createApplication(input: {brandId: $b, name: "Mallory", redirectUris: ["https://mallory.example/cb"]}) { application { name brand { name } } clientSecret errors { code } } }`, map[string]any{"b": b.brand}),
		"updateApplication":       one(`mutation($id: ID!) { updateApplication(input: {id: $id, name: "Mallory", redirectUris: ["https://mallory.example/cb"]}) { application { name redirectUris } errors { code } } }`, map[string]any{"id": b.app}),
		"rotateApplicationSecret": one(`mutation($id: ID!) { rotateApplicationSecret(input: {id: $id}) { application { name } clientSecret errors { code } } }`, map[string]any{"id": b.app}),
		"deleteApplication":       one(`mutation($id: ID!) { deleteApplication(input: {id: $id}) { deletedId errors { code } } }`, map[string]any{"id": b.app}),
	}
}

func configCalls(field, sel string, a, b tenantIDs) []gqlCall {
	q := `mutation($b: ID!, $c: ID!, $d: ID) { brands { ` + field + `(input: {brandId: $b, identityProviderId: $c, defaultAccountId: $d}) { ` + sel + ` } } }`
	return []gqlCall{
		{q, map[string]any{"b": b.brand, "c": b.conn, "d": nil}},
		{q, map[string]any{"b": a.brand, "c": b.conn, "d": nil}},
		{q, map[string]any{"b": b.brand, "c": a.conn, "d": nil}},
		{q, map[string]any{"b": a.brand, "c": a.conn, "d": b.account}},
	}
}

func domainCalls(field, sel string, a, b tenantIDs) []gqlCall {
	q := `mutation($c: ID!, $d: ID!) { ` + field + `(input: {connectionId: $c, domainId: $d}) { ` + sel + ` } }`
	return []gqlCall{{q, map[string]any{"c": b.conn, "d": b.domain}}, {q, map[string]any{"c": a.conn, "d": b.domain}}}
}

// tenant creates a workspace with one object of every kind, named with prefix, and returns
// its admin token, SCIM token and IDs.
func (e *testEnv) tenant(platform, prefix string) (admin, scim string, ids tenantIDs) {
	t := e.T
	t.Helper()
	lower := strings.ToLower(prefix)
	d := e.MustGQL(platform, `mutation($n: String!) { createWorkspace(input: {name: $n}) { workspace { id } errors { code } } }`,
		map[string]any{"n": prefix + " workspace"})
	ids.workspace = str(d, "createWorkspace", "workspace", "id")
	ids.clientID, _ = e.CreateClient(platform, []string{"graphql"}, ids.workspace) // an object to rotate or revoke
	admin = e.Token(e.CreateClient(platform, []string{"admin", "graphql"}, ids.workspace))
	ids.user = e.CreateUser(admin, lower+"-user@example.com")
	ids.slug = "okta-" + lower[:1] // no marker: A sends B's slug, and payloads echo what was sent
	ids.conn = e.CreateOIDCConnection(admin, prefix+" Okta", ids.slug)
	e.MustGQL(admin, `mutation($u: ID!, $m: String!) { updateUserAccountCredentials(input: {accountUuid: $u, authModule: $m, identifier: "`+lower+`-id"}) { errors { code } } }`,
		map[string]any{"u": ids.user, "m": ids.slug})
	// A test sign-in needs a connection in testing: the connection is put there and back
	// (its settings test would reach an identity provider).
	status := func(to string) {
		var n []string
		if err := e.App.Store().RawScan(t.Context(), &n, "UPDATE connections SET status = ? WHERE id = ? RETURNING id", to, uuid.MustParse(ids.conn)); err != nil || len(n) != 1 {
			t.Fatalf("connection status %s: %v %v", to, n, err)
		}
	}
	status("testing")
	ids.test = str(e.Call("POST", "/api/v1/sso/connections/"+ids.conn+"/test-sign-in", admin, nil).Must(t, 201).Body, "id")
	status("inactive")
	ids.domain = str(e.Call("POST", "/api/v1/sso/connections/"+ids.conn+"/domains", admin, map[string]any{"domain": lower + ".example"}).Must(t, 201).Body, "domain", "id")
	ids.brand = str(e.MustGQL(admin, `mutation($n: String!) { createBrand(input: {name: $n}) { brand { id } } }`, map[string]any{"n": prefix + " Brand"}), "createBrand", "brand", "id")
	ids.company = str(e.MustGQL(admin, `mutation($n: String!) { createCompany(input: {name: $n}) { company { id } } }`, map[string]any{"n": prefix + " Co"}), "createCompany", "company", "id")
	ids.account = str(e.MustGQL(admin, `mutation($n: String!, $c: ID) { createAccount(input: {name: $n, type: COMPANY, companyId: $c}) { account { id } } }`,
		map[string]any{"n": prefix + " Account", "c": ids.company}), "createAccount", "account", "id")
	e.MustGQL(admin, `mutation($b: ID!, $c: ID!) { brands { createIdentityProviderConfiguration(input: {brandId: $b, identityProviderId: $c, companyClaim: "org"}) { errors { code } } } }`,
		map[string]any{"b": ids.brand, "c": ids.conn})
	ids.app = str(e.MustGQL(admin, `mutation($b: ID!, $n: String!, $r: String!) { createApplication(input: {brandId: $b, name: $n, redirectUris: [$r]}) { application { id } } }`,
		map[string]any{"b": ids.brand, "n": prefix + " App", "r": "https://" + lower + ".example/cb"}), "createApplication", "application", "id")
	scim, ids.scimToken = e.SCIMToken(admin, allScopes(prefix+" token"))
	ids.scimUser = e.SCIMUser(scim, map[string]any{"userName": lower + "-scim@example.com", "name": map[string]any{"givenName": prefix}})
	ids.scimGroup = str(e.Call("POST", "/scim/v2/Groups", scim, map[string]any{"displayName": prefix + " Group",
		"members": []any{map[string]any{"value": ids.scimUser}}}).Must(t, 201).Body, "id")
	ids.audit = str(e.MustGQL(admin, `{ auditEvents(first: 1) { id } }`, nil), "auditEvents", 0, "id")
	return admin, scim, ids
}

// snapshot is everything workspace B can read of itself, as B reads it.
func (e *testEnv) snapshot(admin, scim string) string {
	e.T.Helper()
	d := e.MustGQL(admin, `{
		userAccounts(first: 100) { nodes { uuid email firstName lastName externalId active updatedAt account { id }
			credentials { authModule identifier hasSecret } } }
		connections { id name slug status updatedAt domains { id domain status isPrimary updatedAt } }
		brands(first: 100) { nodes { id name slug updatedAt identityProviderConfigurations { identityProvider { id }
			autoProvisionLearners defaultAccount { id } companyClaim updatedAt } } }
		companies(first: 100) { nodes { id name updatedAt } }
		accounts(first: 100) { nodes { id name type company { id } updatedAt } }
		scimTokens(pageSize: 100) { tokens { id name status revokedAt } }
		integrationClients { clientId name revoked }
		auditEvents(first: 100) { id action targetId } }`, nil)
	users := e.Call("GET", "/scim/v2/Users?count=1000", scim, nil).Must(e.T, 200).Raw
	groups := e.Call("GET", "/scim/v2/Groups?count=1000", scim, nil).Must(e.T, 200).Raw
	for _, n := range get(d, "brands", "nodes").([]any) {
		d["applications:"+str(n, "id")] = e.MustGQL(admin, `query($b: ID!) { applications(brandId: $b) { id clientId name redirectUris } }`,
			map[string]any{"b": str(n, "id")})
	}
	b, _ := json.Marshal(d)
	return string(b) + "\n" + users + "\n" + groups
}

// idFields introspects the schema: every query and mutation field with an argument of type
// ID, directly or inside an input object (at any depth), including the fields of namespace
// objects that a root field without arguments returns (mutation { brands { … } }), named by
// their path ("brands.createIdentityProviderConfiguration").
func (e *testEnv) idFields(token string) []string {
	e.T.Helper()
	typeRef := `kind name ofType { kind name ofType { kind name ofType { kind name } } }`
	d := e.MustGQL(token, `{ __schema { queryType { name } mutationType { name }
		types { name kind fields { name type { `+typeRef+` } args { type { `+typeRef+` } } } inputFields { type { `+typeRef+` } } } } }`, nil)
	named := func(t any) (string, string) {
		for get(t, "ofType") != nil {
			t = get(t, "ofType")
		}
		return str(t, "kind"), str(t, "name")
	}
	types := map[string]any{}
	for _, ty := range get(d, "__schema", "types").([]any) {
		types[str(ty, "name")] = ty
	}
	var takesID func(t any, seen map[string]bool) bool
	takesID = func(t any, seen map[string]bool) bool {
		kind, name := named(t)
		switch {
		case kind == "SCALAR":
			return name == "ID"
		case kind == "INPUT_OBJECT" && !seen[name]:
			seen[name] = true
			fs, _ := get(types[name], "inputFields").([]any)
			return slices.ContainsFunc(fs, func(f any) bool { return takesID(get(f, "type"), seen) })
		}
		return false
	}
	var out []string
	var walk func(typeName, prefix string, depth int)
	walk = func(typeName, prefix string, depth int) {
		fs, _ := get(types[typeName], "fields").([]any)
		for _, f := range fs {
			args, _ := get(f, "args").([]any)
			if slices.ContainsFunc(args, func(a any) bool { return takesID(get(a, "type"), map[string]bool{}) }) {
				out = append(out, prefix+str(f, "name"))
			}
			if kind, name := named(get(f, "type")); len(args) == 0 && kind == "OBJECT" && depth == 0 {
				walk(name, prefix+str(f, "name")+".", 1) // a namespace of operations
			}
		}
	}
	walk(str(d, "__schema", "queryType", "name"), "", 1) // query results are data, not namespaces
	walk(str(d, "__schema", "mutationType", "name"), "", 0)
	sort.Strings(out)
	return out
}

// routes reads the method+path patterns registered in the given source files: the REST and
// SCIM surfaces register every route as a literal pattern, or on a base constant declared
// above it in its registering function ("POST "+base+"/rotate").
func routes(t *testing.T, files ...string) []string {
	t.Helper()
	lit := regexp.MustCompile(`"((?:GET|POST|PUT|PATCH|DELETE) /[^"]*)"`)
	based := regexp.MustCompile(`"((?:GET|POST|PUT|PATCH|DELETE) )"\s*\+\s*base(?:\s*\+\s*"([^"]*)")?`)
	baseDef := regexp.MustCompile(`const base = "([^"]*)"`)
	var out []string
	for _, f := range files {
		src, err := os.ReadFile("../" + f) // paths from the module root
		if err != nil {
			t.Fatal(err)
		}
		base := ""
		for _, line := range strings.Split(string(src), "\n") {
			if bm := baseDef.FindStringSubmatch(line); bm != nil {
				base = bm[1]
			}
			for _, m := range lit.FindAllStringSubmatch(line, -1) {
				out = append(out, m[1])
			}
			for _, m := range based.FindAllStringSubmatch(line, -1) {
				out = append(out, m[1]+base+m[2])
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no routes found in %v", files)
	}
	return out
}

// goSources lists the non-test Go files of a package directory, from the module root.
func goSources(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob("../" + dir + "/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			out = append(out, strings.TrimPrefix(f, "../"))
		}
	}
	return out
}

// httpCall is one REST or SCIM request of the table.
type httpCall struct {
	method, path string
	body         any
}

// restCalls and scimCalls say how to call each route with B's IDs; routes without an ID
// (lists, creation, discovery) are called too and must show nothing of B.
func restCalls(a, b tenantIDs) map[string][]httpCall {
	c := "/api/v1/sso/connections/"
	one := func(m, p string, body any) []httpCall { return []httpCall{{m, p, body}} }
	return map[string][]httpCall{
		"POST /api/v1/sso/connections":                                      one("POST", c[:len(c)-1], map[string]any{"name": "Mallory", "protocol": "oidc", "oidcConfig": map[string]any{"issuerUrl": "https://idp.example.com", "clientId": "c", "clientSecret": "s"}}),
		"GET /api/v1/sso/connections":                                       one("GET", c[:len(c)-1]+"?pageSize=100", nil),
		"GET /api/v1/sso/connections/{id}":                                  one("GET", c+b.conn, nil),
		"PUT /api/v1/sso/connections/{id}":                                  one("PUT", c+b.conn, map[string]any{"name": "Mallory"}),
		"DELETE /api/v1/sso/connections/{id}":                               one("DELETE", c+b.conn, nil),
		"POST /api/v1/sso/connections/{id}/test":                            one("POST", c+b.conn+"/test", nil),
		"POST /api/v1/sso/connections/{id}/activate":                        one("POST", c+b.conn+"/activate", nil),
		"POST /api/v1/sso/connections/{id}/deactivate":                      one("POST", c+b.conn+"/deactivate", nil),
		"POST /api/v1/sso/connections/{id}/refresh-certificates":            one("POST", c+b.conn+"/refresh-certificates", nil),
		"GET /api/v1/sso/connections/{id}/domains":                          one("GET", c+b.conn+"/domains", nil),
		"POST /api/v1/sso/connections/{id}/domains":                         one("POST", c+b.conn+"/domains", map[string]any{"domain": "mallory.example"}),
		"PUT /api/v1/sso/connections/{id}/domains/{domain_id}/verify":       {{"PUT", c + b.conn + "/domains/" + b.domain + "/verify", nil}, {"PUT", c + a.conn + "/domains/" + b.domain + "/verify", nil}},
		"POST /api/v1/sso/connections/{id}/domains/{domain_id}/set-primary": {{"POST", c + b.conn + "/domains/" + b.domain + "/set-primary", nil}, {"POST", c + a.conn + "/domains/" + b.domain + "/set-primary", nil}},
		"DELETE /api/v1/sso/connections/{id}/domains/{domain_id}":           {{"DELETE", c + b.conn + "/domains/" + b.domain, nil}, {"DELETE", c + a.conn + "/domains/" + b.domain, nil}},
		"GET /api/v1/sso/sp-metadata":                                       one("GET", "/api/v1/sso/sp-metadata", nil),
		"POST /api/v1/scim/tokens":                                          one("POST", "/api/v1/scim/tokens", map[string]any{"name": "Mallory", "connectionId": b.conn}),
		"GET /api/v1/scim/tokens":                                           one("GET", "/api/v1/scim/tokens?pageSize=100", nil),
		"GET /api/v1/scim/tokens/{id}":                                      one("GET", "/api/v1/scim/tokens/"+b.scimToken, nil),
		"POST /api/v1/scim/tokens/{id}/revoke":                              one("POST", "/api/v1/scim/tokens/"+b.scimToken+"/revoke", nil),
		"DELETE /api/v1/scim/tokens/{id}":                                   one("DELETE", "/api/v1/scim/tokens/"+b.scimToken, nil),
		"GET /api/v1/scim/activities":                                       one("GET", "/api/v1/scim/activities?pageSize=100", nil),
		"GET /api/v1/scim/statistics":                                       one("GET", "/api/v1/scim/statistics", nil),
		"POST /api/v1/sso/connections/{id}/test-sign-in":                    {{"POST", c + b.conn + "/test-sign-in", nil}, {"POST", c + a.conn + "/test-sign-in", map[string]any{"brandId": b.brand}}},
		"GET /api/v1/sso/connections/{id}/test-sign-in/{testId}":            {{"GET", c + b.conn + "/test-sign-in/" + b.test, nil}, {"GET", c + a.conn + "/test-sign-in/" + b.test, nil}},
		// The keys serve every workspace: the platform admin's alone, refused to A.
		"GET /api/v1/sso/sp-keys":                    one("GET", "/api/v1/sso/sp-keys", nil),
		"POST /api/v1/sso/sp-keys/rotate":            one("POST", "/api/v1/sso/sp-keys/rotate", nil),
		"POST /api/v1/sso/sp-keys/promote":           one("POST", "/api/v1/sso/sp-keys/promote", nil),
		"DELETE /api/v1/sso/sp-keys/previous":        one("DELETE", "/api/v1/sso/sp-keys/previous", nil),
		"GET /api/v1/oauth/signing-keys":             one("GET", "/api/v1/oauth/signing-keys", nil),
		"POST /api/v1/oauth/signing-keys/rotate":     one("POST", "/api/v1/oauth/signing-keys/rotate", nil),
		"POST /api/v1/oauth/signing-keys/promote":    one("POST", "/api/v1/oauth/signing-keys/promote", nil),
		"DELETE /api/v1/oauth/signing-keys/previous": one("DELETE", "/api/v1/oauth/signing-keys/previous", nil),
		// Public documents, of no workspace: nothing to call with B's IDs.
		"GET /api/v1/openapi.json": nil,
		"GET /api/v1/docs":         nil,
		"GET /api/v1/docs/{file}":  nil,
	}
}

func scimCalls(a, b tenantIDs) map[string][]httpCall {
	u, g := "/scim/v2/Users/", "/scim/v2/Groups/"
	patch := func(op, path string, value any) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": op, "path": path, "value": value}}}
	}
	member := []any{map[string]any{"value": b.scimUser}}
	one := func(m, p string, body any) []httpCall { return []httpCall{{m, p, body}} }
	return map[string][]httpCall{
		"GET /scim/v2/Users": {{"GET", "/scim/v2/Users?count=1000", nil},
			{"GET", "/scim/v2/Users?filter=" + urlq(`id eq "`+b.scimUser+`"`), nil},
			{"GET", "/scim/v2/Users?filter=" + urlq(`userName sw "b"`), nil}},
		"POST /scim/v2/Users":                one("POST", "/scim/v2/Users", map[string]any{"userName": "b-scim@example.com"}),
		"GET /scim/v2/Users/{id}":            one("GET", u+b.scimUser, nil),
		"PUT /scim/v2/Users/{id}":            one("PUT", u+b.scimUser, map[string]any{"userName": "mallory@example.com"}),
		"PATCH /scim/v2/Users/{id}":          one("PATCH", u+b.scimUser, patch("replace", "active", false)),
		"DELETE /scim/v2/Users/{id}":         one("DELETE", u+b.scimUser, nil),
		"GET /scim/v2/Groups":                {{"GET", "/scim/v2/Groups?count=1000", nil}, {"GET", "/scim/v2/Groups?filter=" + urlq(`id eq "`+b.scimGroup+`"`), nil}},
		"POST /scim/v2/Groups":               one("POST", "/scim/v2/Groups", map[string]any{"displayName": "Mallory", "members": member}),
		"GET /scim/v2/Groups/{id}":           one("GET", g+b.scimGroup, nil),
		"PUT /scim/v2/Groups/{id}":           {{"PUT", g + b.scimGroup, map[string]any{"displayName": "Mallory"}}, {"PUT", g + a.scimGroup, map[string]any{"displayName": "A Group", "members": member}}},
		"PATCH /scim/v2/Groups/{id}":         {{"PATCH", g + b.scimGroup, patch("add", "members", []any{map[string]any{"value": a.scimUser}})}, {"PATCH", g + a.scimGroup, patch("add", "members", member)}},
		"DELETE /scim/v2/Groups/{id}":        one("DELETE", g+b.scimGroup, nil),
		"GET /scim/v2/ServiceProviderConfig": one("GET", "/scim/v2/ServiceProviderConfig", nil),
		"GET /scim/v2/ResourceTypes":         one("GET", "/scim/v2/ResourceTypes", nil),
		"GET /scim/v2/ResourceTypes/{id}":    one("GET", "/scim/v2/ResourceTypes/User", nil),
		"GET /scim/v2/Schemas":               one("GET", "/scim/v2/Schemas", nil),
		"GET /scim/v2/Schemas/{id}":          one("GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil),
	}
}

func TestTenantIsolation(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		platform := e.AdminToken()
		adminA, scimA, a := e.tenant(platform, "Amark")
		adminB, scimB, b := e.tenant(platform, marker)
		before := e.snapshot(adminB, scimB)
		if !strings.Contains(before, marker) || !strings.Contains(before, b.scimUser) {
			t.Fatalf("B's snapshot misses B's data: %s", before)
		}
		leak := func(what, raw string) {
			t.Helper()
			if strings.Contains(strings.ToLower(raw), strings.ToLower(marker)) {
				t.Errorf("%s: A's answer shows B's data: %s", what, raw)
			}
		}

		// The calls run in three passes over every surface: reads, then writes, then deletions.
		// A leaking write or delete would otherwise change or remove B's object before the calls
		// after it in the table, whose leaks would then read as B's data gone or not found.
		const reads, writes, deletions = 0, 1, 2
		destructive := func(name string) bool {
			name = strings.ToLower(name[strings.LastIndexAny(name, "./")+1:]) // a field's, or a path's last segment
			return strings.HasPrefix(name, "delete") || strings.HasPrefix(name, "remove") || strings.HasPrefix(name, "revoke") ||
				strings.HasPrefix(name, "deactivate")
		}
		passOf := func(write bool, name string) int {
			switch {
			case !write:
				return reads
			case destructive(name):
				return deletions
			}
			return writes
		}
		calls := isolationCalls(a, b)
		fields := e.idFields(adminA)
		// GraphQL: every ID-taking field, from the schema.
		graphQL := func(pass int) {
			for _, f := range fields {
				cs, ok := calls[f]
				if !ok && pass == reads {
					t.Errorf("GraphQL field %s takes an ID but isolationCalls has no way to call it: add it", f)
					continue
				}
				for i, c := range cs {
					if passOf(strings.HasPrefix(c.query, "mutation"), f) != pass {
						continue
					}
					r := e.GQL(adminA, c.query, c.vars)
					what := fmt.Sprintf("%s #%d", f, i)
					leak(what, r.Raw)
					if strings.Contains(r.Raw, b.clientID) { // B's clients carry no marker; A never sends their ids here
						t.Errorf("%s: A's answer shows B's client %s: %s", what, b.clientID, r.Raw)
					}
					if r.Status != 200 {
						t.Errorf("%s: status %d: %s", what, r.Status, r.Raw)
						continue
					}
					if len(r.Errors) > 0 {
						if strings.Contains(r.Raw, "Cannot query field") || strings.Contains(r.Raw, "GRAPHQL_VALIDATION_FAILED") {
							t.Errorf("%s: the table's query is wrong: %s", what, r.Raw)
						}
						continue // refused outright
					}
					var res any = r.Data
					for _, part := range strings.Split(f, ".") {
						res = get(res, part)
					}
					if m, ok := res.(map[string]any); ok && strings.HasPrefix(c.query, "mutation") {
						errs, _ := m["errors"].([]any)
						if len(errs) == 0 && f != "bulkUpdateUserAccountCredentials" {
							t.Errorf("%s: a mutation with B's IDs succeeded: %s", what, r.Raw)
						}
					}
				}
			}
		}
		for f := range calls {
			if !slices.Contains(fields, f) && f != "rotateIntegrationClientSecret" && f != "revokeIntegrationClient" {
				t.Errorf("isolationCalls has %s, which no longer takes an ID (or no longer exists)", f)
			}
		}
		// The clientId arguments are Strings, not IDs: called from the table all the same.
		clientCalls := func(pass int) {
			for _, f := range []string{"rotateIntegrationClientSecret", "revokeIntegrationClient"} {
				if passOf(true, f) != pass {
					continue
				}
				for _, c := range calls[f] {
					r := e.GQL(adminA, c.query, c.vars)
					leak(f, r.Raw)
					if len(r.Errors) == 0 && len(payloadErrors(t, r.Data, f)) == 0 {
						t.Errorf("%s with B's client succeeded: %s", f, r.Raw)
					}
				}
			}
		}

		// REST and SCIM: every registered route.
		surfaces := func(pass int) {
			for _, surface := range []struct {
				name  string
				token string
				files []string
				calls map[string][]httpCall
			}{
				{"REST", adminA, goSources(t, "rest"), restCalls(a, b)},
				{"SCIM", scimA, goSources(t, "scim"), scimCalls(a, b)},
			} {
				registered := routes(t, surface.files...)
				for _, route := range registered {
					cs, ok := surface.calls[route]
					if !ok {
						if pass == reads {
							t.Errorf("%s route %s has no entry in the isolation table: add one", surface.name, route)
						}
						continue
					}
					for _, c := range cs {
						name := strings.TrimRight(strings.SplitN(c.path, "?", 2)[0], "/")
						if c.method == "DELETE" {
							name = "delete"
						}
						if passOf(c.method != "GET", name) != pass {
							continue
						}
						r := e.Call(c.method, c.path, surface.token, c.body)
						what := surface.name + " " + c.method + " " + c.path
						leak(what, r.Raw)
						if r.Status >= 500 {
							t.Errorf("%s: %d %s", what, r.Status, r.Raw)
						}
					}
				}
				for route := range surface.calls {
					if !slices.Contains(registered, route) && pass == reads {
						t.Errorf("%s isolation table has %s, which is not registered", surface.name, route)
					}
				}
			}
		}
		for _, pass := range []int{reads, writes, deletions} {
			graphQL(pass)
			clientCalls(pass)
			surfaces(pass)
		}

		// A test sign-in shows no marker: B's, by its real id, must be not found to A, through
		// B's connection or A's own.
		for _, conn := range []string{b.conn, a.conn} {
			e.REST(adminA, "GET", "/api/v1/sso/connections/"+conn+"/test-sign-in/"+b.test, "").MustError(t, 404, "not_found", "")
			r := e.GQL(adminA, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { id } }`, map[string]any{"c": conn, "i": b.test})
			if r.Status != 200 || get(r.Data, "testSignIn") != nil {
				t.Errorf("B's test sign-in read by A through connection %s: %s", conn, r.Raw)
			}
		}

		if after := e.snapshot(adminB, scimB); after != before {
			t.Errorf("workspace A changed workspace B's data:\nbefore: %s\nafter:  %s", before, after)
		}
	})
}
