package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"gatehouse/secret"
)

const (
	benchClientID     = "ghc_bench"
	benchClientSecret = "ghs_bench_secret_0123456789abcdef"
)

func numCPU() int { return runtime.GOMAXPROCS(0) }

// buildServer compiles the server binary into a temporary file.
func buildServer() (string, error) {
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("gatehouse-bench-%d", os.Getpid()))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	return bin, nil
}

// server is a running Gatehouse child process on a fresh database.
type server struct {
	cmd     *exec.Cmd
	url     string
	dbURL   string
	cleanup func()
}

func startServer(ctx context.Context, bin, db, pgAdmin string) (*server, error) {
	s := &server{cleanup: func() {}}
	switch db {
	case "sqlite":
		dir, err := os.MkdirTemp("", "gatehouse-bench")
		if err != nil {
			return nil, err
		}
		s.dbURL = "sqlite:" + filepath.Join(dir, "bench.db")
		s.cleanup = func() { os.RemoveAll(dir) }
	case "postgres":
		b := make([]byte, 6)
		rand.Read(b)
		name := "gatehouse_bench_" + hex.EncodeToString(b)
		admin, err := sql.Open("pgx", pgAdmin)
		if err != nil {
			return nil, err
		}
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			return nil, fmt.Errorf("create database: %w", err)
		}
		u, _ := url.Parse(pgAdmin)
		u.Path = "/" + name
		s.dbURL = u.String()
		s.cleanup = func() {
			admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			admin.Close()
		}
	default:
		return nil, fmt.Errorf("unknown database %q", db)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	s.url = "http://" + addr
	s.cmd = exec.CommandContext(ctx, bin)
	s.cmd.Env = append(os.Environ(),
		"GATEHOUSE_ADDR="+addr, "GATEHOUSE_PUBLIC_URL="+s.url, "GATEHOUSE_DATABASE_URL="+s.dbURL,
		"GATEHOUSE_ENCRYPTION_KEY="+secret.NewKey(), "GATEHOUSE_BOOTSTRAP_CLIENT_ID="+benchClientID,
		"GATEHOUSE_BOOTSTRAP_CLIENT_SECRET="+benchClientSecret, "GATEHOUSE_LOG_LEVEL=warn",
		// The limits stay on (their cost is measured) but never bind at benchmark rates.
		"GATEHOUSE_RATE_LIMIT_TOKENS=1000000/1s", "GATEHOUSE_RATE_LIMIT_SCIM=1000000/1s", "GATEHOUSE_RATE_LIMIT_GRAPHQL=1000000/1s", "GATEHOUSE_DEBUG_ADDR="+os.Getenv("BENCH_DEBUG_ADDR"))
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, err
	}
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(s.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("server did not become ready")
}

// peakRSSMB reads the child's peak resident set size (VmHWM) from /proc.
func (s *server) peakRSSMB() float64 { return s.status("VmHWM:") }

// cpuTime reads the child's user+system CPU time from /proc (clock ticks of 10 ms, as on every
// Linux the benchmark runs on), or -1.
func (s *server) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces) start at state, field 3.
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return -1
	}
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// postgresCPUTime sums the CPU time of every process named postgres on this machine (the
// benchmark's backends, and whatever else the shared server is doing), or -1.
func postgresCPUTime() time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	total, found := time.Duration(0), false
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), " (postgres) ") {
			continue
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.Atoi(f[11])
		stime, _ := strconv.Atoi(f[12])
		total += time.Duration(utime+stime) * 10 * time.Millisecond
		found = true
	}
	if !found {
		return -1
	}
	return total
}

// status reads a memory figure (in MB) from the child's /proc status.
func (s *server) status(key string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, _ := strconv.Atoi(strings.Fields(rest)[0])
			return float64(kb) / 1024
		}
	}
	return -1
}

// analyze refreshes the PostgreSQL planner statistics, as autovacuum does on a production
// server. This machine's PostgreSQL runs with autovacuum off; without statistics the planner
// cannot tell that workspace_id has one value and scans the identity index for every row.
func (s *server) analyze() {
	if !strings.HasPrefix(s.dbURL, "postgres") {
		return
	}
	db, err := sql.Open("pgx", s.dbURL)
	if err != nil {
		fail(err)
	}
	defer db.Close()
	if _, err := db.Exec("ANALYZE"); err != nil {
		fail(fmt.Errorf("analyze: %w", err))
	}
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
		}
	}
	s.cleanup()
}
