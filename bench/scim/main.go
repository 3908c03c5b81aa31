// Command scim is the SCIM initial-push benchmark: an identity provider provisioning a
// workspace from scratch, the way Okta does it. It builds and starts a real Gatehouse server
// (one per database), then from -clients concurrent clients:
//
//  1. creates -users users with POST /scim/v2/Users (Okta-shaped bodies),
//  2. looks each one up with GET /scim/v2/Users?filter=userName eq "…",
//  3. deactivates each one with PATCH (path-less replace of active=false),
//  4. adds -group-members users to one group in a single PATCH, and removes them again.
//
// It prints throughput and p50/p99 latency per phase and the server's peak RSS, for SQLite and
// PostgreSQL. It is not run by go test.
//
//	go run ./bench/scim -users 20000 -clients 8
//	go run ./bench/scim -db postgres -postgres 'postgres://root@127.0.0.1:5432/postgres?sslmode=disable'
package main

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"gatehouse/bench/internal/rawhttp"
	"gatehouse/secret"
)

func main() {
	var (
		dbs      = flag.String("db", "sqlite,postgres", "databases to run: sqlite, postgres or both")
		pgURL    = flag.String("postgres", envOr("GATEHOUSE_BENCH_POSTGRES_URL", "postgres://root@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL admin URL (a scratch database is created and dropped)")
		users    = flag.Int("users", 10000, "users to create, look up and deactivate")
		clients  = flag.Int("clients", 8, "concurrent IdP clients")
		members  = flag.Int("group-members", 1000, "members added and removed in one group PATCH")
		keepLogs = flag.Bool("server-logs", false, "show the server's warnings")
		preload  = flag.Int("preload", 0, "PostgreSQL only: insert this many extra users directly (SQL) before the lookup phase, e.g. 1000000")
	)
	flag.Parse()
	bin, err := build()
	if err != nil {
		fail(err)
	}
	defer os.Remove(bin)
	fmt.Printf("SCIM initial push: %d users, %d clients, %d-member group PATCH (GOMAXPROCS of the machine: %d cores)\n\n",
		*users, *clients, *members, numCPU())
	for _, db := range strings.Split(*dbs, ",") {
		if err := run(bin, strings.TrimSpace(db), *pgURL, *users, *clients, *members, *preload, *keepLogs); err != nil {
			fail(fmt.Errorf("%s: %w", db, err))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	if builtBin != "" {
		os.Remove(builtBin)
	}
	os.Exit(1)
}

// builtBin is the server binary build made, removed on exit.
var builtBin string

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return max(strings.Count(string(b), "processor\t:"), 1)
}

// build compiles the server from the module root into a temporary directory.
func build() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the gatehouse module")
		}
		dir = parent
	}
	out := filepath.Join(os.TempDir(), "gatehouse-bench-"+randHex(4))
	builtBin = out
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	return out, cmd.Run()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type server struct {
	cmd   *exec.Cmd
	base  string
	host  string
	tok   string // SCIM token
	hc    *http.Client
	conns chan *rawhttp.Conn
	pg    *sql.DB // PostgreSQL runs: to find the database's backend processes
}

