package sso_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/google/uuid"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/sso/samltest"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// TestSAMLMetadataRefresh: a SAML connection whose certificates follow its IdP's metadata
// trusts the IdP's next signing certificate as soon as the IdP publishes it, and drops the
// old one when the IdP does, so that sign-in goes on through an IdP certificate rollover
// with no admin. The connection stays active through each change, and each is an audit
// event. Metadata that cannot be followed changes nothing, and the admin sees why. Through
// the REST and GraphQL APIs, the server's hourly job and real signed sign-ins.
func TestSAMLMetadataRefresh(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		w := newSAMLWorld(t, e) // active; the IdP signs with its first key
		current, err := models.ParseSAMLCertificates(w.idp.CertificatePEM)
		if err != nil {
			t.Fatal(err)
		}
		update := func(cfg map[string]any) *apptest.RESTResponse {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"samlConfig": cfg})
			return e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body))
		}

		// A refresh needs a metadata URL, and the URL cannot go while the refresh is on.
		e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/refresh-certificates", "").MustError(t, 409, "invalid_state",
			"the connection does not follow its IdP's metadata")
		update(map[string]any{"refreshCertificatesFromMetadata": true}).MustError(t, 400, "validation_error",
			"samlConfig.refreshCertificatesFromMetadata needs samlConfig.metadataUrl")
		update(map[string]any{"metadataUrl": w.idp.EntityID, "refreshCertificatesFromMetadata": true}).Must(t, 200)
		update(map[string]any{"metadataUrl": ""}).MustError(t, 400, "validation_error",
			"samlConfig.metadataUrl cannot be removed while refreshCertificatesFromMetadata is true")
		w.activate(w.conn, "") // a new metadata URL needs a new test, as before
		cfg := w.samlConfig(t)
		if cfg["refreshCertificatesFromMetadata"] != true || cfg["metadataCheckedAt"] != nil || cfg["metadataProblem"] != nil {
			t.Fatalf("before the first read: %v", cfg)
		}

		refresh := func(want provision.MetadataRefresh) provision.MetadataRefresh {
			t.Helper()
			w.hourPasses(t)
			got, err := e.App.Service().RefreshSAMLMetadata(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.Changed != want.Changed || got.Unchanged != want.Unchanged || got.Failed != want.Failed {
				t.Fatalf("refresh: %+v, want changed %d, unchanged %d, failed %d", got, want.Changed, want.Unchanged, want.Failed)
			}
			return got
		}
		fingerprints := func() []string {
			t.Helper()
			var fps []string
			for _, c := range w.samlConfig(t)["certificates"].([]any) {
				fps = append(fps, c.(map[string]any)["fingerprintSha256"].(string))
			}
			return fps
		}
		fp := func(c *x509.Certificate) string { return models.CertificateFingerprint(c.Raw) }

		// The metadata publishes the certificate the connection has: nothing changes but the
		// report, which is no change of the connection (its version stays). Here an admin
		// asks for the read at once, through REST.
		before := w.version(t)
		res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/refresh-certificates", "").Must(t, 200)
		if res.Body["changed"] != false || len(res.Body["added"].([]any)) != 0 || res.Body["problem"] != nil ||
			get(res.Body, "connection", "samlConfig", "metadataCheckedAt") == nil {
			t.Fatalf("refresh-certificates: %s", res.Raw)
		}
		refresh(provision.MetadataRefresh{Unchanged: 1})
		cfg = w.samlConfig(t)
		if cfg["metadataCheckedAt"] == nil || cfg["metadataProblem"] != nil || w.version(t) != before {
			t.Fatalf("after a read that changed nothing: %v (version %d, was %d)", cfg, w.version(t), before)
		}

		// The IdP publishes its next certificate beside the current one (Entra ID does so weeks
		// ahead): the connection trusts both, stays active, and sign-in goes on.
		nextKey, next, _ := samltest.NewKeyPair(t)
		w.idp.PublishSigning(current[0], next)
		r := refresh(provision.MetadataRefresh{Changed: 1})
		if !slices.Equal(r.Reports[0].Added, []string{fp(next)}) || len(r.Reports[0].Removed) != 0 || r.Reports[0].ConnectionID.String() != w.conn {
			t.Fatalf("report: %+v", r.Reports)
		}
		if got := fingerprints(); !slices.Equal(got, []string{fp(current[0]), fp(next)}) {
			t.Fatalf("certificates %v", got)
		}
		if st := w.status(t); st != "active" {
			t.Fatalf("the connection is %s after the refresh", st)
		}
		w.signsIn(t)
		var events []struct{ ActorType, ActorID, Summary string }
		if err := e.App.Store().RawScan(ctx, &events, "SELECT actor_type, actor_id, summary FROM audit_events WHERE action = 'connection.certificates_refreshed' AND target_id = ?", w.conn); err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0].ActorType != "system" || events[0].ActorID != "saml_metadata_refresh" ||
			!strings.Contains(events[0].Summary, fp(next)) || !strings.Contains(events[0].Summary, w.idp.EntityID) {
			t.Fatalf("audit events: %+v", events)
		}

		// The IdP switches to its next key and stops publishing the old certificate: sign-in
		// went on before the refresh (both trusted), and does after it drops the old one.
		w.idp.UseKey(nextKey, next)
		w.idp.EditMetadata(nil) // samlidp's own metadata: the key it signs with now
		w.signsIn(t)
		// An admin who knows the IdP has switched asks for the read at once (GraphQL); the
		// audit event names them.
		d := e.MustGQL(w.tok, `mutation($id: ID!) { refreshSamlCertificates(input: {id: $id}) {
			changed added removed problem connection { status samlConfig { certificates { fingerprintSha256 } } } errors { message } } }`,
			map[string]any{"id": w.conn})
		g := get(d, "refreshSamlCertificates").(map[string]any)
		if g["changed"] != true || len(g["added"].([]any)) != 0 || !slices.Equal(g["removed"].([]any), []any{fp(current[0])}) ||
			g["problem"] != nil || len(g["errors"].([]any)) != 0 || get(g, "connection", "status") != "ACTIVE" {
			t.Fatalf("refreshSamlCertificates: %v", g)
		}
		var actors []string
		if err := e.App.Store().RawScan(ctx, &actors, "SELECT actor_type FROM audit_events WHERE action = 'connection.certificates_refreshed' AND target_id = ? ORDER BY created_at", w.conn); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(actors, []string{"system", "client"}) {
			t.Fatalf("audit actors: %v", actors)
		}
		// Through the API, each event lists what it added and removed, an empty list as []
		// (scripts read arrays), not null: newest first, the admin's read, then the run's.
		var refreshed []string
		for _, ev := range get(e.MustGQL(w.tok, `{ auditEvents(first: 20) { action targetId summary } }`, nil), "auditEvents").([]any) {
			if m := ev.(map[string]any); m["action"] == "connection.certificates_refreshed" && m["targetId"] == w.conn {
				b, _ := json.Marshal(map[string]any{"added": get(m, "summary", "added"), "removed": get(m, "summary", "removed")})
				refreshed = append(refreshed, string(b))
			}
		}
		if !slices.Equal(refreshed, []string{`{"added":[],"removed":["` + fp(current[0]) + `"]}`, `{"added":["` + fp(next) + `"],"removed":[]}`}) {
			t.Fatalf("audit summaries: %v", refreshed)
		}
		refresh(provision.MetadataRefresh{Unchanged: 1})
		if got := fingerprints(); !slices.Equal(got, []string{fp(next)}) {
			t.Fatalf("certificates %v", got)
		}
		w.signsIn(t)
		refresh(provision.MetadataRefresh{Unchanged: 1})
		// Only signing certificates count: a KeyDescriptor without use is one, an encryption
		// one is not.
		_, _, encryption := samltest.NewKeyPair(t)
		encryptionCert, _ := models.ParseSAMLCertificates(encryption)
		w.idp.EditMetadata(func(ed *saml.EntityDescriptor) {
			kds := ed.IDPSSODescriptors[0].KeyDescriptors
			for i := range kds {
				if kds[i].Use == "signing" {
					kds[i].Use = ""
				} else {
					kds[i].KeyInfo.X509Data.X509Certificates[0].Data = base64.StdEncoding.EncodeToString(encryptionCert[0].Raw)
				}
			}
		})
		refresh(provision.MetadataRefresh{Unchanged: 1})
		w.idp.EditMetadata(nil)

		// Metadata that cannot be followed changes nothing: the certificates stay, sign-in
		// goes on, and the admin reads why in REST and GraphQL.
		now := time.Now()
		_, expired := samltest.NewCertificate(t, "idp-expired", now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
		expiredCert, _ := models.ParseSAMLCertificates(expired)
		notYet, _ := samltest.NewCertificate(t, "idp-next-year", now.AddDate(1, 0, 0), now.AddDate(2, 0, 0))
		for _, c := range []struct {
			name, problem string
			setup         func()
		}{
			{"unreachable", "metadata " + w.idp.EntityID + ": ", func() { w.idp.MetadataDown(true) }},
			{"another entity", `metadata entityID "https://evil.example.com" does not match the connection's entityId`, func() {
				w.idp.EditMetadata(func(ed *saml.EntityDescriptor) { ed.EntityID = "https://evil.example.com" })
			}},
			{"expired only", "every signing certificate the metadata publishes has expired", func() { w.idp.PublishSigning(expiredCert[0]) }},
			{"not valid yet", "no signing certificate the metadata publishes is valid yet", func() { w.idp.PublishSigning(notYet) }},
			{"no signing certificate", "metadata publishes no signing certificate", func() { w.idp.PublishSigning() }},
			{"too many", "metadata publishes 5 signing certificates that have not expired; a connection trusts at most 4", func() {
				var certs []*x509.Certificate
				for range 5 {
					c, _ := samltest.NewCertificate(t, "idp", now.Add(-time.Hour), now.AddDate(1, 0, 0))
					certs = append(certs, c)
				}
				w.idp.PublishSigning(certs...)
			}},
			{"replacement", "metadata publishes none of the certificates the connection trusts (it would replace every one)", func() {
				other, _ := samltest.NewCertificate(t, "idp-other", now.Add(-time.Hour), now.AddDate(1, 0, 0))
				w.idp.PublishSigning(other)
			}},
			{"weak key", "has a 1024-bit RSA key; at least 2048 bits are required", func() { w.idp.PublishSigning(next, rsa1024Certificate(t)) }},
			{"not a certificate", "a signing certificate does not parse", func() {
				w.idp.EditMetadata(func(ed *saml.EntityDescriptor) {
					ed.IDPSSODescriptors[0].KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data = "bm90IGEgY2VydGlmaWNhdGU="
				})
			}},
		} {
			c.setup()
			r := refresh(provision.MetadataRefresh{Failed: 1})
			if !strings.Contains(r.Reports[0].Problem, c.problem) {
				t.Fatalf("%s: problem %q, want %q", c.name, r.Reports[0].Problem, c.problem)
			}
			cfg := w.samlConfig(t)
			if p, _ := cfg["metadataProblem"].(string); !strings.Contains(p, c.problem) {
				t.Fatalf("%s: REST metadataProblem %v", c.name, cfg["metadataProblem"])
			}
			if got := fingerprints(); !slices.Equal(got, []string{fp(next)}) {
				t.Fatalf("%s: certificates %v", c.name, got)
			}
			// The connection test applies the refresh's rule too: the admin learns that the
			// certificates no longer roll over when testing, not once they have expired.
			res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
			if res.Body["success"] != false || get(res.Body, "details", "metadataValid") != false ||
				!strings.Contains(fmt.Sprint(res.Body["problems"]), c.problem) {
				t.Fatalf("%s: connection test %s", c.name, res.Raw)
			}
			w.activate(w.conn, "") // the failed test set it to error
			w.idp.MetadataDown(false)
			w.idp.EditMetadata(nil)
		}
		d = e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { samlConfig { refreshCertificatesFromMetadata metadataCheckedAt metadataProblem } } }`,
			map[string]any{"id": w.conn})
		if g := get(d, "connection", "samlConfig").(map[string]any); g["refreshCertificatesFromMetadata"] != true || g["metadataCheckedAt"] == nil ||
			!strings.Contains(g["metadataProblem"].(string), "does not parse") {
			t.Fatalf("GraphQL samlConfig: %v", g)
		}
		w.signsIn(t)
		refresh(provision.MetadataRefresh{Unchanged: 1}) // followed again: the problem is gone
		if cfg := w.samlConfig(t); cfg["metadataProblem"] != nil {
			t.Fatalf("after a good read: %v", cfg)
		}
		if res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200); res.Body["success"] != true ||
			get(res.Body, "details", "metadataValid") != true || w.status(t) != "active" {
			t.Fatalf("connection test of metadata that can be followed: %s", res.Raw)
		}
		// A refresh would take the IdP's next certificate: the test passes too.
		w.idp.PublishSigning(next, current[0])
		if res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200); res.Body["success"] != true {
			t.Fatalf("connection test of metadata with a certificate to add: %s", res.Raw)
		}
		w.idp.EditMetadata(nil)
		// AD FS and Entra ID publish the next certificate before it is valid: it is taken
		// beside the valid one, and dropped when the IdP drops it.
		w.idp.PublishSigning(next, notYet)
		if r := refresh(provision.MetadataRefresh{Changed: 1}); !slices.Equal(r.Reports[0].Added, []string{fp(notYet)}) {
			t.Fatalf("report: %+v", r.Reports)
		}
		w.signsIn(t)
		w.idp.EditMetadata(nil)
		if r := refresh(provision.MetadataRefresh{Changed: 1}); !slices.Equal(r.Reports[0].Removed, []string{fp(notYet)}) {
			t.Fatalf("report: %+v", r.Reports)
		}

		// The server's hourly job: a gauge by result, and the log names the connection whose
		// certificates changed.
		w.idp.PublishSigning(next, current[0])
		w.hourPasses(t)
		log := maintained(t, e, [3]int{1, 0, 0}, "refreshed from its metadata")
		if !strings.Contains(log, "connection_id="+w.conn) || !strings.Contains(log, fp(current[0])) {
			t.Fatalf("the log does not name the change: %s", log)
		}
		w.idp.MetadataDown(true)
		w.hourPasses(t)
		if log := maintained(t, e, [3]int{0, 0, 1}, "could not be followed"); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "503") {
			t.Fatalf("the log does not name the failure: %s", log)
		}
		w.idp.MetadataDown(false)

		// Off (here through GraphQL): the metadata is no longer read, and there is no report
		// to show.
		d = e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, samlConfig: {refreshCertificatesFromMetadata: false}}) {
			connection { status samlConfig { refreshCertificatesFromMetadata metadataCheckedAt } } errors { label message } } }`, map[string]any{"id": w.conn})
		if g := get(d, "updateConnection").(map[string]any); g["errors"] != nil && len(g["errors"].([]any)) > 0 ||
			get(g, "connection", "samlConfig", "refreshCertificatesFromMetadata") != false || get(g, "connection", "status") != "ACTIVE" {
			t.Fatalf("updateConnection: %v", g)
		}
		w.idp.PublishSigning(next)
		refresh(provision.MetadataRefresh{})
		cfg = w.samlConfig(t)
		if cfg["refreshCertificatesFromMetadata"] != false || cfg["metadataCheckedAt"] != nil || len(fingerprints()) != 2 {
			t.Fatalf("with the refresh off: %v", cfg)
		}
		if st := w.status(t); st != "active" {
			t.Fatalf("turning the refresh off made the connection %s", st)
		}
	})
}

