package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/oauth2"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/guard"
	"gatehouse/provision"
	"gatehouse/store/storetest"
	"gatehouse/telemetry"
)

// scrape reads a /metrics endpoint over HTTP and parses the text exposition.
func scrape(t *testing.T, metricsURL string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatalf("GET %s: %v", metricsURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", metricsURL, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// metricValue returns the value of the series of name whose labels include labels ("k=v"
// pairs), or -1 when there is none.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	return -1
}

func TestMetricsAfterTraffic(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()

		// OAuth: one more token, and two refused client authentications.
		e.Token(testAdminID, testAdminSecret, "graphql:read")
		readOnly := e.Token(testAdminID, testAdminSecret, "graphql:read")
		for _, sec := range []string{"wrong-secret", ""} {
			resp, err := http.PostForm(e.URL+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
				"client_id": {testAdminID}, "client_secret": {sec}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("bad secret: status %d", resp.StatusCode)
			}
		}
		// Introspection authenticates its client too.
		resp, err := http.PostForm(e.URL+"/oauth/introspect", url.Values{"token": {"x"},
			"client_id": {testAdminID}, "client_secret": {"wrong-secret"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("introspect with a bad secret: status %d", resp.StatusCode)
		}
		// A malformed request is not a client authentication failure.
		resp, err = http.PostForm(e.URL+"/oauth/token", url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()

		// GraphQL: named, anonymous, failing at execution, failing validation.
		e.MustGQL(admin, `query WhoAmI { viewer { __typename } }`, nil)
		e.MustGQL(admin, `query WhoAmI { viewer { __typename } }`, nil)
		e.MustGQL(admin, `{ viewer { __typename } }`, nil)
		if r := e.GQL(readOnly, `query Clients { integrationClients { clientId } }`, nil); len(r.Errors) == 0 {
			t.Fatalf("a graphql:read token listed clients: %s", r.Raw)
		}
		if r := e.GQL(admin, `query Broken { noSuchField }`, nil); len(r.Errors) == 0 {
			t.Fatalf("an invalid query succeeded: %s", r.Raw)
		}

		// SCIM: a create, a get of a missing user, a refused token.
		scimTok, _ := e.SCIMToken(admin, allScopes("metrics"))
		e.Call("POST", "/scim/v2/Users", scimTok, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "metrics@example.com"}).Must(t, 201)
		e.Call("GET", "/scim/v2/Users/00000000-0000-0000-0000-000000000000", scimTok, nil).Must(t, 404)
		e.Call("GET", "/scim/v2/Users", "not-a-token", nil).Must(t, 401)

		// Sign-in: the flow's decision is counted (an unusable identity is an error).
		if _, err := e.App.Service().SignIn(context.Background(), [16]byte{}, [16]byte{}, provision.Identity{}); err == nil {
			t.Fatal("a sign-in without identifier succeeded")
		}

		// The periodic tasks run once, as at a server's start (the dashboard graphs their
		// metrics, and the time of the last success is there only after one).
		ctx, cancel := context.WithCancel(context.Background())
		maintained := make(chan struct{})
		go func() {
			e.App.Maintain(ctx, app.Retention{SCIMActivity: 90 * 24 * time.Hour, SignInEvents: 90 * 24 * time.Hour}, slog.New(slog.DiscardHandler))
			close(maintained)
		}()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			fams := scrape(t, e.URL+"/metrics")
			ran := 0
			for _, task := range []string{"sign_in_state_prune", "saml_certificate_expiry", "saml_metadata_refresh",
				"scim_counter_reconcile", "scim_activity_prune", "sign_in_event_prune"} {
				if metricValue(fams, "gatehouse_periodic_task_last_success_timestamp_seconds", "task="+task) > 0 &&
					metricValue(fams, "gatehouse_periodic_task_failures_total", "task="+task) == 0 {
					ran++
				}
			}
			if ran == 6 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of the 6 periodic tasks succeeded", ran)
			}
		}
		cancel()
		<-maintained

		fams := scrape(t, e.URL+"/metrics")
		want := []struct {
			name   string
			labels []string
			value  float64
		}{
			{"gatehouse_oauth_tokens_issued_total", []string{"grant_type=client_credentials"}, 3},
			{"gatehouse_oauth_client_authentication_failures_total", []string{"endpoint=token"}, 2},
			{"gatehouse_oauth_client_authentication_failures_total", []string{"endpoint=introspection"}, 1},
			{"gatehouse_oauth_client_authentication_failures_total", []string{"endpoint=revocation"}, 0},
			{"gatehouse_graphql_operations_total", []string{"operation=WhoAmI", "outcome=success"}, 2},
			{"gatehouse_graphql_operations_total", []string{"operation=WhoAmI", "outcome=error"}, 0},
			{"gatehouse_graphql_operations_total", []string{"operation=(anonymous)", "outcome=success"}, 1},
			{"gatehouse_graphql_operations_total", []string{"operation=Clients", "outcome=error"}, 1},
			{"gatehouse_graphql_operations_total", []string{"operation=(invalid)", "outcome=error"}, 1},
			{"gatehouse_scim_operations_total", []string{"resource=user", "operation=create", "outcome=success"}, 1},
			{"gatehouse_scim_operations_total", []string{"resource=user", "operation=get", "outcome=client_error"}, 1},
			{"gatehouse_scim_operations_total", []string{"resource=user", "operation=list", "outcome=denied"}, 1},
			{"gatehouse_scim_operations_total", []string{"resource=group", "operation=list", "outcome=success"}, 0},
			{"gatehouse_sign_ins_total", []string{"outcome=error"}, 1},
			{"gatehouse_sign_ins_total", []string{"outcome=provisioned"}, 0},
			{"gatehouse_http_requests_total", []string{"route=/oauth/token", "status=401"}, 2},
		}
		for _, w := range want {
			if got := metricValue(fams, w.name, w.labels...); got != w.value {
				t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
			}
		}
		// The database pool: SQLite has one connection, PostgreSQL a pool of 32.
		maxOpen := 32.0
		if strings.HasPrefix(e.Config.DatabaseURL, "sqlite:") {
			maxOpen = 1
		}
		if got := metricValue(fams, "gatehouse_go_sql_max_open_connections", "db_name=gatehouse"); got != maxOpen {
			t.Errorf("gatehouse_go_sql_max_open_connections = %v, want %v", got, maxOpen)
		}
		if got := metricValue(fams, "gatehouse_go_sql_open_connections", "db_name=gatehouse"); got < 1 {
			t.Errorf("gatehouse_go_sql_open_connections = %v, want at least 1", got)
		}
		// PostgreSQL's second pool, for sign-in state (store.AsyncCommit): one connection for
		// each general request slot (unbounded here: then as large as the first).
		if maxOpen > 1 {
			want := float64(e.Config.Guard.MaxConcurrent)
			if want == 0 {
				want = maxOpen
			}
			if got := metricValue(fams, "gatehouse_go_sql_max_open_connections", "db_name=gatehouse_async"); got != want {
				t.Errorf("gatehouse_go_sql_max_open_connections{db_name=gatehouse_async} = %v, want %v", got, want)
			}
		}
		// The dashboard in docs/ graphs only metrics that the server exposes.
		dash, err := os.ReadFile("../docs/grafana-dashboard.json")
		if err != nil {
			t.Fatal(err)
		}
		names := regexp.MustCompile(`\b(?:gatehouse|go|process)_[a-z_]+`).FindAllString(string(dash), -1)
		if len(names) < 10 {
			t.Fatalf("the dashboard names %d metrics", len(names))
		}
		for _, name := range names {
			if fams[name] == nil && fams[strings.TrimSuffix(name, "_bucket")] == nil {
				t.Errorf("the dashboard graphs %s, which /metrics does not expose", name)
			}
		}
		checkDashboardLabels(t, dash, fams)
		for name := range fams {
			if !strings.HasPrefix(name, "gatehouse_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
				t.Errorf("metric %s is outside the gatehouse_ namespace", name)
			}
		}
	})
}

