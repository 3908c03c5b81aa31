package sso_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/clock"
	"gatehouse/models"
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

// TestSAMLCertificateExpiry: a SAML connection shows, in REST and GraphQL, each IdP
// certificate it trusts (subject, SHA-256 fingerprint, validity) and when the last of them
// expires, the day sign-in through it stops unless the IdP's next certificate is added.
func TestSAMLCertificateExpiry(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		now := time.Now().UTC().Truncate(time.Second)
		// The IdP's current certificate expires in 20 days; its next one is already valid.
		current, currentPEM := samltest.NewCertificate(t, "idp-2026", now.AddDate(-1, 0, 0), now.AddDate(0, 0, 20))
		next, nextPEM := samltest.NewCertificate(t, "idp-2027", now.Add(-time.Hour), now.AddDate(1, 0, 20))
		body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": currentPEM + "\n" + nextPEM}})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)

		want := []map[string]any{}
		for _, c := range []*x509.Certificate{current, next} {
			sum := sha256.Sum256(c.Raw)
			want = append(want, map[string]any{"subject": "CN=" + c.Subject.CommonName + ",O=Acme", "fingerprintSha256": hex.EncodeToString(sum[:]),
				"notBefore": c.NotBefore.UTC().Format(time.RFC3339), "notAfter": c.NotAfter.UTC().Format(time.RFC3339)})
		}
		rest := get(e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200).Body, "connection", "samlConfig").(map[string]any)
		d := e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { samlConfig {
			certificates { subject fingerprintSha256 notBefore notAfter } certificateExpiresAt } } }`, map[string]any{"id": w.conn})
		gql := get(d, "connection", "samlConfig").(map[string]any)
		for name, cfg := range map[string]map[string]any{"REST": rest, "GraphQL": gql} {
			got, _ := json.Marshal(cfg["certificates"])
			wanted, _ := json.Marshal(want)
			if string(got) != string(wanted) {
				t.Errorf("%s certificates\n%s\nwant\n%s", name, got, wanted)
			}
			if cfg["certificateExpiresAt"] != next.NotAfter.UTC().Format(time.RFC3339) {
				t.Errorf("%s certificateExpiresAt %v, want the later certificate's %s", name, cfg["certificateExpiresAt"], next.NotAfter.UTC().Format(time.RFC3339))
			}
		}

		// One certificate: its own expiry.
		body, _ = json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": currentPEM}})
		cfg := get(e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200).Body, "connection", "samlConfig").(map[string]any)
		if cfg["certificateExpiresAt"] != current.NotAfter.UTC().Format(time.RFC3339) || len(cfg["certificates"].([]any)) != 1 {
			t.Fatalf("after dropping the next certificate: %v", cfg)
		}
	})
}

// TestSAMLCertificateExpiryMetric: the server's hourly watch counts the active and testing
// SAML connections by when their IdP certificates expire, into
// gatehouse_saml_connections_by_certificate_expiry, which an operator alerts on; and those
// that accept SHA-1 signatures, into gatehouse_saml_connections_accepting_sha1.
func TestSAMLCertificateExpiryMetric(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e) // active, the IdP's certificate valid for a year
		now := time.Now().UTC()
		_, soon := samltest.NewCertificate(t, "idp-soon", now.AddDate(-1, 0, 0), now.AddDate(0, 0, 5))
		_, month := samltest.NewCertificate(t, "idp-month", now.AddDate(-1, 0, 0), now.AddDate(0, 0, 20))
		_, expired := samltest.NewCertificate(t, "idp-expired", now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
		setCertificate := func(cert string) {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": cert}})
			if st := str(e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200).Body, "connection", "status"); st != "active" {
				t.Fatalf("status %s", st)
			}
		}
		wantSHA1 := 0
		counted := func(want [4]int) string { t.Helper(); return expiryCounted(t, e, want, wantSHA1) }

		counted([4]int{0, 0, 0, 1})
		// The connection accepting SHA-1 signatures is counted as such.
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"acceptSha1Signatures": true}}`).Must(t, 200)
		wantSHA1 = 1
		counted([4]int{0, 0, 0, 1})
		// A rollover to a certificate that expires in 5 days: add it, drop the IdP's (the
		// connection stays active through both).
		setCertificate(w.idp.CertificatePEM + "\n" + soon)
		setCertificate(soon)
		if log := counted([4]int{0, 1, 0, 0}); !strings.Contains(log, "connection_id="+w.conn) {
			t.Fatalf("the log does not name the connection: %s", log)
		}
		setCertificate(soon + "\n" + month) // the later certificate governs
		if log := counted([4]int{0, 0, 1, 0}); strings.Contains(log, "connection_id="+w.conn) {
			t.Fatalf("a connection with 20 days left is logged as urgent: %s", log)
		}
		// A rollover step that would leave no valid certificate is refused.
		setCertificate(soon + "\n" + month + "\n" + expired)
		body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": expired}})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).MustError(t, 400, "validation_error",
			"samlConfig.certificate must keep a certificate that is valid now (certificate 1 expired on ")
		_, future := samltest.NewCertificate(t, "idp-next", now.AddDate(0, 0, 1), now.AddDate(2, 0, 0))
		setCertificate(soon + "\n" + month + "\n" + expired + "\n" + future)
		body, _ = json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": future + "\n" + expired}})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).MustError(t, 400, "validation_error",
			"samlConfig.certificate must keep a certificate that is valid now (certificate 1 is valid from ")
		counted([4]int{0, 0, 0, 1}) // the next certificate, valid from tomorrow, is cover beside a valid one
		// An inactive connection is not counted, and takes any certificates (its test checks them).
		e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/deactivate", "").Must(t, 200)
		body, _ = json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": expired}})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)
		wantSHA1 = 0
		counted([4]int{0, 0, 0, 0})
	})
}