// TestSAMLMetadataReportAfterAFix: the metadata report (metadataProblem, metadataCheckedAt)
// is of what the read was judged against, so an admin who fixes what it names (the entity ID
// of a typo, a certificate the metadata has replaced) starts it afresh: the report no longer
// shows the problem that is gone, and the next run reads the metadata at once instead of
// counting the connection failed on the strength of a read made less than metadataLease ago,
// so the certificates follow the metadata again within a run, not an hour later. REST and
// GraphQL, both databases.
func TestSAMLMetadataReportAfterAFix(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		w := newSAMLWorld(t, e)
		readNow := func(t *testing.T, problem string) {
			t.Helper()
			res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/refresh-certificates", "").Must(t, 200)
			if p, _ := res.Body["problem"].(string); !strings.Contains(p, problem) || problem == "" && p != "" {
				t.Fatalf("refresh-certificates: %s, want problem %q", res.Raw, problem)
			}
		}
		// fixed checks the report after the admin's fix: none, and a run at once reads the
		// metadata and finds nothing wrong.
		fixed := func(t *testing.T) {
			t.Helper()
			cfg := w.samlConfig(t)
			if cfg["metadataProblem"] != nil || cfg["metadataCheckedAt"] != nil {
				t.Fatalf("after the fix, the report of the read before it: %v", cfg)
			}
			got, err := e.App.Service().RefreshSAMLMetadata(ctx)
			if err != nil || got.Unchanged != 1 || got.Failed != 0 || got.Changed != 0 {
				t.Fatalf("the run after the fix: %+v, %v", got, err)
			}
			d := e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { samlConfig { metadataCheckedAt metadataProblem } } }`, map[string]any{"id": w.conn})
			if g := get(d, "connection", "samlConfig").(map[string]any); g["metadataProblem"] != nil || g["metadataCheckedAt"] == nil {
				t.Fatalf("GraphQL after the run: %v", g)
			}
		}
		w.updateSAMLConfig(t, map[string]any{"metadataUrl": w.idp.EntityID, "refreshCertificatesFromMetadata": true})
		readNow(t, "")

		// An entity ID with a typo: the read says so; the admin fixes it.
		w.updateSAMLConfig(t, map[string]any{"entityId": w.idp.EntityID + "/"})
		readNow(t, "does not match the connection's entityId")
		w.updateSAMLConfig(t, map[string]any{"entityId": w.idp.EntityID})
		fixed(t)

		// The IdP replaced its certificate without notice: the refresh does not follow a
		// replacement, and says to set it by hand, which the admin does (GraphQL).
		key, cert, certPEM := samltest.NewKeyPair(t)
		w.idp.UseKey(key, cert)
		w.idp.EditMetadata(nil)
		readNow(t, "set samlConfig.certificate by hand")
		d := e.MustGQL(w.tok, `mutation($id: ID!, $c: String!) { updateConnection(input: {id: $id, samlConfig: {certificate: $c}}) { errors { label message } } }`,
			map[string]any{"id": w.conn, "c": certPEM})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
			t.Fatalf("updateConnection: %v", errs)
		}
		fixed(t)
		w.activate(w.conn, "") // the changes need a new test: done by hand here
		w.signsIn(t)
	})
}

// updateSAMLConfig changes the connection's samlConfig through REST, as an admin does.
func (w *samlWorld) updateSAMLConfig(t *testing.T, cfg map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"samlConfig": cfg})
	w.e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)
}

// hourPasses makes the connection's last metadata read an hour old, as the next hourly run
// finds it: a run reads only the documents no replica has read in the last 50 minutes.
func (w *samlWorld) hourPasses(t *testing.T) {
	t.Helper()
	ctx, st := context.Background(), w.e.App.Store()
	var rows []struct {
		WorkspaceID, MetadataURL, SSOURL, SSOBinding, Problem string
		SSOListed                                             bool
	}
	if err := st.RawScan(ctx, &rows, "SELECT workspace_id, saml_metadata_url AS metadata_url, saml_sso_url AS sso_url, saml_sso_binding AS sso_binding, "+
		"saml_metadata_problem AS problem, saml_metadata_sso_listed AS sso_listed FROM connections WHERE id = ?", w.conn); err != nil || len(rows) != 1 {
		t.Fatal(rows, err)
	}
	r := rows[0]
	err := st.RecordSAMLMetadataCheck(ctx, uuid.MustParse(r.WorkspaceID), uuid.MustParse(w.conn), store.SAMLMetadataCheck{MetadataURL: r.MetadataURL,
		SSOURL: r.SSOURL, SSOBinding: r.SSOBinding, At: time.Now().Add(-time.Hour), Problem: r.Problem, SSOListed: r.SSOListed})
	if err != nil {
		t.Fatal(err)
	}
}

// samlConfig is the connection's samlConfig in REST.
func (w *samlWorld) samlConfig(t *testing.T) map[string]any {
	t.Helper()
	return get(w.e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200).Body, "connection", "samlConfig").(map[string]any)
}

// status is the connection's status in REST.
func (w *samlWorld) status(t *testing.T) string {
	t.Helper()
	return str(w.e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200).Body, "connection", "status")
}

// version is the connection's version in the store.
func (w *samlWorld) version(t *testing.T) int {
	t.Helper()
	var v []int
	if err := w.e.App.Store().RawScan(context.Background(), &v, "SELECT version FROM connections WHERE id = ?", w.conn); err != nil || len(v) != 1 {
		t.Fatal(v, err)
	}
	return v[0]
}

// maintained runs the server's maintenance until it has logged logs (which the refresh does
// after it sets its metric), checks that gatehouse_saml_metadata_refresh_connections then
// reads want (changed, unchanged, failed), and returns what it logged.
func maintained(t *testing.T, e *testEnv, want [3]int, logs string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var mu sync.Mutex
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logged.Write(p)
	}), nil))
	go func() {
		e.App.Maintain(ctx, app.Retention{SCIMActivity: 90 * 24 * time.Hour, SignInEvents: 90 * 24 * time.Hour}, log)
		close(done)
	}()
	text := func() string {
		mu.Lock()
		defer mu.Unlock()
		return logged.String()
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(text(), logs); {
		time.Sleep(20 * time.Millisecond)
	}
	got := refreshMetric(t, e.URL)
	cancel()
	<-done
	if !strings.Contains(text(), logs) {
		t.Fatalf("the maintenance did not log %q: %s", logs, text())
	}
	if got != want {
		t.Fatalf("changed, unchanged, failed: %v, want %v", got, want)
	}
	return text()
}

// writerFunc is an io.Writer.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// refreshMetric reads gatehouse_saml_metadata_refresh_connections from /metrics.
func refreshMetric(t *testing.T, base string) (n [3]int) {
	t.Helper()
	copy(n[:], gauges(t, base, "gatehouse_saml_metadata_refresh_connections", "result", "changed", "unchanged", "failed"))
	return n
}

// rsa1024Certificate is a self-signed certificate of an RSA key too short for SAML signing.
func rsa1024Certificate(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "weak"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// TestSAMLConnectionFromMetadata: a SAML connection can be created from the one thing every
// IdP console offers, its metadata: the URL alone (read at once), or the document itself
// for an IdP Gatehouse cannot reach. The entity ID, the SSO URL of the HTTP-Redirect binding
// and the signing certificates come from it, and people sign in through the connection.
// What the request sets wins; metadata Gatehouse cannot use is refused saying why; an update
// with a document imports it like an admin's edit of those fields.
func TestSAMLConnectionFromMetadata(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp := samltest.New(t)
		w := newSAMLWorldAt(t, e, samlWorldOptions{idp: idp, samlConfig: map[string]any{"metadataUrl": idp.EntityID}})
		cfg := w.samlConfig(t)
		// The IdP offers HTTP-Redirect and HTTP-POST: Redirect is taken.
		if cfg["entityId"] != idp.EntityID || cfg["ssoUrl"] != idp.SSOURL || cfg["certificate"] != strings.TrimSpace(idp.CertificatePEM) ||
			cfg["metadataUrl"] != idp.EntityID || cfg["signRequests"] != false || cfg["ssoBinding"] != "http_redirect" {
			t.Fatalf("created from the metadata URL: %v", cfg)
		}
		w.signsIn(t)

		// The document itself. metadata is the IdP's, as its console offers it for download.
		metadata := idp.Metadata(t)
		create := func(name string, samlConfig map[string]any) *apptest.RESTResponse {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"name": name, "protocol": "saml", "samlConfig": samlConfig})
			return e.REST(w.tok, "POST", "/api/v1/sso/connections", string(body))
		}
		signed := strings.Replace(metadata, "<IDPSSODescriptor ", `<IDPSSODescriptor WantAuthnRequestsSigned="true" `, 1)
		got := get(create("From XML", map[string]any{"metadataXml": signed, "ssoUrl": "https://sso.example.com/saml"}).Must(t, 201).Body, "connection", "samlConfig").(map[string]any)
		if got["entityId"] != idp.EntityID || got["ssoUrl"] != "https://sso.example.com/saml" || got["certificate"] != strings.TrimSpace(idp.CertificatePEM) ||
			got["signRequests"] != true || got["metadataUrl"] != nil {
			t.Fatalf("created from the document: %v", got)
		}
		// An explicit signRequests: false and an explicit certificate win over the metadata.
		_, _, own := samltest.NewKeyPair(t)
		got = get(create("Explicit", map[string]any{"metadataXml": signed, "signRequests": false, "certificate": own}).Must(t, 201).Body,
			"connection", "samlConfig").(map[string]any)
		if got["signRequests"] != false || got["certificate"] != strings.TrimSpace(own) || got["entityId"] != idp.EntityID {
			t.Fatalf("explicit fields beside the document: %v", got)
		}
		// A federation's document: this IdP beside a service provider (Gatehouse's own metadata).
		resp, err := http.Get(e.URL + "/saml/metadata")
		if err != nil {
			t.Fatal(err)
		}
		sp, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		federation := `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + string(sp) + metadata + `</EntitiesDescriptor>`
		got = get(create("From a federation", map[string]any{"metadataXml": federation}).Must(t, 201).Body, "connection", "samlConfig").(map[string]any)
		if got["entityId"] != idp.EntityID {
			t.Fatalf("created from a federation's document: %v", got)
		}
		wrapped := `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + metadata + `</EntitiesDescriptor>`
		got = get(create("From a wrapped document", map[string]any{"metadataXml": wrapped}).Must(t, 201).Body, "connection", "samlConfig").(map[string]any)
		if got["entityId"] != idp.EntityID || got["ssoUrl"] != idp.SSOURL {
			t.Fatalf("created from an EntitiesDescriptor: %v", got)
		}

		for _, c := range []struct {
			name    string
			cfg     map[string]any
			message string
		}{
			{"not metadata", map[string]any{"metadataXml": "<html><body>Sign in</body></html>"},
				"samlConfig.metadataXml cannot be read: metadataXml is not SAML metadata: its root element is <html>"},
			{"not XML", map[string]any{"metadataXml": "MIIC…"}, "samlConfig.metadataXml cannot be read: metadataXml is not XML"},
			{"neither redirect nor POST binding", map[string]any{"metadataXml": strings.NewReplacer("bindings:HTTP-Redirect", "bindings:HTTP-Artifact",
				"bindings:HTTP-POST", "bindings:HTTP-Artifact").Replace(metadata)},
				"samlConfig.metadataXml has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding"},
			{"two identity providers", map[string]any{"metadataXml": `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">` + metadata + metadata + `</EntitiesDescriptor>`},
				"samlConfig.metadataXml cannot be read: metadataXml describes 2 identity providers"},
			{"only a service provider", map[string]any{"metadataXml": string(sp)}, "samlConfig.metadataXml cannot be read: metadataXml has no IDPSSODescriptor"},
			{"no valid certificate", map[string]any{"metadataXml": func() string {
				now := time.Now()
				_, expired := samltest.NewCertificate(t, "old", now.AddDate(-2, 0, 0), now.AddDate(0, 0, -1))
				_, future := samltest.NewCertificate(t, "next", now.AddDate(0, 0, 1), now.AddDate(1, 0, 0))
				a, _ := models.ParseSAMLCertificates(expired)
				b, _ := models.ParseSAMLCertificates(future)
				idp.PublishSigning(a[0], b[0])
				defer idp.EditMetadata(nil)
				return idp.Metadata(t)
			}()}, "samlConfig.metadataXml has no signing certificate that is valid now: set samlConfig.certificate"},
			{"an http SSO URL", map[string]any{"metadataXml": strings.ReplaceAll(metadata, `Location="`+idp.SSOURL, `Location="http://idp.example.com/sso`)},
				`samlConfig.metadataXml has a SingleSignOnService location "http://idp.example.com/sso" that is not an absolute https URL`},
			{"no entity ID", map[string]any{"metadataXml": strings.Replace(metadata, `entityID="`+idp.EntityID+`"`, `entityID=""`, 1)},
				"samlConfig.metadataXml has no entityID"},
			{"too large", map[string]any{"metadataXml": metadata + strings.Repeat(" ", 256<<10)}, "samlConfig.metadataXml must be at most 256 KiB"},
			{"no URL", map[string]any{"metadataUrl": "http://idp.example.com/metadata"}, "samlConfig.metadataUrl must be an absolute https URL"},
		} {
			create("Refused "+c.name, c.cfg).MustError(t, 400, "validation_error", c.message)
		}
		idp.MetadataDown(true)
		create("Unreachable", map[string]any{"metadataUrl": idp.EntityID}).MustError(t, 400, "validation_error",
			"samlConfig.metadataUrl cannot be read: metadata "+idp.EntityID+": ")
		idp.MetadataDown(false)
		var n int
		if err := e.App.Store().RawScan(context.Background(), &n, "SELECT COUNT(*) FROM connections WHERE name LIKE 'Refused%' OR name = 'Unreachable'"); err != nil || n != 0 {
			t.Fatalf("refused connections stored: %d %v", n, err)
		}

		// An update with a document imports it: the IdP's new key replaces the certificate, a
		// change the connection test must see (as an admin's replacement is).
		key, cert, certPEM := samltest.NewKeyPair(t)
		idp.UseKey(key, cert)
		raw := idp.Metadata(t)
		body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"metadataXml": raw}})
		res := e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)
		if str(res.Body, "connection", "samlConfig", "certificate") != strings.TrimSpace(certPEM) || str(res.Body, "connection", "status") != "inactive" {
			t.Fatalf("after importing the new document: %s", res.Raw)
		}
		w.activate(w.conn, "")
		w.signsIn(t)

		// GraphQL takes it too, on update as on creation.
		d := e.MustGQL(w.tok, `mutation($id: ID!, $x: String!) { updateConnection(input: {id: $id, samlConfig: {metadataXml: $x, ssoUrl: "https://sso.example.com/other"}}) {
			connection { samlConfig { ssoUrl certificate } } errors { label message } } }`, map[string]any{"id": w.conn, "x": raw})
		if g := get(d, "updateConnection", "connection", "samlConfig").(map[string]any); g["ssoUrl"] != "https://sso.example.com/other" ||
			g["certificate"] != strings.TrimSpace(certPEM) {
			t.Fatalf("GraphQL updateConnection: %v", d)
		}
		d = e.MustGQL(w.tok, `mutation($x: String!) { createConnection(input: {name: "GraphQL XML", protocol: SAML, samlConfig: {metadataXml: $x}}) {
			connection { samlConfig { entityId ssoUrl } } errors { label message } } }`, map[string]any{"x": raw})
		if g := get(d, "createConnection", "connection", "samlConfig").(map[string]any); g["entityId"] != idp.EntityID || g["ssoUrl"] != idp.SSOURL {
			t.Fatalf("GraphQL createConnection: %v", d)
		}
	})
}

