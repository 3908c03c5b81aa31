package sso_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"gatehouse/sso/samltest"
)

// TestSAMLCertificateRollover: a SAML connection trusts every certificate its certificate
// text holds, so an admin pastes the IdP's next certificate beside the current one before the
// IdP switches, and drops the old one after, without taking sign-in down. What is not a list
// of certificates is refused with a message that says what is wrong.
func TestSAMLCertificateRollover(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		_, _, retired := samltest.NewKeyPair(t)
		_, _, unrelated := samltest.NewKeyPair(t)
		setCertificate := func(cert string) (status string) {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": cert}})
			return str(e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200).Body, "connection", "status")
		}
		signIn := func() map[string]string {
			t.Helper()
			b := w.browser()
			page, _ := w.toIdP(t, b)
			resp, body := w.post(t, b, e.URL, page)
			q := w.appResult(t, resp, body)
			return map[string]string{"code": q.Get("code"), "error": q.Get("error")}
		}

		// The IdP's next certificate first, beside the one it signs with: adding a certificate
		// keeps the connection active (sign-in goes on through a rollover).
		_, _, next := samltest.NewKeyPair(t)
		if status := setCertificate(next + "\n" + w.idp.CertificatePEM); status != "active" {
			t.Fatalf("adding a certificate made the connection %s", status)
		}
		if got := signIn(); got["code"] == "" {
			t.Fatalf("signed with the second certificate: %v", got)
		}
		res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
		if res.Body["success"] != true || get(res.Body, "details", "certificateValid") != true {
			t.Fatalf("connection test with two certificates: %s", res.Raw)
		}

		// Dropping one of them keeps the status too.
		if status := setCertificate(w.idp.CertificatePEM); status == "inactive" {
			t.Fatalf("dropping a certificate made the connection %s", status)
		}

		// Certificates replaced by others need a new test, and once active again the IdP's
		// signature is refused: neither is the one it signs with.
		if status := setCertificate(retired + "\n\n" + unrelated); status != "inactive" {
			t.Fatalf("replacing the certificates left the connection %s", status)
		}
		w.activate(w.conn, "")
		if got := signIn(); got["error"] != "access_denied" || got["code"] != "" {
			t.Fatalf("signed with a certificate the connection does not trust: %v", got)
		}
		var causes []string
		if err := e.App.Store().RawScan(context.Background(), &causes, "SELECT cause FROM sign_in_events WHERE outcome = 'failed'"); err != nil {
			t.Fatal(err)
		}
		if len(causes) != 1 || !strings.Contains(causes[0], "signature") {
			t.Fatalf("failure causes: %v", causes)
		}

		// What the certificate text may not be.
		for _, c := range []struct{ cert, message string }{
			{strings.Repeat(retired+"\n", 5), "samlConfig.certificate must hold at most 4 certificates"},
			{retired + "\n-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", `samlConfig.certificate has a "PRIVATE KEY" as block 2; only CERTIFICATE blocks belong here`},
			{retired + "\nthe next one follows", "samlConfig.certificate has text after certificate 1 that is not a PEM certificate"},
			{"see attached\n" + retired, "samlConfig.certificate must be a PEM-encoded X.509 certificate"},
		} {
			body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": c.cert}})
			e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).MustError(t, 400, "validation_error", c.message)
		}
	})
}
