package resolvers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// badTexts are strings every surface must refuse in names, identifiers, userNames and
// filters: the input text rule (models/text.go). PostgreSQL cannot store NUL, SQLite can; the
// answer must not depend on that.
var badTexts = []struct{ name, v, problem string }{
	{"NUL", "Ada\x00Lovelace", "control characters"},
	{"ESC", "Ada\x1b[31mLovelace", "control characters"},
	{"C1 NEL", "Ada\u0085Lovelace", "control characters"},
	{"line break", "Ada\nLovelace", "line breaks"},
	{"RLO override", "Ada\u202eecalevoL", "bidirectional"},
	{"RLI isolate", "Ada\u2067Lovelace\u2069", "bidirectional"},
}

// mustRefuseText fails unless raw is a refusal that explains the rule and echoes nothing of
// the offending value (no NUL, no bidi character, in any JSON escaping).
func mustRefuseText(t *testing.T, what, raw, problem string) {
	t.Helper()
	if !strings.Contains(raw, problem) {
		t.Errorf("%s: the answer does not explain the rule (%q): %s", what, problem, raw)
	}
	for _, echo := range []string{`\u0000`, `\u001b`, "\u0085", `\u0085`, "\u202e", `\u202e`, "\u2067", `\u2067`, "Lovelace"} {
		if strings.Contains(raw, echo) {
			t.Errorf("%s: the answer echoes the input (%q): %s", what, echo, raw)
		}
	}
}

