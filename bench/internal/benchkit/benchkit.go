// Package benchkit is what the benchmarks share: building the server, starting it as a child
// process on a fresh SQLite file or PostgreSQL database, measuring the CPU time of the server,
// the database's backends and the load generator, and running a timed phase that prints
// throughput, p50/p99 latency and CPU per operation. It is not used by `go test`.
package benchkit

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the PostgreSQL driver for the admin connection

	"gatehouse/secret"
)

// Bootstrap credentials of the platform admin client every benchmark server starts with.
const (
	AdminClientID     = "ghc_bench"
	AdminClientSecret = "ghs_bench_secret_0123456789abcdefghij"
)

// Build compiles the server from the module root into a temporary file; the caller removes it.
func Build() (string, error) {
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
	out := filepath.Join(os.TempDir(), "gatehouse-bench-"+RandHex(4))
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, os.Stderr, os.Stderr
	return out, cmd.Run()
}

// Binary returns the server binary to benchmark: prebuilt when set (the -server flag, to run
// another commit's server under this load generator for an A/B comparison), else the module
// built by Build. done removes what Build made.
func Binary(prebuilt string) (bin string, done func(), err error) {
	if prebuilt != "" {
		return prebuilt, func() {}, nil
	}
	bin, err = Build()
	return bin, func() { os.Remove(bin) }, err
}

// RandHex returns n random bytes in hex.
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Server is a running Gatehouse child process on a database of its own.
type Server struct {
	Cmd   *exec.Cmd
	Base  string // http://127.0.0.1:port
	DBURL string // the server's database
	// PG is an open connection to the server's PostgreSQL database (nil on SQLite): to find
	// its backend processes and to ANALYZE between phases.
	PG      *sql.DB
	cleanup func()
}

