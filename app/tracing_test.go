package app_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/guard"
	"gatehouse/store/storetest"
)

func TestTracingExportsRequestAndDatabaseSpans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		rcv := apptest.NewOTLPReceiver(t)
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
		// The caller is a trusted proxy: only its trace context is continued.
		e, logs := apptest.NewLogged(t, dbURL, func(c *app.Config) { c.Guard.TrustedProxies, _ = guard.ParseProxies("127.0.0.0/8,::1") })
		if e.App.Tracing() == nil {
			t.Fatal("OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing is off")
		}
		t.Cleanup(func() { e.App.Tracing().Shutdown(context.Background()) })
		admin := e.AdminToken()

		// The caller propagates its trace (W3C traceparent); the server continues it.
		const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		body, _ := json.Marshal(map[string]any{"query": `query Users { userAccounts(first: 5) { totalCount } }`})
		req, _ := http.NewRequest("POST", e.URL+"/graphql/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
		line := logs.Send(t, req, "traced")
		if line["status"] != 200.0 || line["operation"] != "Users" {
			t.Fatalf("graphql: %v", line)
		}
		// The access log leads to the trace.
		if line["trace_id"] != traceID {
			t.Fatalf("access log trace_id = %v, want %s", line["trace_id"], traceID)
		}
		// Probes are not traced.
		if resp, err := http.Get(e.URL + "/healthz"); err == nil {
			resp.Body.Close()
		}
		if err := e.App.Tracing().Flush(context.Background()); err != nil {
			t.Fatalf("flush: %v", err)
		}

		spans, services := rcv.Received()
		var server *tracepb.Span
		for _, s := range spans {
			if len(s.GetParentSpanId()) == 0 && s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT {
				t.Errorf("a database call outside any request was traced: %s", s.GetName())
			}
			if strings.Contains(s.GetName(), "healthz") {
				t.Errorf("a probe was traced: %s", s.GetName())
			}
			if hex.EncodeToString(s.GetTraceId()) == traceID && s.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
				server = s
			}
		}
		if server == nil {
			t.Fatalf("no server span in trace %s among %d spans: %s", traceID, len(spans), apptest.SpanNames(spans))
		}
		if hex.EncodeToString(server.GetParentSpanId()) != callerSpan || server.GetName() != "POST /graphql/v1" {
			t.Fatalf("server span %q has parent %x, want the caller's %s", server.GetName(), server.GetParentSpanId(), callerSpan)
		}
		if route, _ := apptest.SpanAttr(server, "http.route"); route != "/graphql/v1" {
			t.Errorf("server span http.route = %q", route)
		}
		var db []*tracepb.Span
		for _, s := range spans {
			if bytes.Equal(s.GetParentSpanId(), server.GetSpanId()) && s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT {
				db = append(db, s)
			}
		}
		if len(db) == 0 {
			t.Fatalf("no database span is a child of the request span: %s", apptest.SpanNames(spans))
		}
		var sawQuery bool
		system := "sqlite"
		if strings.HasPrefix(dbURL, "postgres") {
			system = "postgresql"
		}
		for _, s := range db {
			if got, _ := apptest.SpanAttr(s, "db.system.name"); got != system {
				t.Errorf("database span %s: db.system.name = %q, want %q", s.GetName(), got, system)
			}
			if q, ok := apptest.SpanAttr(s, "db.query.text"); ok {
				sawQuery = true
				if strings.Contains(q, admin) || strings.Contains(q, testAdminSecret) {
					t.Fatalf("a database span carries a secret: %q", q)
				}
			}
			for _, a := range s.GetAttributes() {
				if strings.HasPrefix(a.GetKey(), "db.query.parameter") {
					t.Fatalf("a database span records query arguments: %v", a)
				}
			}
		}
		var sawSelect bool
		for _, s := range db {
			sawSelect = sawSelect || s.GetName() == "SELECT"
		}
		if !sawSelect {
			t.Errorf("no database span is named after its statement: %s", apptest.SpanNames(db))
		}
		if !sawQuery {
			t.Fatalf("no database span names its statement: %s", apptest.SpanNames(db))
		}
		if len(services) == 0 || services[0] != "gatehouse" {
			t.Fatalf("service.name = %v, want gatehouse", services)
		}
	})
}