func TestInputTextRuleEverySurface(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		scim, _ := e.SCIMToken(admin, allScopes("idp"))
		conn := e.CreateOIDCConnection(admin, "Okta", "okta")
		user := e.CreateUser(admin, "ada@example.com")
		for _, bt := range badTexts {
			t.Run(bt.name, func(t *testing.T) {
				// GraphQL mutations: a payload error labelled with the field.
				for _, m := range []struct{ field, label, query string }{
					{"createUserAccount", "firstName", `mutation($v: String!) { createUserAccount(input: {email: "x@example.com", firstName: $v, lastName: "L"}) { userAccount { uuid } errors { label message code value } } }`},
					{"createCompany", "name", `mutation($v: String!) { createCompany(input: {name: $v}) { company { id } errors { label message code value } } }`},
					{"createConnection", "name", `mutation($v: String!) { createConnection(input: {name: $v, slug: "x", protocol: OIDC, oidcConfig: {issuerUrl: "https://idp.example.com", clientId: "c", clientSecret: "s"}}) { connection { id } errors { label message code value } } }`},
					{"updateUserAccountCredentials", "identifier", `mutation($v: String!, $u: ID!) { updateUserAccountCredentials(input: {accountUuid: $u, authModule: "okta", identifier: $v}) { userAccount { uuid } errors { label message code value } } }`},
					{"createScimToken", "name", `mutation($v: String!) { createScimToken(input: {name: $v}) { token { id } errors { label message code value } } }`},
				} {
					r := e.GQL(admin, m.query, map[string]any{"v": bt.v, "u": user})
					if r.Status != 200 || len(r.Errors) > 0 {
						t.Fatalf("%s: status %d: %s", m.field, r.Status, r.Raw)
					}
					errs := payloadErrors(t, r.Data, m.field)
					if len(errs) != 1 || str(errs[0], "label") != m.label || str(errs[0], "code") != "INVALID" || get(errs[0], "value") != nil {
						t.Fatalf("%s: want one INVALID error labelled %s without a value: %s", m.field, m.label, r.Raw)
					}
					mustRefuseText(t, m.field, r.Raw, bt.problem)
				}
				// A GraphQL query filter: a top-level error, not INTERNAL.
				r := e.GQL(admin, `query($v: String!) { userAccounts(filter: {identifier: $v}) { nodes { uuid } } }`, map[string]any{"v": bt.v})
				if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] == "INTERNAL" {
					t.Fatalf("userAccounts filter: %s", r.Raw)
				}
				mustRefuseText(t, "userAccounts filter", r.Raw, bt.problem)

				// REST: 400 validation_error with a sentence naming the field.
				for _, c := range []struct {
					method, path string
					body         map[string]any
				}{
					{"POST", "/api/v1/sso/connections", map[string]any{"name": bt.v, "protocol": "oidc"}},
					{"PUT", "/api/v1/sso/connections/" + conn, map[string]any{"name": bt.v}},
					{"POST", "/api/v1/scim/tokens", map[string]any{"name": bt.v}},
				} {
					body := c.body
					rr := e.Call(c.method, c.path, admin, body).Must(t, 400)
					if str(rr.Body, "error", "type") != "validation_error" || !strings.Contains(str(rr.Body, "error", "message"), "name must not contain") {
						t.Fatalf("%s %s: %s", c.method, c.path, rr.Raw)
					}
					mustRefuseText(t, c.method+" "+c.path, rr.Raw, bt.problem)
				}
				rr := e.Call("GET", "/api/v1/sso/connections?name="+url.QueryEscape(bt.v), admin, nil).Must(t, 400)
				mustRefuseText(t, "REST list filter", rr.Raw, bt.problem)

				// SCIM: 400 invalidValue (invalidFilter for a filter), nothing stored.
				for _, c := range []struct {
					what string
					body map[string]any
				}{
					{"userName", map[string]any{"userName": bt.v}},
					{"name.givenName", map[string]any{"userName": "ada.scim", "name": map[string]any{"givenName": bt.v}}},
					{"externalId", map[string]any{"userName": "ada.scim", "externalId": bt.v}},
				} {
					sr := e.Call("POST", "/scim/v2/Users", scim, c.body).Must(t, 400)
					if str(sr.Body, "scimType") != "invalidValue" || !strings.HasPrefix(str(sr.Body, "detail"), c.what+" must not contain") {
						t.Fatalf("SCIM user %s: %s", c.what, sr.Raw)
					}
					mustRefuseText(t, "SCIM user "+c.what, sr.Raw, bt.problem)
				}
				sr := e.Call("POST", "/scim/v2/Groups", scim, map[string]any{"displayName": bt.v}).Must(t, 400)
				if str(sr.Body, "scimType") != "invalidValue" {
					t.Fatalf("SCIM group: %s", sr.Raw)
				}
				sr = e.Call("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+bt.v+`"`), scim, nil).Must(t, 400)
				if str(sr.Body, "scimType") != "invalidFilter" {
					t.Fatalf("SCIM filter: %s", sr.Raw)
				}
				mustRefuseText(t, "SCIM filter", sr.Raw, bt.problem)

				// OAuth: an unknown client, not a server error.
				resp, err := http.PostForm(e.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
					"client_id": {bt.v}, "client_secret": {"x"}})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 401 {
					t.Fatalf("token endpoint with client_id %q: %d", bt.v, resp.StatusCode)
				}
			})
		}

		// PATCH values go through the same rule.
		id := e.SCIMUser(scim, map[string]any{"userName": "grace@example.com"})
		pr := e.Call("PATCH", "/scim/v2/Users/"+id, scim, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "displayName", "value": "Grace\x00Hopper"}},
		}).Must(t, 400)
		if str(pr.Body, "scimType") != "invalidValue" {
			t.Fatalf("PATCH: %s", pr.Raw)
		}
		pr = e.Call("PATCH", "/scim/v2/Users/"+id, scim, map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "nickName", "value": "G\u202eH"}},
		}).Must(t, 400)
		mustRefuseText(t, "PATCH of an attribute without a column", pr.Raw, "bidirectional")

		// Allowed: free text may span lines (RFC 7643's postal address), and the implicit
		// direction marks that mixed-direction names need.
		e.Call("POST", "/scim/v2/Users", scim, map[string]any{"userName": "rtl@example.com",
			"name":      map[string]any{"givenName": "\u200fשרה", "familyName": "Cohen\u200e"},
			"addresses": []any{map[string]any{"formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA", "type": "work"}},
		}).Must(t, 201)
		d := e.MustGQL(admin, `mutation { createCompany(input: {name: "\u200fחברה Ltd"}) { company { name } errors { message } } }`, nil)
		if str(d, "createCompany", "company", "name") != "\u200fחברה Ltd" {
			t.Fatalf("a name with a direction mark: %v", d)
		}

		// A path id that breaks the rule names no resource; the failure is still recorded
		// (on PostgreSQL too), without the id.
		for _, id := range []string{"%00", "%E2%80%AEabc"} {
			e.Call("PATCH", "/scim/v2/Users/"+id, scim, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}}).Must(t, 404)
			ar := e.Call("GET", "/api/v1/scim/activities?status=error&pageSize=1", admin, nil).Must(t, 200)
			if str(ar.Body, "activities", 0, "operation") != "update" || get(ar.Body, "activities", 0, "resourceId") != "" ||
				get(ar.Body, "activities", 0, "details", "httpStatus") != 404.0 {
				t.Fatalf("activity of PATCH %s: %s", id, ar.Raw)
			}
		}

		// Nothing of the refused input was stored.
		lr := e.Call("GET", "/scim/v2/Users?count=100", scim, nil).Must(t, 200)
		if n := get(lr.Body, "totalResults"); n != float64(3) { // ada, grace, rtl
			t.Fatalf("users after refusals: %v: %s", n, lr.Raw)
		}
	})
}

func TestInputErrorsAreSentences(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		scim, _ := e.SCIMToken(admin, allScopes("idp"))
		for _, c := range []struct{ path, body, want string }{
			{"/api/v1/sso/connections", `{"name": 42}`, "name must be a JSON string, not number"},
			{"/api/v1/sso/connections", `{"name": "x",`, "the request body ends before the JSON value does"},
			{"/api/v1/sso/connections", `["x"]`, "the request body must be a JSON object, not array"},
			{"/api/v1/sso/connections", `{"nmae": "x"}`, `the request body has an unknown field \"nmae\"`},
			{"/api/v1/sso/connections", `{"name": "x"}}`, "unexpected data after the JSON object"},
			{"/api/v1/sso/connections", `{"name" "x"}`, "the request body is not valid JSON (at byte 9)"},
			{"/scim/v2/Users", `["x"]`, "the request body must be a JSON object, not array"},
			{"/scim/v2/Users", `{"userName": }`, "the request body is not valid JSON"},
			// Each surface's own limit: 1 MiB for REST, 2 MiB for SCIM.
			{"/api/v1/sso/connections", `{"name": "` + strings.Repeat("x", 1<<20) + `"}`, "the request body is larger than 1 MiB"},
			{"/scim/v2/Users", `{"userName": "` + strings.Repeat("x", 1<<20) + `"}`, "userName"},
			{"/scim/v2/Users", `{"userName": "` + strings.Repeat("x", 2<<20) + `"}`, "the request body is larger than 2 MiB"},
		} {
			tok := admin
			if strings.HasPrefix(c.path, "/scim") {
				tok = scim
			}
			r := e.Call("POST", c.path, tok, c.body).Must(t, 400)
			if !strings.Contains(r.Raw, c.want) || strings.Contains(r.Raw, "Go ") || strings.Contains(r.Raw, "interface") ||
				strings.Contains(r.Raw, "struct") || strings.Contains(r.Raw, "json:") {
				t.Errorf("POST %s %.100s: want %q, got %.300s", c.path, c.body, c.want, r.Raw)
			}
		}
		// A label is named only where the message completes it.
		r := e.Call("GET", "/api/v1/sso/connections/00000000-0000-0000-0000-000000000000", admin, nil).Must(t, 404)
		if msg := str(r.Body, "error", "message"); strings.HasPrefix(msg, "id ") {
			t.Errorf("label glued on: %q", msg)
		}
		r = e.Call("POST", "/api/v1/sso/connections", admin, map[string]any{"protocol": "oidc"}).Must(t, 400)
		if msg := str(r.Body, "error", "message"); !strings.HasPrefix(msg, "name is required") {
			t.Errorf("predicate without its field: %q", msg)
		}
		// Public suffixes are not domains an organisation controls.
		conn := e.CreateOIDCConnection(admin, "Okta", "okta")
		for _, d := range []string{"co.uk", "github.io"} {
			r := e.Call("POST", "/api/v1/sso/connections/"+conn+"/domains", admin, map[string]any{"domain": d}).Must(t, 400)
			if !strings.Contains(str(r.Body, "error", "message"), "public suffix") {
				t.Errorf("domain %s: %s", d, r.Raw)
			}
		}
		e.Call("POST", "/api/v1/sso/connections/"+conn+"/domains", admin, map[string]any{"domain": "acme.co.uk"}).Must(t, 201)
	})
}

func TestGraphQLErrorsAreSentences(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		for _, c := range []struct {
			v    any
			want string
		}{
			{true, "variable $v must be a String, not a JSON boolean"},
			{map[string]any{"a": 1}, "variable $v must be a String, not a JSON object"},
			{[]any{"x"}, "variable $v must be a String, not a JSON array"},
		} {
			r := e.GQL(admin, `mutation($v: String!) { createCompany(input: {name: $v}) { errors { message } } }`, map[string]any{"v": c.v})
			if len(r.Errors) != 1 || r.Errors[0].Message != c.want {
				t.Errorf("variable %v: want %q, got %s", c.v, c.want, r.Raw)
			}
		}
		r := e.GQL(admin, `mutation($v: CreateCompanyInput!) { createCompany(input: $v) { errors { message } } }`,
			map[string]any{"v": map[string]any{"name": "x", "colour": 1}})
		if len(r.Errors) != 1 || r.Errors[0].Message != "variable $v.colour is not a field of its input type" {
			t.Errorf("unknown input field: %s", r.Raw)
		}
		// A document of several operations needs "operationName" (GraphiQL asks which to run;
		// curl does not): the answer says so, naming them, instead of "operation  not found".
		two := `mutation RevokeClient { createCompany(input: {name: "x"}) { errors { message } } } query Viewer { viewer { clientId } }`
		for _, c := range []struct {
			body map[string]any
			want string
		}{
			{map[string]any{"query": two}, `the document has 2 operations (RevokeClient, Viewer): name the one to run in the request's "operationName"`},
			{map[string]any{"query": two, "operationName": "Rotate"}, `the document has no operation named "Rotate" (operationName): it has RevokeClient, Viewer`},
			{map[string]any{"query": "{ viewer { clientId } }", "operationName": "Viewer"}, `the document has no operation named "Viewer" (operationName): it has an unnamed one`},
		} {
			rr := e.Call("POST", "/graphql/v1", admin, c.body)
			if rr.Status != 422 || str(rr.Body, "errors", 0, "message") != c.want || str(rr.Body, "errors", 0, "extensions", "code") != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("%v: %d %s", c.body, rr.Status, rr.Raw)
			}
		}
		if r := e.GQL(admin, "{ viewer { clientId } }", nil); len(r.Errors) != 0 {
			t.Errorf("one operation without operationName: %s", r.Raw)
		}
		// A body that is not a GraphQL request is refused without echoing it.
		for _, body := range []string{`{"query": "{ viewer { clientId } }", "variables": [1, 2]}`, `{"query": "{ viewer { clientId } }" SECRETSTUFF`} {
			rr := e.Call("POST", "/graphql/v1", admin, body).Must(t, 400)
			if strings.Contains(rr.Raw, "SECRETSTUFF") || strings.Contains(rr.Raw, "viewer") || strings.Contains(rr.Raw, "Go struct") ||
				!strings.Contains(rr.Raw, "the request body must be a JSON object") || str(rr.Body, "errors", 0, "extensions", "code") != "BAD_REQUEST" {
				t.Errorf("body %s: %s", body, rr.Raw)
			}
		}
	})
}

