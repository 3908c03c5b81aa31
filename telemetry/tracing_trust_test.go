package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/baggage"
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
			s := tracedRequest(t, tc.proxies, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
				map[string]string{"traceparent": "00-" + traceID + "-" + callerSpan + "-01"})
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

// TestHandlerTakesNoBaggage: a caller's W3C baggage never reaches the request's context, from
// a trusted proxy or anyone else (otelhttp extracts it with the trace context, before asking
// whether the caller is trusted), so nothing that reads the context, an outbound propagation to
// an identity provider above all, could take a caller's entries for the operator's. The
// server span is still named after the route, and the trace context judged as before.
func TestHandlerTakesNoBaggage(t *testing.T) {
	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		name, proxies string
		trusted       bool
	}{
		{"no trusted proxy", "", false},
		{"another proxy", "192.0.2.0/24", false},
		{"from a trusted proxy", "127.0.0.0/8,::1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got baggage.Baggage
			mux := http.NewServeMux()
			mux.HandleFunc("GET /scim/v2/Users", func(w http.ResponseWriter, r *http.Request) { got = baggage.FromContext(r.Context()) })
			s := tracedRequest(t, tc.proxies, mux, map[string]string{"traceparent": "00-" + traceID + "-" + callerSpan + "-01",
				"baggage": "tenant=acme,user.id=mallory;p=1"})
			if got.Len() != 0 {
				t.Fatalf("a caller's baggage reached the request's context: %q", got.String())
			}
			if s.Name() != "GET /scim/v2/Users" {
				t.Fatalf("span %q, want it named after the route", s.Name())
			}
			if continued := s.SpanContext().TraceID().String() == traceID; continued != tc.trusted {
				t.Fatalf("trace %s continued: %v", s.SpanContext().TraceID(), continued)
			}
		})
	}
}

// tracedRequest serves a GET /scim/v2/Users with headers through Handler over h, from
// loopback to a server trusting proxies, and returns the request's server span.
func tracedRequest(t *testing.T, proxies string, h http.Handler, headers map[string]string) sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tr := &Tracing{provider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), prop: propagators()}
	trusted, err := guard.ParseProxies(proxies)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tr.Handler(h, trusted.FromProxy))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("GET", srv.URL+"/scim/v2/Users", nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
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
	return spans[0]
}