func TestTracingOffByDefault(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	e := newTestEnv(t, "sqlite:"+t.TempDir()+"/off.db")
	if e.App.Tracing() != nil {
		t.Fatal("tracing is on without an OTLP endpoint")
	}
	// No wrapping at all: the pool talks to the driver directly.
	if d := fmt.Sprintf("%T", e.App.Store().DB().Driver()); strings.Contains(d, "otelsql") {
		t.Fatalf("the database driver is wrapped (%s) with tracing off", d)
	}
	if _, ok := e.App.Handler().(http.HandlerFunc); !ok {
		t.Fatalf("the handler is wrapped (%T) with tracing off", e.App.Handler())
	}
}

// TestTracingRedactsTheTestSignInToken: a test sign-in's URL carries its token, which the
// access log writes as [redacted]; the request's span (url.path, which otelhttp records as
// received) does the same.
func TestTracingRedactsTheTestSignInToken(t *testing.T) {
	rcv := apptest.NewOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	e := newTestEnv(t, "sqlite:"+t.TempDir()+"/traced.db")
	t.Cleanup(func() { e.App.Tracing().Shutdown(context.Background()) })
	const token = "tok-s3cr3ts3cr3ts3cr3t"
	// The URL as given, and as a path the server's mux cleans and redirects to the first
	// (a doubled slash, a dot segment: what a pasted or hand-edited URL may hold).
	for _, p := range []string{"/sso/test-sign-in/" + token, "//sso/test-sign-in/" + token, "/sso/./test-sign-in/" + token,
		"/sso/test-sign-in/" + token + "/.."} {
		resp, err := http.Get(e.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, s := range serverSpans(t, e.App, rcv) {
		// (The redirect that "<url>/.." gets leads to /sso/test-sign-in, no route's, no token.)
		if path, _ := apptest.SpanAttr(s, "url.path"); path != "/sso/test-sign-in/[redacted]" && path != "/sso/test-sign-in" {
			t.Errorf("server span %s: url.path %q", s.GetName(), path)
		}
		for _, a := range s.GetAttributes() {
			if strings.Contains(a.String(), token) {
				t.Errorf("server span %s carries the token: %v", s.GetName(), a)
			}
		}
	}
}

// TestTracingExportFailureIsLogged: a collector that refuses the spans (a wrong API key) or
// cannot be reached is a WARN line of the JSON log, which an operator reads; the OpenTelemetry
// SDK alone prints it as plain text on standard error.
func TestTracingExportFailureIsLogged(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unknown API key", http.StatusUnauthorized)
	}))
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // milliseconds: export soon
	e, logs := apptest.NewLogged(t, "sqlite:"+t.TempDir()+"/refused.db")
	t.Cleanup(func() { e.App.Tracing().Shutdown(context.Background()) })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(e.URL + "/.well-known/jwks.json"); err == nil {
			resp.Body.Close()
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "tracing: spans not exported" {
				if l["level"] != "WARN" || !strings.Contains(fmt.Sprint(l["err"]), "401") {
					t.Fatalf("export failure logged as %s", line)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line of the refused export:\n%s", logs.String())
		}
	}
}

// TestTracingClientAddressIsTheAccessLogs: the server span's client.address is the client the
// access log names: the TCP peer, whatever X-Forwarded-For a caller sends, and behind a
// trusted proxy the address the header names (the nearest untrusted one). otelhttp's own
// choice, the header's first entry, is anything a caller writes.
func TestTracingClientAddressIsTheAccessLogs(t *testing.T) {
	for _, tc := range []struct {
		name, trusted, want string
	}{
		{"no trusted proxy", "", "127.0.0.1"},
		{"behind a trusted proxy", "127.0.0.0/8", "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := apptest.NewOTLPReceiver(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
			e, logs := apptest.NewLogged(t, "sqlite:"+t.TempDir()+"/peer.db", func(c *app.Config) {
				if tc.trusted != "" {
					c.Guard.TrustedProxies, _ = guard.ParseProxies(tc.trusted)
				}
			})
			t.Cleanup(func() { e.App.Tracing().Shutdown(context.Background()) })
			req, _ := http.NewRequest("GET", e.URL+"/.well-known/jwks.json", nil)
			req.Header.Set("X-Forwarded-For", "forged <b>admin</b>, 203.0.113.5, 198.51.100.7")
			if line := logs.Send(t, req, "peer"); line["remote_addr"] != tc.want {
				t.Fatalf("access log remote_addr %v, want %s", line["remote_addr"], tc.want)
			}
			for _, s := range serverSpans(t, e.App, rcv) {
				if got, _ := apptest.SpanAttr(s, "client.address"); got != tc.want {
					t.Errorf("server span %s: client.address %q, want %q (the access log's)", s.GetName(), got, tc.want)
				}
			}
		})
	}
}