// TestJSONArgumentsMustBeObjects: a JSON argument or input field given a list, a string or a
// number (literal or variable; validation checks no custom scalar's value) is the caller's
// mistake, answered INVALID with a sentence naming it, never INTERNAL ("internal error").
func TestJSONArgumentsMustBeObjects(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		conn := e.CreateOIDCConnection(admin, "Okta", "okta")
		brand := e.CreateBrand(admin, "Portal")
		e.MustGQL(admin, `mutation($b: ID!, $c: ID!) { brands { createIdentityProviderConfiguration(input: {brandId: $b, identityProviderId: $c}) {
			errors { code } } } }`, map[string]any{"b": brand, "c": conn})
		const simulate = `query($b: ID!, $c: ID!, $m: JSON!) { simulatePlacement(brandId: $b, identityProviderId: $c, claims: $m) { rule } }`
		const saml = `mutation($m: JSON) { createConnection(input: {name: "IdP", protocol: SAML, samlConfig: {attributeMapping: $m}}) { errors { label } } }`
		for _, c := range []struct {
			what, query string
			vars        map[string]any
			want        string
		}{
			{"claims: a list literal", `query($b: ID!, $c: ID!) { simulatePlacement(brandId: $b, identityProviderId: $c, claims: [1, 2]) { rule } }`,
				map[string]any{"b": brand, "c": conn}, "claims must be a JSON object"},
			{"claims: a string literal", `query($b: ID!, $c: ID!) { simulatePlacement(brandId: $b, identityProviderId: $c, claims: "org") { rule } }`,
				map[string]any{"b": brand, "c": conn}, "claims must be a JSON object"},
			{"claims: a number variable", simulate, map[string]any{"b": brand, "c": conn, "m": 5}, "claims must be a JSON object"},
			{"attributeMapping: a list variable", saml, map[string]any{"m": []any{"email"}}, "input.samlConfig.attributeMapping must be a JSON object"},
			{"attributeMapping: a string literal", `mutation { createConnection(input: {name: "IdP", protocol: SAML, samlConfig: {attributeMapping: "email"}}) { errors { label } } }`,
				nil, "input.samlConfig.attributeMapping must be a JSON object"},
		} {
			r := e.GQL(admin, c.query, c.vars)
			if r.Status != 200 || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "INVALID" || r.Errors[0].Message != c.want {
				t.Errorf("%s: want INVALID %q, got %d %s", c.what, c.want, r.Status, r.Raw)
			}
		}
		// An object is still accepted.
		if d := e.MustGQL(admin, simulate, map[string]any{"b": brand, "c": conn, "m": map[string]any{"company": "Acme"}}); str(d, "simulatePlacement", "rule") != "INDIVIDUAL_ACCOUNT" {
			t.Fatalf("claims object: %v", d)
		}
	})
}

