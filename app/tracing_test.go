package app_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"gatehouse/app/apptest"
	"gatehouse/store/storetest"
)

// otlpReceiver is an in-process OTLP/HTTP trace receiver (what a collector's otlp receiver
// does at /v1/traces): it keeps every span it is sent.
type otlpReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string // service.name of each resource received
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{}
	rcv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP receiver: %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, _ := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					rcv.service = append(rcv.service, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				rcv.spans = append(rcv.spans, ss.GetSpans()...)
			}
		}
		rcv.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(rcv.Close)
	return rcv
}

func (r *otlpReceiver) received() ([]*tracepb.Span, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...), append([]string(nil), r.service...)
}

func spanAttr(s *tracepb.Span, key string) (string, bool) {
	for _, a := range s.GetAttributes() {
		if a.GetKey() == key {
			return a.GetValue().GetStringValue(), true
		}
	}
	return "", false
}

func TestTracingExportsRequestAndDatabaseSpans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		rcv := newOTLPReceiver(t)
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
		e, logs := apptest.NewLogged(t, dbURL)
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

		spans, services := rcv.received()
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
			t.Fatalf("no server span in trace %s among %d spans: %s", traceID, len(spans), spanNames(spans))
		}
		if hex.EncodeToString(server.GetParentSpanId()) != callerSpan || server.GetName() != "POST /graphql/v1" {
			t.Fatalf("server span %q has parent %x, want the caller's %s", server.GetName(), server.GetParentSpanId(), callerSpan)
		}
		if route, _ := spanAttr(server, "http.route"); route != "/graphql/v1" {
			t.Errorf("server span http.route = %q", route)
		}
		var db []*tracepb.Span
		for _, s := range spans {
			if bytes.Equal(s.GetParentSpanId(), server.GetSpanId()) && s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT {
				db = append(db, s)
			}
		}
		if len(db) == 0 {
			t.Fatalf("no database span is a child of the request span: %s", spanNames(spans))
		}
		var sawQuery bool
		system := "sqlite"
		if strings.HasPrefix(dbURL, "postgres") {
			system = "postgresql"
		}
		for _, s := range db {
			if got, _ := spanAttr(s, "db.system.name"); got != system {
				t.Errorf("database span %s: db.system.name = %q, want %q", s.GetName(), got, system)
			}
			if q, ok := spanAttr(s, "db.query.text"); ok {
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
			t.Errorf("no database span is named after its statement: %s", spanNames(db))
		}
		if !sawQuery {
			t.Fatalf("no database span names its statement: %s", spanNames(db))
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

func spanNames(spans []*tracepb.Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "\n  %s kind=%v span=%x parent=%x", s.GetName(), s.GetKind(), s.GetSpanId(), s.GetParentSpanId())
	}
	return b.String()
}
