package scim_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/app/apptest"
	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

func TestSCIMTokensREST(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		// The document's request, exactly as written.
		r := e.Call("POST", "/api/v1/scim/tokens", admin, `{
"name": "Okta SCIM Token",
"scopes": ["users:read", "users:write", "groups:read", "groups:write"],
"expiresInDays": 365
}`).Must(t, 201)
		plain := str(r.Body, "plainValue")
		if !strings.HasPrefix(plain, "scim_") || len(plain) < 40 {
			t.Fatalf("plainValue %q", plain)
		}
		tok := get(r.Body, "token").(map[string]any)
		if tok["maskedValue"] != plain[:9]+"...****" || tok["status"] != "active" || tok["name"] != "Okta SCIM Token" {
			t.Fatalf("token %v", tok)
		}
		if len(tok["scopes"].([]any)) != 4 || tok["expiresAt"] == nil || tok["createdAt"] == nil {
			t.Fatalf("token %v", tok)
		}
		id := tok["id"].(string)
		if strings.Contains(r.Raw, secretHashOf(plain)) {
			t.Fatal("the hash leaked")
		}

		// Defaults: users scopes, never expires.
		r = e.Call("POST", "/api/v1/scim/tokens", admin, map[string]any{"name": "Entra"}).Must(t, 201)
		if s := get(r.Body, "token", "scopes").([]any); len(s) != 2 || s[0] != "users:read" || s[1] != "users:write" {
			t.Fatalf("default scopes %v", s)
		}
		if get(r.Body, "token", "expiresAt") != nil {
			t.Fatal("a token without expiresInDays must never expire")
		}
		entraID := str(r.Body, "token", "id")

		for name, body := range map[string]any{
			"no name":      map[string]any{"scopes": []string{"users:read"}},
			"long name":    map[string]any{"name": strings.Repeat("x", 129)},
			"bad scope":    map[string]any{"name": "x", "scopes": []string{"users:admin"}},
			"no scopes":    map[string]any{"name": "x", "scopes": []string{}},
			"zero days":    map[string]any{"name": "x", "expiresInDays": 0},
			"unknown":      map[string]any{"name": "x", "plainValue": "scim_mine"},
			"bad conn":     map[string]any{"name": "x", "connectionId": "not-a-uuid"},
			"missing conn": map[string]any{"name": "x", "connectionId": "0190c7e5-0000-7000-8000-000000000000"},
		} {
			r := e.Call("POST", "/api/v1/scim/tokens", admin, body)
			if r.Status != 400 && r.Status != 404 {
				t.Errorf("%s: status %d: %s", name, r.Status, r.Raw)
			}
			if str(r.Body, "error", "type") == "" {
				t.Errorf("%s: no error type: %s", name, r.Raw)
			}
		}

		// Get never shows the plain value.
		r = e.Call("GET", "/api/v1/scim/tokens/"+id, admin, nil).Must(t, 200)
		if strings.Contains(r.Raw, plain) || str(r.Body, "token", "maskedValue") == "" {
			t.Fatalf("get: %s", r.Raw)
		}
		e.Call("GET", "/api/v1/scim/tokens/0190c7e5-0000-7000-8000-000000000000", admin, nil).Must(t, 404)

		// The token works, revocation is immediate.
		e.Call("GET", "/scim/v2/Users", plain, nil).Must(t, 200)
		r = e.Call("POST", "/api/v1/scim/tokens/"+id+"/revoke", admin, nil).Must(t, 200)
		if str(r.Body, "token", "status") != "revoked" {
			t.Fatalf("revoke: %s", r.Raw)
		}
		r = e.Call("GET", "/scim/v2/Users", plain, nil).Must(t, 401)
		if str(r.Body, "status") != "401" || get(r.Body, "schemas", 0) != "urn:ietf:params:scim:api:messages:2.0:Error" {
			t.Fatalf("401 body: %s", r.Raw)
		}

		// List filters and pagination.
		r = e.Call("GET", "/api/v1/scim/tokens?status=active", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 1.0 || str(r.Body, "tokens", 0, "id") != entraID {
			t.Fatalf("active: %s", r.Raw)
		}
		r = e.Call("GET", "/api/v1/scim/tokens?status=revoked", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 1.0 || str(r.Body, "tokens", 0, "id") != id {
			t.Fatalf("revoked: %s", r.Raw)
		}
		r = e.Call("GET", "/api/v1/scim/tokens?name=okta", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 1.0 {
			t.Fatalf("name: %s", r.Raw)
		}
		r = e.Call("GET", "/api/v1/scim/tokens?pageSize=1&page=2", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 2.0 || len(get(r.Body, "tokens").([]any)) != 1 || get(r.Body, "pageSize") != 1.0 {
			t.Fatalf("page: %s", r.Raw)
		}
		e.Call("GET", "/api/v1/scim/tokens?status=weird", admin, nil).Must(t, 400)
		e.Call("GET", "/api/v1/scim/tokens?pageSize=101", admin, nil).Must(t, 400)

		// Expiry: a token whose expiry passed is refused and listed as expired.
		exp, expID := e.SCIMToken(admin, map[string]any{"name": "short", "expiresInDays": 1})
		e.setTokenExpiry(expID, time.Now().Add(-time.Minute))
		e.Call("GET", "/scim/v2/Users", exp, nil).Must(t, 401)
		r = e.Call("GET", "/api/v1/scim/tokens?status=expired", admin, nil).Must(t, 200)
		if get(r.Body, "total") != 1.0 || str(r.Body, "tokens", 0, "status") != "expired" {
			t.Fatalf("expired: %s", r.Raw)
		}

		e.Call("POST", "/scim/v2/Users", exp, map[string]any{"userName": "late@example.com"}).Must(t, 401)

		// Refusals of a token that exists (revoked, expired) are in its workspace's activity log,
		// so an IdP still using an old token shows; an unknown token belongs to no workspace.
		e.Call("GET", "/scim/v2/Users", "scim_unknown0000000000000000", nil).Must(t, 401)
		refusals := func() map[string][]string { // token id → "operation resourceType httpStatus errorMessage"
			t.Helper()
			r := e.Call("GET", "/api/v1/scim/activities?status=error&pageSize=100", admin, nil).Must(t, 200)
			out := map[string][]string{}
			for _, a := range get(r.Body, "activities").([]any) {
				out[str(a, "tokenId")] = append(out[str(a, "tokenId")], fmt.Sprint(str(a, "operation"), " ", str(a, "resourceType"), " ",
					get(a, "details", "httpStatus"), " ", str(a, "errorMessage")))
			}
			return out
		}
		got := refusals()
		if want := []string{"read user 401 the SCIM token is revoked"}; !slices.Equal(got[id], want) {
			t.Fatalf("revoked token's refusals: %q, want %q", got[id], want)
		}
		if want := []string{"create user 401 the SCIM token is expired", "read user 401 the SCIM token is expired"}; !slices.Equal(got[expID], want) {
			t.Fatalf("expired token's refusals: %q, want %q", got[expID], want)
		}
		if len(got) != 2 {
			t.Fatalf("refusals of other tokens: %q", got)
		}

		// Delete removes the token and its activity.
		e.Call("DELETE", "/api/v1/scim/tokens/"+id, admin, nil).Must(t, 204)
		e.Call("GET", "/api/v1/scim/tokens/"+id, admin, nil).Must(t, 404)
		e.Call("DELETE", "/api/v1/scim/tokens/"+id, admin, nil).Must(t, 404)
		if got := refusals(); len(got[id]) != 0 || len(got[expID]) != 2 {
			t.Fatalf("after deleting the revoked token: %q", got)
		}

		// Without the admin scope, REST refuses; without a token, 401.
		e.Call("GET", "/api/v1/scim/tokens", "", nil).Must(t, 401)
		cid, csec := e.CreateClient(admin, []string{"graphql"}, "")
		e.Call("GET", "/api/v1/scim/tokens", e.Token(cid, csec), nil).Must(t, 403)
	})
}

// TestSCIMTokenExpiresInDaysNotAnInteger: the document's expiresInDays is an integer; a
// fraction or a number past any integer is refused with a sentence that says so. It used to
// read "expiresInDays must be a JSON number, not number 1.5".
func TestSCIMTokenExpiresInDaysNotAnInteger(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		for body, want := range map[string]string{
			`{"name": "Okta SCIM Token", "expiresInDays": 365.5}`: "expiresInDays must be a whole number within its range",
			`{"name": "Okta SCIM Token", "expiresInDays": 1e30}`:  "expiresInDays must be a whole number within its range",
			`{"name": "Okta SCIM Token", "expiresInDays": "365"}`: "expiresInDays must be a JSON number, not string",
		} {
			r := e.Call("POST", "/api/v1/scim/tokens", admin, body).Must(t, 400)
			if str(r.Body, "error", "type") != "validation_error" || str(r.Body, "error", "message") != want {
				t.Errorf("%s: %s, want %q", body, r.Raw, want)
			}
		}
	})
}

