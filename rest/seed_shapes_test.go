package rest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"gatehouse/app/apptest"
)

// The example responses of seeds/002, verbatim. A tool written against the document reads
// these names: each must be in our answer to the same request, with a value of the same JSON
// kind (what we add beside them is ours).
const (
	seedTestResponse = `{
"success": true,
"details": {
"discoveryValid": true,
"jwksValid": true,
"latencyMs": 142
}
}`
	seedAddDomainResponse = `{
"domain": {
"id": "dom-uuid",
"domain": "example.com",
"status": "pending",
"verificationToken": "worldflow-verify=abc123..."
},
"dnsRecord": {
"recordType": "TXT",
"name": "_worldflow-verify.example.com",
"value": "worldflow-verify=abc123..."
}
}`
	seedSPMetadataResponse = `{
"entityId": "https://api.worldflowai.com/saml/metadata",
"acsUrl": "https://api.worldflowai.com/saml/acs",
"metadataXml": "<?xml version=\"1.0\"?>..."
}`
	seedTokenResponse = `{
"token": {
"id": "tok-uuid",
"name": "Okta SCIM Token",
"maskedValue": "scim_abc1...****",
"status": "active",
"scopes": ["users:read", "users:write", "groups:read", "groups:write"],
"createdAt": "2025-01-15T10:00:00Z"
},
"plainValue": "scim_abc1def2ghi3jkl4mno5pqr6stu7vwx8"
}`
	seedStatisticsResponse = `{
"totalUsers": 847,
"totalGroups": 23,
"usersAdded24h": 12,
"usersRemoved24h": 1,
"groupsAdded24h": 0,
"groupsRemoved24h": 0,
"lastSyncAt": "2025-01-15T14:30:00Z",
"errorCount24h": 0,
"activeTokens": 2
}`
	seedErrorResponse = `{
"error": {
"type": "validation_error",
"message": "Connection name is required"
}
}`
)

// shapeProblems lists each path of want (a decoded seed example) that got lacks or holds
// another JSON kind. Arrays are compared by their first element.
func shapeProblems(path string, want, got any) []string {
	kind := func(v any) string { return fmt.Sprintf("%T", v) }
	if got == nil || kind(want) != kind(got) {
		return []string{fmt.Sprintf("%s: %s in the document, %s here", path, kind(want), kind(got))}
	}
	var out []string
	switch w := want.(type) {
	case map[string]any:
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, shapeProblems(path+"."+k, w[k], got.(map[string]any)[k])...)
		}
	case []any:
		if g := got.([]any); len(w) > 0 && len(g) > 0 {
			out = append(out, shapeProblems(path+"[0]", w[0], g[0])...)
		}
	}
	return out
}

