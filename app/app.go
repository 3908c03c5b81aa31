// Package app builds the whole Gatehouse server from a Config: it opens and migrates the store,
// bootstraps the first client, creates the service layer and mounts every transport (OAuth,
// GraphQL, REST, SCIM, browser sign-in, operations) behind one http.Handler. It is the only
// place that wires the pieces together. It does not read the environment, listen, or handle
// signals: the gatehouse command (package main) does, and tests start an App directly
// (app/apptest).
package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gatehouse/cache"
	"gatehouse/clock"
	"gatehouse/graphiql"
	"gatehouse/guard"
	"gatehouse/models"
	"gatehouse/netguard"
	"gatehouse/oauth"
	"gatehouse/provision"
	"gatehouse/resolvers"
	"gatehouse/rest"
	"gatehouse/route"
	"gatehouse/scim"
	"gatehouse/secret"
	"gatehouse/sso"
	"gatehouse/store"
	"gatehouse/telemetry"
	"gatehouse/telemetry/reqinfo"
)

// Config is everything New and the server around it need. The gatehouse command fills it from
// the environment (the names are a contract, DESIGN.md); tests fill it directly.
type Config struct {
	Addr        string
	DatabaseURL string
	PublicURL   string
	// PublicURLUnset is whether GATEHOUSE_PUBLIC_URL was left to its default, which the
	// bootstrap banner's curl and the start-up warning compare with the listen address.
	PublicURLUnset bool
	EncryptionKey  string
	// PreviousEncryptionKeys decrypt what EncryptionKey's predecessors encrypted, during a
	// rotation (GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS).
	PreviousEncryptionKeys []string
	BootstrapClientID      string
	BootstrapClientSecret  string
	AllowPrivateNetworks   bool
	// AllowedPrivateNetworks are the private networks outbound calls may reach while
	// AllowPrivateNetworks is false (GATEHOUSE_ALLOWED_PRIVATE_NETWORKS).
	AllowedPrivateNetworks netguard.Networks
	DNSServer              string
	LogLevel               slog.Level
	// DebugAddr, when set, serves net/http/pprof on its own listener (keep it on loopback).
	DebugAddr string
	// MetricsAddr, when set, serves /metrics on its own listener instead of the main one.
	MetricsAddr string

	// Set by tests only (no environment variable): outbound TLS roots, dial overrides and
	// the bound of a connection test or domain check (default 10 s).
	TestRootCAs        *x509.CertPool
	TestConnectTo      map[string]string
	TestNetworkTimeout time.Duration
	// TestClock, set by tests only, is the one clock (default the real one): a frozen clock
	// keeps every cache's entries, so that what a request reads does not depend on timing.
	TestClock             clock.Clock
	SCIMActivityRetention time.Duration // GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS (default 90)
	SignInEventRetention  time.Duration // GATEHOUSE_SIGN_IN_EVENT_RETENTION_DAYS (default 90)

	// Runtime bounds (docs: README "Operating Gatehouse").
	Guard             guard.Config
	DatabaseWait      time.Duration // GATEHOUSE_DATABASE_WAIT
	ShutdownDrain     time.Duration // GATEHOUSE_SHUTDOWN_DRAIN
	BootstrapSecretTo string        // GATEHOUSE_BOOTSTRAP_SECRET_FILE
}

// configuredBox returns the at-rest encryption box of GATEHOUSE_ENCRYPTION_KEY (the previous
// keys of a rotation open what they sealed), or nil when a SQLite database keeps its key in a
// file beside it. PostgreSQL requires the key. It creates nothing.
func configuredBox(c Config) (*secret.Box, error) {
	if c.EncryptionKey != "" {
		return secret.NewBox(c.EncryptionKey, c.PreviousEncryptionKeys...)
	}
	if _, ok := store.SQLitePath(c.DatabaseURL); !ok {
		return nil, errors.New("GATEHOUSE_ENCRYPTION_KEY is required with PostgreSQL (32 random bytes, standard base64: openssl rand -base64 32)")
	}
	return nil, nil
}

