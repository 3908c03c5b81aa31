package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gatehouse/bench/internal/benchkit"
)

const (
	benchClientID     = benchkit.AdminClientID
	benchClientSecret = benchkit.AdminClientSecret
)

func numCPU() int { return runtime.GOMAXPROCS(0) }

// server is a running Gatehouse child process on a fresh database (benchkit), with its log
// on standard error.
type server struct {
	*benchkit.Server
	url string
}

func startServer(ctx context.Context, bin, db, pgAdmin string) (*server, error) {
	s, err := benchkit.Start(bin, db, pgAdmin, true, "GATEHOUSE_DEBUG_ADDR="+os.Getenv("BENCH_DEBUG_ADDR"))
	if err != nil {
		return nil, err
	}
	return &server{Server: s, url: s.Base}, nil
}

// peakRSSMB reads the child's peak resident set size (VmHWM) from /proc.
func (s *server) peakRSSMB() float64 { return s.status("VmHWM:") }

// cpuTime reads the child's user+system CPU time from /proc (clock ticks of 10 ms, as on every
// Linux the benchmark runs on), or -1.
func (s *server) cpuTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.Cmd.Process.Pid))
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
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.Cmd.Process.Pid))
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
	if err := s.Analyze(); err != nil {
		fail(fmt.Errorf("analyze: %w", err))
	}
}

func (s *server) stop() { s.Stop() }