// TestSCIMTokenExpiresInDaysBounds: the bounds of expiresInDays that the OpenAPI document
// serves are the server's, so that a client generated from the document (or a person reading
// it) knows 3651 days is refused before sending it. The document had the minimum only.
func TestSCIMTokenExpiresInDaysBounds(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		doc := e.Call("GET", "/api/v1/openapi.json", "", nil).Must(t, 200)
		prop := get(doc.Body, "paths", "/api/v1/scim/tokens", "post", "requestBody", "content", "application/json",
			"schema", "properties", "expiresInDays")
		lo, hasLo := get(prop, "minimum").(float64)
		hi, hasHi := get(prop, "maximum").(float64)
		if !hasLo || !hasHi {
			t.Fatalf("the document's expiresInDays has no minimum or no maximum: %v", prop)
		}
		for _, tc := range []struct {
			days   float64
			status int
		}{{lo - 1, 400}, {lo, 201}, {hi, 201}, {hi + 1, 400}} {
			r := e.Call("POST", "/api/v1/scim/tokens", admin, map[string]any{"name": "Okta SCIM Token", "expiresInDays": tc.days})
			if r.Status != tc.status {
				t.Errorf("expiresInDays %v (document: %v to %v): status %d, want %d: %s", tc.days, lo, hi, r.Status, tc.status, r.Raw)
			}
		}
	})
}

