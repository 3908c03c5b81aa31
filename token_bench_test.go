package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/app"
)

// BenchmarkTokenEndpoint issues client-credentials tokens through the whole handler (request
// ids and metrics, the guard, the mux, the token endpoint, the client cache, ECDSA signing) in
// process on SQLite, without the network: the server's CPU per token that the bench's tokens
// workload measures, less the HTTP connection's. Logging at warn, as the benchmarks run; the
// issuance limit set out of reach as they set it.
func BenchmarkTokenEndpoint(b *testing.B) {
	env := map[string]string{
		"GATEHOUSE_DATABASE_URL":            "sqlite:" + filepath.Join(b.TempDir(), "bench.db"),
		"GATEHOUSE_BOOTSTRAP_CLIENT_ID":     "ghc_bench",
		"GATEHOUSE_BOOTSTRAP_CLIENT_SECRET": "ghs_bench_secret_0123456789abcdefghij",
		"GATEHOUSE_LOG_LEVEL":               "warn",
		"GATEHOUSE_RATE_LIMIT_TOKENS":       "1000000/1s",
	}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := app.New(context.Background(), cfg, log, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Store().Close() })
	const form = "grant_type=client_credentials"
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("ghc_bench", "ghs_bench_secret_0123456789abcdefghij")
		w := httptest.NewRecorder()
		a.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	// CPU time rather than wall time: on a shared machine the wall clock measures the
	// neighbours (GC workers' time counts: it is the requests' garbage).
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