// sqliteKeyBox returns the box of the key kept beside a SQLite database (mode 0600), generated
// once, as the first thing a new database's start writes.
func sqliteKeyBox(ctx context.Context, c Config) (*secret.Box, error) {
	db, _ := store.SQLitePath(c.DatabaseURL)
	path := db + ".key"
	if b, err := os.ReadFile(path); err == nil {
		return keyFileBox(path, b, c.PreviousEncryptionKeys)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read encryption key: %w", err)
	}
	// A database holding secrets with no key file beside it was moved or restored without
	// it: a new key would open none of them (the start would fail at the signing keys), and
	// would stand in the way of the right one. One that holds none (new, or only migrated by
	// gatehouse migrate) gets its key now.
	if fi, err := os.Stat(db); err == nil && fi.Size() > 0 {
		if sealed, err := holdsSecrets(ctx, c.DatabaseURL); err != nil {
			return nil, err
		} else if b, err := os.ReadFile(path); sealed && err == nil {
			// Another process starting on the same new database made the key file after the
			// read above, then sealed its first values with it (it writes the file first).
			return keyFileBox(path, b, c.PreviousEncryptionKeys)
		} else if sealed {
			return nil, fmt.Errorf("the SQLite database %s has no key file beside it (%s): put back the key file that came with "+
				"the database (a backup is both: docs/administration.md#backups), or set GATEHOUSE_ENCRYPTION_KEY to its key", db, path)
		}
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	key := secret.NewKey()
	switch err := createKeyFile(path, key); {
	case errors.Is(err, os.ErrExist): // another process starting on the same database made one first
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read encryption key: %w", err)
		}
		return keyFileBox(path, b, c.PreviousEncryptionKeys)
	case err != nil:
		return nil, fmt.Errorf("create encryption key file %s: %w", path, err)
	}
	box, err := secret.NewBox(key, c.PreviousEncryptionKeys...)
	if err != nil {
		return nil, err
	}
	return box.FromKeyFile(path), nil
}

// holdsSecrets reports whether the database at url holds sealed values, reading only: a start
// refused for the missing key file changes nothing, not even the schema (a database migrated
// by a newer release would no longer start with the one it came from). A database the
// migrations would refuse (not Gatehouse's, migrated by a later release) is refused first, as
// they would, before a key file is made for it.
func holdsSecrets(ctx context.Context, url string) (bool, error) {
	st, err := store.Open(ctx, url)
	if err != nil {
		return false, err
	}
	defer st.Close()
	if err := st.Migratable(ctx); err != nil {
		return false, err
	}
	return st.HasSealedValues(ctx)
}

// checkKey refuses, reading only, an encryption key that opens none of the database's signing
// keys (not the database's key, or key file), with the message the start gave at the signing
// keys: found there, after the migrations, it left a database of an older schema migrated by a
// start that did not run, which the release it came from then refused. A database the
// migrations would refuse is refused first, as they would; a new one has nothing to check.
func checkKey(ctx context.Context, st *store.Store, box *secret.Box) error {
	if err := st.Migratable(ctx); err != nil {
		return err
	}
	sealed, err := st.SealedSigningKey(ctx)
	if err != nil || sealed == nil {
		return err
	}
	_, err = provision.OpenSigningKey(box, sealed)
	return err
}

func keyFileBox(path string, b []byte, previous []string) (*secret.Box, error) {
	box, err := secret.NewBox(string(b), previous...)
	if err != nil {
		return nil, fmt.Errorf("encryption key file %s: %w", path, err)
	}
	return box.FromKeyFile(path), nil
}