// TestSAMLCertificatesRefreshedAfterAFailedSignature: an IdP that publishes its next
// certificate and signs with it before the hourly refresh has read it does not fail its
// people's sign-ins meanwhile: the first response whose signature the connection's
// certificates do not verify has its metadata read at once (the hourly refresh's rule), and is
// checked again. A response signed with a key the metadata does not publish still fails, and
// has the metadata read at most once in five minutes.
func TestSAMLCertificatesRefreshedAfterAFailedSignature(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		current, err := models.ParseSAMLCertificates(w.idp.CertificatePEM)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"metadataUrl": w.idp.EntityID, "refreshCertificatesFromMetadata": true}})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)
		w.activate(w.conn, "")
		if cfg := w.samlConfig(t); cfg["metadataCheckedAt"] != nil {
			t.Fatalf("read before any sign-in: %v", cfg)
		}
		nextKey, next, _ := samltest.NewKeyPair(t)
		w.idp.PublishSigning(current[0], next)
		w.idp.UseKey(nextKey, next)
		w.signsIn(t)
		cfg := w.samlConfig(t)
		if n := len(cfg["certificates"].([]any)); n != 2 || cfg["metadataCheckedAt"] == nil || w.status(t) != "active" {
			t.Fatalf("after the sign-in: %d certificates, %v, %s", n, cfg, w.status(t))
		}
		var actors []string
		if err := e.App.Store().RawScan(context.Background(), &actors, "SELECT actor_id FROM audit_events WHERE action = 'connection.certificates_refreshed' AND target_id = ?", w.conn); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(actors, []string{"saml_metadata_refresh"}) {
			t.Fatalf("audit: %v", actors)
		}

		// A key the metadata does not publish: refused, and the metadata not read again.
		otherKey, other, _ := samltest.NewKeyPair(t)
		w.idp.UseKey(otherKey, other)
		for range 2 {
			b := w.browser()
			page, _ := w.toIdP(t, b)
			resp, body := w.post(t, b, e.URL, page)
			if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" || q.Get("code") != "" {
				t.Fatalf("a response signed with an unpublished key: %v", q)
			}
		}
		if again := w.samlConfig(t)["metadataCheckedAt"]; again != cfg["metadataCheckedAt"] {
			t.Fatalf("the metadata read again within five minutes: %v, then %v", cfg["metadataCheckedAt"], again)
		}
	})
}

