package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/secret"
)

// Logs is a server's JSON log, shared by the server's goroutines and the test.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Logs) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Logs) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// AccessLine waits briefly for the access-log line of the request with the X-Request-Id id
// (the line is written after the handler returns) and decodes it.
func (s *Logs) AccessLine(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		for _, line := range strings.Split(s.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "http request" && m["request_id"] == id {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access-log line for request %s in:\n%s", id, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Send sends req with the X-Request-Id id and returns its access-log line.
func (s *Logs) Send(t *testing.T, req *http.Request, id string) map[string]any {
	t.Helper()
	req.Header.Set("X-Request-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return s.AccessLine(t, id)
}

// NewLogged is New with the server's JSON log (at info, with the access log) captured in the
// returned Logs.
func NewLogged(t *testing.T, dbURL string, mods ...func(*app.Config)) (*Env, *Logs) {
	t.Helper()
	return NewLoggedAt(t, dbURL, slog.LevelInfo, mods...)
}

// NewLoggedAt is NewLogged with the log captured from level on (slog.LevelDebug: every line,
// as GATEHOUSE_LOG_LEVEL=debug writes them).
func NewLoggedAt(t *testing.T, dbURL string, level slog.Level, mods ...func(*app.Config)) (*Env, *Logs) {
	t.Helper()
	logs := &Logs{}
	srv := httptest.NewUnstartedServer(nil)
	cfg := app.Config{DatabaseURL: dbURL, PublicURL: "http://" + srv.Listener.Addr().String(), EncryptionKey: secret.NewKey(),
		BootstrapClientID: AdminID, BootstrapClientSecret: AdminSecret, AllowPrivateNetworks: true}
	for _, m := range mods {
		m(&cfg)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = a.Handler()
	srv.Start()
	t.Cleanup(func() { srv.Close(); a.Close() })
	return &Env{T: t, URL: cfg.PublicURL, App: a, Config: cfg}, logs
}
