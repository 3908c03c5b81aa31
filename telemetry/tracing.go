package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the default service.name of Gatehouse's spans (OTEL_SERVICE_NAME overrides it).
const ServiceName = "gatehouse"

// Tracing is OpenTelemetry tracing, exporting spans over OTLP.
type Tracing struct {
	provider *sdktrace.TracerProvider
	prop     propagation.TextMapPropagator
}

// NewTracing configures tracing from the standard OpenTelemetry environment. It returns nil,
// and tracing costs nothing, unless OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and neither OTEL_SDK_DISABLED=true nor
// OTEL_TRACES_EXPORTER=none says otherwise). The protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
// or OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf (the default) or grpc. The exporters read the
// other OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression, certificates), the SDK
// reads OTEL_TRACES_SAMPLER, OTEL_BSP_* and the span limits, and the resource reads
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
func NewTracing(ctx context.Context, getenv func(string) string) (*Tracing, error) {
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	if env("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, nil
	}
	if off, _ := strconv.ParseBool(env("OTEL_SDK_DISABLED")); off || env("OTEL_TRACES_EXPORTER") == "none" {
		return nil, nil
	}
	if err := checkExporterEnv(env); err != nil {
		return nil, err
	}
	protocol := env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = env("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported (want http/protobuf or grpc)", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	// Later detectors win: the environment overrides the default service name.
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(ServiceName)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return &Tracing{
		provider: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)),
		prop:     propagators(),
	}, nil
}

// propagators read a request's trace context: W3C traceparent (and tracestate) only. W3C
// baggage is not read, from anyone: otelhttp extracts what the propagators read before it asks
// whether the caller is trusted (Handler), so a Baggage propagator would put up to 8 KB of
// entries any caller on the Internet chose into every request's context, for a later reader
// (an outbound request's propagation, to a customer's identity provider; a log or span
// attribute) to take as the operator's own. Nothing in Gatehouse uses baggage, so it is not
// taken even from a trusted proxy, which keeps the rule one line.
func propagators() propagation.TextMapPropagator {
	return propagation.TraceContext{}
}

// checkExporterEnv refuses OTLP headers and endpoints the exporter could not read. The
// exporter would skip such a value, logging it whole on standard error (outside the JSON log)
// and export without it: a header written "Authorization: Bearer <key>" (a colon for the
// "="), or a value with a "%" not followed by two hex digits, put the API key in the log, and
// every export was then refused. The errors name the variable and the entry, never its text.
func checkExporterEnv(env func(string) string) error {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		for i, entry := range strings.Split(env(name), ",") {
			if strings.TrimSpace(entry) == "" {
				continue // "a=1," or an unset variable: nothing to send, nothing lost
			}
			key, value, ok := strings.Cut(entry, "=")
			switch _, err := url.PathUnescape(value); {
			case !ok:
				return fmt.Errorf("%s: entry %d is not name=value (headers are written name=value,name=value)", name, i+1)
			case !headerName(strings.TrimSpace(key)):
				return fmt.Errorf("%s: entry %d: the name before \"=\" is not an HTTP header name", name, i+1)
			case err != nil:
				return fmt.Errorf("%s: entry %d (%s): the value is not URL-encoded (write a %% as %%25)", name, i+1, strings.TrimSpace(key))
			}
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if v := env(name); v != "" {
			if _, err := url.Parse(v); err != nil {
				return fmt.Errorf("%s: not a URL (want one such as http://otel-collector:4318)", name)
			}
		}
	}
	return nil
}

// headerName reports whether s is an HTTP header name (RFC 9110 token), as the exporter
// requires.
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return true
}

// TracerProvider is the provider spans are created with (for the store's database spans).
func (t *Tracing) TracerProvider() *sdktrace.TracerProvider { return t.provider }

// Handler wraps h with a server span per request (otelhttp). The span is named after the
// matched route once known. A trace the caller propagated with W3C traceparent is continued
// only when trusted says the request comes from a peer Gatehouse believes (a trusted proxy,
// guard.Proxies.FromProxy). Any other caller's trace context starts a new trace, with the
// caller's span as a link: otherwise anyone on the Internet would choose the trace ids of
// Gatehouse's spans (polluting or correlating traces) and, under a parent-based sampler, force
// every request of theirs to be sampled and exported at the operator's cost.
// Probes and scrapes (/healthz, /readyz, /metrics) are not traced: they would be most spans.
func (t *Tracing) Handler(h http.Handler, trusted func(*http.Request) bool) http.Handler {
	return otelhttp.NewHandler(h, "gatehouse", otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(t.prop),
		otelhttp.WithPublicEndpointFn(func(r *http.Request) bool { return !trusted(r) }),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}))
}

// LogTo sends OpenTelemetry's own errors (an export that failed: the collector unreachable,
// or refusing the credentials) to log at WARN, and its error messages at ERROR: JSON lines
// with the rest of the log, folded when repeated. Without it the SDK writes them as plain text
// on standard error, outside the log an operator reads. The SDK's handlers are process-wide:
// the Tracing last told logs.
func (t *Tracing) LogTo(log *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: spans not exported", "err", err)
	}))
	otel.SetLogger(logr.FromSlogHandler(log.Handler()))
}

// Flush exports the spans ended so far.
func (t *Tracing) Flush(ctx context.Context) error { return t.provider.ForceFlush(ctx) }

// Shutdown flushes and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

// SetRoute sets http.route on the request's server span from the matched ServeMux pattern
// ("METHOD /path" or "/path"). The route is only known after routing, when otelhttp has
// already started the span (it renames the span itself from the request's Pattern). Without a
// recording span it does nothing.
func SetRoute(ctx context.Context, pattern string) {
	span := trace.SpanFromContext(ctx)
	if pattern == "" || !span.IsRecording() {
		return
	}
	route := pattern
	if _, path, ok := strings.Cut(pattern, " "); ok {
		route = path
	}
	span.SetAttributes(semconv.HTTPRoute(route))
}

// RedactPath sets the request's server span url.path to path: otelhttp records the path as
// received, and some paths carry a secret (a test sign-in's URL, its token), which a trace
// backend must not keep when the access log does not. Without a recording span it does
// nothing.
func RedactPath(ctx context.Context, path string) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(semconv.URLPath(path)) // the last value of a key wins
	}
}

// SetClientAddress sets the request's server span client.address to what addr returns: the
// client as the access log names it (guard.Proxies.ClientAddress). otelhttp takes the first
// entry of X-Forwarded-For, which any caller writes: a span named whatever address, or text,
// the request claimed. Without a recording span it does nothing (addr is not called).
func SetClientAddress(ctx context.Context, addr func() string) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(semconv.ClientAddress(addr())) // the last value of a key wins
	}
}