// TestSAMLMetadataRefreshIsFair: one workspace's metadata URLs that do not answer (sixty of
// them, each read taking a minute of the run's 45) do not keep another workspace's connection
// from its hourly refresh: the workspaces take turns, none holds more than its share of the
// reads, and each read ends at its bound. The connections a run had no time for are read
// first by the next run, so that none is left out run after run. Before, the run read every
// connection in id order, four at a time: the stalling workspace's took the whole run, and
// the other's, created after, was deferred every hour.
func TestSAMLMetadataRefreshIsFair(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		fake := clock.NewFake(time.Now())
		e := newTestEnv(t, dbURL, func(c *app.Config) { c.TestClock, c.TestNetworkTimeout = fake, 200*time.Millisecond })
		ctx := context.Background()
		release := make(chan struct{})
		stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fake.Advance(time.Minute) // what a read of an IdP that does not answer takes of the run
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer stall.Close()
		defer close(release)

		stalling := e.AdminToken()
		cert := apptest.SAMLCert(t, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
		const n = 60
		for i := range n {
			body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("Stalling %d", i), "slug": fmt.Sprintf("stalling-%d", i), "protocol": "saml",
				"samlConfig": map[string]any{"entityId": fmt.Sprintf("https://idp%d.example.com", i), "ssoUrl": "https://idp.example.com/sso",
					"certificate": cert, "metadataUrl": fmt.Sprintf("%s/metadata/%d", stall.URL, i), "refreshCertificatesFromMetadata": true}})
			e.REST(stalling, "POST", "/api/v1/sso/connections", string(body)).Must(t, 201)
		}
		// The other workspace's connection, created last: the last in id order.
		other := e.OtherWorkspaceAdmin(stalling, "Other")
		idp := samltest.New(t)
		body, _ := json.Marshal(map[string]any{"name": "Answering", "slug": "answering", "protocol": "saml",
			"samlConfig": map[string]any{"entityId": idp.EntityID, "ssoUrl": idp.SSOURL, "certificate": idp.CertificatePEM,
				"metadataUrl": idp.EntityID, "refreshCertificatesFromMetadata": true}})
		answering := str(e.REST(other, "POST", "/api/v1/sso/connections", string(body)).Must(t, 201).Body, "connection", "id")
		current, _ := models.ParseSAMLCertificates(idp.CertificatePEM)
		_, next, _ := samltest.NewKeyPair(t)
		idp.PublishSigning(current[0], next) // the IdP announces its next certificate

		unread := func() int {
			t.Helper()
			var ids []string
			if err := e.App.Store().RawScan(ctx, &ids, "SELECT id FROM connections WHERE saml_metadata_url LIKE ? AND saml_metadata_checked_at IS NULL", stall.URL+"%"); err != nil {
				t.Fatal(err)
			}
			return len(ids)
		}
		r, err := e.App.Service().RefreshSAMLMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Changed != 1 || r.Deferred == 0 || r.Failed != n-unread() || len(r.Reports) == 0 || r.Reports[0].ConnectionID.String() != answering {
			t.Fatalf("the first run: changed %d, failed %d, deferred %d, %d reports; %d stalling connections unread", r.Changed, r.Failed, r.Deferred, len(r.Reports), unread())
		}
		cfg := get(e.REST(other, "GET", "/api/v1/sso/connections/"+answering, "").Must(t, 200).Body, "connection", "samlConfig").(map[string]any)
		if cfg["metadataCheckedAt"] == nil || cfg["metadataProblem"] != nil || len(cfg["certificates"].([]any)) != 2 {
			t.Fatalf("the other workspace's connection after the run: %v", cfg)
		}
		var problems []string
		if err := e.App.Store().RawScan(ctx, &problems, "SELECT saml_metadata_problem FROM connections WHERE saml_metadata_url LIKE ? AND saml_metadata_checked_at IS NOT NULL", stall.URL+"%"); err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			if !strings.Contains(p, "was not read within 200ms") {
				t.Fatalf("a stalling read's problem: %q", p)
			}
		}
		// The next run reads first the connections the first had no time for.
		fake.Advance(time.Hour)
		if r, err = e.App.Service().RefreshSAMLMetadata(ctx); err != nil {
			t.Fatal(err)
		}
		if left := unread(); left != 0 {
			t.Fatalf("the second run left %d stalling connections never read (failed %d, deferred %d)", left, r.Failed, r.Deferred)
		}
	})
}