// setTokenExpiry moves a token's expiry, standing in for the passage of time.
func (e *testEnv) setTokenExpiry(id string, at time.Time) {
	e.T.Helper()
	var n []int
	if err := e.App.Store().RawScan(context.Background(), &n, "UPDATE scim_tokens SET expires_at = ? WHERE id = ?", at.UTC(), id); err != nil {
		e.T.Fatalf("set expiry: %v", err)
	}
}

func secretHashOf(plain string) string {
	return secret.Hash(plain)
}

func TestSCIMTokensGraphQL(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		conn := e.CreateOIDCConnection(admin, "Okta", "okta")
		d := e.MustGQL(admin, `mutation($in: CreateScimTokenInput!) { createScimToken(input: $in) {
			token { id name maskedValue status scopes connectionId expiresAt } plainValue errors { label message code } } }`,
			map[string]any{"in": map[string]any{"name": "Okta", "scopes": []string{"users:read", "users:write"}, "connectionId": conn}})
		if errs := payloadErrors(t, d, "createScimToken"); len(errs) > 0 {
			t.Fatalf("errors %v", errs)
		}
		plain := str(d, "createScimToken", "plainValue")
		id := str(d, "createScimToken", "token", "id")
		if !strings.HasPrefix(plain, "scim_") || str(d, "createScimToken", "token", "status") != "ACTIVE" ||
			str(d, "createScimToken", "token", "connectionId") != conn {
			t.Fatalf("create: %v", d)
		}
		d = e.MustGQL(admin, `mutation { createScimToken(input: {name: "", scopes: ["nope"]}) { token { id } plainValue errors { label code } } }`, nil)
		if errs := payloadErrors(t, d, "createScimToken"); len(errs) != 2 || get(d, "createScimToken", "plainValue") != nil {
			t.Fatalf("invalid create: %v", d)
		}

		// A token tied to a connection binds what it provisions: the SCIM user can sign in there.
		r := e.Call("POST", "/scim/v2/Users", plain, map[string]any{"userName": "Bound.User@example.com"}).Must(t, 201)
		uid := str(r.Body, "id")
		d = e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { userName email credentials { authModule identifier } } }`, map[string]any{"u": uid})
		if str(d, "userAccount", "credentials", 0, "authModule") != "okta" || str(d, "userAccount", "credentials", 0, "identifier") != "Bound.User@example.com" ||
			str(d, "userAccount", "userName") != "Bound.User@example.com" || str(d, "userAccount", "email") != "" {
			t.Fatalf("binding: %v", d)
		}
		// Renaming the user through SCIM moves its identity at the token's connection.
		e.Call("PATCH", "/scim/v2/Users/"+uid, plain, `{"Operations":[{"op":"replace","path":"userName","value":"renamed@example.com"}]}`).Must(t, 200)
		d = e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { credentials { authModule identifier } } }`, map[string]any{"u": uid})
		if creds := get(d, "userAccount", "credentials").([]any); len(creds) != 1 || str(creds[0], "identifier") != "renamed@example.com" {
			t.Fatalf("rebinding: %v", d)
		}
		// The identity rule holds: an account bound ahead of time to the same identifier wins.
		other := e.CreateUser(admin, "someone@example.com")
		d = e.MustGQL(admin, `mutation($u: ID!) { updateUserAccountCredentials(input: {accountUuid: $u, authModule: "okta", identifier: "taken@example.com", secret: ""}) { errors { code } } }`, map[string]any{"u": other})
		if errs := payloadErrors(t, d, "updateUserAccountCredentials"); len(errs) != 0 {
			t.Fatalf("bind: %v", errs)
		}
		r = e.Call("POST", "/scim/v2/Users", plain, map[string]any{"userName": "TAKEN@example.com"}).Must(t, 409)
		if str(r.Body, "scimType") != "uniqueness" || !strings.Contains(str(r.Body, "detail"), "userName") {
			t.Fatalf("taken identity: %s", r.Raw)
		}
		// The IdP finds that person by userName, their identifier at the token's connection, and
		// links them instead of creating a duplicate; ne and not see the same binding.
		lookup := func(f string) []string {
			t.Helper()
			r := e.Call("GET", "/scim/v2/Users?filter="+url.QueryEscape(f), plain, nil).Must(t, 200)
			var ids []string
			for _, u := range get(r.Body, "Resources").([]any) {
				ids = append(ids, str(u, "id"))
			}
			if get(r.Body, "totalResults") != float64(len(ids)) {
				t.Fatalf("%s: %s", f, r.Raw)
			}
			return ids
		}
		if ids := lookup(`userName eq "TAKEN@example.com"`); len(ids) != 1 || ids[0] != other {
			t.Fatalf("lookup of a bound identifier: %v, want [%s]", ids, other)
		}
		if ids := lookup(`userName eq "renamed@example.com" or userName eq "taken@example.com"`); len(ids) != 2 {
			t.Fatalf("or of two userNames: %v", ids)
		}
		for _, f := range []string{`userName ne "taken@example.com"`, `not (userName eq "taken@example.com")`} {
			if ids := lookup(f); len(ids) != 1 || ids[0] != uid {
				t.Fatalf("%s: %v, want only [%s]", f, ids, uid)
			}
		}
		if ids := lookup(`userName eq "nobody@example.com"`); len(ids) != 0 {
			t.Fatalf("unknown userName: %v", ids)
		}
		// Linking: the IdP's PUT takes the account over under that userName, same binding.
		e.Call("PUT", "/scim/v2/Users/"+other, plain, map[string]any{"userName": "taken@example.com",
			"emails": []any{map[string]any{"value": "someone@example.com", "primary": true}}}).Must(t, 200)
		d = e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { userName credentials { authModule identifier } } }`, map[string]any{"u": other})
		if creds := get(d, "userAccount", "credentials").([]any); len(creds) != 1 || str(creds[0], "identifier") != "taken@example.com" ||
			str(d, "userAccount", "userName") != "taken@example.com" {
			t.Fatalf("linked account: %v", d)
		}

		d = e.MustGQL(admin, `{ scimTokens(status: ACTIVE) { total page pageSize tokens { id name maskedValue } } scimToken(id: "`+id+`") { name }
			scimStatistics { totalUsers totalGroups usersAdded24h usersRemoved24h groupsAdded24h groupsRemoved24h lastSyncAt errorCount24h activeTokens }
			scimActivities(filter: {status: "error"}) { total activities { operation resourceType status errorMessage details tokenId timestamp } } }`, nil)
		if get(d, "scimTokens", "total") != 1.0 || str(d, "scimToken", "name") != "Okta" {
			t.Fatalf("queries: %v", d)
		}
		st := get(d, "scimStatistics").(map[string]any)
		if st["totalUsers"] != 2.0 || st["usersAdded24h"] != 1.0 || st["errorCount24h"] != 1.0 || st["activeTokens"] != 1.0 || st["lastSyncAt"] == nil {
			t.Fatalf("statistics: %v", st)
		}
		if get(d, "scimActivities", "total") != 1.0 || str(d, "scimActivities", "activities", 0, "operation") != "create" ||
			str(d, "scimActivities", "activities", 0, "tokenId") != id || str(d, "scimActivities", "activities", 0, "errorMessage") == "" {
			t.Fatalf("activities: %v", d)
		}

		d = e.MustGQL(admin, `mutation($id: ID!) { revokeScimToken(input: {id: $id}) { token { status revokedAt } errors { code } } }`, map[string]any{"id": id})
		if str(d, "revokeScimToken", "token", "status") != "REVOKED" {
			t.Fatalf("revoke: %v", d)
		}
		e.Call("GET", "/scim/v2/Users", plain, nil).Must(t, 401)
		d = e.MustGQL(admin, `mutation($id: ID!) { deleteScimToken(input: {id: $id}) { deletedId errors { code } } }`, map[string]any{"id": id})
		if str(d, "deleteScimToken", "deletedId") != id {
			t.Fatalf("delete: %v", d)
		}
		d = e.MustGQL(admin, `{ scimActivities { total } scimToken(id: "`+id+`") { id } }`, nil)
		if get(d, "scimActivities", "total") != 0.0 || get(d, "scimToken") != nil {
			t.Fatalf("after delete: %v", d)
		}
		// Pages, newest first: page 2 of size 1 is the older of two tokens.
		_, older := e.SCIMToken(admin, map[string]any{"name": "older"})
		_, newer := e.SCIMToken(admin, map[string]any{"name": "newer"})
		page := func(n int) string {
			t.Helper()
			d := e.MustGQL(admin, `query($p: Int) { scimTokens(page: $p, pageSize: 1) { total page pageSize tokens { id } } }`, map[string]any{"p": n})
			if get(d, "scimTokens", "total") != 2.0 || get(d, "scimTokens", "page") != float64(n) || get(d, "scimTokens", "pageSize") != 1.0 ||
				len(get(d, "scimTokens", "tokens").([]any)) > 1 {
				t.Fatalf("page %d: %v", n, d)
			}
			return str(d, "scimTokens", "tokens", 0, "id")
		}
		if p1, p2, p3 := page(1), page(2), page(3); p1 != newer || p2 != older || p3 != "" {
			t.Fatalf("pages %q %q %q, want %q %q and none", p1, p2, p3, newer, older)
		}

		// graphql:read may read but not create tokens.
		cid, csec := e.CreateClient(admin, []string{"graphql:read"}, "")
		rd := e.Token(cid, csec)
		if r := e.GQL(rd, `mutation { createScimToken(input: {name: "x"}) { plainValue } }`, nil); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
			t.Fatalf("read-only client created a token: %s", r.Raw)
		}
		if d := e.MustGQL(rd, `{ scimTokens { total } }`, nil); get(d, "scimTokens", "total") != 2.0 {
			t.Fatalf("read-only client's scimTokens: %v", d)
		}
	})
}

// TestSCIMIdentityAndSignIn: the SCIM user is the account that signs in. A user provisioned by
// a token tied to a connection signs in through it at once; SCIM's active "False" blocks that
// sign-in and active true restores it; a person created at first sign-in is found by the IdP's
// userName and emails filters, so the IdP links them instead of creating a duplicate.
func TestSCIMIdentityAndSignIn(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		admin := e.AdminToken()
		brand, err := uuid.Parse(e.CreateBrand(admin, "Portal"))
		if err != nil {
			t.Fatal(err)
		}
		d := e.MustGQL(admin, `mutation { createConnection(input: {name: "Okta", slug: "okta", protocol: OIDC, jitProvisioning: true,
			oidcConfig: {issuerUrl: "https://login.example.com/tenant/v2.0", clientId: "client", clientSecret: "secret"}}) { connection { id } errors { message } } }`, nil)
		connID := str(d, "createConnection", "connection", "id")
		var n []int
		if err := e.App.Store().RawScan(ctx, &n, "UPDATE connections SET status = 'active' WHERE id = ? RETURNING 1", connID); err != nil || len(n) != 1 {
			t.Fatalf("activate: %v %v", n, err) // activation's test-and-verify lifecycle is covered in sso_test.go
		}
		conn := uuid.MustParse(connID)
		plain, _ := e.SCIMToken(admin, map[string]any{"name": "Okta", "connectionId": connID})
		signIn := func(identifier, email string) (*provision.SignInResult, error) {
			return e.App.Service().SignIn(ctx, brand, conn, provision.Identity{Identifier: identifier, Email: email, FirstName: "Pat", LastName: "Doe"})
		}

		r := e.Call("POST", "/scim/v2/Users", plain, map[string]any{"userName": "pat@example.com", "active": true,
			"emails": []any{map[string]any{"value": "pat@example.com", "primary": true}}}).Must(t, 201)
		id := str(r.Body, "id")
		res, err := signIn("pat@example.com", "pat@example.com")
		if err != nil || res.Outcome != provision.SignInExistingIdentity || res.UserAccount.ID.String() != id {
			t.Fatalf("sign-in of a SCIM user: %+v %v", res, err)
		}
		e.Call("PATCH", "/scim/v2/Users/"+id, plain, `{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`).Must(t, 200)
		if res, err := signIn("pat@example.com", "pat@example.com"); models.ErrorCode(err) != models.EFORBIDDEN || res.Outcome != provision.SignInRefused {
			t.Fatalf("sign-in after SCIM deactivation: %+v %v", res, err)
		}
		e.Call("PATCH", "/scim/v2/Users/"+id, plain, `{"Operations":[{"op":"replace","value":{"active":true}}]}`).Must(t, 200)
		if _, err := signIn("pat@example.com", "pat@example.com"); err != nil {
			t.Fatalf("sign-in after SCIM reactivation: %v", err)
		}

		// Created at first sign-in (JIT), then found by the IdP's lookups.
		res, err = signIn("00u1jit", "jit.person@example.com")
		if err != nil || res.Outcome != provision.SignInProvisioned {
			t.Fatalf("JIT sign-in: %+v %v", res, err)
		}
		jit := res.UserAccount.ID.String()
		for _, f := range []string{`userName eq "00u1jit"`, `emails eq "JIT.Person@example.com"`, `emails[value eq "jit.person@example.com"]`, `emails[type eq "work"].value eq "jit.person@example.com"`} {
			r := e.Call("GET", "/scim/v2/Users?filter="+url.QueryEscape(f), plain, nil).Must(t, 200)
			if get(r.Body, "totalResults") != 1.0 || str(r.Body, "Resources", 0, "id") != jit {
				t.Errorf("%s: %s", f, r.Raw)
			}
		}
		// An email an IdP sent without a type is not a "work" email, as its document shows.
		untyped := e.Call("POST", "/scim/v2/Users", plain, map[string]any{"userName": "untyped@example.com",
			"emails": []any{map[string]any{"value": "untyped@example.com", "primary": true}}}).Must(t, 201)
		if emails := get(untyped.Body, "emails").([]any); len(emails) != 1 || get(emails[0], "type") != nil {
			t.Fatalf("untyped email: %s", untyped.Raw)
		}
		for f, want := range map[string]float64{`emails[type eq "work"].value eq "untyped@example.com"`: 0, `emails[value eq "untyped@example.com"]`: 1,
			`emails.type pr and userName eq "untyped@example.com"`: 0} {
			if r := e.Call("GET", "/scim/v2/Users?filter="+url.QueryEscape(f), plain, nil).Must(t, 200); get(r.Body, "totalResults") != want {
				t.Errorf("%s: %s", f, r.Raw)
			}
		}
		// Linking it: the IdP's PUT keeps the one account and its binding.
		e.Call("PUT", "/scim/v2/Users/"+jit, plain, map[string]any{"userName": "00u1jit", "externalId": "00u1jit",
			"emails": []any{map[string]any{"value": "jit.person@example.com", "primary": true}}}).Must(t, 200)
		if res, err := signIn("00u1jit", "jit.person@example.com"); err != nil || res.UserAccount.ID.String() != jit {
			t.Fatalf("sign-in after linking: %+v %v", res, err)
		}
		r = e.Call("GET", "/scim/v2/Users?filter="+url.QueryEscape(`externalId eq "00u1jit"`), plain, nil).Must(t, 200)
		if get(r.Body, "totalResults") != 1.0 {
			t.Fatalf("externalId after linking: %s", r.Raw)
		}
	})
}

// A person created at first sign-in (bound to the IdP's subject, userName = email), then found
// and linked by a token tied to the connection (userName eq <email>), then renamed by the IdP
// (an email change): the rename keeps the binding the sign-in made, so the same subject still
// signs in. Replacing it with the new userName locked the person out.
func TestSCIMRenameKeepsSignInBinding(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		admin := e.AdminToken()
		brand := uuid.MustParse(e.CreateBrand(admin, "Portal"))
		d := e.MustGQL(admin, `mutation { createConnection(input: {name: "Okta", slug: "okta", protocol: OIDC, jitProvisioning: true,
			oidcConfig: {issuerUrl: "https://login.example.com/tenant/v2.0", clientId: "client", clientSecret: "secret"}}) { connection { id } errors { message } } }`, nil)
		connID := str(d, "createConnection", "connection", "id")
		var n []int
		if err := e.App.Store().RawScan(ctx, &n, "UPDATE connections SET status = 'active' WHERE id = ? RETURNING 1", connID); err != nil || len(n) != 1 {
			t.Fatalf("activate: %v %v", n, err)
		}
		conn := uuid.MustParse(connID)
		plain, _ := e.SCIMToken(admin, map[string]any{"name": "Okta", "connectionId": connID})
		signIn := func(email string) (*provision.SignInResult, error) {
			return e.App.Service().SignIn(ctx, brand, conn, provision.Identity{Identifier: "00u1jane", Email: email, FirstName: "Jane", LastName: "Doe"})
		}
		res, err := signIn("jane@example.com")
		if err != nil || res.Outcome != provision.SignInProvisioned {
			t.Fatalf("JIT: %+v %v", res, err)
		}
		id := res.UserAccount.ID.String()
		r := e.Call("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "jane@example.com"`), plain, nil).Must(t, 200)
		if str(r.Body, "Resources", 0, "id") != id {
			t.Fatalf("lookup: %s", r.Raw)
		}
		for _, name := range []string{"jane@example.com", "jane.smith@example.com"} { // linked, then renamed
			e.Call("PUT", "/scim/v2/Users/"+id, plain, map[string]any{"userName": name, "active": true,
				"emails": []any{map[string]any{"value": name, "primary": true}}}).Must(t, 200)
		}
		d = e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { userName credentials { authModule identifier } } }`, map[string]any{"u": id})
		creds := get(d, "userAccount", "credentials").([]any)
		if str(d, "userAccount", "userName") != "jane.smith@example.com" || len(creds) != 1 || str(creds[0], "identifier") != "00u1jane" {
			t.Fatalf("after the rename: %v", d)
		}
		if res, err := signIn("jane.smith@example.com"); err != nil || res.Outcome != provision.SignInExistingIdentity || res.UserAccount.ID.String() != id {
			t.Fatalf("the same subject after the rename: %+v %v", res, err)
		}
	})
}

// TestSCIMTokensRevokedWithTheirConnection: deleting a connection, over REST or GraphQL,
// revokes the SCIM tokens tied to it in the same transaction. Before, such a token stayed
// active: its reads answered 200 while every user create failed with 409, so the IdP kept
// syncing and failed on every new person. Now it gets 401 on reads and writes at once (the
// token was just used, so it is in this replica's token cache), the admin sees it revoked,
// still naming its connection, and the audit log says why. Untied tokens and tokens tied to
// another connection keep working.
func TestSCIMTokensRevokedWithTheirConnection(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		admin := e.AdminToken()
		restConn := e.CreateOIDCConnection(admin, "Okta", "okta")
		gqlConn := e.CreateOIDCConnection(admin, "Entra", "entra")
		keptConn := e.CreateOIDCConnection(admin, "Google", "google")
		scopes := []string{"users:read", "users:write", "groups:read", "groups:write"}
		restTied, restTiedID := e.SCIMToken(admin, map[string]any{"name": "Okta SCIM", "scopes": scopes, "connectionId": restConn})
		gqlTied, gqlTiedID := e.SCIMToken(admin, map[string]any{"name": "Entra SCIM", "scopes": scopes, "connectionId": gqlConn})
		kept, keptID := e.SCIMToken(admin, map[string]any{"name": "Google SCIM", "scopes": scopes, "connectionId": keptConn})
		untied, untiedID := e.SCIMToken(admin, map[string]any{"name": "Untied", "scopes": scopes})
		// A revoked token tied to the connection stays as it is: no second revocation, no event.
		_, oldID := e.SCIMToken(admin, map[string]any{"name": "Okta old", "connectionId": restConn})
		e.Call("POST", "/api/v1/scim/tokens/"+oldID+"/revoke", admin, nil).Must(t, 200)
		oldRevokedAt := str(e.Call("GET", "/api/v1/scim/tokens/"+oldID, admin, nil).Must(t, 200).Body, "token", "revokedAt")

		works := func(name, tok string) {
			t.Helper()
			e.Call("GET", "/scim/v2/Users", tok, nil).Must(t, 200)
			e.Call("GET", "/scim/v2/Groups", tok, nil).Must(t, 200)
			e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": name + "-" + store.NewID().String()[24:] + "@example.com"}).Must(t, 201)
		}
		refused := func(tok string) {
			t.Helper()
			e.Call("GET", "/scim/v2/Users", tok, nil).Must(t, 401)
			e.Call("GET", "/scim/v2/Groups", tok, nil).Must(t, 401)
			e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "late@example.com"}).Must(t, 401)
			e.Call("POST", "/scim/v2/Groups", tok, map[string]any{"displayName": "Late"}).Must(t, 401)
		}
		for name, tok := range map[string]string{"okta": restTied, "entra": gqlTied, "google": kept, "untied": untied} {
			works(name, tok)
		}

		e.Call("DELETE", "/api/v1/sso/connections/"+restConn, admin, nil).Must(t, 204)
		refused(restTied)
		works("untied", untied)
		works("google", kept)
		works("entra", gqlTied)

		d := e.MustGQL(admin, `mutation($id: ID!) { deleteConnection(input: {id: $id}) { deletedConnectionId errors { code } } }`, map[string]any{"id": gqlConn})
		if str(d, "deleteConnection", "deletedConnectionId") != gqlConn {
			t.Fatalf("deleteConnection: %v", d)
		}
		refused(gqlTied)
		works("untied", untied)
		works("google", kept)

		// The token list shows the tied tokens revoked, each still naming its (deleted) connection.
		r := e.Call("GET", "/api/v1/scim/tokens?pageSize=100", admin, nil).Must(t, 200)
		status := map[string]string{}
		for _, tok := range get(r.Body, "tokens").([]any) {
			status[str(tok, "id")] = str(tok, "status")
		}
		want := map[string]string{restTiedID: "revoked", gqlTiedID: "revoked", oldID: "revoked", keptID: "active", untiedID: "active"}
		if fmt.Sprint(status) != fmt.Sprint(want) {
			t.Fatalf("token statuses %v, want %v", status, want)
		}
		r = e.Call("GET", "/api/v1/scim/tokens/"+restTiedID, admin, nil).Must(t, 200)
		if str(r.Body, "token", "revokedAt") == "" || str(r.Body, "token", "connectionId") != restConn {
			t.Fatalf("revoked tied token: %s", r.Raw)
		}
		if got := str(e.Call("GET", "/api/v1/scim/tokens/"+oldID, admin, nil).Must(t, 200).Body, "token", "revokedAt"); got != oldRevokedAt {
			t.Fatalf("a token revoked before kept revokedAt %s, now %s", oldRevokedAt, got)
		}
		d = e.MustGQL(admin, `query($id: ID!) { scimToken(id: $id) { status revokedAt connectionId } }`, map[string]any{"id": gqlTiedID})
		if str(d, "scimToken", "status") != "REVOKED" || get(d, "scimToken", "revokedAt") == nil || str(d, "scimToken", "connectionId") != gqlConn {
			t.Fatalf("revoked tied token over GraphQL: %v", d)
		}

		// The audit log: a revocation event per token, as an admin's revoke records, naming the
		// connection; the delete's event lists what it revoked.
		revocations := map[string]map[string]any{} // token id → summary
		deletions := map[string]map[string]any{}   // connection id → summary
		for _, ev := range get(e.MustGQL(admin, `{ auditEvents(first: 100) { action targetId summary } }`, nil), "auditEvents").([]any) {
			switch str(ev, "action") {
			case "scim_token.revoke":
				revocations[str(ev, "targetId")] = get(ev, "summary").(map[string]any)
			case "connection.delete":
				deletions[str(ev, "targetId")] = get(ev, "summary").(map[string]any)
			}
		}
		for tok, conn := range map[string]string{restTiedID: restConn, gqlTiedID: gqlConn} {
			if s := revocations[tok]; s == nil || s["reason"] != "connection deleted" || s["connectionId"] != conn {
				t.Errorf("revocation event of %s: %v", tok, s)
			}
		}
		if s := revocations[oldID]; s == nil || s["reason"] != nil {
			t.Errorf("the earlier revocation's event: %v", s)
		}
		if len(revocations) != 3 {
			t.Errorf("revocation events %v", revocations)
		}
		for conn, tok := range map[string]string{restConn: restTiedID, gqlConn: gqlTiedID} {
			listed, _ := deletions[conn]["revokedScimTokens"].([]any)
			if len(listed) != 1 || str(listed[0], "id") != tok || str(listed[0], "name") == "" {
				t.Errorf("connection.delete event of %s: %v", conn, deletions[conn])
			}
		}

		// A token created afterwards cannot name the deleted connection.
		e.Call("POST", "/api/v1/scim/tokens", admin, map[string]any{"name": "Again", "connectionId": restConn}).Must(t, 404)

		// What is left of the old 409: a request that passed the token check just before the
		// connection went (here: the connection vanishes under an active token).
		race, _ := e.SCIMToken(admin, map[string]any{"name": "Race", "connectionId": keptConn})
		var n []int
		if err := e.App.Store().RawScan(ctx, &n, "UPDATE connections SET deleted_at = ? WHERE id = ? RETURNING 1", time.Now().UTC(), keptConn); err != nil || len(n) != 1 {
			t.Fatalf("vanish: %v %v", n, err)
		}
		r = e.Call("POST", "/scim/v2/Users", race, map[string]any{"userName": "raced@example.com"}).Must(t, 409)
		if get(r.Body, "scimType") != nil || !strings.Contains(str(r.Body, "detail"), "connection was deleted") {
			t.Fatalf("raced create: %s", r.Raw)
		}
	})
}

// TestSCIMTokenDeleteLargeActivityLog deletes, through REST, a token with 10,001 activity rows
// on PostgreSQL, whose trigger refuses any statement deleting more than 5,000 of them (the
// store's batch). The token's whole log was one statement (750,000 rows: 1.4-2.9 s), which a
// larger log made outlast the request's timeout at every attempt: the token could not be
// deleted. The log goes, every row of it, and another token's stays.
func TestSCIMTokenDeleteLargeActivityLog(t *testing.T) {
	e := &testEnv{apptest.New(t, storetest.URL(t, "postgres"))}
	admin := e.AdminToken()
	_, id := e.SCIMToken(admin, map[string]any{"name": "Busy"})
	_, other := e.SCIMToken(admin, map[string]any{"name": "Other"})
	var n []int
	for _, q := range []string{
		`INSERT INTO scim_activities (id, workspace_id, token_id, operation, resource_type, status, created_at)
		SELECT gen_random_uuid(), t.workspace_id, t.id, 'create', 'User', 'success', now() - g * interval '1 second'
		FROM scim_tokens t, generate_series(1, CASE WHEN t.name = 'Busy' THEN 10001 ELSE 3 END) g RETURNING 1`,
		`CREATE FUNCTION one_batch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			IF (SELECT count(*) FROM old) > 5000 THEN
				RAISE EXCEPTION 'one statement deleted % rows of %', (SELECT count(*) FROM old), TG_TABLE_NAME;
			END IF;
			RETURN NULL;
		END $$`,
		`CREATE TRIGGER one_batch AFTER DELETE ON scim_activities REFERENCING OLD TABLE AS old
			FOR EACH STATEMENT EXECUTE FUNCTION one_batch()`,
	} {
		if err := e.App.Store().RawScan(context.Background(), &n, q); err != nil {
			t.Fatal(err)
		}
	}
	e.Call("DELETE", "/api/v1/scim/tokens/"+id, admin, nil).Must(t, 204)
	e.Call("GET", "/api/v1/scim/tokens/"+id, admin, nil).Must(t, 404)
	var left []struct {
		TokenID string
		N       int
	}
	if err := e.App.Store().RawScan(context.Background(), &left, `SELECT token_id, count(*) AS n FROM scim_activities GROUP BY token_id`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].TokenID != other || left[0].N != 3 {
		t.Fatalf("activity left: %+v; want the other token's 3 rows", left)
	}
}