func run(bin, db, pgAdmin string, users, clients, members, preload int, logs bool) error {
	var dbURL string
	switch db {
	case "sqlite":
		dir, err := os.MkdirTemp("", "gatehouse-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dbURL = "sqlite:" + filepath.Join(dir, "bench.db")
	case "postgres":
		name := "gatehouse_bench_" + randHex(4)
		admin, err := sql.Open("pgx", pgAdmin)
		if err != nil {
			return err
		}
		defer admin.Close()
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			return err
		}
		defer admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		u, err := url.Parse(pgAdmin)
		if err != nil {
			return err
		}
		u.Path = "/" + name
		dbURL = u.String()
	default:
		return fmt.Errorf("unknown database %q", db)
	}
	s, err := start(bin, dbURL, clients, logs)
	if err != nil {
		return err
	}
	defer s.stop()
	if db == "postgres" {
		if s.pg, err = sql.Open("pgx", dbURL); err != nil {
			return err
		}
		defer s.pg.Close()
	}

	fmt.Printf("== %s\n", db)
	fmt.Printf("%-28s %8s %9s %10s %9s %9s %7s   %s\n", "phase", "ops", "seconds", "ops/s", "p50", "p99", "errors",
		"CPU µs/op: server, database, load generator")
	names := make([]string, users)
	ids := make([]string, users)
	prefix := randHex(3)
	for i := range names {
		names[i] = fmt.Sprintf("user%07d.%s@example.com", i, prefix)
	}
	s.phase("POST /Users", users, clients, func(i int) (int, error) {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,
"name":{"givenName":"Test","familyName":"User %d"},"emails":[{"primary":true,"value":%q,"type":"work"}],
"displayName":"Test User %d","locale":"en-US","externalId":"00u%010d","groups":[],"password":"1mz050nq","active":true}`,
			names[i], i, names[i], i, i)
		var out struct{ ID string }
		st, err := s.do("POST", "/scim/v2/Users", body, &out)
		ids[i] = out.ID
		return st, err
	}, 201)
	if preload > 0 && db == "postgres" {
		if err := preloadUsers(dbURL, preload); err != nil {
			return err
		}
	}
	s.analyze()
	s.phase(`GET userName eq`, users, clients, func(i int) (int, error) {
		var out struct{ TotalResults int }
		st, err := s.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+names[(i*7919)%users]+`"`), "", &out)
		if err == nil && out.TotalResults != 1 {
			err = fmt.Errorf("lookup found %d users", out.TotalResults)
		}
		return st, err
	}, 200)
	s.analyze()
	s.phase("PATCH active=false", users, clients, func(i int) (int, error) {
		return s.do("PATCH", "/scim/v2/Users/"+ids[i],
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`, nil)
	}, 200)
	var gid struct{ ID string }
	if _, err := s.do("POST", "/scim/v2/Groups", `{"displayName":"bench"}`, &gid); err != nil {
		return err
	}
	m := min(members, users)
	vals := make([]string, m)
	for i := range vals {
		vals[i] = `{"value":"` + ids[i] + `"}`
	}
	for _, op := range []string{"add", "remove"} {
		body := `{"Operations":[{"op":"` + op + `","path":"members","value":[` + strings.Join(vals, ",") + `]}]}`
		s.phase(fmt.Sprintf("PATCH group %s %d", op, m), 1, 1, func(int) (int, error) {
			return s.do("PATCH", "/scim/v2/Groups/"+gid.ID, body, nil)
		}, 200)
	}
	var stats map[string]any
	var took []string
	for i := 0; i < 3; i++ { // the first call also prepares the statements
		start := time.Now()
		if _, err := s.doAdmin("GET", "/api/v1/scim/statistics", &stats); err != nil {
			return err
		}
		took = append(took, time.Since(start).Round(10*time.Microsecond).String())
	}
	fmt.Printf("GET /api/v1/scim/statistics (%v totalUsers): %s\n", stats["totalUsers"], strings.Join(took, ", "))
	fmt.Printf("server peak RSS: %s\n\n", s.peakRSS())
	return nil
}

// preloadUsers inserts n users straight into the bench workspace, so that lookups and
// statistics run against a table of realistic size.
func preloadUsers(dbURL string, n int) error {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	for done := 0; done < n; done += 100000 {
		batch := min(100000, n-done)
		_, err := db.Exec(`INSERT INTO user_accounts (id, workspace_id, email, email_key, user_name, user_name_key,
			first_name, last_name, active, version, created_at, updated_at, scim_data)
			SELECT gen_random_uuid(), w.id, 'pre' || g || '@preload.example', 'pre' || g || '@preload.example',
			'pre' || g || '@preload.example', 'pre' || g || '@preload.example', 'Pre', 'Load', true, 1, now(), now(), '{}'
			FROM (SELECT id FROM workspaces LIMIT 1) w, generate_series($1::int, $2::int) g`, done, done+batch-1)
		if err != nil {
			return fmt.Errorf("preload: %w", err)
		}
	}
	// Rows written behind the server's back: tell the statistics counters (migration 8).
	if _, err := db.Exec(`INSERT INTO scim_counters (workspace_id, kind, bucket, shard, n)
		SELECT id, 'users', 0, 0, $1 FROM (SELECT id FROM workspaces LIMIT 1) w
		ON CONFLICT (workspace_id, kind, bucket, shard) DO UPDATE SET n = scim_counters.n + excluded.n`, n); err != nil {
		return err
	}
	if _, err := db.Exec("VACUUM ANALYZE user_accounts"); err != nil {
		return err
	}
	fmt.Printf("%-28s %8d %9.2f\n", "(preload via SQL)", n, time.Since(start).Seconds())
	return nil
}

var adminToken string

func start(bin, dbURL string, clients int, logs bool) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GATEHOUSE_ADDR="+addr, "GATEHOUSE_DATABASE_URL="+dbURL,
		"GATEHOUSE_PUBLIC_URL=http://"+addr, "GATEHOUSE_ENCRYPTION_KEY="+secret.NewKey(),
		"GATEHOUSE_BOOTSTRAP_CLIENT_ID=ghc_bench", "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=ghs_bench_secret_0123456789",
		"GATEHOUSE_LOG_LEVEL=warn",
		// The limits stay on (their cost is measured) but never bind at benchmark rates.
		"GATEHOUSE_RATE_LIMIT_TOKENS=1000000/1s", "GATEHOUSE_RATE_LIMIT_SCIM=1000000/1s", "GATEHOUSE_RATE_LIMIT_GRAPHQL=1000000/1s")
	if logs {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr, host: addr, conns: make(chan *rawhttp.Conn, clients*2), hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxConnsPerHost: clients * 2}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.hc.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("server did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", s.base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth("ghc_bench", "ghs_bench_secret_0123456789")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.hc.Do(req)
	if err != nil {
		s.stop()
		return nil, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	adminToken = tok.AccessToken
	var created struct{ PlainValue string }
	req, _ = http.NewRequest("POST", s.base+"/api/v1/scim/tokens", strings.NewReader(
		`{"name":"bench","scopes":["users:read","users:write","groups:read","groups:write"]}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = s.hc.Do(req)
	if err != nil {
		s.stop()
		return nil, err
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if created.PlainValue == "" {
		s.stop()
		return nil, errors.New("could not create a SCIM token")
	}
	s.tok = created.PlainValue
	return s, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// peakRSS reads the server's high-water resident set size (Linux).
func (s *server) peakRSS() string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return fmt.Sprintf("%.0f MB", float64(kb)/1024)
		}
	}
	return "unknown"
}

// do sends one SCIM request on a pooled keep-alive connection (the cheap raw client: the
// load generator shares the machine's cores with the server and the database).
func (s *server) do(method, path, body string, out any) (int, error) {
	var c *rawhttp.Conn
	select {
	case c = <-s.conns:
	default:
		var err error
		if c, err = rawhttp.Dial(s.base); err != nil {
			return 0, err
		}
	}
	status, raw, err := c.Do(rawhttp.Request(method, s.host, path, s.tok, "application/scim+json", body))
	select {
	case s.conns <- c:
	default:
		c.Close()
	}
	if err != nil {
		return 0, err
	}
	if out != nil && status < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return status, err
		}
	}
	if status >= 300 {
		return status, fmt.Errorf("%s %s: %d %s", method, path, status, bytes.TrimSpace(raw))
	}
	return status, nil
}

