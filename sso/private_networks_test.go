package sso_test

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse/app"
	"gatehouse/netguard"
)

// tlsTestIdP is newTestIdP served over https on 127.0.0.1 (httptest's certificate), with the
// configuration that trusts it.
func tlsTestIdP(t *testing.T) (*testIdP, func(*app.Config)) {
	t.Helper()
	idp := newTestIdP(t)
	idp.srv.Close()
	idp.srv = httptest.NewUnstartedServer(http.HandlerFunc(idp.serve))
	idp.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	idp.srv.StartTLS()
	t.Cleanup(idp.srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(idp.srv.Certificate())
	return idp, func(c *app.Config) { c.TestRootCAs = pool }
}

// testOIDCConnection creates an OIDC connection to idp's issuer and tests it through REST; it
// returns the test's answer.
func testOIDCConnection(t *testing.T, e *testEnv, idp *testIdP, issuer string) map[string]any {
	t.Helper()
	tok := e.AdminToken()
	body, _ := json.Marshal(map[string]any{"name": "On premises", "protocol": "oidc", "oidcConfig": map[string]any{
		"issuerUrl": issuer, "clientId": idp.client, "clientSecret": idp.secret}})
	id := str(e.REST(tok, "POST", "/api/v1/sso/connections", string(body)).Must(t, 201).Body, "connection", "id")
	return e.REST(tok, "POST", "/api/v1/sso/connections/"+id+"/test", "").Must(t, 200).Body
}

// TestAllowedPrivateNetworks: with GATEHOUSE_ALLOW_PRIVATE_NETWORKS false, an IdP on a private
// network the operator lists in GATEHOUSE_ALLOWED_PRIVATE_NETWORKS (here on 127.0.0.1, listed
// as 127.0.0.1/32) is reached, by a connection test, while one outside the list is refused
// with the guard's message; a broad entry (0.0.0.0/0) does not open loopback.
func TestAllowedPrivateNetworks(t *testing.T) {
	idp, trust := tlsTestIdP(t)
	for _, c := range []struct {
		list    string
		reached bool
	}{
		{"127.0.0.1/32", true},
		{"", false},
		{"10.0.0.0/8,fd00::/8,0.0.0.0/0", false}, // other networks, and a broad entry, which does not open loopback
	} {
		t.Run(fmt.Sprintf("list %q", c.list), func(t *testing.T) {
			allowed, err := netguard.ParseNetworks(c.list)
			if err != nil {
				t.Fatal(err)
			}
			eachDB(t, func(t *testing.T, e *testEnv) {
				res := testOIDCConnection(t, e, idp, idp.srv.URL)
				problems := fmt.Sprint(res["problems"])
				if c.reached && (res["success"] != true || get(res, "details", "discoveryValid") != true) {
					t.Fatalf("an IdP in an allowed network: %v", res)
				}
				if !c.reached && (res["success"] != false || !strings.Contains(problems, "refused: the address is loopback, private or link-local")) {
					t.Fatalf("an IdP outside the allowed networks: %v", res)
				}
			}, trust, func(cfg *app.Config) { cfg.AllowPrivateNetworks, cfg.AllowedPrivateNetworks = false, allowed })
		})
	}
}
