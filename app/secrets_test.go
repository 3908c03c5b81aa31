package app_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// recorder keeps every response body the test's HTTP client receives, in order.
type recorder struct {
	mu     sync.Mutex
	bodies []recorded
	next   http.RoundTripper
}

type recorded struct {
	what   string
	body   string
	header http.Header
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.bodies = append(r.bodies, recorded{req.Method + " " + req.URL.Path, string(b), resp.Header})
	r.mu.Unlock()
	return resp, nil
}

// A full session over every surface, then a search: no secret the session created or sent
// appears in the log (at debug level), in any answer but the one that created it, or in any
// row of the database (secrets are stored hashed or encrypted).
func TestSecretsNeverLeak(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		var logs bytes.Buffer
		var logMu sync.Mutex
		log := slog.New(slog.NewJSONHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
		srv := httptest.NewUnstartedServer(nil)
		cfg := app.Config{DatabaseURL: dbURL, PublicURL: "http://" + srv.Listener.Addr().String(), EncryptionKey: secret.NewKey(),
			BootstrapClientID: testAdminID, BootstrapClientSecret: testAdminSecret, AllowPrivateNetworks: true,
			Guard: defaultGuard(t)}
		a, err := app.New(context.Background(), cfg, log, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = a.Handler()
		srv.Start()
		t.Cleanup(func() { srv.Close(); a.Store().Close() })
		e := &testEnv{&apptest.Env{T: t, URL: cfg.PublicURL, App: a, Config: cfg}}
		rec := &recorder{next: http.DefaultTransport}
		saved := http.DefaultClient.Transport
		http.DefaultClient.Transport = rec
		t.Cleanup(func() { http.DefaultClient.Transport = saved })

		// created maps each secret the server generated to the index of the answer that
		// carried it; sent are secrets only the client ever sends.
		created := map[string]int{}
		mark := func(s string) {
			if s == "" {
				t.Fatal("empty secret")
			}
			created[s] = len(rec.bodies) - 1
		}
		admin := e.AdminToken()
		mark(admin)
		id, sec := e.CreateClient(admin, []string{"graphql", "admin"}, "")
		mark(sec)
		tok2 := e.Token(id, sec)
		mark(tok2)
		scimREST, _ := e.SCIMToken(admin, map[string]any{"name": "okta"})
		mark(scimREST)
		d := e.MustGQL(tok2, `mutation { createScimToken(input: {name: "entra"}) { plainValue errors { message } } }`, nil)
		scimGQL := str(d, "createScimToken", "plainValue")
		mark(scimGQL)
		d = e.MustGQL(tok2, `mutation { rotateIntegrationClientSecret(input: {clientId: "`+id+`"}) { clientSecret errors { message } } }`, nil)
		rotated := str(d, "rotateIntegrationClientSecret", "clientSecret")
		mark(rotated)

		const oidcSecret, credSecret, wrongSecret = "oidc-client-secret-sent-9f3a", "credential-secret-sent-41c2", "ghs_wrong_secret_sent_77d1"
		sent := []string{testAdminSecret, oidcSecret, credSecret, wrongSecret}
		e.MustGQL(admin, `mutation { createConnection(input: {name: "Okta", slug: "okta", protocol: OIDC,
			oidcConfig: {issuerUrl: "https://login.example.com/t/v2.0", clientId: "c", clientSecret: "`+oidcSecret+`"}}) { connection { id } errors { message } } }`, nil)
		uuid := e.CreateUser(admin, "leak@example.com")
		e.MustGQL(admin, `mutation { updateUserAccountCredentials(input: {accountUuid: "`+uuid+`", authModule: "okta", identifier: "leak", secret: "`+credSecret+`"}) { errors { message } } }`, nil)
		e.MustGQL(admin, `{ connections { id name } integrationClients { clientId name } }`, nil)
		e.Call("GET", "/api/v1/scim/tokens", admin, nil).Must(t, 200)
		e.Call("GET", "/api/v1/sso/connections", admin, nil).Must(t, 200)
		e.Call("POST", "/scim/v2/Users", scimREST, map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
			"userName": "scim@example.com", "password": credSecret + "-scim"}).Must(t, 201)
		sent = append(sent, credSecret+"-scim")
		e.Call("GET", "/scim/v2/Users", scimGQL, nil).Must(t, 200)
		// Refusals must not echo what was sent either.
		if s, _ := tokenStatus(t, e.URL, id, wrongSecret); s != 401 {
			t.Fatalf("wrong secret: %d", s)
		}
		e.Call("GET", "/scim/v2/Users", wrongSecret, nil).Must(t, 401)
		e.Call("GET", "/api/v1/scim/tokens", wrongSecret, nil).Must(t, 401)
		if r := e.GQL(wrongSecret, "{ __typename }", nil); r.Status != 401 {
			t.Fatalf("graphql with a wrong token: %d", r.Status)
		}

		logMu.Lock()
		logText := logs.String()
		logMu.Unlock()
		if !strings.Contains(logText, "http request") {
			t.Fatal("no access log captured")
		}
		check := func(s string, allowed int) {
			if strings.Contains(logText, s) {
				t.Errorf("secret %.12s… in the log", s)
			}
			for i, b := range rec.bodies {
				if i != allowed && strings.Contains(b.body, s) {
					t.Errorf("secret %.12s… in answer %d (%s): %.200s", s, i, b.what, b.body)
				}
			}
		}
		for s, i := range created {
			check(s, i)
			if cc := rec.bodies[i].header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("answer %d (%s) carrying a secret: Cache-Control %q", i, rec.bodies[i].what, cc)
			}
		}
		for _, s := range sent {
			check(s, -1)
		}
		// HTTP Basic credentials are base64: the plain-text search above would miss them.
		for _, pair := range [][2]string{{testAdminID, testAdminSecret}, {id, sec}, {id, rotated}, {id, wrongSecret}} {
			if basic := base64.StdEncoding.EncodeToString([]byte(pair[0] + ":" + pair[1])); strings.Contains(logText, basic) {
				t.Errorf("the Basic credentials of %s (%.12s…) in the log", pair[0], pair[1])
			}
		}
		if strings.Contains(logText, "Basic ") {
			t.Error("an Authorization header in the log")
		}
		rows := 0
		for s := range created {
			rows += rowsHolding(t, e.App.Store(), s)
		}
		for _, s := range sent {
			rows += rowsHolding(t, e.App.Store(), s)
		}
		t.Logf("%d answers, %d log bytes, %d database values read", len(rec.bodies), len(logText), rows)
	})
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// rowsHolding fails the test for each value of any column of any table that holds needle, and
// returns how many values it read.
func rowsHolding(t *testing.T, st *store.Store, needle string) int {
	t.Helper()
	read := 0
	for _, col := range storetest.Columns(t, st.DB(), st.Dialect() == store.Postgres) {
		read += len(col.Values)
		for _, v := range col.Values {
			if strings.Contains(v, needle) {
				t.Errorf("secret %.12s… stored in plain text: %s", needle, col.Name)
			}
		}
	}
	return read
}
