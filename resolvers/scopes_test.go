package resolvers_test

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/app/apptest"
	"gatehouse/models"
)

// opField is one GraphQL operation found by introspection: a Query or Mutation field, or a
// field of a namespace object a Mutation field without arguments returns
// (mutation { brands { createIdentityProviderConfiguration … } }), named by its path.
type opField struct {
	name  string         // "userAccount", "brands.createIdentityProviderConfiguration"
	query string         // the operation calling it with its required arguments only
	vars  map[string]any // their values: random UUIDs for IDs, the simplest valid value otherwise
}

// operations introspects the schema and builds, for every operation, a call with minimal
// valid arguments generated from the argument types.
func (e *testEnv) operations(token string) []opField {
	e.T.Helper()
	typeRef := `kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }`
	input := `name defaultValue type { ` + typeRef + ` }`
	d := e.MustGQL(token, `{ __schema { queryType { name } mutationType { name }
		types { name kind enumValues { name } fields { name type { `+typeRef+` } args { `+input+` } } inputFields { `+input+` } } } }`, nil)
	types := map[string]any{}
	for _, ty := range get(d, "__schema", "types").([]any) {
		types[str(ty, "name")] = ty
	}
	// gqlType writes a type reference as GraphQL spells it: [String!]!.
	var gqlType func(t any) string
	gqlType = func(t any) string {
		switch str(t, "kind") {
		case "NON_NULL":
			return gqlType(get(t, "ofType")) + "!"
		case "LIST":
			return "[" + gqlType(get(t, "ofType")) + "]"
		}
		return str(t, "name")
	}
	// value is the simplest valid value of a type: required input fields only.
	var value func(t any) any
	value = func(t any) any {
		switch str(t, "kind") {
		case "NON_NULL":
			return value(get(t, "ofType"))
		case "LIST":
			return []any{value(get(t, "ofType"))}
		case "ENUM":
			return str(types[str(t, "name")], "enumValues", 0, "name")
		case "INPUT_OBJECT":
			m := map[string]any{}
			fs, _ := get(types[str(t, "name")], "inputFields").([]any)
			for _, f := range fs {
				if str(f, "type", "kind") == "NON_NULL" && get(f, "defaultValue") == nil {
					m[str(f, "name")] = value(get(f, "type"))
				}
			}
			return m
		}
		switch str(t, "name") {
		case "ID":
			return uuid.NewString()
		case "Int":
			return 1
		case "Boolean":
			return false
		case "JSON":
			return map[string]any{}
		}
		return "x"
	}
	named := func(t any) (string, string) {
		for get(t, "ofType") != nil {
			t = get(t, "ofType")
		}
		return str(t, "kind"), str(t, "name")
	}
	var out []opField
	var walk func(typeName string, path []string, mutation bool)
	walk = func(typeName string, path []string, mutation bool) {
		fs, _ := get(types[typeName], "fields").([]any)
		for _, f := range fs {
			args, _ := get(f, "args").([]any)
			kind, ret := named(get(f, "type"))
			if mutation && len(path) == 0 && len(args) == 0 && kind == "OBJECT" && !strings.HasSuffix(ret, "Payload") {
				walk(ret, []string{str(f, "name")}, true) // a namespace of operations
				continue
			}
			op := opField{name: strings.Join(append(path, str(f, "name")), "."), vars: map[string]any{}}
			var decl, pass []string
			for i, a := range args {
				if str(a, "type", "kind") != "NON_NULL" || get(a, "defaultValue") != nil {
					continue
				}
				v := fmt.Sprintf("v%d", i)
				decl = append(decl, "$"+v+": "+gqlType(get(a, "type")))
				pass = append(pass, str(a, "name")+": $"+v)
				op.vars[v] = value(get(a, "type"))
			}
			call := str(f, "name")
			if len(pass) > 0 {
				call += "(" + strings.Join(pass, ", ") + ")"
			}
			if kind == "OBJECT" || kind == "INTERFACE" || kind == "UNION" {
				call += " { __typename }"
			}
			for i := len(path) - 1; i >= 0; i-- {
				call = path[i] + " { " + call + " }"
			}
			op.query = map[bool]string{false: "query", true: "mutation"}[mutation]
			if len(decl) > 0 {
				op.query += "(" + strings.Join(decl, ", ") + ")"
			}
			op.query += " { " + call + " }"
			out = append(out, op)
		}
	}
	walk(str(d, "__schema", "queryType", "name"), nil, false)
	walk(str(d, "__schema", "mutationType", "name"), nil, true)
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// scopeClass is what a kind of operation needs: the client scopes that allow it
// (provision/service.go accessScopes; README "Scopes and clients"), and whether only the
// platform admin client may call it even then.
type scopeClass struct {
	name     string
	allowed  string // space-separated
	platform bool
}

var (
	readOps        = scopeClass{"GraphQL queries", "graphql graphql:read", false}
	writeOps       = scopeClass{"GraphQL mutations", "graphql", false}
	manageReadOps  = scopeClass{"connection, domain, SCIM token and sign-in reads", "graphql graphql:read admin", false}
	manageWriteOps = scopeClass{"connection, domain, SCIM token and test sign-in changes", "graphql admin", false}
	adminOps       = scopeClass{"integration clients and the audit log", "admin", false}
	platformOps    = scopeClass{"workspaces and the keys serving every workspace", "admin", true}
)

// graphQLScopes classifies every Query and Mutation field (namespaced ones by their path). A
// field the schema gains must be added here, in the class provision authorizes it as.
var graphQLScopes = map[scopeClass]string{
	readOps: `account accounts application applications brand brands companies company simulatePlacement
		userAccount userAccounts`,
	writeOps: `brands.createIdentityProviderConfiguration brands.removeIdentityProviderConfiguration
		brands.updateIdentityProviderConfiguration bulkUpdateUserAccountCredentials createAccount createApplication
		createBrand createCompany createUserAccount deactivateUserAccount deleteApplication reactivateUserAccount
		removeUserAccountCredentials rotateApplicationSecret setUserAccountAccount updateAccount updateApplication
		updateBrand updateCompany updateUserAccount updateUserAccountCredentials`,
	manageReadOps: `connection connections scimActivities scimStatistics scimToken scimTokens signInEvents spMetadata
		testSignIn viewer workspace`,
	manageWriteOps: `activateConnection addDomain createConnection createScimToken deactivateConnection deleteConnection
		deleteScimToken refreshSamlCertificates removeDomain revokeScimToken setPrimaryDomain startTestSignIn
		testConnection updateConnection verifyDomain`,
	adminOps: `auditEvents createIntegrationClient integrationClients revokeIntegrationClient rotateIntegrationClientSecret`,
	platformOps: `createWorkspace workspaces signingKeys startSigningKeyRotation promoteSigningKey retireSigningKey
		spKeys startSpKeyRotation promoteSpKey retireSpKey`,
}

// restPlatformPrefixes are the /api/v1 routes of the platform admin only; every other route
// that authenticates is a workspace's (the admin scope). restPublic need no token at all.
var (
	restPlatformPrefixes = []string{"/api/v1/oauth/signing-keys", "/api/v1/sso/sp-keys"}
	restPublic           = map[string]string{"GET /api/v1/openapi.json": "/api/v1/openapi.json", "GET /api/v1/docs": "/api/v1/docs",
		"GET /api/v1/docs/{file}": "/api/v1/docs/swagger-ui.css"}
)

// platformRoute reports whether an /api/v1 path is the platform admin's alone.
func platformRoute(path string) bool {
	return slices.ContainsFunc(restPlatformPrefixes, func(p string) bool { return strings.HasPrefix(path, p) })
}

// scimScope is the SCIM token scope a request needs: users:read for GET /Users,
// groups:write for DELETE /Groups/{id}; none for the discovery documents.
func scimScope(method, path string) string {
	var res string
	switch {
	case strings.HasPrefix(path, "/scim/v2/Users"):
		res = "users"
	case strings.HasPrefix(path, "/scim/v2/Groups"):
		res = "groups"
	default:
		return ""
	}
	if method == "GET" {
		return res + ":read"
	}
	return res + ":write"
}

// withIDs fills a route pattern's path parameters with random UUIDs: the refusal of a scope
// comes before any lookup, so nothing needs to exist.
func withIDs(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	return method, regexp.MustCompile(`\{[^}]+\}`).ReplaceAllStringFunc(path, func(string) string { return uuid.NewString() })
}

// scimBody is a valid body for a SCIM request of method (none for GET and DELETE).
func scimBody(method string) any {
	switch method {
	case "PATCH":
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "displayName", "value": "Mallory"}}}
	case "POST", "PUT":
		return map[string]any{"userName": "mallory@example.com", "displayName": "Mallory"}
	}
	return nil
}

