package app

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"gatehouse/guard"
	"gatehouse/provision"
	"gatehouse/telemetry/reqinfo"
)

// requestState is what observe keeps per request, in one allocation.
type requestState struct {
	statusRecorder
	info reqinfo.Record
}

// httpMetrics are the request counter and latency histogram of every route. The label handles
// of a route (and of a route and status) are resolved on its first request and kept: a
// lookup in the vectors hashes and compares the label values under a lock on every request,
// and formatting the status allocated.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	counters sync.Map // routeStatus → prometheus.Counter
	latencyO sync.Map // route → prometheus.Observer
}

type routeStatus struct {
	route  string
	status int
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_http_requests_total",
			Help: "HTTP requests by route and status."}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_http_request_duration_seconds",
			Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// observe counts one request of route (a mux pattern or "unmatched": a bounded set) answered
// with status after d.
func (m *httpMetrics) observe(route string, status int, d time.Duration) {
	key := routeStatus{route, status}
	c, ok := m.counters.Load(key)
	if !ok {
		c, _ = m.counters.LoadOrStore(key, m.requests.WithLabelValues(route, strconv.Itoa(status)))
	}
	c.(prometheus.Counter).Inc()
	o, ok := m.latencyO.Load(route)
	if !ok {
		o, _ = m.latencyO.LoadOrStore(route, m.latency.WithLabelValues(route))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// accessLog writes the access-log line of one request. Fields that don't apply (no caller, not
// GraphQL, tracing off) are left out. remote_addr is the client's address: the TCP peer, or
// behind a trusted proxy the address its X-Forwarded-For names (guard.Proxies).
func accessLog(log *slog.Logger, r *http.Request, proxies guard.Proxies, status int, d time.Duration, info *reqinfo.Record) {
	ctx := r.Context()
	if !log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 11)
	// request_id is added by the log handler from the context (guard.WithRequestID).
	attrs = append(attrs, slog.String("method", r.Method),
		slog.String("path", logPath(r)), slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote_addr", proxies.ClientAddress(r)))
	if r.Pattern != "" {
		attrs = append(attrs, slog.String("route", r.Pattern))
	}
	if info.ClientID != "" {
		attrs = append(attrs, slog.String("client_id", info.ClientID), slog.String("workspace_id", info.WorkspaceID.String()))
	}
	if info.Operation != "" {
		attrs = append(attrs, slog.String("operation", info.Operation))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	// The record is built here rather than by Logger.LogAttrs, which would also capture the
	// caller's program counter for a source position that this line never shows.
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, "http request", 0)
	rec.AddAttrs(attrs...)
	_ = log.Handler().Handle(ctx, rec)
}

// logPath is the request path as logged and traced: the path of a test sign-in's URL carries
// its token (a bearer credential until the test runs), so only the route's prefix is written.
// Any path with the route's last segment is redacted, not only one starting with the route:
// the mux cleans a path before routing it, so "//sso/test-sign-in/<token>" or one with a dot
// segment reaches the route too (answered with a redirect to the clean path), carrying the
// token as well; no other route has that segment.
func logPath(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, provision.TestSignInPath) || strings.Contains(r.URL.Path, testSignInSegment) {
		return provision.TestSignInPath + "[redacted]"
	}
	return r.URL.Path
}

// testSignInSegment is the last segment of provision.TestSignInPath, with its slashes.
var testSignInSegment = provision.TestSignInPath[strings.LastIndex(strings.TrimSuffix(provision.TestSignInPath, "/"), "/"):]

// ServeMetrics serves /metrics on its own listener (GATEHOUSE_METRICS_ADDR), so that the
// metrics can stay on an internal network while the main listener faces the internet. The
// start listens on it before it creates anything, so that a bad address fails it first.
func ServeMetrics(ln net.Listener, metrics http.Handler, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("metrics listener", "err", err)
		}
	}()
	log.Info("metrics listener", "addr", ln.Addr().String())
	return srv
}
