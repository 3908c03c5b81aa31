package main

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// currentServer is the server under test, for the RSS figures printed with each result.
var currentServer *server

// client is an HTTP client with enough keep-alive connections for the workers.
func client(workers int) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: workers * 2, MaxIdleConnsPerHost: workers * 2, IdleConnTimeout: time.Minute}}
}

// result is one workload's measurements.
type result struct {
	name      string
	ops       int64 // operations (tokens, bindings)
	requests  int64
	errors    int64
	elapsed   time.Duration
	serverCPU time.Duration   // the server process's CPU time during the run, or < 0
	pgCPU     time.Duration   // all postgres processes' CPU time during the run, or < 0
	latencies []time.Duration // per request
}

func (r *result) print() {
	defer func() {
		if currentServer != nil {
			cpu := "?"
			if r.serverCPU >= 0 && r.ops > 0 {
				cpu = fmt.Sprintf("%.0f µs/op (%.2f cores)", float64(r.serverCPU.Microseconds())/float64(r.ops),
					r.serverCPU.Seconds()/r.elapsed.Seconds())
			}
			if r.pgCPU > 0 && r.ops > 0 {
				cpu += fmt.Sprintf(", postgres processes %.0f µs/op (%.2f cores)", float64(r.pgCPU.Microseconds())/float64(r.ops),
					r.pgCPU.Seconds()/r.elapsed.Seconds())
			}
			fmt.Printf("%34s server RSS peak so far %.0f MB, server CPU %s\n", "", currentServer.peakRSSMB(), cpu)
		}
	}()
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	pct := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[int(float64(len(r.latencies)-1)*p)]
	}
	fmt.Printf("%-34s %8d ops in %6.2fs  %9.0f ops/s  %7.0f req/s  p50 %-9v p99 %-9v errors %d\n",
		r.name, r.ops, r.elapsed.Seconds(), float64(r.ops)/r.elapsed.Seconds(),
		float64(r.requests)/r.elapsed.Seconds(), pct(0.50).Round(10*time.Microsecond),
		pct(0.99).Round(10*time.Microsecond), r.errors)
}

// run executes job(i) for i in [0, n) on workers goroutines (n < 0: until deadline), timing
// each call. job returns the operations it performed and whether it succeeded.
func run(name string, workers, n int, deadline time.Duration, job func(i int) (int, bool)) *result {
	var next atomic.Int64
	var ops, reqs, errs atomic.Int64
	lat := make([][]time.Duration, workers)
	cpu0, pg0 := time.Duration(-1), postgresCPUTime()
	if currentServer != nil {
		cpu0 = currentServer.cpuTime()
	}
	if currentServer != nil {
		// As autovacuum would while the phase's tables grow (benchkit.AnalyzeWhile); the
		// ANALYZE backend's CPU is counted with PostgreSQL's, a few µs per operation.
		defer currentServer.AnalyzeWhile()()
	}
	start := time.Now()
	stopAt := start.Add(deadline)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if n >= 0 && i >= n || n < 0 && time.Now().After(stopAt) {
					return
				}
				t0 := time.Now()
				k, ok := job(i)
				lat[w] = append(lat[w], time.Since(t0))
				reqs.Add(1)
				ops.Add(int64(k))
				if !ok {
					errs.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	r := &result{name: name, ops: ops.Load(), requests: reqs.Load(), errors: errs.Load(), elapsed: time.Since(start),
		serverCPU: -1, pgCPU: -1}
	if pg1 := postgresCPUTime(); pg0 >= 0 && pg1 >= 0 {
		r.pgCPU = pg1 - pg0
	}
	if cpu0 >= 0 {
		if cpu1 := currentServer.cpuTime(); cpu1 >= 0 {
			r.serverCPU = cpu1 - cpu0
		}
	}
	for _, l := range lat {
		r.latencies = append(r.latencies, l...)
	}
	return r
}