// Every operation of every surface checks its scope, generated from the interfaces themselves:
// each GraphQL Query and Mutation field (introspected, namespaced ones included) is called with
// minimal arguments by a client of each scope, and by the platform admin narrowed to each
// scope; each REST route (read from its registration) by the GraphQL scopes; each SCIM route
// by an integration client and by SCIM tokens lacking the route's scope. Those the scope does
// not allow must be refused (GraphQL FORBIDDEN, REST 403 permission_error, SCIM 401/403)
// before anything is looked up: with random IDs and with the real IDs of one object of every
// kind alike, and without changing anything. The scopes that allow an operation must not be
// refused, so that a server refusing everything fails too.
func TestEveryOperationChecksItsScope(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		platform := e.AdminToken()
		admin, scim, ids := e.tenant(platform, "Amark")
		client, narrowedPlatform := map[string]string{}, map[string]string{}
		for _, s := range models.AllScopes {
			client[s] = e.Token(e.CreateClient(platform, []string{s}, ids.workspace))
			narrowedPlatform[s] = e.Token(testAdminID, testAdminSecret, s)
		}
		snapshot := func() string {
			global := e.MustGQL(platform, `{ workspaces(first: 100) { nodes { id name } } signingKeys { kid role } spKeys { role fingerprintSha256 } }`, nil)
			return e.snapshot(admin, scim) + fmt.Sprint(global)
		}
		// SCIM tokens each lacking one scope.
		lacking := map[string]string{}
		for _, s := range []string{"users:read", "users:write", "groups:read", "groups:write"} {
			var others []string
			for _, o := range []string{"users:read", "users:write", "groups:read", "groups:write"} {
				if o != s {
					others = append(others, o)
				}
			}
			lacking[s], _ = e.SCIMToken(admin, map[string]any{"name": "without " + s, "scopes": others})
		}
		before := snapshot()

		classOf := map[string]scopeClass{}
		for class, fields := range graphQLScopes {
			for _, f := range strings.Fields(fields) {
				classOf[f] = class
			}
		}
		// callers says, for an operation of class c, which tokens are refused and which allowed.
		callers := func(c scopeClass) (refused, allowed map[string]string) {
			refused, allowed = map[string]string{}, map[string]string{}
			for _, s := range models.AllScopes {
				ok := slices.Contains(strings.Fields(c.allowed), s)
				switch {
				case c.platform && ok:
					refused["a workspace's client of scope "+s] = client[s]
					allowed["the platform admin as "+s] = narrowedPlatform[s]
				case c.platform:
					refused["a workspace's client of scope "+s] = client[s]
					refused["the platform admin as "+s] = narrowedPlatform[s]
				case ok:
					allowed["a client of scope "+s] = client[s]
				default:
					refused["a client of scope "+s] = client[s]
				}
			}
			return refused, allowed
		}
		// mustRefuse wants field refused: FORBIDDEN alone, and no data of it.
		mustRefuse := func(what, field, token, query string, vars map[string]any) {
			t.Helper()
			r := e.GQL(token, query, vars)
			var data any = r.Data
			for _, part := range strings.Split(field, ".") {
				data = get(data, part)
			}
			if r.Status != 200 || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || data != nil {
				t.Errorf("%s: want only a FORBIDDEN error: %s", what, r.Raw)
			}
		}
		mustAllow := func(what, token, query string, vars map[string]any) {
			t.Helper()
			r := e.GQL(token, query, vars)
			for _, err := range r.Errors {
				if code := err.Extensions["code"]; r.Status != 200 || code == "FORBIDDEN" || code == "UNAUTHENTICATED" ||
					code == "GRAPHQL_VALIDATION_FAILED" || code == "GRAPHQL_PARSE_FAILED" || code == "INTERNAL" {
					t.Errorf("%s: want it allowed: %s", what, r.Raw)
				}
			}
		}

		// GraphQL, with generated arguments: every field refused to the scopes that lack it.
		ops := e.operations(platform)
		for _, op := range ops {
			class, ok := classOf[op.name]
			if !ok {
				t.Errorf("GraphQL field %s is not classified: add it to graphQLScopes in the class provision authorizes it as", op.name)
				continue
			}
			refused, _ := callers(class)
			for who, tok := range refused {
				mustRefuse(op.name+" ("+class.name+") by "+who, op.name, tok, op.query, op.vars)
			}
		}
		for f := range classOf {
			if !slices.ContainsFunc(ops, func(op opField) bool { return op.name == f }) {
				t.Errorf("graphQLScopes has %s, which the schema no longer has", f)
			}
		}
		// ...and with the real IDs of the workspace's objects: a refusal must not depend on
		// whether the object exists.
		for f, calls := range isolationCalls(ids, ids) {
			refused, _ := callers(classOf[f])
			for i, c := range calls {
				for who, tok := range refused {
					mustRefuse(fmt.Sprintf("%s #%d with real IDs by %s", f, i, who), f, tok, c.query, c.vars)
				}
			}
		}

		// REST: every route that authenticates needs the admin scope (and some, the platform
		// admin); the GraphQL scopes get 403 with the document's error body.
		restRoutes := routes(t, goSources(t, "rest")...)
		restError := func(what string, r *apptest.Response, status int, typ string) {
			t.Helper()
			if r.Status != status || str(r.Body, "error", "type") != typ || str(r.Body, "error", "message") == "" {
				t.Errorf("%s: want %d %s: %d %s", what, status, typ, r.Status, r.Raw)
			}
		}
		for _, route := range restRoutes {
			method, path := withIDs(route)
			if _, public := restPublic[route]; public {
				continue
			}
			for _, s := range []string{"graphql", "graphql:read"} {
				for who, tok := range map[string]string{"a client of scope " + s: client[s], "the platform admin as " + s: narrowedPlatform[s]} {
					restError("REST "+route+" by "+who, e.Call(method, path, tok, map[string]any{}), 403, "permission_error")
				}
			}
			if platformRoute(path) {
				restError("REST "+route+" by a workspace's admin client", e.Call(method, path, client["admin"], map[string]any{}), 403, "permission_error")
			}
		}
		// SCIM: an integration client's token is not a SCIM token; a SCIM token needs the
		// route's own scope (users:read for GET /Users, groups:write for DELETE /Groups/{id}).
		scimRoutes := routes(t, goSources(t, "scim")...)
		for _, route := range scimRoutes {
			method, path := withIDs(route)
			for who, tok := range map[string]string{"an admin+graphql client": admin, "the platform admin": platform} {
				if r := e.Call(method, path, tok, scimBody(method)); r.Status != 401 || str(r.Body, "status") != "401" {
					t.Errorf("SCIM %s by %s: want a SCIM 401: %d %s", route, who, r.Status, r.Raw)
				}
			}
			if s := scimScope(method, path); s != "" {
				if r := e.Call(method, path, lacking[s], scimBody(method)); r.Status != 403 || !strings.Contains(str(r.Body, "detail"), s) {
					t.Errorf("SCIM %s by a token without %s: want a SCIM 403 naming it: %d %s", route, s, r.Status, r.Raw)
				}
			}
		}

		if after := snapshot(); after != before {
			t.Errorf("refused calls changed data:\nbefore: %s\nafter:  %s", before, after)
		}

		// The scopes that allow each operation are not refused.
		for _, op := range ops {
			if class, ok := classOf[op.name]; ok {
				_, allowed := callers(class)
				for who, tok := range allowed {
					mustAllow(op.name+" by "+who, tok, op.query, op.vars)
				}
			}
		}
		// The platform's routes last: the signing-key ones retire the key that signed the
		// tokens before them.
		var workspaceRoutes, platformRoutes []string
		for _, route := range restRoutes {
			if _, path := withIDs(route); platformRoute(path) {
				platformRoutes = append(platformRoutes, route)
			} else {
				workspaceRoutes = append(workspaceRoutes, route)
			}
		}
		for _, route := range append(workspaceRoutes, platformRoutes...) {
			method, path := withIDs(route)
			if public, ok := restPublic[route]; ok {
				if r, body := e.GetPublic(public); r.StatusCode != 200 {
					t.Errorf("REST %s without a token: %d %.200s", route, r.StatusCode, body)
				}
				continue
			}
			tok := client["admin"]
			if platformRoute(path) {
				tok = e.Token(testAdminID, testAdminSecret, "admin") // fresh, for the same reason
			}
			if r := e.Call(method, path, tok, map[string]any{}); r.Status == 401 || r.Status == 403 || r.Status >= 500 {
				t.Errorf("REST %s by an admin client: want it allowed: %d %s", route, r.Status, r.Raw)
			}
		}
		for _, route := range scimRoutes {
			method, path := withIDs(route)
			if r := e.Call(method, path, scim, scimBody(method)); r.Status == 401 || r.Status == 403 || r.Status >= 500 {
				t.Errorf("SCIM %s by a SCIM token with every scope: want it allowed: %d %s", route, r.Status, r.Raw)
			}
		}
		t.Logf("checked %d GraphQL operations, %d REST routes, %d SCIM routes", len(ops), len(restRoutes), len(scimRoutes))
	})
}
