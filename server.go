// Command gatehouse is the identity provisioning gateway: one binary serving the OAuth token
// endpoint, the GraphQL API, and the operational endpoints over one service layer. Package app wires
// the pieces together from a config (app.LoadConfig reads it from the environment); this
// package holds main, the serving process with its listener, signals and drain (server.go,
// runtime.go), and the command line (cli.go, cmd_*.go).
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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"time"

	"gatehouse/app"
	"gatehouse/store"
)

// defaultMemoryLimit is the soft heap limit when GOMEMLIMIT is not set.
const defaultMemoryLimit = 96 << 20

// runServer runs the server until ctx is cancelled (SIGINT/SIGTERM), then drains and shuts down
// (serve, runtime.go). The `gatehouse` and `gatehouse serve` commands call it (cli.go).
func runServer(ctx context.Context, c app.Config, log *slog.Logger) error {
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
	// Bind first (the metrics listener too): with a port taken or an address mistyped, fail
	// before creating or printing anything.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	var metricsLn, debugLn net.Listener
	if c.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", c.MetricsAddr); err != nil {
			return fmt.Errorf("GATEHOUSE_METRICS_ADDR: %w", err)
		}
		defer metricsLn.Close()
	}
	if c.DebugAddr != "" {
		// As the metrics listener: an address the operator set and the server cannot serve on
		// is a refused start, not an error line in a log nobody reads until pprof is needed.
		if debugLn, err = net.Listen("tcp", c.DebugAddr); err != nil {
			return fmt.Errorf("GATEHOUSE_DEBUG_ADDR: %w", err)
		}
		defer debugLn.Close()
	}
	for _, w := range app.PublicURLWarnings(c) {
		log.Warn(w)
	}
	out := bootstrapOutput(c.BootstrapSecretTo, log)
	a, err := app.New(ctx, c, log, out)
	if err != nil {
		return err
	}
	defer a.Close()
	if metricsLn != nil {
		msrv := app.ServeMetrics(metricsLn, a.MetricsHandler(), log)
		defer msrv.Close()
	}
	go a.Maintain(ctx, c.Retention(), log)
	srv := &http.Server{
		Addr:              c.Addr,
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      app.WriteTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if debugLn != nil {
		dbg := http.NewServeMux()
		dbg.HandleFunc("/debug/pprof/", pprof.Index)
		dbg.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dbg.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go func() {
			log.Info("debug listener", "addr", debugLn.Addr().String())
			if err := http.Serve(debugLn, dbg); err != nil && !errors.Is(err, net.ErrClosed) {
				log.Error("debug listener", "err", err)
			}
		}()
	}
	log.Info("listening", "addr", ln.Addr().String(), "public_url", c.PublicURL, "database", store.Describe(c.DatabaseURL))
	return serve(ctx, ln, srv, a.Guard(), c.ShutdownDrain, log)
}
