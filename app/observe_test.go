package app

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/telemetry/reqinfo"
)

// BenchmarkObserve is the per-request cost of the observing middleware (request id, metrics,
// access-log record and line) around a handler that authenticates and names an operation.
func BenchmarkObserve(b *testing.B) {
	b.Run("log=info", func(b *testing.B) { benchmarkObserve(b, slog.LevelInfo) })
	b.Run("log=warn", func(b *testing.B) { benchmarkObserve(b, slog.LevelWarn) })
}

func benchmarkObserve(b *testing.B, level slog.Level) {
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /graphql/v1", func(w http.ResponseWriter, r *http.Request) {
		rec := reqinfo.From(r.Context())
		rec.SetCaller("ghc_client", uuid.Nil)
		rec.SetOperation("WhoAmI")
		w.WriteHeader(200)
	})
	h := observe(prometheus.NewRegistry(), log, nil, mux)
	req := httptest.NewRequest("POST", "/graphql/v1", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}
