package benchkit

import (
	"flag"
	"os"
)

// defaultPostgresURL is the admin URL of the PostgreSQL server the benchmarks run on unless
// told otherwise: this machine's, with trust authentication.
const defaultPostgresURL = "postgres://root@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresFlag registers the flag every benchmark takes for its PostgreSQL server: -pg, also
// spelt -postgres (the SCIM benchmark's name for it before the three shared this one). Its
// default is GATEHOUSE_BENCH_POSTGRES_URL, else GATEHOUSE_TEST_POSTGRES_URL (the tests'
// server), else defaultPostgresURL: each benchmark used to read only one of the two
// variables, and either now works with all three. Call it before flag.Parse.
func PostgresFlag() *string {
	def := defaultPostgresURL
	for _, k := range []string{"GATEHOUSE_BENCH_POSTGRES_URL", "GATEHOUSE_TEST_POSTGRES_URL"} {
		if v := os.Getenv(k); v != "" {
			def = v
			break
		}
	}
	u := flag.String("pg", def, "admin URL of the PostgreSQL server, where a scratch database is created and dropped "+
		"afterwards; GATEHOUSE_BENCH_POSTGRES_URL, else GATEHOUSE_TEST_POSTGRES_URL, sets the default")
	flag.StringVar(u, "postgres", def, "the same as -pg")
	return u
}