// expiryCounted runs the server's maintenance until gatehouse_saml_connections_by_certificate_expiry
// reads want (expired, within_7d, within_30d, later) and gatehouse_saml_connections_accepting_sha1
// wantSHA1, and returns what it logged.
func expiryCounted(t *testing.T, e *testEnv, want [4]int, wantSHA1 int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var logged bytes.Buffer
	go func() {
		e.App.Maintain(ctx, app.Retention{SCIMActivity: 90 * 24 * time.Hour, SignInEvents: 90 * 24 * time.Hour}, slog.New(slog.NewTextHandler(&logged, nil)))
		close(done)
	}()
	var got [4]int
	var gotSHA1 int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, gotSHA1 = expiryMetric(t, e.URL), sha1Metric(t, e.URL); got == want && gotSHA1 == wantSHA1 {
			cancel()
			<-done
			return logged.String()
		}
	}
	cancel()
	<-done
	t.Fatalf("expired, within 7 days, 30 days, later: %v, want %v; accepting SHA-1 %d, want %d", got, want, gotSHA1, wantSHA1)
	return ""
}

// expiryMetric reads gatehouse_saml_connections_by_certificate_expiry from /metrics.
func expiryMetric(t *testing.T, base string) (n [4]int) {
	t.Helper()
	copy(n[:], gauges(t, base, "gatehouse_saml_connections_by_certificate_expiry", "expires", "expired", "within_7d", "within_30d", "later"))
	return n
}

// sha1Metric reads gatehouse_saml_connections_accepting_sha1 from /metrics; -1 when absent.
func sha1Metric(t *testing.T, base string) int {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, base), "\n") {
		if v, ok := strings.CutPrefix(line, "gatehouse_saml_connections_accepting_sha1 "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return -1
}

// metricsText is the /metrics page of the server at base.
func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// gauges reads, from the /metrics of the server at base, the values of metric for each of
// values of its one label (0 for a value it does not show).
func gauges(t *testing.T, base, metric, label string, values ...string) []int {
	t.Helper()
	body := metricsText(t, base)
	n := make([]int, len(values))
	for i, v := range values {
		prefix := metric + `{` + label + `="` + v + `"} `
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, prefix); ok {
				n[i], _ = strconv.Atoi(v)
			}
		}
	}
	return n
}

