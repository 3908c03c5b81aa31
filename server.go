// Command gatehouse is the identity provisioning gateway: one binary serving the OAuth token
// endpoint, the GraphQL API, and the operational endpoints over one service layer. This file is
// the only place that wires the pieces together; cli.go and cmd_*.go hold the command line.
//
//	gatehouse              run the server (migrates the database first); also `gatehouse serve`
//	gatehouse migrate      apply database migrations and exit
//	gatehouse clients      create, list, rotate and revoke integration clients on the database
//	gatehouse bind         bind accounts ahead of time from a CSV file, through the API
//	gatehouse healthcheck  exit 0 when the local server is ready (container health checks)
//	gatehouse version      print the version
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gatehouse/cache"
	"gatehouse/clock"
	"gatehouse/graphiql"
	"gatehouse/guard"
	"gatehouse/oauth"
	"gatehouse/provision"
	"gatehouse/resolvers"
	"gatehouse/rest"
	"gatehouse/scim"
	"gatehouse/secret"
	"gatehouse/sso"
	"gatehouse/store"
	"gatehouse/telemetry"
	"gatehouse/telemetry/reqinfo"
)

// defaultMemoryLimit is the soft heap limit when GOMEMLIMIT is not set.
const defaultMemoryLimit = 96 << 20

// config is read from the environment; the names are a contract (DESIGN.md).
type config struct {
	Addr                  string
	DatabaseURL           string
	PublicURL             string
	EncryptionKey         string
	BootstrapClientID     string
	BootstrapClientSecret string
	AllowPrivateNetworks  bool
	DNSServer             string
	LogLevel              slog.Level
	// DebugAddr, when set, serves net/http/pprof on its own listener (keep it on loopback).
	DebugAddr string
	// MetricsAddr, when set, serves /metrics on its own listener instead of the main one.
	MetricsAddr string

	// Set by tests only (no environment variable): outbound TLS roots, dial overrides and
	// the bound of a connection test or domain check (default 10 s).
	testRootCAs           *x509.CertPool
	testConnectTo         map[string]string
	testNetworkTimeout    time.Duration
	ScimActivityRetention time.Duration // GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS (default 90)

	// Runtime bounds (docs: README "Operating Gatehouse").
	Guard             guard.Config
	DatabaseWait      time.Duration // GATEHOUSE_DATABASE_WAIT
	ShutdownDrain     time.Duration // GATEHOUSE_SHUTDOWN_DRAIN
	BootstrapSecretTo string        // GATEHOUSE_BOOTSTRAP_SECRET_FILE
}

// writeTimeout is the HTTP server's write timeout; every request's deadline must end before it
// so that its answer is always written.
const writeTimeout = 60 * time.Second