// checkDashboardLabels fails t for a dashboard query that groups by or matches a label its
// metric does not have (a panel that would graph nothing, or one line for everything), or
// matches exactly a value the label never takes. job and instance are the labels Prometheus
// adds to every scraped series; le is a histogram bucket's.
func checkDashboardLabels(t *testing.T, dash []byte, fams map[string]*dto.MetricFamily) {
	t.Helper()
	type panel struct {
		Title   string
		Targets []struct{ Expr string }
		Panels  []panel // a collapsed row's
	}
	var board struct{ Panels []panel }
	if err := json.Unmarshal(dash, &board); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var panels []panel
	for _, p := range board.Panels {
		panels = append(append(panels, p), p.Panels...)
	}
	selector := regexp.MustCompile(`\b((?:gatehouse|go|process)_[a-z_]+)(?:\{([^}]*)\})?`)
	matcher := regexp.MustCompile(`(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	grouping := regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	queries := 0
	for _, p := range panels {
		for _, tg := range p.Targets {
			queries++
			var grouped []string
			for _, g := range grouping.FindAllStringSubmatch(tg.Expr, -1) {
				for l := range strings.SplitSeq(g[1], ",") {
					grouped = append(grouped, strings.TrimSpace(l))
				}
			}
			for _, sel := range selector.FindAllStringSubmatch(tg.Expr, -1) {
				name := sel[1]
				fam := fams[name]
				histogram := false
				if fam == nil {
					fam, histogram = fams[strings.TrimSuffix(name, "_bucket")], true
				}
				if fam == nil {
					continue // reported above
				}
				values := map[string]map[string]bool{}
				for _, m := range fam.GetMetric() {
					for _, l := range m.GetLabel() {
						if values[l.GetName()] == nil {
							values[l.GetName()] = map[string]bool{}
						}
						values[l.GetName()][l.GetValue()] = true
					}
				}
				has := func(label string) bool {
					return label == "job" || label == "instance" || (histogram && label == "le") || values[label] != nil
				}
				for _, l := range grouped {
					if !has(l) {
						t.Errorf("dashboard panel %q groups %s by %q, a label it does not have (%s)", p.Title, name, l, tg.Expr)
					}
				}
				for _, m := range matcher.FindAllStringSubmatch(sel[2], -1) {
					label, op, value := m[1], m[2], m[3]
					switch {
					case !has(label):
						t.Errorf("dashboard panel %q matches %s on %q, a label it does not have (%s)", p.Title, name, label, tg.Expr)
					case op == "=" && values[label] != nil && !values[label][value]:
						t.Errorf("dashboard panel %q matches %s{%s=%q}, a value /metrics does not have (%s)", p.Title, name, label, value, tg.Expr)
					}
				}
			}
		}
	}
	if queries < 10 {
		t.Fatalf("the dashboard has %d queries", queries)
	}
}

func TestMetricsOwnListener(t *testing.T) {
	c, err := app.LoadConfig(func(name string) string {
		if name == "GATEHOUSE_METRICS_ADDR" {
			return "127.0.0.1:9464"
		}
		return ""
	})
	if err != nil || c.MetricsAddr != "127.0.0.1:9464" {
		t.Fatalf("loadConfig: %+v, %v", c.MetricsAddr, err)
	}
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL, func(c *app.Config) { c.MetricsAddr = "127.0.0.1:0" })
		e.AdminToken()
		resp, err := http.Get(e.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("main listener: GET /metrics = %d, want 404 when GATEHOUSE_METRICS_ADDR is set", resp.StatusCode)
		}
		ln, err := net.Listen("tcp", e.Config.MetricsAddr)
		if err != nil {
			t.Fatal(err)
		}
		srv := app.ServeMetrics(ln, e.App.MetricsHandler(), slog.New(slog.DiscardHandler))
		defer srv.Close()
		fams := scrape(t, "http://"+ln.Addr().String()+"/metrics")
		if got := metricValue(fams, "gatehouse_oauth_tokens_issued_total", "grant_type=client_credentials"); got != 1 {
			t.Fatalf("tokens issued on the metrics listener = %v, want 1", got)
		}
	})
}

// Behind a trusted proxy the access log names the client its X-Forwarded-For names.
func TestAccessLogBehindTrustedProxy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e, logs := apptest.NewLogged(t, dbURL, func(c *app.Config) { c.Guard.TrustedProxies, _ = guard.ParseProxies("127.0.0.0/8") })
		req, _ := http.NewRequest("GET", e.URL+"/healthz", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.5, 198.51.100.7")
		if line := logs.Send(t, req, "log-proxied"); line["remote_addr"] != "198.51.100.7" {
			t.Fatalf("remote_addr behind a trusted proxy: %v", line)
		}
	})
}

func TestAccessLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e, logs := apptest.NewLogged(t, dbURL)
		send := func(req *http.Request, id string) map[string]any {
			t.Helper()
			return logs.Send(t, req, id)
		}

		// The token endpoint names the client it authenticated.
		req, _ := http.NewRequest("POST", e.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(testAdminID, testAdminSecret)
		line := send(req, "log-token")
		if line["client_id"] != testAdminID || line["workspace_id"] == nil || line["status"] != 200.0 || line["route"] != "/oauth/token" {
			t.Fatalf("token line: %v", line)
		}
		wsID := line["workspace_id"].(string)
		req, _ = http.NewRequest("POST", e.URL+"/oauth/introspect", strings.NewReader("token=not-a-token"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(testAdminID, testAdminSecret)
		if line := send(req, "log-introspect"); line["client_id"] != testAdminID || line["status"] != 200.0 {
			t.Fatalf("introspection line: %v", line)
		}

		// GraphQL: the caller, its workspace, the operation name, the peer, the duration in ms.
		admin := e.AdminToken()
		body, _ := json.Marshal(map[string]any{"query": `query WhoAmI { viewer { __typename } }`})
		req, _ = http.NewRequest("POST", e.URL+"/graphql/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		line = send(req, "log-graphql")
		if line["client_id"] != testAdminID || line["workspace_id"] != wsID || line["operation"] != "WhoAmI" ||
			line["remote_addr"] != "127.0.0.1" || line["method"] != "POST" || line["path"] != "/graphql/v1" {
			t.Fatalf("graphql line: %v", line)
		}
		if d, ok := line["duration_ms"].(float64); !ok || d <= 0 || d > 10_000 {
			t.Fatalf("duration_ms = %v (%T), want milliseconds as a number", line["duration_ms"], line["duration_ms"])
		}
		if _, ok := line["duration"]; ok {
			t.Fatalf("the old nanosecond duration field is still logged: %v", line)
		}
		if _, ok := line["trace_id"]; ok {
			t.Fatalf("a trace id is logged with tracing off: %v", line)
		}

		// Without trusted proxies, X-Forwarded-For is the client's word: the peer is logged.
		req, _ = http.NewRequest("GET", e.URL+"/healthz", nil)
		req.Header.Set("X-Forwarded-For", "198.51.100.7")
		if line := send(req, "log-forwarded"); line["remote_addr"] != "127.0.0.1" {
			t.Fatalf("untrusted X-Forwarded-For: %v", line)
		}

		// An unauthenticated request has no caller.
		req, _ = http.NewRequest("POST", e.URL+"/graphql/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		line = send(req, "log-anonymous")
		if _, ok := line["client_id"]; ok || line["status"] != 401.0 {
			t.Fatalf("unauthenticated line: %v", line)
		}

		// SCIM names the token as the caller.
		scimTok, scimID := e.SCIMToken(admin, allScopes("log"))
		req, _ = http.NewRequest("GET", e.URL+"/scim/v2/Users", nil)
		req.Header.Set("Authorization", "Bearer "+scimTok)
		line = send(req, "log-scim")
		if line["client_id"] != scimID || line["workspace_id"] != wsID || line["route"] != "GET /scim/v2/Users" {
			t.Fatalf("scim line: %v", line)
		}

		// A REST request refused for want of the admin scope names the client refused (as
		// GraphQL's FORBIDDEN and SCIM's 403 do): which script calls the admin API without it.
		cid, csec := e.CreateClient(admin, []string{"graphql"}, "")
		plain := e.Token(cid, csec)
		req, _ = http.NewRequest("GET", e.URL+"/api/v1/scim/statistics", nil)
		req.Header.Set("Authorization", "Bearer "+plain)
		line = send(req, "log-rest-forbidden")
		if line["client_id"] != cid || line["workspace_id"] != wsID || line["status"] != 403.0 {
			t.Fatalf("REST 403 line: %v", line)
		}

		// Nothing secret is ever logged.
		all := logs.String()
		for _, s := range []string{testAdminSecret, admin, scimTok, csec, plain} {
			if strings.Contains(all, s) {
				t.Fatalf("a secret is in the logs:\n%s", all)
			}
		}
	})
}

// TestMetricsSeriesBoundedUnderHostileTraffic: no label of /metrics takes its value from what
// a caller sends. Thousands of requests to random paths (unknown routes, ids in known routes,
// any method), random client ids and grant types at the token endpoint, and more GraphQL
// operation names than the cap add at most a few series per route, never one per request;
// and no series names anything the requests made up.
func TestMetricsSeriesBoundedUnderHostileTraffic(t *testing.T) {
	e := newTestEnv(t, "sqlite:"+t.TempDir()+"/cardinality.db")
	admin := e.AdminToken()
	series := func() (n int, text string) {
		resp, err := http.Get(e.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, resp.Body); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(b.String(), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				n++
			}
		}
		return n, b.String()
	}
	before, _ := series()
	const mark = "zq7" // in every made-up value, never in a real label
	prefixes := []string{"/", "/" + mark, "/scim/v2/Users/", "/scim/v2/Groups/", "/scim/v2/", "/api/v1/sso/connections/",
		"/api/v1/scim/tokens/", "/api/v1/", "/oauth/", "/sso/", "/sso/test-sign-in/", "/saml/metadata/", "/graphql/v1/", "/.well-known/"}
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"} // HEAD routes as GET
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const requests = 3000
	for i := range requests {
		req, _ := http.NewRequest(methods[i%len(methods)], e.URL+prefixes[i%len(prefixes)]+mark+strconv.Itoa(i)+"?code="+mark, nil)
		req.Header.Set("Authorization", "Bearer "+mark+strconv.Itoa(i))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range 50 {
		resp, err := http.PostForm(e.URL+"/oauth/token", url.Values{"grant_type": {mark + strconv.Itoa(i)},
			"client_id": {mark + strconv.Itoa(i)}, "client_secret": {mark}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for i := range telemetry.MaxOperationNames + 20 {
		e.MustGQL(admin, "query Op"+mark+strconv.Itoa(i)+" { viewer { __typename } }", nil)
	}
	after, text := series()
	t.Logf("series: %d before, %d after", before, after)
	// The GraphQL names up to the cap are the clients' to choose (two series each); the
	// rest is a handful of routes by status and their histograms.
	if grown := after - before; grown > 2*telemetry.MaxOperationNames+600 {
		t.Errorf("%d requests added %d series", requests+50+telemetry.MaxOperationNames+20, grown)
	}
	madeUp := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, mark) && !strings.Contains(line, `operation="Op`+mark) {
			if madeUp++; madeUp <= 5 {
				t.Errorf("a series names a made-up value: %s", line)
			}
		}
	}
	if n := strings.Count(text, `gatehouse_graphql_operations_total{operation="Op`+mark); n > 2*telemetry.MaxOperationNames {
		t.Errorf("%d GraphQL operation series, past the cap of %d names", n, telemetry.MaxOperationNames)
	}
}