func (s *server) doAdmin(method, path string, out any) (int, error) {
	req, _ := http.NewRequest(method, s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

// phase runs n operations from c clients and prints throughput, latency percentiles and the
// CPU time each operation cost the server, the database's backends (PostgreSQL) and this load
// generator. On a shared 2-core machine throughput moves with whatever else runs; CPU per
// operation does not, and 2 cores divided by its sum is the throughput the machine allows.
func (s *server) phase(name string, n, c int, op func(i int) (int, error), want int) {
	lat := make([]time.Duration, n)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := s.cpu()
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				st, err := op(i)
				lat[i] = time.Since(t)
				if err != nil || st != want {
					errs.Add(1)
					if err != nil {
						firstErr.CompareAndSwap(nil, err.Error())
					}
				}
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	cpu := s.cpu()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[min(int(float64(n)*p), n-1)] }
	used := cpu.since(cpu0)
	perOp := func(i int) string {
		if used[i] < 0 {
			return "-"
		}
		return strconv.Itoa(int(used[i].Microseconds() / int64(n)))
	}
	fmt.Printf("%-28s %8d %9.2f %10.0f %9s %9s %7d   %s, %s, %s\n", name, n, total.Seconds(), float64(n)/total.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), errs.Load(), perOp(0), perOp(1), perOp(2))
	if e := firstErr.Load(); e != nil {
		fmt.Printf("   first error: %.200s\n", e)
	}
}

// analyze refreshes PostgreSQL's planner statistics between phases (not timed), as autovacuum
// does on a production server as a table grows: this machine's PostgreSQL runs with autovacuum
// off, and without statistics the planner re-plans each lookup instead of reusing a generic
// plan.
func (s *server) analyze() {
	if s.pg == nil {
		return
	}
	if _, err := s.pg.Exec("ANALYZE"); err != nil {
		fail(fmt.Errorf("analyze: %w", err))
	}
}

// cpuSnap is the CPU time used so far by the server, by each backend process of the
// database (PostgreSQL only) and by this process.
type cpuSnap struct {
	server, self time.Duration
	backends     map[int]time.Duration // nil: not measured
}

func (s *server) cpu() cpuSnap {
	out := cpuSnap{server: procCPU(s.cmd.Process.Pid), self: procCPU(os.Getpid())}
	if s.pg != nil {
		rows, err := s.pg.Query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
		if err == nil {
			out.backends = map[int]time.Duration{}
			for rows.Next() {
				var pid int
				if rows.Scan(&pid) == nil {
					out.backends[pid] = procCPU(pid)
				}
			}
			rows.Close()
		}
	}
	return out
}

// since returns the CPU time used since earlier by the server, the database backends (-1
// when not measured; a backend that exited in between is not counted) and this process.
func (c cpuSnap) since(earlier cpuSnap) [3]time.Duration {
	d := [3]time.Duration{c.server - earlier.server, -1, c.self - earlier.self}
	if c.backends != nil && earlier.backends != nil {
		d[1] = 0
		for pid, t := range c.backends {
			d[1] += t - earlier.backends[pid]
		}
	}
	return d
}

// procCPU reads a process's user+system CPU time from /proc (Linux; clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