// createKeyFile writes key to path, 0600, all or nothing: the key is written and synced in a
// temporary file beside it, then linked to path, which must not exist. A start on a full disk
// used to leave an empty key file that every later start refused. Losing the key loses every
// secret encrypted with it: it is durable before it is used.
func createKeyFile(path, key string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*") // 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := writeSynced(f, key); err != nil {
		return err
	}
	switch err := linkFile(f.Name(), path); {
	case errors.Is(err, os.ErrExist):
		return err
	case err != nil:
		// A file system without hard links (SMB, some FUSE mounts): the file is created in
		// place, and removed again when it could not be written whole.
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return err
		}
		if err := writeSynced(f, key); err != nil {
			os.Remove(path)
			return err
		}
	}
	return store.SyncDir(path)
}

// linkFile is os.Link; a test stands in a file system without hard links.
var linkFile = os.Link

// writeSynced writes the key to f, syncs and closes it.
func writeSynced(f *os.File, key string) error {
	_, err := f.WriteString(key + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkBootstrap refuses, before the start creates anything, a bootstrap of this database
// that would fail: credentials it would refuse (provision.CheckBootstrapCredentials), or a
// generated secret that out could not show (SecretOutput). Both matter only to a new
// database, which holds no integration client yet. A database bootstrapped already starts
// whatever they hold (provision.Service.Bootstrap), or wherever the secret file would go (a
// read-only working directory), so it is asked, reading only: a SQLite file is opened only
// when it exists and holds something, a PostgreSQL database is not migrated. Valid
// credentials (or none) and a usable output cost nothing here.
func checkBootstrap(ctx context.Context, c Config, log *slog.Logger, out io.Writer) error {
	refused := bootstrapError(provision.CheckBootstrapCredentials(c.BootstrapClientID, c.BootstrapClientSecret))
	if o, ok := out.(SecretOutput); ok && refused == nil && c.BootstrapClientSecret == "" {
		refused = o.CheckWritable()
	}
	if refused == nil {
		return nil
	}
	if db, ok := store.SQLitePath(c.DatabaseURL); ok {
		if fi, err := os.Stat(db); errors.Is(err, os.ErrNotExist) || err == nil && fi.Size() == 0 {
			return refused
		}
	}
	st, err := store.Open(ctx, c.DatabaseURL, storeOptions(c, log))
	if err != nil {
		return err
	}
	defer st.Close()
	if has, err := st.HasIntegrationClients(ctx); err != nil || has {
		return err
	}
	return refused
}

// SecretOutput is an out of New that can fail to show a generated admin secret (a file in a
// directory that does not exist). CheckWritable tells, leaving nothing behind, whether it
// could; New asks it before it creates anything, when the start would generate the secret.
// Withdraw takes back what Write wrote, unless something else replaced it since (another
// start's secret), and says what became of it, for the start's error: New calls it when the
// bootstrap failed after the secret was shown (unkeptSecret).
type SecretOutput interface {
	io.Writer
	CheckWritable() error
	Withdraw() (string, error)
}

// bootstrapError names the variables of credentials the bootstrap refused.
func bootstrapError(err error) error {
	if models.ErrorCode(err) == models.EINVALID {
		return fmt.Errorf("GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: %w", err)
	}
	return err
}

// unkeptSecret is New's error when the bootstrap failed after out showed its generated secret
// (the audit write or the commit failed, the start was stopped): the secret may open
// nothing, and must not be left looking like the admin's. Whether it does is asked of the
// database, not inferred from err: a commit whose connection broke may have been kept. A
// secret that opens nothing is withdrawn from out when out can take it back (the secret
// file is removed); a terminal cannot, so the error says plainly that the secret shown was
// not kept. When the database cannot tell, the secret is left where it was shown, and the
// error says how the next start tells.
func unkeptSecret(ctx context.Context, svc *provision.Service, out io.Writer, id, sec string, err error, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	switch _, aerr := svc.AuthenticateClient(ctx, id, sec); {
	case aerr == nil:
		return fmt.Errorf("%w (the generated admin secret shown was kept even so: it opens the client)", err)
	case models.ErrorCode(aerr) != models.EUNAUTHENTICATED:
		log.Error("bootstrap: cannot tell whether the generated admin client was kept", "err", aerr)
		return fmt.Errorf("%w (the generated admin secret shown may have been kept or not: "+
			"if the next start shows another one, the one shown now opens nothing)", err)
	}
	o, ok := out.(SecretOutput)
	if !ok {
		return fmt.Errorf("%w (the generated admin secret shown was not kept: it opens nothing; "+
			"the next start shows another one)", err)
	}
	done, werr := o.Withdraw()
	if werr != nil {
		return fmt.Errorf("%w (the generated admin secret was not kept: it opens nothing; %v)", err, werr)
	}
	return fmt.Errorf("%w (the generated admin secret was not kept: it opens nothing; %s)", err, done)
}

// withdrawOtherStarts takes back the secret out showed when the bootstrap, run again, found
// another start's admin client: the secret file is removed (unless it holds that start's
// secret already); a terminal is told that the secret above opens nothing.
func withdrawOtherStarts(out io.Writer, log *slog.Logger) {
	what := "the terminal was told"
	if o, ok := out.(SecretOutput); ok {
		done, err := o.Withdraw()
		if what = done; err != nil {
			what = err.Error()
		}
	} else {
		fmt.Fprintln(out, "\nThe secret shown above was NOT kept: another start created the platform admin client. It opens nothing.")
	}
	log.Warn("bootstrap: another start created the platform admin client; the generated admin secret shown was not kept: it opens nothing",
		"withdrawn", what)
}

// App is the assembled server: the store, the service layer and every transport behind one
// http.Handler. It owns the database until Close.
type App struct {
	handler http.Handler
	store   *store.Store
	svc     *provision.Service
	guard   *guard.Guard
	// metrics serves /metrics; the main handler serves it too unless GATEHOUSE_METRICS_ADDR is set.
	metrics http.Handler
	// ownMetrics are Gatehouse's metrics, which the maintenance jobs set too.
	ownMetrics *telemetry.Metrics
	tracing    *telemetry.Tracing // nil: tracing is off
}

// New opens and migrates the database, bootstraps the first client (printing generated
// credentials to out), and builds the HTTP handler. Close releases what it acquired.
//
// The configuration is checked before the first thing New creates (the SQLite key file, then
// the database and its tables): a start refused for it leaves nothing behind, such as a key
// file without a database, which a later start would take for the database's.
func New(ctx context.Context, c Config, log *slog.Logger, out io.Writer) (_ *App, err error) {
	log = slog.New(guard.NewLogHandler(log.Handler())) // request ids; repeated errors aggregated
	box, err := configuredBox(c)
	if err != nil {
		return nil, err
	}
	tracing, err := telemetry.NewTracing(ctx, os.Getenv)
	if err != nil {
		return nil, err
	}
	if tracing != nil {
		defer func() {
			if err != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = tracing.Shutdown(ctx)
			}
		}()
	}
	if err := checkBootstrap(ctx, c, log, out); err != nil {
		return nil, err
	}
	if box == nil {
		if box, err = sqliteKeyBox(ctx, c); err != nil {
			return nil, err
		}
	}
	// Which key, by id, never the key: replicas of a rotation are told apart by it.
	log.Info("encryption key", "key_id", box.KeyID(), "previous_key_ids", box.PreviousKeyIDs())
	if tracing != nil {
		tracing.LogTo(log)
	}
	clk, caches := clock.Real, cache.NewGroup() // the one clock; every cache, for metrics
	if c.TestClock != nil {
		clk = c.TestClock
	}
	storeOpts := storeOptions(c, log)
	storeOpts.Clock, storeOpts.Caches = clk, caches
	if tracing != nil {
		storeOpts.TracerProvider = tracing.TracerProvider()
	}
	st, err := store.Open(ctx, c.DatabaseURL, storeOpts)
	if err != nil {
		return nil, err
	}
	if err := checkKey(ctx, st, box); err != nil {
		st.Close()
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if w := st.CaseFoldingWarning(); w != "" {
		log.Warn(w)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := telemetry.NewMetrics(reg, st.Pools())
	telemetry.RegisterCaches(reg, caches)
	remote := sso.New(sso.Options{AllowPrivateNetworks: c.AllowPrivateNetworks, AllowedPrivateNetworks: c.AllowedPrivateNetworks, DNSServer: c.DNSServer,
		RootCAs: c.TestRootCAs, ConnectTo: c.TestConnectTo, Clock: clk, UpstreamConcurrency: upstreamConcurrency(c), Logger: log})
	svc := provision.New(st, box, provision.Options{Logger: log, AllowPrivateNetworks: c.AllowPrivateNetworks,
		Remote: remote, PublicURL: c.PublicURL, NetworkTimeout: c.TestNetworkTimeout, Observer: metrics,
		Clock: clk, Caches: caches, Outside: guard.Outside, OutsideWaits: c.Guard.MaxConcurrent})
	// A generated secret is shown before the client is committed: when out fails even so
	// (the disk filled up, the directory went away since checkBootstrap), the start fails
	// and creates no client, rather than keep one whose secret nobody saw.
	var shown []string // the id and secret out showed
	boot, err := svc.Bootstrap(ctx, c.BootstrapClientID, c.BootstrapClientSecret, func(id, sec string) error {
		if err := printBootstrap(out, c, id, sec); err != nil {
			return err
		}
		shown = []string{id, sec}
		return nil
	})
	if err != nil {
		if shown != nil {
			err = unkeptSecret(ctx, svc, out, shown[0], shown[1], err, log)
		}
		st.Close()
		return nil, bootstrapError(err)
	}
	if shown != nil && !boot.Created {
		// Run again after PostgreSQL aborted it, the bootstrap found the client another start
		// created meanwhile: the secret shown opens nothing. This start runs on that client.
		withdrawOtherStarts(out, log)
	}
	if boot.Created {
		log.Info("bootstrap: created the default workspace and the platform admin client",
			"workspace_id", boot.WorkspaceID, "client_id", boot.ClientID)
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
	// /graphql/v1/assets without its slash too: the mux would redirect it with an HTML body.
	gqlFallback := []string{"/graphql/v1", "/graphql/v1/", "/graphql/v1/assets"}
	for _, pattern := range gqlFallback {
		mux.Handle(pattern, resolvers.NotRouted(mux, gqlFallback...))
	}
	rest.New(svc, oa.Authenticate, log).LimitPerClient(g.PerClient).Register(mux)
	metadata := sso.MetadataHandler(svc, log)
	mux.Handle("GET "+provision.SPMetadataPath, metadata)
	mux.Handle("GET "+provision.SPMetadataPath+"/{id}", metadata)
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
	// Under the APIs' prefixes a path not in canonical form is the API's own 404, not the
	// mux's HTML redirect; /scim/v2//Users (a SCIM base URL ending in "/") is served.
	apis := route.Canonical(mux, "/scim/v2", "/api/v1", "/scim/v2", "/graphql/v1", "/oauth", "/.well-known")
	var h http.Handler = observe(reg, log, gc.TrustedProxies, graphQLTokenAlias(g.Handler(apis)))
	if tracing != nil {
		h = tracing.Handler(h, gc.TrustedProxies.FromProxy)
	}
	return &App{handler: h, store: st, svc: svc, guard: g, metrics: metricsHandler, ownMetrics: metrics, tracing: tracing}, nil
}

// Handler serves every route of the server.
func (a *App) Handler() http.Handler { return a.handler }

// Store is the app's database.
func (a *App) Store() *store.Store { return a.store }

// Service is the app's service layer.
func (a *App) Service() *provision.Service { return a.svc }

// Guard is the app's admission control (limits, rate limits, draining).
func (a *App) Guard() *guard.Guard { return a.guard }

// MetricsHandler serves /metrics (the main handler serves it too unless Config.MetricsAddr is set).
func (a *App) MetricsHandler() http.Handler { return a.metrics }

// Tracing is the app's tracing, nil when tracing is off.
func (a *App) Tracing() *telemetry.Tracing { return a.tracing }

// Close releases what New acquired: it exports the spans still buffered, then closes the
// database.
func (a *App) Close() {
	if a.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.tracing.Shutdown(ctx)
	}
	a.store.Close()
}

// Retention is how long the logs that grow with traffic are kept.
type Retention struct {
	SCIMActivity time.Duration // GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS
	SignInEvents time.Duration // GATEHOUSE_SIGN_IN_EVENT_RETENTION_DAYS
}

// Retention returns the retention c configures.
func (c Config) Retention() Retention {
	return Retention{SCIMActivity: c.SCIMActivityRetention, SignInEvents: c.SignInEventRetention}
}

// Maintain runs the periodic jobs of a serving process, at once and then periodically, until
// ctx ends: the pruning of expired sign-in state (every 10 minutes), and hourly the SCIM
// counter reconciliation, the pruning of the logs past their retention, the refresh of SAML
// certificates from IdP metadata, and the count of SAML connections by IdP certificate expiry
// (metrics). It returns when the loops have stopped.
func (a *App) Maintain(ctx context.Context, r Retention, log *slog.Logger) {
	var wg sync.WaitGroup
	// Each job in a loop of its own: none waits on another (the metadata refresh waits on IdPs).
	wg.Go(func() { every(ctx, signInPruneInterval, func() { pruneSignInState(ctx, a.svc, a.ownMetrics, log) }) })
	wg.Go(func() { every(ctx, time.Hour, func() { countSAMLCertificates(ctx, a.svc, a.ownMetrics, log) }) })
	wg.Go(func() { every(ctx, time.Hour, func() { refreshSAMLMetadata(ctx, a.svc, a.ownMetrics, log) }) })
	every(ctx, time.Hour, func() { pruneLogs(ctx, a.svc, r, a.ownMetrics, log) })
	wg.Wait()
}

// jobDone records a run of a periodic job: a failure is logged at models.LogLevel (an outage
// or a full disk is a warning: the job runs again at its next tick) and counted, a success
// timed, in the metrics (job is its task label there and in the log, msg its log message). It
// reports whether the run succeeded. A failing job is not escalated to ERROR after a while:
// the requests that meet the same outage log WARN too, and an alert on the time of the last
// success (gatehouse_periodic_task_last_success_timestamp_seconds) says how long a job has not
// run, which a log level cannot.
func jobDone(m *telemetry.Metrics, log *slog.Logger, job, msg string, err error) bool {
	m.JobRan(job, err)
	if err != nil {
		log.Log(context.Background(), models.LogLevel(err), msg, "task", job, "err", err)
	}
	return err == nil
}

// every runs job at once and then every interval until ctx ends (a tick that comes while job
// runs is dropped, not queued).
func every(ctx context.Context, interval time.Duration, job func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		job()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// countSAMLCertificates counts the SAML connections by IdP certificate expiry into the
// metrics (hourly): an expired IdP certificate stops every sign-in through its connection, and
// the metric lets an operator alert on it ahead of time.
func countSAMLCertificates(ctx context.Context, svc *provision.Service, m *telemetry.Metrics, log *slog.Logger) {
	c, err := svc.SAMLCertificateExpiry(ctx)
	if !jobDone(m, log, "saml_certificate_expiry", "saml: count certificates by expiry", err) {
		return
	}
	m.SAMLCertificateExpiry(c.Expired, c.Within7Days, c.Within30Days, c.Later)
	m.SAMLAcceptingSHA1(c.AcceptingSHA1)
	// Which connections, for the operator (the metric has no per-connection label).
	for _, u := range c.Urgent {
		log.Warn("saml: a connection's IdP certificates expire within 7 days, or none is valid now",
			"workspace_id", u.WorkspaceID, "connection_id", u.ConnectionID, "expires_at", u.ExpiresAt)
	}
}

// refreshSAMLMetadata runs one refresh of the SAML connections that follow their metadata
// into the metrics and the log: each change of certificates at INFO, each metadata that could
// not be followed at WARN, and each that no longer lists the connection's ssoUrl at WARN (the
// admin sees both too, as samlConfig.metadataProblem).
func refreshSAMLMetadata(ctx context.Context, svc *provision.Service, m *telemetry.Metrics, log *slog.Logger) {
	r, err := svc.RefreshSAMLMetadata(ctx)
	if err != nil && ctx.Err() != nil {
		return // the server stopping: no failure
	}
	if !jobDone(m, log, "saml_metadata_refresh", "saml: refresh certificates from metadata", err) {
		return
	}
	m.SAMLMetadataRefresh(r.Changed, r.Unchanged, r.Failed)
	if r.Deferred > 0 {
		log.Warn("saml: the metadata refresh ran out of time; the rest is left to the next run",
			"deferred_connections", r.Deferred)
	}
	for _, c := range r.Reports {
		switch {
		case c.Problem != "":
			log.Warn("saml: a connection's IdP metadata could not be followed; its certificates stay as they were",
				"workspace_id", c.WorkspaceID, "connection_id", c.ConnectionID, "problem", c.Problem)
		case len(c.Added) > 0 || len(c.Removed) > 0:
			log.Info("saml: a connection's IdP certificates were refreshed from its metadata",
				"workspace_id", c.WorkspaceID, "connection_id", c.ConnectionID, "added", c.Added, "removed", c.Removed)
		}
		if c.SSOProblem != "" {
			log.Warn("saml: a connection's IdP metadata no longer lists its ssoUrl for the binding sign-ins are sent by",
				"workspace_id", c.WorkspaceID, "connection_id", c.ConnectionID, "problem", c.SSOProblem)
		}
	}
}

// pruneLogs reconciles the SCIM statistics counters and deletes SCIM activity and sign-in
// events older than their retention (hourly).
func pruneLogs(ctx context.Context, svc *provision.Service, r Retention, m *telemetry.Metrics, log *slog.Logger) {
	jobDone(m, log, "scim_counter_reconcile", "scim: reconcile counters", svc.ReconcileSCIMCounts(ctx))
	if n, err := svc.PruneSCIMActivities(ctx, r.SCIMActivity); jobDone(m, log, "scim_activity_prune", "scim: prune activity", err) && n > 0 {
		log.Info("scim: pruned activity", "rows", n, "retention_days", int(r.SCIMActivity.Hours()/24))
	}
	if n, err := svc.PruneSignInEvents(ctx, r.SignInEvents); jobDone(m, log, "sign_in_event_prune", "sign-in: prune events", err) && n > 0 {
		log.Info("sign-in: pruned events", "rows", n, "retention_days", int(r.SignInEvents.Hours()/24))
	}
}

// printBootstrap shows the generated admin credentials once, with a curl that gets a token.
// The curl goes to the public URL, unless that was left to its default on another port than
// the server listens on (GATEHOUSE_ADDR=:9090 alone): then to the listen address (localhost
// for every interface), with a note that tokens still name the default (a curl that is
// refused is a poor first step). It is one Write, which a SecretOutput takes as the whole.
func printBootstrap(out io.Writer, c Config, id, sec string) error {
	base, note := c.PublicURL, ""
	if port, mismatch := listenPortMismatch(c); mismatch {
		host, _, _ := net.SplitHostPort(c.Addr)
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "localhost" // every interface: this machine's loopback is one
		}
		base = "http://" + net.JoinHostPort(host, port)
		note = "\n  (GATEHOUSE_PUBLIC_URL is unset, so tokens and sign-in URLs name " + c.PublicURL +
			";\n  set it to the URL clients reach this server at.)\n"
	}
	_, err := fmt.Fprintf(out, `
================================================================================
Gatehouse created the platform admin integration client. The secret is shown ONCE.

  client_id:     %s
  client_secret: %s

Get an access token:

  curl -s -u '%s:%s' -d grant_type=client_credentials %s/oauth/token
%s
================================================================================
`, id, sec, id, sec, base, note)
	return err
}

// observe adds request ids, access logs, panic recovery and Prometheus metrics to every route.
// The access log's caller and GraphQL operation are filled in by the inner handlers through
// the request's reqinfo.Record.
func observe(reg prometheus.Registerer, log *slog.Logger, proxies guard.Proxies, next http.Handler) http.Handler {
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
			if p := logPath(inner); p != inner.URL.Path {
				telemetry.RedactPath(r.Context(), p)
			}
			telemetry.SetClientAddress(r.Context(), func() string { return proxies.ClientAddress(inner) })
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			metrics.observe(route, rec.status, d)
			accessLog(log, inner, proxies, rec.status, d, &st.info)
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

// databaseMaxConns is the PostgreSQL pool: one connection for every request slot, so that the
// slots reserved for the token endpoint and /readyz always find a free connection.
func databaseMaxConns(c Config) int {
	return c.Guard.MaxConcurrent + c.Guard.PriorityConcurrent
}

// migrationWaitLog says, once, that the start's migrations wait for another process holding the
// SQLite file's write lock (another start, `gatehouse migrate`, a backup tool), so that the
// wait does not read as a hang.
func migrationWaitLog(log *slog.Logger) func(error) {
	return func(err error) {
		log.Warn("migrations: another process holds this SQLite database's write lock; waiting for it (Ctrl-C stops)", "err", err)
	}
}

// storeOptions are the database bounds of a serving process: the pool, statement_timeout (and
// SQLite's busy timeout) as a backstop a second after the request deadline, and the wait for a
// database still starting.
func storeOptions(c Config, log *slog.Logger) store.Options {
	// Sign-in state is written on PostgreSQL's second pool (store.AsyncCommit) by requests of
	// the general slots only: one connection for each of those.
	opt := store.Options{MaxConns: databaseMaxConns(c), AsyncConns: c.Guard.MaxConcurrent, Wait: c.DatabaseWait,
		OnRetry: func(err error, next time.Duration) {
			log.Warn("database not reachable yet; retrying", "retry_in", next, "err", err)
		}, OnMigrationWait: migrationWaitLog(log)}
	if c.Guard.RequestTimeout > 0 {
		opt.StatementTimeout = c.Guard.RequestTimeout + time.Second
	}
	return opt
}

// readyz answers 200 while the database answers and the server is not draining.
func readyz(st *store.Store, g *guard.Guard, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if g.Draining() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "shutting down\n")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			log.WarnContext(ctx, "readyz: database unreachable", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "database unreachable\n")
			return
		}
		io.WriteString(w, "ok\n")
	}
}

// upstreamConcurrency is how many requests of one connection may wait on its identity provider
// at once. They wait outside the admission slots (guard.Outside), so the bound is not the
// slots' share but what one IdP may hold of goroutines, browsers' connections and sockets:
// sixteen times the slots (384 of 24), above what a healthy IdP's latency needs at any rate
// this server reaches (a 1 s token endpoint at 250 sign-ins/s of one connection is 250
// waiting). Four times was too few: 256 browsers overloading a PostgreSQL server here, half
// of them signing in through one OIDC connection whose IdP shared the CPUs, had 3 of 4,787
// sign-ins refused after the person had signed in at the IdP. A hung IdP holds at most this
// many goroutines and sockets, each for the outbound timeout (10 s); a workspace's connections
// together twice as many (sso's waits). No bound without admission control.
func upstreamConcurrency(c Config) int {
	if c.Guard.MaxConcurrent <= 0 {
		return 0
	}
	return 16 * c.Guard.MaxConcurrent
}
