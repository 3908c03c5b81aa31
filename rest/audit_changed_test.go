package rest_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/app/apptest"
)

// TestUpdateAuditNamesChanges: the audit event of an update, made through GraphQL or the REST
// API and read back through auditEvents, lists under "changed" the API names of exactly the
// settings it changed (a SAML connection's ssoUrl and ssoBinding, an OIDC connection's
// clientId and scopes, a brand's portalUrl, …), and never their values (a new client secret is
// "oidcConfig.clientSecret", nothing more). An update to the values an object has records no
// event. Before, connection.update named only name, slug, protocol and status, so which
// settings an admin had changed was lost.
func TestUpdateAuditNamesChanges(t *testing.T) {
	w, mod := newSSOWorld(t)
	eachDBWith(t, mod, func(t *testing.T, e *testEnv) {
		w.reset()
		tok := e.AdminToken()
		const conns = "/api/v1/sso/connections"

		gql := mutator(t, e, tok)
		type event struct {
			ID      string         `json:"id"`
			Action  string         `json:"action"`
			Summary map[string]any `json:"summary"`
		}
		latest := func() event {
			t.Helper()
			d := e.MustGQL(tok, `{ auditEvents(first: 1) { id action summary } }`, nil)
			b, _ := json.Marshal(get(d, "auditEvents"))
			var evs []event
			if err := json.Unmarshal(b, &evs); err != nil || len(evs) != 1 {
				t.Fatalf("auditEvents: %s (%v)", b, err)
			}
			return evs[0]
		}

		brand := e.CreateBrand(tok, "Portal")
		company := e.CreateCompany(tok, "Acme")
		account := e.CreateAccount(tok, "Acme staff", company)
		user := e.CreateUser(tok, "ada@example.com")
		oidc := str(e.REST(tok, "POST", conns, localOIDCBody("Local", w.idp.URL)).Must(t, 201).Body, "connection", "id")
		cert, _ := json.Marshal(apptest.SAMLCert(t, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour)))
		samlBody := strings.Replace(strings.ReplaceAll(docCreateSAML, "{tenant-id}", tenantID),
			`"-----BEGIN CERTIFICATE-----\nMIIC...\n-----END CERTIFICATE-----"`, string(cert), 1)
		saml := str(e.REST(tok, "POST", conns, samlBody).Must(t, 201).Body, "connection", "id")
		gql("brands.createIdentityProviderConfiguration", "CreateIdentityProviderConfigurationInput",
			map[string]any{"brandId": brand, "identityProviderId": oidc})
		d := e.MustGQL(tok, `mutation($b: ID!) { createApplication(input: {brandId: $b, name: "Web",
			redirectUris: ["https://app.example.com/cb"]}) { application { id } errors { message } } }`, map[string]any{"b": brand})
		app := str(d, "createApplication", "application", "id")

		rest := func(method, path, body string) func() {
			return func() { t.Helper(); e.REST(tok, method, path, body).Must(t, 200) }
		}
		mutation := func(name, inputType string, in map[string]any) func() {
			return func() { t.Helper(); gql(name, inputType, in) }
		}
		for _, c := range []struct {
			name    string
			action  string
			update  func()
			changed []string
			also    map[string]any // other summary entries the event must have
			always  bool           // the update has an effect each time (a secret rotation)
		}{
			{name: "REST SAML ssoUrl and ssoBinding", action: "connection.update",
				update:  rest("PUT", conns+"/"+saml, `{"samlConfig":{"ssoUrl":"https://login.example.com/saml2/post","ssoBinding":"http_post"}}`),
				changed: []string{"samlConfig.ssoBinding", "samlConfig.ssoUrl"}},
			{name: "GraphQL SAML entityId and attributeMapping", action: "connection.update",
				update: mutation("updateConnection", "UpdateConnectionInput", map[string]any{"id": saml, "samlConfig": map[string]any{
					"entityId": "https://idp.example.com/", "attributeMapping": map[string]any{"email": "mail"}}}),
				changed: []string{"samlConfig.attributeMapping", "samlConfig.entityId"}},
			{name: "GraphQL OIDC clientId, scopes and jitProvisioning", action: "connection.update",
				update: mutation("updateConnection", "UpdateConnectionInput", map[string]any{"id": oidc, "jitProvisioning": true,
					"oidcConfig": map[string]any{"clientId": "other-client", "scopes": []string{"openid", "email", "groups"}}}),
				changed: []string{"jitProvisioning", "oidcConfig.clientId", "oidcConfig.scopes"}},
			{name: "REST OIDC client secret", action: "connection.update",
				update:  rest("PUT", conns+"/"+oidc, `{"oidcConfig":{"clientSecret":"another-secret-value"}}`),
				changed: []string{"oidcConfig.clientSecret"}, also: map[string]any{"clientSecret": "set"}},
			{name: "updateBrand", action: "brand.update",
				update:  mutation("updateBrand", "UpdateBrandInput", map[string]any{"id": brand, "name": "Portal", "portalUrl": "https://portal.example.com"}),
				changed: []string{"portalUrl"}},
			{name: "updateCompany", action: "company.update",
				update:  mutation("updateCompany", "UpdateCompanyInput", map[string]any{"id": company, "name": "Acme Inc"}),
				changed: []string{"name"}},
			{name: "updateAccount", action: "account.update",
				update:  mutation("updateAccount", "UpdateAccountInput", map[string]any{"id": account, "name": "Acme people", "type": "COMPANY"}),
				changed: []string{"name"}},
			{name: "updateIdentityProviderConfiguration", action: "identity_provider_configuration.update",
				update: mutation("brands.updateIdentityProviderConfiguration", "UpdateIdentityProviderConfigurationInput",
					map[string]any{"brandId": brand, "identityProviderId": oidc, "autoProvisionLearners": true, "defaultAccountId": account}),
				changed: []string{"autoProvisionLearners", "defaultAccountId"}},
			{name: "updateApplication", action: "application.update",
				update: mutation("updateApplication", "UpdateApplicationInput", map[string]any{"id": app, "name": "Web",
					"redirectUris": []string{"https://app.example.com/cb", "https://app.example.com/cb2"}, "requirePkce": true}),
				changed: []string{"redirectUris", "requirePkce"}},
			{name: "updateUserAccount", action: "user_account.update",
				update:  mutation("updateUserAccount", "UpdateUserAccountInput", map[string]any{"uuid": user, "firstName": "Ada", "lastName": "User"}),
				changed: []string{"firstName"}},
			{name: "deactivateUserAccount", action: "user_account.deactivate",
				update:  mutation("deactivateUserAccount", "DeactivateUserAccountInput", map[string]any{"uuid": user}),
				changed: []string{"active"}},
			{name: "rotateApplicationSecret", action: "application.rotate_secret", always: true,
				update:  mutation("rotateApplicationSecret", "RotateApplicationSecretInput", map[string]any{"id": app}),
				changed: []string{"clientSecret"}},
		} {
			before := latest()
			c.update()
			ev := latest()
			if ev.ID == before.ID || ev.Action != c.action {
				t.Fatalf("%s: latest event %s %s, want a new %s", c.name, ev.ID, ev.Action, c.action)
			}
			var changed []string
			if list, ok := ev.Summary["changed"].([]any); ok {
				for _, n := range list {
					changed = append(changed, n.(string))
				}
			}
			if !slices.Equal(changed, c.changed) {
				t.Errorf("%s: changed %v, want %v (summary %v)", c.name, ev.Summary["changed"], c.changed, ev.Summary)
			}
			for k, v := range c.also {
				if ev.Summary[k] != v {
					t.Errorf("%s: summary %s = %v, want %v", c.name, k, ev.Summary[k], v)
				}
			}
			if b, _ := json.Marshal(ev.Summary); strings.Contains(string(b), "another-secret-value") || strings.Contains(string(b), "BEGIN CERTIFICATE") {
				t.Errorf("%s: the summary holds a secret or certificate: %s", c.name, b)
			}
			if c.always {
				continue
			}
			// The same update again changes nothing: no event.
			c.update()
			if again := latest(); again.ID != ev.ID {
				t.Errorf("%s: the same update again recorded %s %v", c.name, again.Action, again.Summary)
			}
		}
	})
}

