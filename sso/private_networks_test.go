package sso_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/netguard"
	"gatehouse/store/storetest"
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
	body, _ := json.Marshal(map[string]any{"name": "IdP at " + issuer, "protocol": "oidc", "oidcConfig": map[string]any{
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

// TestUnreachableHostsReadAlike: a workspace admin who tests connections to names cannot
// tell one that does not exist from one that resolves only to addresses the guard refuses
// (here localhost, and a name the operator's DNS points at the cloud metadata address), so
// cannot map the operator's internal DNS: the connection tests' problems read alike but for
// the name, saying "host not found" first, which still helps with a typo. The operator's log
// keeps which it was. Before, they read "host not found: …" and "refused: the address is
// loopback, private or link-local …" (or "… a cloud metadata address").
func TestUnreachableHostsReadAlike(t *testing.T) {
	const missing = "idp.nonexistent.invalid" // RFC 6761: never found
	var de *net.DNSError
	if _, err := net.DefaultResolver.LookupHost(context.Background(), missing); !errors.As(err, &de) || !de.IsNotFound {
		t.Skipf("the system resolver does not answer that %s does not exist: %v", missing, err)
	}
	storetest.Each(t, func(t *testing.T, dbURL string) {
		env, logs := apptest.NewLogged(t, dbURL, func(c *app.Config) {
			c.AllowPrivateNetworks = false
			c.TestConnectTo = map[string]string{"metadata.intranet.example:443": "169.254.169.254:443"}
		})
		e := &testEnv{env}
		problem := func(host string) string {
			t.Helper()
			res := testOIDCConnection(t, e, &testIdP{client: "c", secret: "a-client-secret"}, "https://"+host)
			p := str(res, "problems", 0)
			if res["success"] != false || !strings.Contains(p, "host not found") {
				t.Fatalf("%s: %v", host, res)
			}
			return strings.ReplaceAll(p, host, "HOST")
		}
		want := problem(missing)
		for _, host := range []string{"localhost", "metadata.intranet.example"} {
			if got := problem(host); got != want {
				t.Errorf("%s reads %q,\nan unknown name %q", host, got, want)
			}
		}
		causes := map[string]string{}
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && strings.HasPrefix(fmt.Sprint(m["msg"]), "netguard:") {
				causes[fmt.Sprint(m["host"])] = fmt.Sprint(m["level"], " ", m["cause"])
			}
		}
		for host, cause := range map[string]string{missing + ":443": "INFO dial tcp: lookup " + missing,
			"localhost:443":                 "the host's address is a loopback, private or link-local address",
			"metadata.intranet.example:443": "WARN dial tcp 169.254.169.254:443: netguard: address not allowed: the host's address is a cloud metadata address"} {
			if !strings.Contains(causes[host], cause) {
				t.Errorf("the log's cause for %s: %q, want %q", host, causes[host], cause)
			}
		}
	})
}