// TestSeedResponseShapes: every example response of seeds/002, against our answer to the
// document's request (verbatim where the document's values work on a test server), on both
// databases; and the values the document names (statuses, record type, URLs) are ours too.
func TestSeedResponseShapes(t *testing.T) {
	w, mod := newSSOWorld(t)
	eachDBWith(t, mod, func(t *testing.T, e *testEnv) {
		w.reset()
		tok := e.AdminToken()
		check := func(name, example string, got map[string]any) {
			t.Helper()
			var want any
			if err := json.Unmarshal([]byte(example), &want); err != nil {
				t.Fatalf("%s: the example: %v", name, err)
			}
			if p := shapeProblems(name, want, got); len(p) > 0 {
				t.Errorf("%s differs from the document:\n%s", name, strings.Join(p, "\n"))
			}
		}

		// Connection test: the document's request on a connection whose issuer answers.
		id := str(e.REST(tok, "POST", "/api/v1/sso/connections", localOIDCBody("Local IdP", w.idp.URL)).Must(t, 201).Body, "connection", "id")
		res := e.REST(tok, "POST", "/api/v1/sso/connections/"+id+"/test", "").Must(t, 200)
		check("test", seedTestResponse, res.Body)
		if res.Body["success"] != true {
			t.Fatalf("test: %s", res.Raw)
		}

		// Add a domain: the document's body verbatim.
		res = e.REST(tok, "POST", "/api/v1/sso/connections/"+id+"/domains", docAddDomain).Must(t, 201)
		check("add domain", seedAddDomainResponse, res.Body)
		if str(res.Body, "domain", "status") != "pending" || str(res.Body, "dnsRecord", "recordType") != "TXT" {
			t.Fatalf("add domain: %s", res.Raw)
		}

		// SP metadata.
		res = e.REST(tok, "GET", "/api/v1/sso/sp-metadata", "").Must(t, 200)
		check("sp-metadata", seedSPMetadataResponse, res.Body)
		if str(res.Body, "entityId") != e.URL+"/saml/metadata" || str(res.Body, "acsUrl") != e.URL+"/saml/acs" {
			t.Fatalf("sp-metadata: %s", res.Raw)
		}

		// SCIM token: the document's body verbatim; the answer is the example's, scopes and all.
		res = e.REST(tok, "POST", "/api/v1/scim/tokens", `{
"name": "Okta SCIM Token",
"scopes": ["users:read", "users:write", "groups:read", "groups:write"],
"expiresInDays": 365
}`).Must(t, 201)
		check("create token", seedTokenResponse, res.Body)
		if str(res.Body, "token", "status") != "active" || fmt.Sprint(get(res.Body, "token", "scopes")) != "[users:read users:write groups:read groups:write]" {
			t.Fatalf("create token: %s", res.Raw)
		}
		plain := str(res.Body, "plainValue")
		// Get shows the token as the create did, without the plain value.
		got := e.REST(tok, "GET", "/api/v1/scim/tokens/"+str(res.Body, "token", "id"), "").Must(t, 200)
		if _, ok := got.Body["plainValue"]; ok || strings.Contains(got.Raw, plain) {
			t.Fatalf("get token: %s", got.Raw)
		}
		check("get token", `{"token": `+seedTokenResponse[strings.Index(seedTokenResponse, "{\n\"id\""):strings.Index(seedTokenResponse, "},\n\"plainValue\"")+1]+`}`, got.Body)

		// Statistics, once the IdP has synced something (lastSyncAt is a time then).
		req, _ := http.NewRequest("POST", e.URL+"/scim/v2/Users", strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com"}`))
		req.Header.Set("Authorization", "Bearer "+plain)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("SCIM create: %v %v", resp, err)
		}
		resp.Body.Close()
		res = e.REST(tok, "GET", "/api/v1/scim/statistics", "").Must(t, 200)
		check("statistics", seedStatisticsResponse, res.Body)
		if get(res.Body, "totalUsers") != 1.0 || get(res.Body, "usersAdded24h") != 1.0 || get(res.Body, "activeTokens") != 1.0 {
			t.Fatalf("statistics: %s", res.Raw)
		}

		// The error format, with the example's own message.
		res = e.REST(tok, "POST", "/api/v1/sso/connections", `{"protocol": "oidc", "oidcConfig": {"issuerUrl": "https://a.example.com", "clientId": "c", "clientSecret": "s"}}`)
		res.MustError(t, 400, "validation_error", "name is required")
		check("error", seedErrorResponse, res.Body)
	})
}

// TestSeedRequestFieldRules: the limits and defaults of seeds/002's request-body tables, at
// their edges: a name of 128 characters is taken and one of 129 refused (connections and SCIM
// tokens); expiresInDays null is a token that never expires, scopes omitted are the users
// scopes.
func TestSeedRequestFieldRules(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		tok := e.AdminToken()
		for _, n := range []int{128, 129} {
			name := strings.Repeat("ñ", n) // characters, not bytes
			conn := e.REST(tok, "POST", "/api/v1/sso/connections", localOIDCBody(name, "https://idp.example.com"))
			scim := e.REST(tok, "POST", "/api/v1/scim/tokens", `{"name": "`+name+`"}`)
			if n == 128 {
				if conn.Must(t, 201); str(conn.Body, "connection", "name") != name {
					t.Fatalf("connection name of 128 characters: %s", conn.Raw)
				}
				if scim.Must(t, 201); str(scim.Body, "token", "name") != name {
					t.Fatalf("token name of 128 characters: %s", scim.Raw)
				}
				continue
			}
			conn.MustError(t, 400, "validation_error", "at most 128 characters")
			scim.MustError(t, 400, "validation_error", "128")
		}
		res := e.REST(tok, "POST", "/api/v1/scim/tokens", `{"name": "never", "expiresInDays": null}`).Must(t, 201)
		if v, ok := get(res.Body, "token").(map[string]any)["expiresAt"]; !ok || v != nil || str(res.Body, "token", "status") != "active" ||
			fmt.Sprint(get(res.Body, "token", "scopes")) != "[users:read users:write]" {
			t.Fatalf("expiresInDays null: %s", res.Raw)
		}
	})
}