// TestUserAccountUpdateAuditSummary: user_account.update's event lists the fields that changed,
// each with the value stored, as "changed" names them. It listed every field given, as given:
// an email sent unchanged and a first name " Ann " (stored "Ann") were both in the summary,
// the name with its spaces, while "changed" said only firstName. GraphQL, read back through
// auditEvents; both databases.
func TestUserAccountUpdateAuditSummary(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		tok := e.AdminToken()
		user := e.CreateUser(tok, "ada@example.com") // Test User
		scim, _ := e.SCIMToken(tok, apptest.AllScopes("okta"))
		noEmail := e.SCIMUser(scim, map[string]any{"userName": "grace.hopper"})
		const update = `mutation($in: UpdateUserAccountInput!) { updateUserAccount(input: $in) { userAccount { firstName } errors { message } } }`
		latest := func() (string, string) {
			t.Helper()
			d := e.MustGQL(tok, `{ auditEvents(first: 1) { action summary } }`, nil)
			b, _ := json.Marshal(get(d, "auditEvents", 0, "summary"))
			return str(d, "auditEvents", 0, "action"), string(b)
		}
		for _, c := range []struct {
			in   map[string]any
			want string
		}{
			{map[string]any{"email": "ada@example.com", "firstName": " Ann ", "lastName": "User"},
				`{"changed":["firstName"],"firstName":"Ann"}`},
			{map[string]any{"email": " ann@example.org ", "firstName": "Ann", "externalId": "ext-1"},
				`{"changed":["email","externalId","userName"],"email":"ann@example.org","externalId":"ext-1","userName":"ann@example.org"}`},
			{map[string]any{"lastName": " Lovelace", "externalId": ""},
				`{"changed":["externalId","lastName"],"externalId":null,"lastName":"Lovelace"}`},
			// An account its IdP created without an email gets one, and with it the type of a
			// primary email set outside SCIM: both changed, both with their values.
			{map[string]any{"uuid": noEmail, "email": "grace@example.com"},
				`{"changed":["email","emailType"],"email":"grace@example.com","emailType":"work"}`},
		} {
			if c.in["uuid"] == nil {
				c.in["uuid"] = user
			}
			e.MustGQL(tok, update, map[string]any{"in": c.in})
			if action, summary := latest(); action != "user_account.update" || summary != c.want {
				t.Errorf("updateUserAccount %v: %s %s, want user_account.update %s", c.in, action, summary, c.want)
			}
		}
	})
}
