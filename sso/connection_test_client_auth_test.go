package sso_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestConnectionTestChecksClientAuthentication: the test of an OIDC connection asks the IdP's
// token endpoint to redeem a code it never issued, authenticated as a sign-in is, and reads the
// answer: invalid_grant (the credentials were taken) passes, invalid_client fails with what to
// check (a wrong secret; keys not registered for private_key_jwt), unauthorized_client fails
// with the grant to allow. Where the discovery names no method, the form is tried after the
// header. The probe consumes no code: people sign in afterwards. REST and GraphQL, both
// databases.
func TestConnectionTestChecksClientAuthentication(t *testing.T) {
	idp := newTestIdP(t)
	otherKeys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"keys": []}`))
	}))
	t.Cleanup(otherKeys.Close)
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp.set(func(p *testIdP) {
			p.authMethods, p.authMethodsJSON, p.grantError, p.clientJWKS = nil, nil, "", e.URL+"/sso/oidc/jwks.json"
			p.probes, p.clientAuthRefused = 0, 0
		})
		w := newSignInWorld(t, e, idp)
		test := func(what string, valid any, problem string) {
			t.Helper()
			res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
			got, present := get(res.Body, "details").(map[string]any)["clientAuthenticationValid"]
			if valid == nil && present || valid != nil && got != valid || (problem == "") != (res.Body["success"] == true) ||
				problem != "" && !strings.Contains(res.Raw, problem) {
				t.Fatalf("%s: %s", what, res.Raw)
			}
		}
		probes := func() int { idp.mu.Lock(); defer idp.mu.Unlock(); return idp.probes }

		test("the right secret", true, "")
		if probes() != 1 {
			t.Fatalf("%d token requests with the test's code", probes())
		}
		w.activate(w.conn, "")
		idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true, "given_name": "Jane", "family_name": "Doe"})
		if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug); r.query.Get("code") == "" {
			t.Fatalf("sign-in after the test: %+v (cause %q)", r, lastCause(t, e, w.tok))
		}

		// A wrong (or expired) secret is found by the test, not by the next person.
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"oidcConfig": {"clientSecret": "expired-secret"}}`).Must(t, 200)
		test("a wrong secret", false, "the identity provider refused Gatehouse's client authentication (invalid_client): check oidcConfig.clientId and oidcConfig.clientSecret")
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"oidcConfig": {"clientSecret": "`+idp.secret+`"}}`).Must(t, 200)

		// The discovery names no method (malformed) and the IdP takes the form only: the header
		// is refused, the form taken.
		idp.set(func(p *testIdP) {
			p.authMethods, p.authMethodsJSON, p.clientAuthRefused = []string{"client_secret_post"}, "client_secret_post", 0
		})
		test("the form after the header", true, "")
		if idp.clientAuthRefused != 1 || idp.lastAuthMethod != "client_secret_post" {
			t.Fatalf("%d refusals, last by %s", idp.clientAuthRefused, idp.lastAuthMethod)
		}
		idp.set(func(p *testIdP) { p.authMethods, p.authMethodsJSON = nil, nil })

		// Not allowed the authorization-code grant, or (Entra ID) an unknown client: no verdict
		// on the credentials, but no sign-in either.
		idp.set(func(p *testIdP) { p.grantError = "unauthorized_client" })
		test("unauthorized_client", nil, `answered unauthorized_client: not for this client: it does not know client \"gatehouse-at-idp\", or does not allow it the authorization-code grant`)
		idp.set(func(p *testIdP) { p.grantError = "" })

		// An IdP that takes no secret: refused, and its discovery says why.
		idp.set(func(p *testIdP) { p.authMethods = []string{"private_key_jwt"} })
		test("an IdP that takes private_key_jwt only", false, "does not list a client secret method (its discovery document's token_endpoint_auth_methods_supported is [private_key_jwt])")
		idp.set(func(p *testIdP) { p.authMethods = nil })

		// A discovery document with a problem: the credentials are not sent (a sign-in would not).
		idp.set(func(p *testIdP) { p.probes = 0; p.issuerOverride = "https://someone-else.example.com" })
		test("an issuer that does not match", nil, "does not match the connection's issuerUrl")
		if probes() != 0 {
			t.Fatalf("the credentials went to the token endpoint of a discovery with a problem")
		}
		idp.set(func(p *testIdP) { p.issuerOverride = "" })

		// The error code decides, whatever the status; a 401 without one is a refusal; an
		// answer that says neither gives no verdict and no problem.
		for _, c := range []struct {
			code    string
			status  int
			valid   any
			problem string
		}{
			{"invalid_grant", 401, true, ""},
			{"invalid_client", 400, false, "refused Gatehouse's client authentication (invalid_client: not for this client)"},
			{"", 401, false, "refused Gatehouse's client authentication (HTTP 401)"},
			{"invalid_request", 400, nil, ""},
			{"server_error", 500, nil, ""},
		} {
			idp.set(func(p *testIdP) { p.grantError, p.grantStatus = c.code, c.status })
			if c.code == "" {
				idp.set(func(p *testIdP) { p.grantError = "-" }) // a 401 with no error code
			}
			test(fmt.Sprintf("%d %s", c.status, c.code), c.valid, c.problem)
		}
		idp.set(func(p *testIdP) { p.grantError, p.grantStatus = "", 0 })

		// private_key_jwt: taken with Gatehouse's keys registered, refused with others.
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"oidcConfig": {"clientAuthMethod": "private_key_jwt"}}`).Must(t, 200)
		idp.set(func(p *testIdP) { p.authMethods = []string{"private_key_jwt"} })
		test("private_key_jwt", true, "")
		idp.set(func(p *testIdP) { p.clientJWKS = otherKeys.URL })
		test("private_key_jwt, keys not registered", false, "check oidcConfig.clientId, and that Gatehouse's keys (clientJwksUrl, or its certificate) are registered for the client")

		// GraphQL.
		d := e.MustGQL(w.tok, `mutation($id: ID!) { testConnection(input: {id: $id}) { success details { clientAuthenticationValid discoveryValid } problems } }`,
			map[string]any{"id": w.conn})
		if got := get(d, "testConnection", "details").(map[string]any); got["clientAuthenticationValid"] != false || got["discoveryValid"] != true {
			b, _ := json.Marshal(d)
			t.Fatalf("GraphQL testConnection: %s", b)
		}
	})
}
