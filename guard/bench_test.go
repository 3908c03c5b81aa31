package guard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The per-request cost of the guard with every bound on (admission, deadline, SCIM limit).
func BenchmarkHandler(b *testing.B) {
	g := New(Config{RequestTimeout: 15 * time.Second, MaxConcurrent: 24, PriorityConcurrent: 8, QueueTimeout: time.Second,
		SCIM: Rate{N: 1 << 30, Per: time.Second}})
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	r := httptest.NewRequest("GET", "/scim/v2/Users", nil)
	r.Header.Set("Authorization", "Bearer abc")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

// The per-request cost of the guard on a client-credentials token request with the default
// bounds (admission on the priority slots, deadline, the three limiters read before and the
// issuance limiter charged after), against the handler alone ("plain"): the handler parses
// the form as the token endpoint does, so the difference is what the guard adds.
func BenchmarkTokenRequest(b *testing.B) {
	g := New(Config{RequestTimeout: 15 * time.Second, MaxConcurrent: 24, PriorityConcurrent: 8, QueueTimeout: time.Second,
		TokenFormBytes: 4096, AuthFailures: Rate{N: 20, Per: time.Minute}, AuthFailuresPerAddress: Rate{N: 100, Per: time.Minute},
		Tokens: Rate{N: 1 << 30, Per: time.Second}})
	plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.WriteHeader(200)
	})
	for name, h := range map[string]http.Handler{"plain": plain, "guarded": g.Handler(plain)} {
		b.Run(name, func(b *testing.B) {
			w := httptest.NewRecorder()
			body := strings.NewReader("grant_type=client_credentials")
			r := httptest.NewRequest("POST", "/oauth/token", body)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth("ghc_client", "ghs_secret")
			b.ReportAllocs()
			for b.Loop() {
				body.Seek(0, 0)
				r.Body, r.Form, r.PostForm = io.NopCloser(body), nil, nil
				h.ServeHTTP(w, r)
			}
		})
	}
}
