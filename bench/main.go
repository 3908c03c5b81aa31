// Command bench measures Gatehouse under load and prints throughput and p50/p99 latency per
// workload, for SQLite and PostgreSQL. It builds the server, starts it as a child process on a
// fresh database (a temporary SQLite file, or a new PostgreSQL database that it drops at the
// end), drives it over loopback HTTP, and reports the server's peak RSS. It is not run by
// `go test`.
//
//	go run ./bench                        # every workload, both databases
//	go run ./bench -db postgres -workloads tokens,bind
//
// Workloads:
//
//	tokens  client-credentials token issuance, 8 concurrent clients, for -duration
//	bind    100k pre-created accounts bound through GraphQL with 8 concurrent connections:
//	        one mutation per request, then 100 aliased mutations per request, then the bulk
//	        mutation with 1,000 items per request, then `gatehouse bind` with a CSV of them
//	        all (phases: -bind single,aliased,bulk,cli; add rerun to run that file a second time)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"gatehouse/bench/internal/benchkit"
)

func main() {
	dbs := flag.String("db", "sqlite,postgres", "databases to run against: sqlite, postgres")
	workloads := flag.String("workloads", "tokens,bind", "workloads to run")
	duration := flag.Duration("duration", 10*time.Second, "duration of time-bound workloads")
	accounts := flag.Int("accounts", 100_000, "accounts to bind in the bind workload")
	concurrency := flag.Int("c", 8, "concurrent clients")
	bindModes := flag.String("bind", "single,aliased,bulk,cli", "bind workload phases to run: single, aliased, bulk, dryrun (gatehouse bind --dry-run), cli, rerun")
	pgURL := benchkit.PostgresFlag()
	prebuilt := flag.String("server", "", "benchmark this prebuilt gatehouse binary instead of building the module (A/B against another commit)")
	flag.Parse()

	bin, done, err := benchkit.Binary(*prebuilt)
	if err != nil {
		fail(err)
	}
	defer done()
	benchBinary = bin
	fmt.Printf("gatehouse bench  %s  GOMAXPROCS=%d  concurrency=%d\n", time.Now().UTC().Format(time.RFC3339), numCPU(), *concurrency)
	for _, db := range strings.Split(*dbs, ",") {
		ctx := context.Background()
		srv, err := startServer(ctx, bin, db, *pgURL)
		if err != nil {
			fail(err)
		}
		fmt.Printf("\n== %s\n", db)
		currentServer = srv
		for _, w := range strings.Split(*workloads, ",") {
			switch w {
			case "tokens":
				runTokens(srv, *concurrency, *duration)
			case "bind":
				if err := runBind(srv, *concurrency, *accounts, *bindModes); err != nil {
					srv.stop()
					fail(err)
				}
			default:
				srv.stop()
				fail(fmt.Errorf("unknown workload %q", w))
			}
		}
		fmt.Printf("server peak RSS: %.0f MB\n", srv.peakRSSMB())
		srv.stop()
	}
}

// benchBinary is the built gatehouse binary: the server, and the bind command of -bind cli.
var benchBinary string

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