// TestSAMLMetadataReportsAMoveBeforeTheFirstRead: a connection created from its metadataUrl
// takes its ssoUrl from the document read at creation, and that read counts as one that
// listed it: when the IdP moves its endpoint before the first hourly read, that read reports
// the move in metadataProblem, where it used to report nothing, ever. An ssoUrl set beside
// the metadataUrl that the document does not list (an alias) is not reported, and neither is
// one read from a metadataXml sent with the URL: the admin's copy is not what the URL lists.
// Through REST and GraphQL creation and the hourly refresh, both databases.
func TestSAMLMetadataReportsAMoveBeforeTheFirstRead(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()
		createREST := func(t *testing.T, name string, cfg map[string]any) string {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"name": name, "protocol": "saml", "samlConfig": cfg})
			return str(e.REST(tok, "POST", "/api/v1/sso/connections", string(body)).Must(t, 201).Body, "connection", "id")
		}
		createGQL := func(t *testing.T, name string, cfg map[string]any) string {
			t.Helper()
			d := e.MustGQL(tok, `mutation($name: String!, $cfg: SamlConfigInput!) { createConnection(input: {name: $name, protocol: SAML, samlConfig: $cfg}) {
				connection { id } errors { label message } } }`, map[string]any{"name": name, "cfg": cfg})
			if errs := payloadErrors(t, d, "createConnection"); len(errs) > 0 {
				t.Fatalf("createConnection: %v", errs)
			}
			return str(d, "createConnection", "connection", "id")
		}
		problem := func(t *testing.T, id string) string {
			t.Helper()
			d := e.MustGQL(tok, `query($id: ID!) { connection(id: $id) { samlConfig { metadataProblem metadataCheckedAt } } }`, map[string]any{"id": id})
			cfg := get(d, "connection", "samlConfig").(map[string]any)
			if cfg["metadataCheckedAt"] == nil {
				t.Fatalf("connection %s: no read recorded: %v", id, cfg)
			}
			p, _ := cfg["metadataProblem"].(string)
			return p
		}
		type made struct {
			name  string
			idp   *samltest.IdP
			id    string
			moved bool // the read after the move reports it
		}
		var all []*made
		add := func(name string, moved bool, create func(*testing.T, string, map[string]any) string, cfg func(*samltest.IdP) map[string]any) {
			idp := samltest.New(t)
			c := cfg(idp)
			c["refreshCertificatesFromMetadata"] = true
			all = append(all, &made{name: name, idp: idp, id: create(t, name, c), moved: moved})
		}
		fromURL := func(idp *samltest.IdP) map[string]any { return map[string]any{"metadataUrl": idp.EntityID} }
		add("REST from metadataUrl", true, createREST, fromURL)
		add("GraphQL from metadataUrl", true, createGQL, fromURL)
		add("REST from metadataUrl with an alias ssoUrl", false, createREST, func(idp *samltest.IdP) map[string]any {
			return map[string]any{"metadataUrl": idp.EntityID, "ssoUrl": "http://localhost:9/sso"}
		})
		add("GraphQL from metadataXml beside metadataUrl", false, createGQL, func(idp *samltest.IdP) map[string]any {
			return map[string]any{"metadataUrl": idp.EntityID, "metadataXml": idp.Metadata(t)}
		})

		// The IdPs move their endpoints before any hourly read.
		for _, m := range all {
			moved := m.idp.URL + "/adfs/ls"
			m.idp.ListSSO(saml.Endpoint{Binding: saml.HTTPRedirectBinding, Location: moved}, saml.Endpoint{Binding: saml.HTTPPostBinding, Location: moved})
		}
		got, err := e.App.Service().RefreshSAMLMetadata(context.Background())
		if err != nil || got.Failed != 2 || got.Unchanged != 2 || got.Changed != 0 {
			t.Fatalf("refresh: %+v, %v; want 2 failed, 2 unchanged", got, err)
		}
		for _, m := range all {
			p := problem(t, m.id)
			want := `the IdP's metadata no longer lists samlConfig.ssoUrl "` + m.idp.SSOURL + `" for HTTP-Redirect (its HTTP-Redirect location now: "` +
				m.idp.URL + `/adfs/ls"), so sign-ins go to an address the IdP no longer publishes: update samlConfig.ssoUrl`
			if m.moved && p != want || !m.moved && p != "" {
				t.Errorf("%s: metadataProblem %q, want the move reported: %v", m.name, p, m.moved)
			}
		}
	})
}