func loadConfig(getenv func(string) string) (config, error) {
	// Defaults come from the settings table (config.go), the one place they are written.
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		s, ok := lookupSetting(name)
		if !ok {
			panic("config: " + name + " is missing from the settings table in config.go")
		}
		return s.Default
	}
	c := config{
		Addr:                  get("GATEHOUSE_ADDR"),
		DatabaseURL:           get("GATEHOUSE_DATABASE_URL"),
		PublicURL:             strings.TrimRight(get("GATEHOUSE_PUBLIC_URL"), "/"),
		EncryptionKey:         get("GATEHOUSE_ENCRYPTION_KEY"),
		BootstrapClientID:     get("GATEHOUSE_BOOTSTRAP_CLIENT_ID"),
		BootstrapClientSecret: get("GATEHOUSE_BOOTSTRAP_CLIENT_SECRET"),
		DNSServer:             get("GATEHOUSE_DNS_SERVER"),
		DebugAddr:             get("GATEHOUSE_DEBUG_ADDR"),
		MetricsAddr:           get("GATEHOUSE_METRICS_ADDR"),
	}
	var err error
	if c.AllowPrivateNetworks, err = strconv.ParseBool(get("GATEHOUSE_ALLOW_PRIVATE_NETWORKS")); err != nil {
		return c, fmt.Errorf("GATEHOUSE_ALLOW_PRIVATE_NETWORKS: %w", err)
	}
	days, err := strconv.Atoi(get("GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS"))
	if err != nil || days < 1 || days > 36500 { // larger would overflow a time.Duration
		return c, errors.New("GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS: want a whole number of days from 1 to 36500")
	}
	c.ScimActivityRetention = time.Duration(days) * 24 * time.Hour
	// Runtime bounds, one variable each (meanings in config.go; README "Operating Gatehouse" →
	// "Limits and timeouts").
	v := vars{get: get}
	c.Guard.RequestTimeout = v.duration("GATEHOUSE_REQUEST_TIMEOUT")
	c.Guard.MaxConcurrent = v.count("GATEHOUSE_MAX_CONCURRENT_REQUESTS")
	c.Guard.PriorityConcurrent = v.count("GATEHOUSE_RESERVED_CONCURRENT_REQUESTS")
	c.Guard.QueueTimeout = v.duration("GATEHOUSE_QUEUE_TIMEOUT")
	c.Guard.AuthFailures = v.rate("GATEHOUSE_RATE_LIMIT_AUTH_FAILURES")
	c.Guard.AuthFailuresPerAddress = v.rate("GATEHOUSE_RATE_LIMIT_AUTH_FAILURES_PER_ADDRESS")
	c.Guard.Tokens = v.rate("GATEHOUSE_RATE_LIMIT_TOKENS")
	c.Guard.SCIM = v.rate("GATEHOUSE_RATE_LIMIT_SCIM")
	c.Guard.GraphQL = v.rate("GATEHOUSE_RATE_LIMIT_GRAPHQL")
	c.DatabaseWait = v.duration("GATEHOUSE_DATABASE_WAIT")
	c.ShutdownDrain = v.duration("GATEHOUSE_SHUTDOWN_DRAIN")
	c.BootstrapSecretTo = get("GATEHOUSE_BOOTSTRAP_SECRET_FILE")
	if err := v.check(c); err != nil {
		return c, err
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("GATEHOUSE_LOG_LEVEL"))); err != nil {
		return c, fmt.Errorf("GATEHOUSE_LOG_LEVEL: %w", err)
	}
	if (c.BootstrapClientID == "") != (c.BootstrapClientSecret == "") {
		return c, errors.New("set both GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET, or neither")
	}
	return c, nil
}