// TestTokenMetricHasOnlyGrantsThatIssue: gatehouse_oauth_tokens_issued_total has a series for
// each grant the token endpoint has (client_credentials, authorization_code), at zero from
// the start, and none that can never move: Gatehouse issues no refresh tokens, so a
// refresh_token request is refused as unsupported_grant_type, counted like any other
// unsupported grant (gatehouse_http_requests_total, route /oauth/token, status 400) and
// never as a token issued; no "other" series stands at zero either.
func TestTokenMetricHasOnlyGrantsThatIssue(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		series := func(fams map[string]*dto.MetricFamily) map[string]float64 {
			got := map[string]float64{}
			for _, m := range fams["gatehouse_oauth_tokens_issued_total"].GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
			return got
		}
		before := scrape(t, e.URL+"/metrics")
		if got := series(before); len(got) != 2 || got["client_credentials"] != 0 || got["authorization_code"] != 0 {
			t.Fatalf("tokens issued at start: %v, want client_credentials and authorization_code at 0", got)
		}
		e.AdminToken()
		// A client library holding a refresh token (golang.org/x/oauth2) tries to use it.
		conf := oauth2.Config{ClientID: testAdminID, ClientSecret: testAdminSecret,
			Endpoint: oauth2.Endpoint{TokenURL: e.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
		_, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: "x"}).Token()
		var rerr *oauth2.RetrieveError
		if !errors.As(err, &rerr) || rerr.Response.StatusCode != 400 || rerr.ErrorCode != "unsupported_grant_type" {
			t.Fatalf("refresh: %v, want 400 unsupported_grant_type", err)
		}
		// Another grant Gatehouse does not have.
		resp, err := http.PostForm(e.URL+"/oauth/token", url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("grant_type=password: %d, want 400", resp.StatusCode)
		}
		after := scrape(t, e.URL+"/metrics")
		if got := series(after); len(got) != 2 || got["client_credentials"] != 1 || got["authorization_code"] != 0 {
			t.Fatalf("tokens issued: %v, want client_credentials 1, authorization_code 0, no other series", got)
		}
		refused := metricValue(after, "gatehouse_http_requests_total", "route=/oauth/token", "status=400") -
			max(metricValue(before, "gatehouse_http_requests_total", "route=/oauth/token", "status=400"), 0)
		if refused != 2 {
			t.Fatalf("gatehouse_http_requests_total{route=/oauth/token,status=400} rose by %v, want 2 (refresh_token and password)", refused)
		}
	})
}