// TestSAMLMetadataReportsAMovedSSOURL: when the IdP's metadata stops listing the connection's
// ssoUrl for its ssoBinding after a read listed it (the IdP moved its single sign-on endpoint),
// the refresh reports it in metadataProblem at every read, naming the old URL and what the
// metadata lists now (and, when it lists the URL for other bindings only, which ones and what
// to change), and logs it at WARN, while the certificates follow the same document as
// before; the report ends when the admin updates ssoUrl (at once) or ssoBinding, or when the
// IdP lists the URL again. An ssoUrl the metadata never listed (an alias) is never reported.
// Through the REST and GraphQL APIs and the server's hourly job, both databases.
func TestSAMLMetadataReportsAMovedSSOURL(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		w := newSAMLWorld(t, e)
		// read runs the hourly refresh an hour after the last read, checks its counts, and
		// returns the report through GraphQL ("": none) with the run.
		read := func(t *testing.T, want provision.MetadataRefresh) (string, provision.MetadataRefresh) {
			t.Helper()
			w.hourPasses(t)
			got, err := e.App.Service().RefreshSAMLMetadata(ctx)
			if err != nil || got.Changed != want.Changed || got.Unchanged != want.Unchanged || got.Failed != want.Failed {
				t.Fatalf("refresh: %+v, %v; want changed %d, unchanged %d, failed %d", got, err, want.Changed, want.Unchanged, want.Failed)
			}
			d := e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { samlConfig { metadataProblem metadataCheckedAt } } }`, map[string]any{"id": w.conn})
			cfg := get(d, "connection", "samlConfig").(map[string]any)
			if cfg["metadataCheckedAt"] == nil {
				t.Fatalf("no read recorded: %v", cfg)
			}
			p, _ := cfg["metadataProblem"].(string)
			return p, got
		}
		unchanged := provision.MetadataRefresh{Unchanged: 1}
		clean := func(t *testing.T) {
			t.Helper()
			if p, _ := read(t, unchanged); p != "" {
				t.Fatalf("metadataProblem %q, want none", p)
			}
		}
		// reported checks that a read reports the SSO URL moved, with each of want in the text.
		reported := func(t *testing.T, run provision.MetadataRefresh, want ...string) {
			t.Helper()
			p, _ := read(t, run)
			for _, s := range want {
				if !strings.Contains(p, s) {
					t.Fatalf("metadataProblem %q, want %q in it", p, s)
				}
			}
		}
		redirect := func(loc string) saml.Endpoint { return saml.Endpoint{Binding: saml.HTTPRedirectBinding, Location: loc} }
		post := func(loc string) saml.Endpoint { return saml.Endpoint{Binding: saml.HTTPPostBinding, Location: loc} }
		old, moved := w.idp.SSOURL, w.idp.URL+"/adfs/ls"

		// b) An ssoUrl the metadata never lists, a vanity alias: no report, read after read,
		// whatever the IdP lists.
		alias := "http://localhost:9/sso"
		w.updateSAMLConfig(t, map[string]any{"metadataUrl": w.idp.EntityID, "refreshCertificatesFromMetadata": true, "ssoUrl": alias})
		clean(t)
		clean(t)
		w.idp.ListSSO(redirect(moved), post(moved))
		clean(t)

		// a) The connection's ssoUrl, listed: no report. Then the IdP moves its endpoint, and
		// publishes its next certificate in the same document: the certificates follow, and the
		// report names the old URL and the new one, read after read.
		w.idp.ListSSO()
		w.updateSAMLConfig(t, map[string]any{"ssoUrl": old})
		clean(t)
		current, err := models.ParseSAMLCertificates(w.idp.CertificatePEM)
		if err != nil {
			t.Fatal(err)
		}
		_, next, _ := samltest.NewKeyPair(t)
		w.idp.PublishSigning(current[0], next)
		w.idp.ListSSO(redirect(moved), post(moved))
		_, run := read(t, provision.MetadataRefresh{Failed: 1})
		if len(run.Reports) != 1 || !slices.Equal(run.Reports[0].Added, []string{models.CertificateFingerprint(next.Raw)}) ||
			run.Reports[0].Problem != "" || !strings.Contains(run.Reports[0].SSOProblem, old) {
			t.Fatalf("reports %+v", run.Reports)
		}
		if certs := w.samlConfig(t)["certificates"].([]any); len(certs) != 2 {
			t.Fatalf("the certificates did not follow the metadata: %v", certs)
		}
		want := []string{`no longer lists samlConfig.ssoUrl "` + old + `" for HTTP-Redirect`, `"` + moved + `"`,
			"sign-ins go to an address the IdP no longer publishes: update samlConfig.ssoUrl"}
		cfg := w.samlConfig(t) // REST shows it too
		if p, _ := cfg["metadataProblem"].(string); !strings.Contains(p, want[0]) {
			t.Fatalf("REST metadataProblem %q", p)
		}
		reported(t, provision.MetadataRefresh{Failed: 1}, want...)
		// An admin's read at once says so too, as metadataProblem does.
		res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/refresh-certificates", "").Must(t, 200)
		if p, _ := res.Body["problem"].(string); !strings.Contains(p, want[0]) || res.Body["changed"] != false {
			t.Fatalf("refresh-certificates: %s", res.Raw)
		}
		// The server's job logs it at WARN and counts it failed.
		w.hourPasses(t)
		logged := maintained(t, e, [3]int{0, 0, 1}, "no longer lists its ssoUrl")
		if !strings.Contains(logged, "level=WARN") || !strings.Contains(logged, w.conn) || !strings.Contains(logged, moved) {
			t.Fatalf("logged: %s", logged)
		}

		// c) The admin updates ssoUrl to the new endpoint: the report is gone at once, and
		// stays gone.
		w.updateSAMLConfig(t, map[string]any{"ssoUrl": moved})
		if cfg := w.samlConfig(t); cfg["metadataProblem"] != nil || cfg["metadataCheckedAt"] != nil {
			t.Fatalf("after the admin's update: %v", cfg)
		}
		clean(t)
		clean(t)

		// d) The IdP moves again, then lists the URL again: the report ends at the next read.
		third := w.idp.URL + "/saml2/idp"
		w.idp.ListSSO(redirect(third), post(third))
		reported(t, provision.MetadataRefresh{Failed: 1}, `"`+moved+`"`, `"`+third+`"`)
		w.idp.ListSSO(redirect(moved), post(moved))
		clean(t)

		// e) The binding counts: the IdP lists the URL for HTTP-POST only now, and the
		// connection sends by HTTP-Redirect. Setting ssoBinding ends the report.
		w.idp.ListSSO(redirect(third), post(moved))
		reported(t, provision.MetadataRefresh{Failed: 1}, `no longer lists samlConfig.ssoUrl "`+moved+`" for HTTP-Redirect`,
			"it lists that URL for HTTP-POST only", "set samlConfig.ssoBinding to http_post (GraphQL: HTTP_POST)")
		w.updateSAMLConfig(t, map[string]any{"ssoBinding": "http_post"})
		if cfg := w.samlConfig(t); cfg["metadataProblem"] != nil {
			t.Fatalf("after the admin's update of ssoBinding: %v", cfg)
		}
		clean(t)

		// f) The IdP lists the URL for SOAP and HTTP-Artifact only now: the address is still
		// published, not for a binding Gatehouse sends by, and the report says so (it used to
		// say the IdP no longer publishes the address). The IdP lists it again: the report ends.
		w.idp.ListSSO(redirect(third), post(third), saml.Endpoint{Binding: saml.SOAPBinding, Location: moved},
			saml.Endpoint{Binding: saml.HTTPArtifactBinding, Location: moved})
		soap := []string{`no longer lists samlConfig.ssoUrl "` + moved + `" for HTTP-POST (its HTTP-POST location now: "` + third + `"); ` +
			"it lists that URL only for bindings Gatehouse does not send by (such as SOAP or HTTP-Artifact), " +
			"so sign-ins are sent there by a binding the IdP no longer publishes for it: update samlConfig.ssoUrl to an HTTP-Redirect or HTTP-POST location"}
		reported(t, provision.MetadataRefresh{Failed: 1}, soap...)
		if p, _ := w.samlConfig(t)["metadataProblem"].(string); !strings.Contains(p, soap[0]) || strings.Contains(p, "an address the IdP no longer publishes") {
			t.Fatalf("REST metadataProblem %q", p)
		}
		w.idp.ListSSO(redirect(third), post(moved))
		clean(t)

		// A new ssoUrl starts afresh: an alias set after the metadata listed the URL before it
		// is not reported either.
		w.updateSAMLConfig(t, map[string]any{"ssoUrl": alias})
		clean(t)
		clean(t)
	})
}

// TestSAMLConnectionTestReportsAMovedSSOURL: the connection test applies the refresh's rule for
// a moved ssoUrl (ssoURLDrift) to the document it reads: once a read of metadataUrl has listed
// ssoUrl for ssoBinding, a test whose document no longer does warns, with the problem
// metadataProblem shows, word for word, where it answered success with no problem and no
// warning while the refresh reported the move. A warning, not a failure: a failed test puts
// the connection in error and stops its sign-ins, and an IdP often still takes requests at an
// address it stopped publishing. The test changes neither the report nor the mark that a read
// listed the URL; an ssoUrl no read has listed (an alias, or one only a test has read) passes
// without a warning. REST and GraphQL, both databases.
func TestSAMLConnectionTestReportsAMovedSSOURL(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		ctx := context.Background()
		w := newSAMLWorld(t, e)
		// test runs the connection test through REST, then GraphQL, checks that both answer the
		// same, a success with no problem and ssoUrlValid true, and returns the warnings, of
		// which it wants one when drifted, else none.
		test := func(t *testing.T, drifted bool) []any {
			t.Helper()
			r := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
			d := e.MustGQL(w.tok, `mutation($id: ID!) { testConnection(input: {id: $id}) { success problems warnings details { ssoUrlValid } } }`,
				map[string]any{"id": w.conn})
			g := get(d, "testConnection").(map[string]any)
			want := map[bool]int{false: 0, true: 1}[drifted]
			for _, a := range []map[string]any{r.Body, g} {
				if a["success"] != true || get(a, "details", "ssoUrlValid") != true || len(a["problems"].([]any)) != 0 ||
					len(a["warnings"].([]any)) != want || fmt.Sprint(a["warnings"]) != fmt.Sprint(r.Body["warnings"]) {
					t.Fatalf("test: REST %s, GraphQL %v; want success with %d warning", r.Raw, g, want)
				}
			}
			// A warning leaves the connection's sign-ins as they were: no error status.
			if c := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200).Body; str(c, "connection", "status") == "error" {
				t.Fatalf("the test put the connection in error: %v", c)
			}
			return r.Body["warnings"].([]any)
		}
		// stored is what the test must leave as it is: the report and the mark.
		stored := func(t *testing.T) [3]any {
			t.Helper()
			cfg := w.samlConfig(t)
			var listed []bool
			if err := e.App.Store().RawScan(ctx, &listed, "SELECT saml_metadata_sso_listed FROM connections WHERE id = ?", w.conn); err != nil || len(listed) != 1 {
				t.Fatal(listed, err)
			}
			return [3]any{cfg["metadataProblem"], cfg["metadataCheckedAt"], listed[0]}
		}
		// unchangedBy runs the test and checks that it left the report and the mark as they were.
		unchangedBy := func(t *testing.T, drifted bool) []any {
			t.Helper()
			before := stored(t)
			problems := test(t, drifted)
			if after := stored(t); after != before {
				t.Fatalf("the test changed the report or the mark: %v, was %v", after, before)
			}
			return problems
		}
		read := func(t *testing.T, want provision.MetadataRefresh) {
			t.Helper()
			w.hourPasses(t)
			got, err := e.App.Service().RefreshSAMLMetadata(ctx)
			if err != nil || got.Changed != want.Changed || got.Unchanged != want.Unchanged || got.Failed != want.Failed {
				t.Fatalf("refresh: %+v, %v; want %+v", got, err, want)
			}
		}
		redirect := func(loc string) saml.Endpoint { return saml.Endpoint{Binding: saml.HTTPRedirectBinding, Location: loc} }
		post := func(loc string) saml.Endpoint { return saml.Endpoint{Binding: saml.HTTPPostBinding, Location: loc} }
		old, moved := w.idp.SSOURL, w.idp.URL+"/adfs/ls"

		// A read lists ssoUrl: the test passes. Then the IdP moves its endpoint: the test warns
		// before the next read, saying what that read then reports.
		w.updateSAMLConfig(t, map[string]any{"metadataUrl": w.idp.EntityID, "refreshCertificatesFromMetadata": true})
		read(t, provision.MetadataRefresh{Unchanged: 1})
		unchangedBy(t, false)
		w.idp.ListSSO(redirect(moved), post(moved))
		problems := unchangedBy(t, true)
		want := `the IdP's metadata no longer lists samlConfig.ssoUrl "` + old + `" for HTTP-Redirect (its HTTP-Redirect location now: "` + moved +
			`"), so sign-ins go to an address the IdP no longer publishes: update samlConfig.ssoUrl`
		if len(problems) != 1 || problems[0] != want {
			t.Fatalf("problems %q, want %q", problems, want)
		}
		read(t, provision.MetadataRefresh{Failed: 1})
		if p := w.samlConfig(t)["metadataProblem"]; p != want {
			t.Fatalf("metadataProblem %q, want the test's problem %q", p, want)
		}
		unchangedBy(t, true)

		// The URL listed for SOAP only: the test fails, by the binding rule it always had (the
		// IdP says it takes requests there by no binding Gatehouse sends), and the report says
		// why sign-ins fail in its own words.
		w.idp.ListSSO(redirect(moved), post(moved), saml.Endpoint{Binding: saml.SOAPBinding, Location: old})
		r := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
		if r.Body["success"] != false || !strings.Contains(fmt.Sprint(r.Body["problems"]), "none of which Gatehouse sends AuthnRequests by") {
			t.Fatalf("test with the URL listed for SOAP only: %s", r.Raw)
		}
		read(t, provision.MetadataRefresh{Failed: 1})
		if p := w.samlConfig(t)["metadataProblem"]; !strings.Contains(fmt.Sprint(p), "such as SOAP") {
			t.Fatalf("metadataProblem %q", p)
		}

		// The admin follows the IdP: the test passes. It marks nothing: the IdP moving again
		// before a read has listed the new URL warns of nothing.
		w.updateSAMLConfig(t, map[string]any{"ssoUrl": moved})
		unchangedBy(t, false)
		third := w.idp.URL + "/saml2/idp"
		w.idp.ListSSO(redirect(third), post(third))
		unchangedBy(t, false)

		// An alias no read has listed passes, whatever a read lists.
		w.updateSAMLConfig(t, map[string]any{"ssoUrl": "http://localhost:9/sso"})
		read(t, provision.MetadataRefresh{Unchanged: 1})
		unchangedBy(t, false)
	})
}