// encryptionBox returns the at-rest encryption box. With SQLite and no configured key, a key
// is generated once and kept beside the database file (mode 0600); PostgreSQL requires one.
func encryptionBox(c config) (*secret.Box, error) {
	if c.EncryptionKey != "" {
		return secret.NewBox(c.EncryptionKey)
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") {
		return nil, errors.New("GATEHOUSE_ENCRYPTION_KEY is required with PostgreSQL (32 random bytes, standard base64: openssl rand -base64 32)")
	}
	path := strings.TrimPrefix(strings.TrimPrefix(c.DatabaseURL, "sqlite:"), "//") + ".key"
	if b, err := os.ReadFile(path); err == nil {
		return secret.NewBox(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read encryption key: %w", err)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	key := secret.NewKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create encryption key file: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(key + "\n"); err != nil {
		return nil, err
	}
	// Losing the key loses every secret encrypted with it: make it durable before use.
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := store.SyncDir(path); err != nil {
		return nil, err
	}
	return secret.NewBox(key)
}

// app is the assembled server.
type app struct {
	handler http.Handler
	store   *store.Store
	svc     *provision.Service
	guard   *guard.Guard
	// metrics serves /metrics; the main handler serves it too unless GATEHOUSE_METRICS_ADDR is set.
	metrics http.Handler
	tracing *telemetry.Tracing // nil: tracing is off
}

// newApp opens and migrates the database, bootstraps the first client (printing generated
// credentials to out), and builds the HTTP handler.
func newApp(ctx context.Context, c config, log *slog.Logger, out io.Writer) (*app, error) {
	log = slog.New(guard.NewLogHandler(log.Handler())) // request ids; repeated errors aggregated
	box, err := encryptionBox(c)
	if err != nil {
		return nil, err
	}
	tracing, err := telemetry.NewTracing(ctx, os.Getenv)
	if err != nil {
		return nil, err
	}
	clk, caches := clock.Real, cache.NewGroup() // the one clock; every cache, for metrics
	storeOpts := storeOptions(c, log)
	storeOpts.Clock, storeOpts.Caches = clk, caches
	if tracing != nil {
		storeOpts.TracerProvider = tracing.TracerProvider()
	}
	st, err := store.Open(ctx, c.DatabaseURL, storeOpts)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.NewMetrics(reg, st.DB())
	telemetry.RegisterCaches(reg, caches)
	remote := sso.New(sso.Options{AllowPrivateNetworks: c.AllowPrivateNetworks, DNSServer: c.DNSServer,
		RootCAs: c.testRootCAs, ConnectTo: c.testConnectTo, Clock: clk})
	svc := provision.New(st, box, provision.Options{Logger: log, AllowPrivateNetworks: c.AllowPrivateNetworks,
		Remote: remote, PublicURL: c.PublicURL, NetworkTimeout: c.testNetworkTimeout, Observer: metrics,
		Clock: clk, Caches: caches})
	boot, err := svc.Bootstrap(ctx, c.BootstrapClientID, c.BootstrapClientSecret)
	if err != nil {
		st.Close()
		return nil, err
	}
	if boot.Created {
		log.Info("bootstrap: created the default workspace and the platform admin client",
			"workspace_id", boot.WorkspaceID, "client_id", boot.ClientID)
		if boot.ClientSecret != "" {
			printBootstrap(out, c.PublicURL, boot.ClientID, boot.ClientSecret)
		}
	}
	oa, err := oauth.New(ctx, svc, c.PublicURL, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	oa.SetMetrics(metrics)

	mux := http.NewServeMux()
	oa.Register(mux)
	registerSignIn(mux, oa, svc, remote, log)
	gc := c.Guard
	gc.TokenFormBytes = oauth.MaxTokenRequestBytes
	g := guard.New(gc)
	api := resolvers.RequireAuth(oa.Authenticate, log, g.PerClient(resolvers.NewHandler(svc, log, metrics)))
	mux.Handle("POST /graphql/v1", api)
	mux.Handle("GET /graphql/v1", graphiql.Page("/graphql/v1", "/graphql/v1/assets/", "/oauth/token"))
	mux.Handle("GET /graphql/v1/assets/", graphiql.Assets("/graphql/v1/assets/"))
	rest.New(svc, oa.Authenticate, log).Register(mux)
	mux.Handle("GET /saml/metadata", sso.MetadataHandler(svc, log))
	scim.New(svc, c.PublicURL, log).SetMetrics(metrics).Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", readyz(st, g, log))
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if c.MetricsAddr == "" {
		mux.Handle("GET /metrics", metricsHandler)
	}
	var h http.Handler = observe(reg, log, g.Handler(mux))
	if tracing != nil {
		h = tracing.Handler(h)
	}
	return &app{handler: h, store: st, svc: svc, guard: g, metrics: metricsHandler, tracing: tracing}, nil
}

// pruneScimActivities deletes SCIM activity older than the retention and reconciles the SCIM
// statistics counters, at start and hourly.
func pruneScimActivities(ctx context.Context, svc *provision.Service, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := svc.ReconcileScimCounts(ctx); err != nil {
			log.Error("scim: reconcile counters", "err", err)
		}
		if n, err := svc.PruneScimActivities(ctx, retention); err != nil {
			log.Error("scim: prune activity", "err", err)
		} else if n > 0 {
			log.Info("scim: pruned activity", "rows", n, "retention_days", int(retention.Hours()/24))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func printBootstrap(out io.Writer, publicURL, id, sec string) {
	fmt.Fprintf(out, `
================================================================================
Gatehouse created the platform admin integration client. The secret is shown ONCE.

  client_id:     %s
  client_secret: %s

Get an access token:

  curl -s -u '%s:%s' -d grant_type=client_credentials %s/oauth/token

================================================================================
`, id, sec, id, sec, publicURL)
}

// observe adds request ids, access logs, panic recovery and Prometheus metrics to every route.
// The access log's caller and GraphQL operation are filled in by the inner handlers through
// the request's reqinfo.Record.
func observe(reg prometheus.Registerer, log *slog.Logger, next http.Handler) http.Handler {
	metrics := newHTTPMetrics(reg)
	var seq atomic.Uint64
	prefix := strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = prefix + "-" + strconv.FormatUint(seq.Add(1), 36)
		}
		w.Header().Set("X-Request-Id", id)
		// One allocation for the status recorder and the access-log record. The record only
		// feeds the access log. Every log line of the request names its id (guard's handler).
		st := &requestState{statusRecorder: statusRecorder{ResponseWriter: w, status: http.StatusOK}}
		rec := &st.statusRecorder
		ctx := guard.WithRequestID(r.Context(), id)
		if log.Enabled(ctx, slog.LevelInfo) {
			ctx = reqinfo.With(ctx, &st.info)
		}
		inner := r.WithContext(ctx)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(inner.Context(), "http: panic", "panic", fmt.Sprint(v))
				if !rec.wrote {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
				rec.status = http.StatusInternalServerError
			}
			// The mux set the route on the request it was given; outer middleware (the
			// tracing span's name) reads it from this one.
			r.Pattern = inner.Pattern
			telemetry.SetRoute(r.Context(), r.Pattern)
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			metrics.observe(route, rec.status, d)
			accessLog(log, inner, rec.status, d, &st.info)
		}()
		next.ServeHTTP(rec, inner)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// runServer runs the server until ctx is cancelled (SIGINT/SIGTERM), then drains and shuts down
// (serve, runtime.go). The `gatehouse` and `gatehouse serve` commands call it (cli.go).
func runServer(ctx context.Context, c config, log *slog.Logger) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft heap limit: the GC works harder near it instead of letting bursts of bulk
		// requests double the heap. GOMEMLIMIT (Go's own variable) overrides it.
		debug.SetMemoryLimit(defaultMemoryLimit)
		if os.Getenv("GOGC") == "" {
			// The live heap is small (tens of MB), so with the limit as a backstop the GC can
			// run half as often as by default.
			debug.SetGCPercent(200)
		}
	}
	// Bind first: with the port taken, fail before creating or printing anything.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	out := bootstrapOutput(c.BootstrapSecretTo, log)
	if f, ok := out.(*secretFile); ok {
		defer f.Close()
	}
	a, err := newApp(ctx, c, log, out)
	if err != nil {
		return err
	}
	defer a.close()
	if c.MetricsAddr != "" {
		msrv, _, err := serveMetrics(c.MetricsAddr, a.metrics, log)
		if err != nil {
			return fmt.Errorf("GATEHOUSE_METRICS_ADDR: %w", err)
		}
		defer msrv.Close()
	}
	go pruneScimActivities(ctx, a.svc, c.ScimActivityRetention, log)
	go pruneSignInState(ctx, a.svc, log)
	srv := &http.Server{
		Addr:              c.Addr,
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if c.DebugAddr != "" {
		dbg := http.NewServeMux()
		dbg.HandleFunc("/debug/pprof/", pprof.Index)
		dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dbg.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() {
			log.Info("debug listener", "addr", c.DebugAddr)
			if err := http.ListenAndServe(c.DebugAddr, dbg); err != nil {
				log.Error("debug listener", "err", err)
			}
		}()
	}
	log.Info("listening", "addr", ln.Addr().String(), "public_url", c.PublicURL, "database", store.Describe(c.DatabaseURL))
	return serve(ctx, ln, srv, a.guard, c.ShutdownDrain, log)
}