// TestSAMLCertificateChangesAudited: the audit log says which IdP certificates an admin's
// change made the connection trust or stop trusting, by SHA-256 fingerprint, as the metadata
// refresh's events do: on creation, on each step of a rollover (which keeps the connection
// active, so nothing else shows it), through REST and GraphQL alike. A change of anything else
// names no certificate. Both databases.
func TestSAMLCertificateChangesAudited(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		current, err := models.ParseSAMLCertificates(w.idp.CertificatePEM)
		if err != nil {
			t.Fatal(err)
		}
		fp := func(c *x509.Certificate) any { return models.CertificateFingerprint(c.Raw) }
		// last is the summary's certificates of the newest audit event of action.
		last := func(t *testing.T, action string) any {
			t.Helper()
			d := e.MustGQL(w.tok, `{ auditEvents(first: 20) { action targetId summary } }`, nil)
			for _, ev := range get(d, "auditEvents").([]any) {
				if m := ev.(map[string]any); m["action"] == action && m["targetId"] == w.conn {
					return get(m, "summary", "certificates")
				}
			}
			t.Fatalf("no %s event: %v", action, d)
			return nil
		}
		if got := last(t, "connection.create"); !reflect.DeepEqual(got, map[string]any{"added": []any{fp(current[0])}}) {
			t.Fatalf("create: %v", got)
		}

		// The IdP's next certificate beside the current one (REST), then the old one dropped
		// (GraphQL): the connection stays active, and each step is in the log.
		_, next, nextPEM := samltest.NewKeyPair(t)
		body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": w.idp.CertificatePEM + "\n" + nextPEM}})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)
		if got := last(t, "connection.update"); !reflect.DeepEqual(got, map[string]any{"added": []any{fp(next)}, "removed": []any{}}) {
			t.Fatalf("the next certificate added: %v", got)
		}
		d := e.MustGQL(w.tok, `mutation($id: ID!, $c: String!) { updateConnection(input: {id: $id, samlConfig: {certificate: $c}}) {
			connection { status } errors { message } } }`, map[string]any{"id": w.conn, "c": nextPEM})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 || get(d, "updateConnection", "connection", "status") != "ACTIVE" {
			t.Fatalf("updateConnection: %v", d)
		}
		if got := last(t, "connection.update"); !reflect.DeepEqual(got, map[string]any{"added": []any{}, "removed": []any{fp(current[0])}}) {
			t.Fatalf("the old certificate dropped: %v", got)
		}
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"signRequests": false}}`).Must(t, 200)
		if got := last(t, "connection.update"); got != nil {
			t.Fatalf("a change of signRequests: certificates %v", got)
		}
	})
}

// TestSAMLActivationNeedsACertificateValidNow: a SAML connection whose test passed (status
// testing) but whose IdP certificates are none of them valid now (expired since the test) is
// not activated: 409 invalid_state (GraphQL: INVALID_STATE) naming the certificate, where it
// became active and every response then failed its signature check. With the IdP's current
// certificate it is activated, and people sign in. Both databases.
func TestSAMLActivationNeedsACertificateValidNow(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		_, expired := samltest.NewCertificate(t, "idp-expired", time.Now().AddDate(-2, 0, 0), time.Now().Add(-time.Hour))
		setCertificate := func(pem string) {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": pem}})
			e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)
			w.setStatus(t, models.StatusTesting) // its test passed while the certificate was valid
		}
		setCertificate(expired)
		e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/activate", "").MustError(t, 409, "invalid_state",
			"the connection has no IdP certificate valid now (certificate 1 expired on ")
		d := e.MustGQL(w.tok, `mutation($id: ID!) { activateConnection(input: {id: $id}) { connection { status } errors { code message } } }`,
			map[string]any{"id": w.conn})
		if errs := payloadErrors(t, d, "activateConnection"); len(errs) != 1 || get(errs[0], "code") != "INVALID_STATE" {
			t.Fatalf("GraphQL activateConnection: %v", d)
		}
		if st := w.status(t); st != "testing" {
			t.Fatalf("status %s", st)
		}

		setCertificate(w.idp.CertificatePEM)
		e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/activate", "").Must(t, 200)
		w.signsIn(t)
	})
}

// TestSAMLCertificateValidThroughNotAfter: an IdP certificate is valid from its NotBefore
// through its NotAfter, both instants included (RFC 5280 4.1.2.5), as the sign-in's signature
// check (goxmldsig) judges it, in every judgement Gatehouse makes at those instants (its
// clock frozen there): a rollover step, the connection test, activation, the expiry watch, the
// import of the IdP's metadata. Before, all but the test dropped a certificate at its NotAfter
// instant, while a response it signed still verified.
func TestSAMLCertificateValidThroughNotAfter(t *testing.T) {
	fake := clock.NewFake(time.Now())
	eachDB(t, func(t *testing.T, e *testEnv) {
		start := time.Now().UTC().Truncate(time.Second)
		fake.Set(start)
		w := newSAMLWorld(t, e) // active, the IdP's certificate valid for a year
		ending, endingPEM := samltest.NewCertificate(t, "idp-ending", start.AddDate(-1, 0, 0), start.Add(10*time.Minute))
		next, nextPEM := samltest.NewCertificate(t, "idp-next", start.Add(20*time.Minute), start.AddDate(2, 0, 0))
		conn := "/api/v1/sso/connections/" + w.conn
		put := func(cert string) *apptest.RESTResponse {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"certificate": cert}})
			return e.REST(w.tok, "PUT", conn, string(body))
		}
		test := func() map[string]any {
			t.Helper()
			return e.REST(w.tok, "POST", conn+"/test", "").Must(t, 200).Body
		}
		put(w.idp.CertificatePEM+"\n"+endingPEM).Must(t, 200)

		// At NotAfter: valid.
		fake.Set(ending.NotAfter)
		if st := str(put(endingPEM).Must(t, 200).Body, "connection", "status"); st != "active" { // the rollover drops the IdP's
			t.Fatalf("status %s after dropping the other certificate", st)
		}
		if rep := test(); rep["success"] != true || get(rep, "details", "certificateValid") != true {
			t.Fatalf("the connection test at NotAfter: %v", rep)
		}
		w.setStatus(t, models.StatusTesting)
		e.REST(w.tok, "POST", conn+"/activate", "").Must(t, 200)
		expiryCounted(t, e, [4]int{0, 1, 0, 0}, 0)

		// A nanosecond later: expired, everywhere.
		fake.Set(ending.NotAfter.Add(time.Nanosecond))
		if rep := test(); rep["success"] != false || get(rep, "details", "certificateValid") != false ||
			!strings.Contains(fmt.Sprint(rep["problems"]), "certificate expired on "+ending.NotAfter.Format(time.RFC3339)) {
			t.Fatalf("the connection test after NotAfter: %v", rep)
		}
		w.setStatus(t, models.StatusTesting)
		e.REST(w.tok, "POST", conn+"/activate", "").MustError(t, 409, "invalid_state", "(certificate 1 expired on "+ending.NotAfter.Format(time.RFC3339)+")")
		expiryCounted(t, e, [4]int{1, 0, 0, 0}, 0)
		put(endingPEM+"\n"+nextPEM).MustError(t, 400, "validation_error",
			"(certificate 1 expired on "+ending.NotAfter.Format(time.RFC3339)+"; certificate 2 is valid from "+next.NotBefore.Format(time.RFC3339)+")")

		// The next certificate's NotBefore: valid from that instant.
		fake.Set(next.NotBefore.Add(-time.Nanosecond))
		put(endingPEM+"\n"+nextPEM).MustError(t, 400, "validation_error", "certificate 2 is valid from ")
		fake.Set(next.NotBefore)
		put(endingPEM+"\n"+nextPEM).Must(t, 200)

		// The IdP's metadata, imported at its only signing certificate's NotAfter and after.
		idp := samltest.New(t)
		idp.PublishSigning(ending)
		create := func(name string) *apptest.RESTResponse {
			body, _ := json.Marshal(map[string]any{"name": name, "protocol": "saml", "samlConfig": map[string]any{"metadataXml": idp.Metadata(t)}})
			return e.REST(w.tok, "POST", "/api/v1/sso/connections", string(body))
		}
		fake.Set(ending.NotAfter)
		if got := create("At NotAfter").Must(t, 201); len(get(got.Body, "connection", "samlConfig", "certificates").([]any)) != 1 {
			t.Fatalf("imported at NotAfter: %s", got.Raw)
		}
		fake.Set(ending.NotAfter.Add(time.Nanosecond))
		create("After NotAfter").MustError(t, 400, "validation_error", "samlConfig.metadataXml has no signing certificate that is valid now")
	}, func(c *app.Config) { c.TestClock = fake })
}

// TestCertificateValidityIsGoxmldsigs: models.CertificateValidAt, Gatehouse's one rule for a
// certificate's validity, is the judgement of goxmldsig, which checks a SAML response's
// signature at sign-in, at both edges of the period and either side of them.
func TestCertificateValidityIsGoxmldsigs(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edges"}, NotBefore: from, NotAfter: from.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ks := dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
	el := etree.NewElement("Assertion")
	el.CreateAttr("ID", "_a")
	signed, err := dsig.NewDefaultSigningContext(ks).SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{cert.NotBefore.Add(-time.Nanosecond), cert.NotBefore, cert.NotBefore.Add(time.Nanosecond),
		cert.NotAfter.Add(-time.Nanosecond), cert.NotAfter, cert.NotAfter.Add(time.Nanosecond), cert.NotAfter.Add(time.Second)} {
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
		vc.IdAttribute, vc.Clock = "ID", dsig.NewFakeClockAt(at)
		_, err := vc.Validate(signed.Copy())
		if verifies, valid := err == nil, models.CertificateValidAt(cert, at); verifies != valid {
			t.Errorf("at %s: goxmldsig verifies %v (%v), CertificateValidAt says %v", at.Format(time.RFC3339Nano), verifies, err, valid)
		}
	}
}
