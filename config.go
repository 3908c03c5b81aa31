package main

import (
	"fmt"
	"slices"
	"strings"
)

// setting is one environment variable Gatehouse reads. The settings table below is the only
// place a variable's default lives: loadConfig reads its defaults from it and `--help` prints
// it, so the two cannot drift (config_test.go also checks that every GATEHOUSE_* name in the
// code is listed).
type setting struct {
	Name    string
	Default string // the value used when the variable is unset or blank ("" = unset)
	Meaning string
	// Shown is the default as --help prints it when Default alone would mislead.
	Shown string
	// Group says who reads it: "server" (serve and the database commands), "bind" (the bind
	// client), "runtime" (the Go runtime) or "tests".
	Group string
}

// settings lists every variable, grouped as --help prints them.
var settings = []setting{
	{Name: "GATEHOUSE_ADDR", Default: ":8080", Group: "server", Meaning: "listen address"},
	{Name: "GATEHOUSE_DATABASE_URL", Default: "sqlite:gatehouse.db", Group: "server",
		Meaning: "sqlite:<path> or postgres://…"},
	{Name: "GATEHOUSE_PUBLIC_URL", Default: "http://localhost:8080", Group: "server",
		Meaning: "external base URL: token issuer and audience, SAML entity ID, ACS, redirect URIs"},
	{Name: "GATEHOUSE_ENCRYPTION_KEY", Group: "server", Shown: "generated into <sqlite path>.key; required with PostgreSQL",
		Meaning: "32 random bytes, standard base64 (openssl rand -base64 32): encrypts signing keys and IdP secrets at rest"},
	{Name: "GATEHOUSE_BOOTSTRAP_CLIENT_ID", Group: "server",
		Meaning: "on first start with no clients, the platform admin client's id (unset: generated and printed once)"},
	{Name: "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET", Group: "server",
		Meaning: "the platform admin client's secret, set together with GATEHOUSE_BOOTSTRAP_CLIENT_ID"},
	{Name: "GATEHOUSE_ALLOW_PRIVATE_NETWORKS", Default: "false", Group: "server",
		Meaning: "let connection tests and domain checks reach loopback/private addresses (development, tests)"},
	{Name: "GATEHOUSE_DNS_SERVER", Group: "server", Shown: "system resolver",
		Meaning: "host:port of the DNS server for domain verification"},
	{Name: "GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS", Default: "90", Group: "server",
		Meaning: "SCIM activity older than this many days (1-36500) is pruned, at start and hourly"},
	{Name: "GATEHOUSE_LOG_LEVEL", Default: "info", Group: "server",
		Meaning: "debug, info, warn or error (JSON logs on stdout)"},
	{Name: "GATEHOUSE_DEBUG_ADDR", Group: "server",
		Meaning: "serve net/http/pprof on this address (keep it on loopback)"},
	{Name: "GATEHOUSE_METRICS_ADDR", Group: "server",
		Meaning: "serve /metrics on this address instead of on GATEHOUSE_ADDR"},
	{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Group: "server",
		Meaning: "turn tracing on: export spans with OTLP there (the other standard OTEL_* variables apply)"},
	{Name: "GATEHOUSE_BOOTSTRAP_SECRET_FILE", Default: "gatehouse-bootstrap-secret.txt", Group: "server",
		Meaning: "where generated admin credentials are written once (mode 0600) when standard output is not a terminal"},
	// Limits and timeouts (README "Operating Gatehouse" → "Limits and timeouts").
	{Name: "GATEHOUSE_REQUEST_TIMEOUT", Default: "15s", Group: "server",
		Meaning: "deadline of every request and of its database calls (at most the 60 s write timeout less 5 s)"},
	{Name: "GATEHOUSE_MAX_CONCURRENT_REQUESTS", Default: "24", Group: "server",
		Meaning: "requests served at once; more wait for a slot"},
	{Name: "GATEHOUSE_RESERVED_CONCURRENT_REQUESTS", Default: "8", Group: "server",
		Meaning: "further slots for POST /oauth/token and /readyz only"},
	{Name: "GATEHOUSE_QUEUE_TIMEOUT", Default: "1s", Group: "server",
		Meaning: "how long a request waits for a slot before 503"},
	{Name: "GATEHOUSE_RATE_LIMIT_AUTH_FAILURES", Default: "20/1m", Group: "server",
		Meaning: "failed client authentications per client id, then 429 (off: no limit)"},
	{Name: "GATEHOUSE_RATE_LIMIT_AUTH_FAILURES_PER_ADDRESS", Default: "100/1m", Group: "server",
		Meaning: "failed client authentications per source address"},
	{Name: "GATEHOUSE_RATE_LIMIT_TOKENS", Default: "600/1m", Group: "server",
		Meaning: "client-credentials tokens issued per client"},
	{Name: "GATEHOUSE_RATE_LIMIT_SCIM", Default: "6000/1m", Group: "server", Meaning: "SCIM requests per bearer token"},
	{Name: "GATEHOUSE_RATE_LIMIT_GRAPHQL", Default: "6000/1m", Group: "server", Meaning: "GraphQL requests per client"},
	{Name: "GATEHOUSE_DATABASE_WAIT", Default: "60s", Group: "server",
		Meaning: "at start, keep retrying a database that is not reachable yet, then give up"},
	{Name: "GATEHOUSE_SHUTDOWN_DRAIN", Default: "5s", Group: "server",
		Meaning: "after SIGTERM, /readyz answers 503 and the server keeps serving this long, then stops"},
	{Name: "GATEHOUSE_CLIENT_ID", Group: "bind", Meaning: "bind: the integration client's id (or --client-id)"},
	{Name: "GATEHOUSE_CLIENT_SECRET", Group: "bind", Meaning: "bind: the integration client's secret (or --client-secret)"},
	{Name: "GOMEMLIMIT", Group: "runtime", Shown: "96MiB",
		Meaning: "Go's soft heap limit; serve sets 96 MiB (and GOGC=200) when it is unset"},
	{Name: "GATEHOUSE_TEST_POSTGRES_URL", Group: "tests",
		Meaning: "go test: also run the storage tests on this PostgreSQL server"},
	{Name: "GATEHOUSE_BENCH_POSTGRES_URL", Group: "tests", Shown: "postgres://root@127.0.0.1:5432/postgres?sslmode=disable",
		Meaning: "go run ./bench/scim: the PostgreSQL server to benchmark on (a scratch database)"},
}

// lookupSetting returns the named setting; a name missing from the table is a programming
// error that config_test.go catches.
func lookupSetting(name string) (setting, bool) {
	for _, s := range settings {
		if s.Name == name {
			return s, true
		}
	}
	return setting{}, false
}

// envHelp renders the settings of the given groups (all when none) for --help.
func envHelp(groups ...string) string {
	var b strings.Builder
	for _, s := range settings {
		if len(groups) > 0 && !slices.Contains(groups, s.Group) {
			continue
		}
		def := s.Shown
		if def == "" {
			def = s.Default
		}
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(&b, "  %s (default: %s)\n      %s\n", s.Name, def, s.Meaning)
	}
	return b.String()
}