// Start creates a fresh database ("sqlite" or "postgres", on the server pgAdmin points at),
// starts the server on a free loopback port with env added to its environment, and waits
// until /readyz answers.
func Start(bin, db, pgAdmin string, logs bool, env ...string) (*Server, error) {
	s := &Server{cleanup: func() {}}
	var dbURL string
	switch db {
	case "sqlite":
		dir, err := os.MkdirTemp("", "gatehouse-bench")
		if err != nil {
			return nil, err
		}
		dbURL = "sqlite:" + filepath.Join(dir, "bench.db")
		s.cleanup = func() { os.RemoveAll(dir) }
	case "postgres":
		name := "gatehouse_bench_" + RandHex(6)
		admin, err := sql.Open("pgx", pgAdmin)
		if err != nil {
			return nil, err
		}
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			admin.Close()
			return nil, fmt.Errorf("create database: %w", err)
		}
		u, _ := url.Parse(pgAdmin)
		u.Path = "/" + name
		dbURL = u.String()
		if s.PG, err = sql.Open("pgx", dbURL); err != nil {
			return nil, err
		}
		// One backend, the one CPU leaves out: ANALYZE and the CPU readings share it.
		s.PG.SetMaxOpenConns(1)
		s.cleanup = func() {
			s.PG.Close()
			admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			admin.Close()
		}
	default:
		return nil, fmt.Errorf("unknown database %q (want sqlite or postgres)", db)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.cleanup()
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s.Base, s.DBURL = "http://"+addr, dbURL
	s.Cmd = exec.Command(bin)
	s.Cmd.Env = append(os.Environ(), "GATEHOUSE_ADDR="+addr, "GATEHOUSE_DATABASE_URL="+dbURL,
		"GATEHOUSE_PUBLIC_URL="+s.Base, "GATEHOUSE_ENCRYPTION_KEY="+secret.NewKey(),
		"GATEHOUSE_BOOTSTRAP_CLIENT_ID="+AdminClientID, "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET="+AdminClientSecret,
		"GATEHOUSE_LOG_LEVEL=warn",
		// The limits stay on (their cost is measured) but never bind at benchmark rates.
		"GATEHOUSE_RATE_LIMIT_TOKENS=1000000/1s", "GATEHOUSE_RATE_LIMIT_SCIM=1000000/1s", "GATEHOUSE_RATE_LIMIT_GRAPHQL=1000000/1s", "GATEHOUSE_RATE_LIMIT_REST=1000000/1s",
		"GATEHOUSE_RATE_LIMIT_AUTHORIZE_PER_ADDRESS=1000000/1s")
	if a := os.Getenv("BENCH_DEBUG_ADDR"); a != "" {
		// The server's pprof, to profile it under load (go tool pprof http://$a/debug/pprof/profile).
		s.Cmd.Env = append(s.Cmd.Env, "GATEHOUSE_DEBUG_ADDR="+a)
	}
	s.Cmd.Env = append(s.Cmd.Env, env...)
	if logs {
		s.Cmd.Stdout, s.Cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := s.Cmd.Start(); err != nil {
		s.cleanup()
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("server did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop interrupts the server, kills it after 10 s, and drops its database.
func (s *Server) Stop() {
	_ = s.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.Cmd.Process.Kill()
		<-done
	}
	s.cleanup()
}

// PeakRSS is the server's high-water resident set size (Linux), e.g. "84 MB".
func (s *Server) PeakRSS() string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.Cmd.Process.Pid) + "/status")
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

// Analyze refreshes PostgreSQL's planner statistics between phases (not timed), as autovacuum
// has done on a production server by then: this machine's PostgreSQL runs with autovacuum off.
// It analyzes every table that holds pages, whatever the activity counters say: a connection
// reports its row changes at most once a second, and an idle one about ten seconds later, so
// a phase's last writes may not be counted yet. A table nothing has written to keeps "never
// analyzed", as on a production server; a plain ANALYZE would record it as empty, and the plans
// made from that scan it sequentially, or probe an index on part of a key, while the next
// phase fills it.
func (s *Server) Analyze() error {
	if s.PG == nil {
		return nil
	}
	return s.analyzeWhere(`pg_relation_size(s.relid) > 0`)
}

// analyzeWhere runs ANALYZE on the user tables that satisfy cond, an SQL condition over s
// (pg_stat_user_tables) and c (pg_class).
func (s *Server) analyzeWhere(cond string) error {
	rows, err := s.PG.Query(`SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname)
		FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE ` + cond)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(tables) == 0 {
		return nil
	}
	_, err = s.PG.Exec("ANALYZE " + strings.Join(tables, ", "))
	return err
}

// AnalyzeWhile refreshes PostgreSQL's statistics every second until the returned function is
// called, as autovacuum's ANALYZE does while tables grow: the tables with more than 50 + 10 % of
// their rows changed since their last ANALYZE (autovacuum_analyze_threshold and
// autovacuum_analyze_scale_factor at their defaults). A phase that starts on empty tables would
// otherwise run on plans made for them. It runs on the admin connection, whose backend CPU
// counts for neither side.
func (s *Server) AnalyzeWhile() func() {
	if s.PG == nil {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = s.analyzeWhere(`s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)`)
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// CPU is the CPU time used so far by the server, by each backend process of its PostgreSQL
// database, and by this process.
type CPU struct {
	server, self time.Duration
	backends     map[int]time.Duration // nil: not measured (SQLite)
}

// CPU reads the CPU time used so far.
func (s *Server) CPU() CPU {
	out := CPU{server: procCPU(s.Cmd.Process.Pid), self: procCPU(os.Getpid())}
	if s.PG != nil {
		rows, err := s.PG.Query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
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

// Since returns the CPU time used since earlier by the server, the database backends (-1 when
// not measured; a backend that exited in between is not counted) and this process.
func (c CPU) Since(earlier CPU) [3]time.Duration {
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

// PhaseHeader prints the column names Phase's lines fill.
func PhaseHeader() {
	fmt.Printf("%-37s %8s %9s %10s %9s %9s %7s   %s\n", "phase", "ops", "seconds", "ops/s", "p50", "p99", "errors",
		fmt.Sprintf("CPU µs/op: server, database, load generator; ops/s the %d cores allow at that CPU, with and without the load generator's", runtime.NumCPU()))
}

// Phase runs n operations from c concurrent workers and prints throughput, latency
// percentiles and the CPU time each operation cost the server, the database's backends
// (PostgreSQL) and this load generator. On a shared 2-core machine throughput moves with
// whatever else runs; CPU per operation does not. op returns nil on success.
func (s *Server) Phase(name string, n, c int, op func(i int) error) PhaseResult {
	lat := make([]time.Duration, n)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	stopAnalyze := s.AnalyzeWhile()
	cpu0 := s.CPU()
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
				err := op(i)
				lat[i] = time.Since(t)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	used := s.CPU().Since(cpu0)
	stopAnalyze()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[min(int(float64(n)*p), n-1)] }
	perOp := func(i int) string {
		if used[i] < 0 {
			return "-"
		}
		return strconv.Itoa(int(used[i].Microseconds() / int64(n)))
	}
	// The rate the machine's cores would allow if the processes had them to themselves and
	// kept them busy: with the load generator, a ceiling for the ops/s column, which a target
	// above it cannot meet; without it, what the server and its database would allow if the
	// clients (and the sign-in benchmark's IdPs, which run in the load generator) ran elsewhere.
	ceiling := func(used []time.Duration) string {
		var sum time.Duration
		for _, u := range used {
			sum += max(u, 0)
		}
		if sum <= 0 {
			return "-"
		}
		return strconv.Itoa(int(float64(runtime.NumCPU()) * float64(n) / sum.Seconds()))
	}
	fmt.Printf("%-37s %8d %9.2f %10.0f %9s %9s %7d   %s, %s, %s; %s, %s\n", name, n, total.Seconds(), float64(n)/total.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), errs.Load(), perOp(0), perOp(1), perOp(2),
		ceiling(used[:]), ceiling(used[:2]))
	if e := firstErr.Load(); e != nil {
		fmt.Printf("   first error: %.300s\n", e)
	}
	return PhaseResult{Rate: float64(n) / total.Seconds(), P99: pct(0.99), Errors: errs.Load()}
}

// PhaseResult is what a phase measured, for a benchmark that checks it against targets.
type PhaseResult struct {
	Rate   float64 // operations per second
	P99    time.Duration
	Errors int64
}