// A JSON body that is not UTF-8 is refused on every surface, whole (RFC 8259 §8.1): decoding
// it would replace each invalid byte with U+FFFD, which the text rule allows, and store the
// replacement. Each body is otherwise one the surface accepts.
func TestBodiesThatAreNotUTF8AreRefused(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		scim, _ := e.SCIMToken(admin, allScopes("idp"))
		for _, c := range []struct{ what, path, token, body, want string }{
			{"REST", "/api/v1/sso/connections", admin,
				`{"name": "Okta ` + "\xff" + `", "protocol": "oidc", "oidcConfig": {"issuerUrl": "https://your-org.okta.com", "clientId": "c", "clientSecret": "s"}}`,
				`"message":"the request body is not valid UTF-8"`},
			{"SCIM", "/scim/v2/Users", scim,
				`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "gr` + "\xc3\x28" + `ce@example.com"}`,
				`"scimType":"invalidSyntax"`},
			{"GraphQL", "/graphql/v1", admin,
				`{"query": "mutation { createCompany(input: {name: \"Acme ` + "\xed\xa0\x80" + `\"}) { company { id } } }"}`, // a surrogate
				`"code":"BAD_REQUEST"`},
		} {
			r := e.Call("POST", c.path, c.token, c.body).Must(t, 400)
			if !strings.Contains(r.Raw, c.want) || !strings.Contains(r.Raw, "not valid UTF-8") {
				t.Errorf("%s: want %s and the reason, got %s", c.what, c.want, r.Raw)
			}
		}
		// An escaped surrogate without its pair is valid UTF-8 that encoding/json (and
		// gqlparser, in a GraphQL string) decodes to U+FFFD: refused whole too.
		for _, c := range []struct{ what, path, token, body, want string }{
			{"REST", "/api/v1/sso/connections", admin,
				`{"name": "Okta \ud800", "protocol": "oidc", "oidcConfig": {"issuerUrl": "https://your-org.okta.com", "clientId": "c", "clientSecret": "s"}}`,
				`"type":"validation_error"`},
			{"SCIM", "/scim/v2/Users", scim, `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "gr\udc00ce@example.com"}`,
				`"scimType":"invalidSyntax"`},
			{"GraphQL variable", "/graphql/v1", admin,
				`{"query": "mutation($v: String!) { createCompany(input: {name: $v}) { company { id } } }", "variables": {"v": "Acme \ud800"}}`,
				`"code":"BAD_REQUEST"`},
			{"GraphQL literal", "/graphql/v1", admin,
				`{"query": ` + strconv.Quote(`mutation { createCompany(input: {name: "Acme \uD800"}) { company { id } } }`) + `}`,
				`"code":"BAD_REQUEST"`},
		} {
			r := e.Call("POST", c.path, c.token, c.body).Must(t, 400)
			if !strings.Contains(r.Raw, c.want) || !strings.Contains(r.Raw, "escaped surrogate without its pair") {
				t.Errorf("%s: want %s and the reason, got %s", c.what, c.want, r.Raw)
			}
		}
		// A pair is a character like any other, in a body and in a GraphQL string.
		d := e.MustGQL(admin, `mutation { createCompany(input: {name: "Smile \uD83D\uDE00"}) { company { name } errors { message } } }`, nil)
		if str(d, "createCompany", "company", "name") != "Smile 😀" {
			t.Errorf("a surrogate pair in a GraphQL string: %v", d)
		}
		e.Call("POST", "/scim/v2/Users", scim, `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "smile@example.org",
			"name": {"givenName": "\ud83d\ude00"}}`).Must(t, 201)

		// Nothing was stored, with a replacement character or otherwise.
		for path, tok := range map[string]string{"/api/v1/sso/connections": admin, "/scim/v2/Users": scim} {
			if r := e.Call("GET", path, tok, nil).Must(t, 200); strings.Contains(r.Raw, "Okta") || strings.Contains(r.Raw, "example.com") || strings.Contains(r.Raw, "\ufffd") {
				t.Errorf("GET %s after the refusals: %s", path, r.Raw)
			}
		}
		if d := e.MustGQL(admin, `{ companies(first: 100) { nodes { name } } }`, nil); strings.Contains(fmt.Sprint(d), "Acme") {
			t.Errorf("companies after the refusal: %v", d)
		}
	})
}
