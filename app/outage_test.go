package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/guard"
	"gatehouse/store/storetest"
)

// pgProxy forwards TCP connections to PostgreSQL until cut: then it drops every connection
// and closes new ones at once, as a database that went away would.
type pgProxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *pgProxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Through a database outage every surface answers the same retryable way, 503 with
// Retry-After (GraphQL does not switch between 200 with errors and 500; the token endpoint
// may go on issuing from its cache), /readyz says 503, and everything answers 200 again once
// the database is back.
func TestDatabaseOutageAnswersRetryable503(t *testing.T) {
	dbURL := storetest.URL(t, "postgres")
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newPGProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	e := newTestEnv(t, u.String(), func(c *app.Config) {
		c.Guard = guard.Config{RequestTimeout: 2 * time.Second, MaxConcurrent: 8, PriorityConcurrent: 2, QueueTimeout: time.Second}
	})
	admin := e.AdminToken()
	scimTok, _ := e.SCIMToken(admin, map[string]any{"name": "okta"})
	type probe struct {
		name string
		do   func() (int, string)
	}
	probes := []probe{
		{"graphql query", func() (int, string) {
			r := e.GQL(admin, `{ userAccounts(first: 5) { nodes { uuid } } }`, nil)
			return r.Status, r.Raw
		}},
		{"graphql mutation", func() (int, string) {
			r := e.GQL(admin, `mutation { createUserAccount(input: {email: "o@example.com", firstName: "O", lastName: "U"}) { errors { message } } }`, nil)
			return r.Status, r.Raw
		}},
		{"token", func() (int, string) { s, _ := tokenStatus(t, e.URL, testAdminID, testAdminSecret); return s, "" }},
		{"scim", func() (int, string) { r := e.Call("GET", "/scim/v2/Users", scimTok, nil); return r.Status, r.Raw }},
		{"rest", func() (int, string) { r := e.Call("GET", "/api/v1/scim/tokens", admin, nil); return r.Status, r.Raw }},
		{"readyz", func() (int, string) {
			resp, err := http.Get(e.URL + "/readyz")
			if err != nil {
				return 0, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode, ""
		}},
	}
	for _, p := range probes {
		if s, raw := p.do(); s != 200 {
			t.Fatalf("%s before the outage: %d %s", p.name, s, raw)
		}
	}
	proxy.cut()
	for round := range 3 {
		for _, p := range probes {
			start := time.Now()
			s, raw := p.do()
			ok := s == http.StatusServiceUnavailable
			if p.name == "token" { // verified client secrets are cached: it may keep issuing
				ok = ok || s == http.StatusOK
			}
			if !ok || time.Since(start) > 3*time.Second {
				t.Errorf("%s during the outage (round %d): %d in %v: %s", p.name, round, s, time.Since(start), raw)
			}
			if p.name != "readyz" && p.name != "token" && !strings.Contains(raw, "temporarily unavailable") {
				t.Errorf("%s: message %s", p.name, raw)
			}
		}
	}
	// The periodic jobs meet the outage too: each logs it as a warning, as the requests' own
	// lines do (it runs again at its next tick), never as an error.
	logs := &apptest.Logs{}
	ctx, cancel := context.WithCancel(context.Background())
	maintained := make(chan struct{})
	go func() {
		e.App.Maintain(ctx, app.Retention{SCIMActivity: 24 * time.Hour, SignInEvents: 24 * time.Hour}, slog.New(slog.NewJSONHandler(logs, nil)))
		close(maintained)
	}()
	jobs := []string{"sign-in: prune state", "saml: count certificates by expiry", "saml: refresh certificates from metadata",
		"scim: reconcile counters", "scim: prune activity", "sign-in: prune events"}
	jobLabels := []string{"sign_in_state_prune", "saml_certificate_expiry", "saml_metadata_refresh",
		"scim_counter_reconcile", "scim_activity_prune", "sign_in_event_prune"}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		missing := slices.DeleteFunc(slices.Clone(jobs), func(j string) bool { return strings.Contains(logs.String(), j) })
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line of %v during the outage:\n%s", missing, logs.String())
		}
	}
	cancel()
	<-maintained
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, "temporarily unavailable") {
			t.Errorf("a job's failure during the outage: %s", line)
		}
	}
	// The metrics count each job's failure, and none has succeeded yet.
	fams := scrape(t, e.URL+"/metrics")
	for _, job := range jobLabels {
		if n := metricValue(fams, "gatehouse_periodic_task_failures_total", "task="+job); n < 1 {
			t.Errorf("gatehouse_periodic_task_failures_total{task=%q} %v after the outage met it", job, n)
		}
		if v := metricValue(fams, "gatehouse_periodic_task_last_success_timestamp_seconds", "task="+job); v != -1 {
			t.Errorf("gatehouse_periodic_task_last_success_timestamp_seconds{task=%q} %v: the job has not succeeded", job, v)
		}
	}
	proxy.down.Store(false)
	defer func() { // once the database is back, the jobs' next runs succeed, and say when
		start := float64(time.Now().Unix())
		ctx, cancel := context.WithCancel(context.Background())
		maintained := make(chan struct{})
		go func() {
			e.App.Maintain(ctx, app.Retention{SCIMActivity: 24 * time.Hour, SignInEvents: 24 * time.Hour}, slog.New(slog.DiscardHandler))
			close(maintained)
		}()
		defer func() { cancel(); <-maintained }()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			fams := scrape(t, e.URL+"/metrics")
			missing := slices.DeleteFunc(slices.Clone(jobLabels), func(job string) bool {
				return metricValue(fams, "gatehouse_periodic_task_last_success_timestamp_seconds", "task="+job) >= start
			})
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no success of %v after the outage", missing)
			}
		}
	}()
	for _, p := range probes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, raw := p.do()
			if s == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after the outage: %d %s", p.name, s, raw)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
