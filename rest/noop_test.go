package rest_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"gatehouse/app/apptest"
	"gatehouse/models"
)

// TestNoOpWritesNothing: a write that leaves an object as it is (an update to the values it
// has, a domain made primary that is primary already, a connection activated that is active,
// an IdP's SCIM PUT of a group with its displayName and members) succeeds and writes nothing:
// the stored row stays as it was (its version, the optimistic concurrency token and SCIM ETag,
// and its updatedAt among its columns) and no audit event is recorded. A real change still
// moves them. The writes are those of GraphQL, the REST API and SCIM; before, every one but
// the connection's status changes rewrote its row and recorded an event for nothing, as user
// accounts did before (TestDeactivatingTwiceChangesNothing).
func TestNoOpWritesNothing(t *testing.T) {
	w, mod := newSSOWorld(t)
	eachDBWith(t, mod, func(t *testing.T, e *testEnv) {
		w.reset()
		tok := e.AdminToken()
		const conns = "/api/v1/sso/connections"

		gql := mutator(t, e, tok)

		brand := e.CreateBrand(tok, "Portal")
		company := e.CreateCompany(tok, "Acme")
		account := e.CreateAccount(tok, "Acme staff", company)
		conn := str(e.REST(tok, "POST", conns, localOIDCBody("Local", w.idp.URL)).Must(t, 201).Body, "connection", "id")
		base := conns + "/" + conn
		add := e.REST(tok, "POST", base+"/domains", docAddDomain).Must(t, 201)
		domainID := str(add.Body, "domain", "id")
		domain := base + "/domains/" + domainID
		w.setTXT("_gatehouse-verify.example.com", str(add.Body, "domain", "verificationToken"))
		if r := e.REST(tok, "PUT", domain+"/verify", "").Must(t, 200); get(r.Body, "success") != true {
			t.Fatalf("verify: %s", r.Raw)
		}
		e.REST(tok, "POST", base+"/test", "").Must(t, 200)
		e.REST(tok, "POST", base+"/activate", "").Must(t, 200)
		gql("brands.createIdentityProviderConfiguration", "CreateIdentityProviderConfigurationInput",
			map[string]any{"brandId": brand, "identityProviderId": conn, "autoProvisionLearners": true, "defaultAccountId": account})
		d := e.MustGQL(tok, `mutation($b: ID!) { createApplication(input: {brandId: $b, name: "Web",
			redirectUris: ["https://app.example.com/cb"]}) { application { id } errors { message } } }`, map[string]any{"b": brand})
		app := str(d, "createApplication", "application", "id")
		scim, _ := e.SCIMToken(tok, apptest.AllScopes("okta"))
		ada := map[string]any{"userName": "ada@example.com", "externalId": "00u1", "active": true,
			"name":   map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
			"emails": []map[string]any{{"value": "ada@example.com", "type": "work", "primary": true}}}
		member := e.SCIMUser(scim, ada)
		group := str(e.Call("POST", "/scim/v2/Groups", scim, map[string]any{"displayName": "Engineers", "externalId": "g-1",
			"members": []map[string]any{{"value": member}}}).Must(t, 201).Body, "id")

		// row is the object's row as stored, every column.
		row := func(table, where string, args ...any) string {
			t.Helper()
			rows := map[string]any{"brands": &[]models.Brand{}, "companies": &[]models.Company{}, "accounts": &[]models.Account{},
				"identity_provider_configurations": &[]models.IdentityProviderConfiguration{}, "applications": &[]models.Application{},
				"connections": &[]models.Connection{}, "domains": &[]models.Domain{}, "groups": &[]models.Group{},
				"user_accounts": &[]models.UserAccount{}}[table]
			if err := e.App.Store().RawScan(context.Background(), rows, "SELECT * FROM "+table+" WHERE "+where, args...); err != nil {
				t.Fatalf("%s %v: %v", table, args, err)
			}
			b, _ := json.Marshal(rows)
			if n := reflect.ValueOf(rows).Elem().Len(); n != 1 {
				t.Fatalf("%s %v: %d rows", table, args, n)
			}
			return string(b)
		}
		events := func() int {
			t.Helper()
			return len(get(e.MustGQL(tok, `{ auditEvents(first: 100) { id } }`, nil), "auditEvents").([]any))
		}
		etag := func(path string) string {
			t.Helper()
			return e.Call("GET", path, scim, nil).Must(t, 200).Header.Get("ETag")
		}
		groupPath, userPath := "/scim/v2/Groups/"+group, "/scim/v2/Users/"+member
		scimCall := func(method, path string, body map[string]any) func() {
			return func() { t.Helper(); e.Call(method, path, scim, body).Must(t, 200) }
		}
		scimGroup := func(method string, body map[string]any) func() { return scimCall(method, groupPath, body) }
		patch := func(ops ...map[string]any) map[string]any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
		}
		rest := func(method, path, body string) func() {
			return func() { t.Helper(); e.REST(tok, method, path, body).Must(t, 200) }
		}
		mutation := func(name, inputType string, in map[string]any) func() {
			return func() { t.Helper(); gql(name, inputType, in) }
		}
		ipc := func(in map[string]any) map[string]any {
			in["brandId"], in["identityProviderId"] = brand, conn
			return in
		}

		for _, c := range []struct {
			name         string
			table, where string
			id           string
			noop, change func()
			audited      bool   // the change records an audit event
			scim         string // the object's SCIM path, whose ETag must stay
		}{
			{name: "updateBrand", table: "brands", id: brand, audited: true,
				noop:   mutation("updateBrand", "UpdateBrandInput", map[string]any{"id": brand, "name": " Portal ", "slug": "portal", "portalUrl": ""}),
				change: mutation("updateBrand", "UpdateBrandInput", map[string]any{"id": brand, "name": "Portal 2"})},
			{name: "updateCompany", table: "companies", id: company, audited: true,
				noop:   mutation("updateCompany", "UpdateCompanyInput", map[string]any{"id": company, "name": "Acme"}),
				change: mutation("updateCompany", "UpdateCompanyInput", map[string]any{"id": company, "name": "Acme Inc"})},
			{name: "updateAccount", table: "accounts", id: account, audited: true,
				noop:   mutation("updateAccount", "UpdateAccountInput", map[string]any{"id": account, "name": "Acme staff", "type": "COMPANY", "companyId": company}),
				change: mutation("updateAccount", "UpdateAccountInput", map[string]any{"id": account, "name": "Acme people"})},
			{name: "updateIdentityProviderConfiguration", table: "identity_provider_configurations", where: "brand_id = ? AND connection_id = ?", audited: true,
				noop: mutation("brands.updateIdentityProviderConfiguration", "UpdateIdentityProviderConfigurationInput",
					ipc(map[string]any{"autoProvisionLearners": true, "defaultAccountId": account, "companyClaim": "company"})),
				change: mutation("brands.updateIdentityProviderConfiguration", "UpdateIdentityProviderConfigurationInput",
					ipc(map[string]any{"companyClaim": "org"}))},
			{name: "updateApplication", table: "applications", id: app, audited: true,
				noop: mutation("updateApplication", "UpdateApplicationInput", map[string]any{"id": app, "name": "Web",
					"redirectUris": []string{"https://app.example.com/cb"}, "requirePkce": false, "idTokenSignedResponseAlg": "ES256"}),
				change: mutation("updateApplication", "UpdateApplicationInput", map[string]any{"id": app, "requirePkce": true})},
			{name: "updateConnection", table: "connections", id: conn, audited: true,
				noop: mutation("updateConnection", "UpdateConnectionInput", map[string]any{"id": conn, "name": "Local", "jitProvisioning": false,
					"oidcConfig": map[string]any{"clientId": "local-client", "clientSecret": "local-secret-value"}}),
				change: mutation("updateConnection", "UpdateConnectionInput", map[string]any{"id": conn, "jitProvisioning": true})},
			{name: "PUT connection", table: "connections", id: conn, audited: true,
				noop:   rest("PUT", base, `{"name":"Local","jitProvisioning":true,"oidcConfig":{"clientSecret":"local-secret-value"}}`),
				change: rest("PUT", base, `{"oidcConfig":{"clientSecret":"another-secret-value"}}`)},
			{name: "setPrimaryDomain", table: "domains", id: domainID,
				noop: mutation("setPrimaryDomain", "SetPrimaryDomainInput", map[string]any{"connectionId": conn, "domainId": domainID})},
			{name: "POST set-primary", table: "domains", id: domainID, noop: rest("POST", domain+"/set-primary", "")},
			{name: "activateConnection", table: "connections", id: conn, audited: true,
				noop:   mutation("activateConnection", "ActivateConnectionInput", map[string]any{"id": conn}),
				change: rest("POST", base+"/deactivate", "")},
			{name: "POST deactivate", table: "connections", id: conn, audited: true,
				noop:   rest("POST", base+"/deactivate", ""),
				change: rest("PUT", base, `{"name":"Local 2"}`)},
			{name: "SCIM PUT user", table: "user_accounts", id: member, scim: userPath,
				noop: scimCall("PUT", userPath, ada),
				change: scimCall("PUT", userPath, map[string]any{"userName": "ada@example.com", "externalId": "00u1", "active": true,
					"name": map[string]any{"givenName": "Augusta Ada", "familyName": "Lovelace"}})},
			{name: "SCIM PATCH user", table: "user_accounts", id: member, scim: userPath,
				noop: scimCall("PATCH", userPath, patch(map[string]any{"op": "replace", "path": "name.givenName", "value": "Augusta Ada"},
					map[string]any{"op": "replace", "value": map[string]any{"externalId": "00u1"}})),
				change: scimCall("PATCH", userPath, patch(map[string]any{"op": "replace", "path": "title", "value": "Countess"}))},
			{name: "SCIM PATCH user active", table: "user_accounts", id: member, scim: userPath,
				noop:   scimCall("PATCH", userPath, patch(map[string]any{"op": "replace", "path": "active", "value": true})),
				change: scimCall("PATCH", userPath, patch(map[string]any{"op": "replace", "path": "active", "value": false}))},
			{name: "SCIM PATCH user inactive", table: "user_accounts", id: member, scim: userPath,
				noop:   scimCall("PATCH", userPath, patch(map[string]any{"op": "replace", "value": map[string]any{"active": false}})),
				change: scimCall("PATCH", userPath, patch(map[string]any{"op": "replace", "value": map[string]any{"active": true}}))},
			{name: "SCIM PUT group", table: "groups", id: group, scim: groupPath,
				noop: scimGroup("PUT", map[string]any{"displayName": "Engineers", "externalId": "g-1", "members": []map[string]any{{"value": member}}}),
				change: scimGroup("PUT", map[string]any{"displayName": "Engineers", "externalId": "g-2",
					"members": []map[string]any{{"value": member}}})},
			{name: "SCIM PATCH group", table: "groups", id: group, scim: groupPath,
				noop: scimGroup("PATCH", patch(map[string]any{"op": "replace", "path": "displayName", "value": "Engineers"},
					map[string]any{"op": "add", "path": "members", "value": []map[string]any{{"value": member}}},
					map[string]any{"op": "replace", "path": "externalId", "value": "g-2"})),
				change: scimGroup("PATCH", patch(map[string]any{"op": "remove", "path": "members"}))},
		} {
			where, args := c.where, []any{brand, conn}
			if where == "" {
				where, args = "id = ?", []any{c.id}
			}
			stored, n, version := row(c.table, where, args...), events(), ""
			if c.scim != "" {
				version = etag(c.scim)
			}
			c.noop()
			if r := row(c.table, where, args...); r != stored {
				t.Errorf("%s to the values it has rewrote the row:\nbefore %s\nafter  %s", c.name, stored, r)
			}
			if got := events(); got != n {
				t.Errorf("%s to the values it has recorded %d audit events", c.name, got-n)
			}
			if c.scim != "" {
				if v := etag(c.scim); v != version {
					t.Errorf("%s to the values it has moved the ETag %s → %s", c.name, version, v)
				}
			}
			if c.change == nil {
				continue
			}
			c.change()
			if r := row(c.table, where, args...); r == stored {
				t.Errorf("%s: a real change left the row as it was", c.name)
			}
			if got := events(); c.audited && got != n+1 {
				t.Errorf("%s: a real change recorded %d audit events, want 1", c.name, got-n)
			}
			if c.scim != "" {
				if v := etag(c.scim); v == version {
					t.Errorf("%s: a real change kept the ETag %s", c.name, v)
				}
			}
		}
	})
}

// mutator runs a mutation as tok whose payload's errors must be empty; brands.<name> is one of
// the brands' mutations.
func mutator(t *testing.T, e *testEnv, tok string) func(mutation, inputType string, in map[string]any) {
	return func(mutation, inputType string, in map[string]any) {
		t.Helper()
		field, open, end := mutation, "", ""
		if name, ok := strings.CutPrefix(mutation, "brands."); ok {
			field, open, end = name, "brands { ", " }"
		}
		d := e.MustGQL(tok, `mutation($in: `+inputType+`!) { `+open+field+`(input: $in) { errors { code label message } }`+end+` }`,
			map[string]any{"in": in})
		if open != "" {
			d = d["brands"].(map[string]any)
		}
		if errs := payloadErrors(t, d, field); len(errs) > 0 {
			t.Fatalf("%s %v: %v", mutation, in, errs)
		}
	}
}
