package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"gatehouse/guard"
)

// TestHandlerContinuesOnlyTrustedTraceContext: a caller's traceparent is the parent of the
// server span only when the request comes from a trusted proxy; from anyone else the span
// starts a new trace and links the caller's span. Spans are read from an in-memory recorder.
func TestHandlerContinuesOnlyTrustedTraceContext(t *testing.T) {
	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		name, proxies string
		continued     bool
	}{
		{"no trusted proxy", "", false},
		{"another proxy", "192.0.2.0/24", false},
		{"from a trusted proxy", "127.0.0.0/8,::1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tr := &Tracing{provider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), prop: propagators()}
			proxies, err := guard.ParseProxies(tc.proxies)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), proxies.FromProxy))
			t.Cleanup(srv.Close)
			req, _ := http.NewRequest("GET", srv.URL+"/scim/v2/Users", nil)
			req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			srv.Close() // the span ends after the answer is written
			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want the request's", len(spans))
			}
			s := spans[0]
			got, parent := s.SpanContext().TraceID().String(), s.Parent()
			if tc.continued {
				if got != traceID || parent.SpanID().String() != callerSpan || !parent.IsRemote() || len(s.Links()) != 0 {
					t.Fatalf("trace %s, parent %s, %d links: want the caller's trace and span as parent", got, parent.SpanID(), len(s.Links()))
				}
				return
			}
			if got == traceID || parent.IsValid() {
				t.Fatalf("trace %s, parent %s: an untrusted caller chose the trace", got, parent.SpanID())
			}
			if l := s.Links(); len(l) != 1 || l[0].SpanContext.TraceID().String() != traceID || l[0].SpanContext.SpanID().String() != callerSpan {
				t.Fatalf("links %v, want one to the caller's span", l)
			}
		})
	}
}