// TestTracingTrustsTraceContextOnlyFromProxies: an incoming traceparent is the parent of the
// request's span only when the request comes from a trusted proxy (GATEHOUSE_TRUSTED_PROXIES).
// From anyone else the span starts its own trace, linked to the caller's span, and the
// sampler decides for it: a caller's sampled flag cannot force a trace to be recorded and
// exported (here under parentbased_always_off, which samples only what a parent sampled).
func TestTracingTrustsTraceContextOnlyFromProxies(t *testing.T) {
	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		name, trusted, sampler string
		continued, exported    bool
	}{
		{"untrusted caller", "", "", false, true},
		{"untrusted caller, parent-based sampler", "", "parentbased_always_off", false, false},
		{"behind a trusted proxy", "127.0.0.0/8,::1", "", true, true},
		{"behind a trusted proxy, parent-based sampler", "127.0.0.0/8,::1", "parentbased_always_off", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := apptest.NewOTLPReceiver(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
			t.Setenv("OTEL_TRACES_SAMPLER", tc.sampler)
			e, logs := apptest.NewLogged(t, "sqlite:"+t.TempDir()+"/trust.db", func(c *app.Config) {
				c.Guard.TrustedProxies, _ = guard.ParseProxies(tc.trusted)
			})
			t.Cleanup(func() { e.App.Tracing().Shutdown(context.Background()) })
			req, _ := http.NewRequest("GET", e.URL+"/.well-known/jwks.json", nil)
			req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
			line := logs.Send(t, req, "traced")
			if err := e.App.Tracing().Flush(context.Background()); err != nil {
				t.Fatalf("flush: %v", err)
			}
			var server []*tracepb.Span
			spans, _ := rcv.Received()
			for _, s := range spans {
				if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
					server = append(server, s)
				}
			}
			if !tc.exported {
				if len(server) != 0 || line["trace_id"] == traceID {
					t.Fatalf("an untrusted caller's sampled flag had its request traced: %s, access log trace_id %v", apptest.SpanNames(server), line["trace_id"])
				}
				return
			}
			if len(server) != 1 {
				t.Fatalf("server spans: %s", apptest.SpanNames(server))
			}
			s := server[0]
			got, parent := hex.EncodeToString(s.GetTraceId()), hex.EncodeToString(s.GetParentSpanId())
			if line["trace_id"] != got {
				t.Errorf("access log trace_id %v, span's %s", line["trace_id"], got)
			}
			if tc.continued {
				if got != traceID || parent != callerSpan || len(s.GetLinks()) != 0 {
					t.Fatalf("trace %s parent %q links %v: want the proxy's trace continued", got, parent, s.GetLinks())
				}
				return
			}
			if got == traceID || parent != "" {
				t.Fatalf("trace %s parent %q: an untrusted caller chose the trace", got, parent)
			}
			if l := s.GetLinks(); len(l) != 1 || hex.EncodeToString(l[0].GetTraceId()) != traceID || hex.EncodeToString(l[0].GetSpanId()) != callerSpan {
				t.Fatalf("links %v, want one to the caller's span", l)
			}
		})
	}
}

// serverSpans flushes a's spans and returns the server spans rcv received (at least one).
func serverSpans(t *testing.T, a *app.App, rcv *apptest.OTLPReceiver) []*tracepb.Span {
	t.Helper()
	if err := a.Tracing().Flush(context.Background()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	spans, _ := rcv.Received()
	var server []*tracepb.Span
	for _, s := range spans {
		if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
			server = append(server, s)
		}
	}
	if len(server) == 0 {
		t.Fatalf("no server span: %s", apptest.SpanNames(spans))
	}
	return server
}
