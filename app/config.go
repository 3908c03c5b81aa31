package app

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/guard"
	"gatehouse/netguard"
	"gatehouse/secret"
	"gatehouse/store"
)

// Setting is one environment variable Gatehouse reads. The settings table below is the only
// place a variable's default lives: LoadConfig reads its defaults from it and `--help` prints
// it, so the two cannot drift (config_test.go also checks that every GATEHOUSE_* name in the
// code is listed).
type Setting struct {
	Name    string
	Default string // the value used when the variable is unset or blank ("" = unset)
	Meaning string
	// Shown is the default as --help prints it when Default alone would mislead.
	Shown string
	// Group says who reads it: "server" (serve and the database commands), "bind" (the bind
	// client), "runtime" (the Go runtime) or "tests".
	Group string
}

// Settings lists every variable, grouped as --help prints them.
var Settings = []Setting{
	{Name: "GATEHOUSE_ADDR", Default: ":8080", Group: "server", Meaning: "listen address"},
	{Name: "GATEHOUSE_DATABASE_URL", Default: "sqlite:gatehouse.db", Group: "server",
		Meaning: "sqlite:<path> or postgres://…"},
	{Name: "GATEHOUSE_PUBLIC_URL", Default: "http://localhost:8080", Group: "server",
		Meaning: "external base URL: token issuer and audience, SAML entity ID, ACS, redirect URIs"},
	{Name: "GATEHOUSE_ENCRYPTION_KEY", Group: "server", Shown: "generated into <sqlite path>.key; required with PostgreSQL",
		Meaning: "32 random bytes, standard base64 (openssl rand -base64 32): encrypts signing keys and IdP secrets at rest"},
	{Name: "GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS", Group: "server",
		Meaning: "during a rotation of GATEHOUSE_ENCRYPTION_KEY, the keys it replaces, comma-separated: they decrypt, never encrypt, until gatehouse reencrypt has moved every secret to the new key"},
	{Name: "GATEHOUSE_BOOTSTRAP_CLIENT_ID", Group: "server",
		Meaning: "on first start with no clients, the platform admin client's id, not beginning with gha_ (unset: generated and printed once)"},
	{Name: "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET", Group: "server",
		Meaning: "the platform admin client's secret (32 to 256 random characters: openssl rand -hex 24), set together with GATEHOUSE_BOOTSTRAP_CLIENT_ID"},
	{Name: "GATEHOUSE_ALLOW_PRIVATE_NETWORKS", Default: "false", Group: "server",
		Meaning: "let every outbound call (connection tests, domain checks, the sign-ins' calls to IdPs, SAML metadata refresh) reach loopback/private addresses, and accept http:// IdP URLs on loopback (development, tests)"},
	{Name: "GATEHOUSE_ALLOWED_PRIVATE_NETWORKS", Group: "server", Shown: "none",
		Meaning: "CIDR prefixes (comma-separated, such as 10.1.0.0/16,fd00::/8) of the private networks every outbound call may reach while GATEHOUSE_ALLOW_PRIVATE_NETWORKS is false (an on-premises IdP); loopback and link-local addresses only through an entry within them (127.0.0.1/32), cloud metadata addresses never"},
	{Name: "GATEHOUSE_DNS_SERVER", Group: "server", Shown: "system resolver",
		Meaning: "host:port of the DNS server for domain verification"},
	{Name: "GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS", Default: "90", Group: "server",
		Meaning: "SCIM activity older than this many days (1-36500) is pruned, at start and hourly"},
	{Name: "GATEHOUSE_SIGN_IN_EVENT_RETENTION_DAYS", Default: "90", Group: "server",
		Meaning: "sign-in events older than this many days (1-36500) are pruned, at start and hourly"},
	{Name: "GATEHOUSE_LOG_LEVEL", Default: "info", Group: "server",
		Meaning: "debug, info, warn or error (JSON logs on stdout)"},
	{Name: "GATEHOUSE_DEBUG_ADDR", Group: "server",
		Meaning: "serve net/http/pprof on this address (keep it on loopback)"},
	{Name: "GATEHOUSE_METRICS_ADDR", Group: "server",
		Meaning: "serve /metrics on this address instead of on GATEHOUSE_ADDR"},
	{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Group: "server",
		Meaning: "turn tracing on: export spans with OTLP there (the other standard OTEL_* variables apply)"},
	{Name: "GATEHOUSE_BOOTSTRAP_SECRET_FILE", Default: "gatehouse-bootstrap-secret.txt", Group: "server",
		Meaning: "where generated admin credentials are written once (mode 0600) when standard output is not a terminal; a first start that cannot write there refuses to begin"},
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
		Meaning: "failed client authentications per integration client id, then 429 (off: no limit); an application's count per address only"},
	{Name: "GATEHOUSE_RATE_LIMIT_AUTH_FAILURES_PER_ADDRESS", Default: "100/1m", Group: "server",
		Meaning: "failed client authentications per source address"},
	{Name: "GATEHOUSE_RATE_LIMIT_TOKENS", Default: "600/1m", Group: "server",
		Meaning: "client-credentials tokens issued per client"},
	{Name: "GATEHOUSE_RATE_LIMIT_SCIM", Default: "6000/1m", Group: "server", Meaning: "SCIM requests per bearer token"},
	{Name: "GATEHOUSE_RATE_LIMIT_GRAPHQL", Default: "6000/1m", Group: "server", Meaning: "GraphQL requests per client"},
	{Name: "GATEHOUSE_RATE_LIMIT_REST", Default: "6000/1m", Group: "server", Meaning: "REST (/api/v1) requests per client"},
	{Name: "GATEHOUSE_RATE_LIMIT_AUTHORIZE_PER_ADDRESS", Group: "server", Shown: "600/1m with GATEHOUSE_TRUSTED_PROXIES, else off",
		Meaning: "sign-in starts (GET or POST /oauth/authorize) per source address"},
	{Name: "GATEHOUSE_TRUSTED_PROXIES", Group: "server", Shown: "none",
		Meaning: "addresses or CIDR prefixes of the proxies in front of Gatehouse, whose X-Forwarded-For names the source address (per-address limits, access log)"},
	{Name: "GATEHOUSE_DATABASE_WAIT", Default: "60s", Group: "server",
		Meaning: "at start, keep retrying a database that is not reachable yet, then give up"},
	{Name: "GATEHOUSE_SHUTDOWN_DRAIN", Default: "5s", Group: "server",
		Meaning: "after SIGTERM, /readyz answers 503 and the server keeps serving this long, then stops (a second SIGTERM or SIGINT stops it at once)"},
	{Name: "GATEHOUSE_CLIENT_ID", Group: "bind", Meaning: "bind: the integration client's id (or --client-id)"},
	{Name: "GATEHOUSE_CLIENT_SECRET", Group: "bind", Meaning: "bind: the integration client's secret (or --client-secret)"},
	{Name: "GOMEMLIMIT", Group: "runtime", Shown: "96MiB",
		Meaning: "Go's soft heap limit; serve sets 96 MiB (and GOGC=200) when it is unset"},
	{Name: "GATEHOUSE_TEST_POSTGRES_URL", Group: "tests",
		Meaning: "go test: also run the storage tests on this PostgreSQL server"},
	{Name: "GATEHOUSE_BENCH_POSTGRES_URL", Group: "tests", Shown: "postgres://root@127.0.0.1:5432/postgres?sslmode=disable",
		Meaning: "the benches (go run ./bench, ./bench/scim, ./bench/signin): the PostgreSQL server to benchmark on, in a scratch database (default GATEHOUSE_TEST_POSTGRES_URL, else the URL shown)"},
}

// LookupSetting returns the named setting; a name missing from the table is a programming
// error that config_test.go catches.
func LookupSetting(name string) (Setting, bool) {
	for _, s := range Settings {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

// EnvHelp renders the Settings of the given groups (all when none) for --help.
func EnvHelp(groups ...string) string {
	var b strings.Builder
	for _, s := range Settings {
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

// WriteTimeout is the HTTP server's write timeout; every request's deadline must end before it
// so that its answer is always written.
const WriteTimeout = 60 * time.Second

// LoadConfig reads the configuration from the environment (getenv), with the defaults of the
// Settings table.
func LoadConfig(getenv func(string) string) (Config, error) {
	// Defaults come from the settings table (config.go), the one place they are written.
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		s, ok := LookupSetting(name)
		if !ok {
			panic("config: " + name + " is missing from the settings table in config.go")
		}
		return s.Default
	}
	c := Config{
		Addr:                  get("GATEHOUSE_ADDR"),
		DatabaseURL:           get("GATEHOUSE_DATABASE_URL"),
		EncryptionKey:         get("GATEHOUSE_ENCRYPTION_KEY"),
		BootstrapClientID:     get("GATEHOUSE_BOOTSTRAP_CLIENT_ID"),
		BootstrapClientSecret: get("GATEHOUSE_BOOTSTRAP_CLIENT_SECRET"),
		DNSServer:             get("GATEHOUSE_DNS_SERVER"),
		DebugAddr:             get("GATEHOUSE_DEBUG_ADDR"),
		MetricsAddr:           get("GATEHOUSE_METRICS_ADDR"),
	}
	// Refused here, not by the store.Open that would fail on it: the start creates the
	// SQLite key file before it opens the database (app.New).
	if err := store.CheckURL(c.DatabaseURL); err != nil {
		return c, err
	}
	var err error
	for _, k := range strings.Split(get("GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS"), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if _, err := secret.NewBox(k); err != nil {
			return c, fmt.Errorf("GATEHOUSE_PREVIOUS_ENCRYPTION_KEYS: %w", err)
		}
		c.PreviousEncryptionKeys = append(c.PreviousEncryptionKeys, k)
	}
	c.PublicURLUnset = strings.TrimSpace(getenv("GATEHOUSE_PUBLIC_URL")) == ""
	if c.PublicURL, err = publicURL(get("GATEHOUSE_PUBLIC_URL")); err != nil {
		return c, fmt.Errorf("GATEHOUSE_PUBLIC_URL: %w", err)
	}
	if err := dnsServer(c.DNSServer); err != nil {
		return c, fmt.Errorf("GATEHOUSE_DNS_SERVER: %w", err)
	}
	if c.AllowPrivateNetworks, err = strconv.ParseBool(get("GATEHOUSE_ALLOW_PRIVATE_NETWORKS")); err != nil {
		return c, fmt.Errorf("GATEHOUSE_ALLOW_PRIVATE_NETWORKS: %w", err)
	}
	if c.AllowedPrivateNetworks, err = netguard.ParseNetworks(get("GATEHOUSE_ALLOWED_PRIVATE_NETWORKS")); err != nil {
		return c, fmt.Errorf("GATEHOUSE_ALLOWED_PRIVATE_NETWORKS: %w", err)
	}
	if c.SCIMActivityRetention, err = retentionDays("GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS", get); err != nil {
		return c, err
	}
	if c.SignInEventRetention, err = retentionDays("GATEHOUSE_SIGN_IN_EVENT_RETENTION_DAYS", get); err != nil {
		return c, err
	}
	// Runtime bounds, one variable each (meanings in config.go; README "Operating Gatehouse" →
	// "Limits and timeouts").
	v := vars{get: get}
	c.Guard.RequestTimeout = v.duration("GATEHOUSE_REQUEST_TIMEOUT")
	c.Guard.MaxConcurrent = v.count("GATEHOUSE_MAX_CONCURRENT_REQUESTS")
	c.Guard.PriorityConcurrent = v.count("GATEHOUSE_RESERVED_CONCURRENT_REQUESTS")
	c.Guard.QueueTimeout = v.duration("GATEHOUSE_QUEUE_TIMEOUT")
	c.Guard.AuthFailures = v.rate("GATEHOUSE_RATE_LIMIT_AUTH_FAILURES")
	c.Guard.AuthFailuresPerAddress = v.rate("GATEHOUSE_RATE_LIMIT_AUTH_FAILURES_PER_ADDRESS")
	c.Guard.Tokens = v.rate("GATEHOUSE_RATE_LIMIT_TOKENS")
	c.Guard.SCIM = v.rate("GATEHOUSE_RATE_LIMIT_SCIM")
	c.Guard.GraphQL = v.rate("GATEHOUSE_RATE_LIMIT_GRAPHQL")
	c.Guard.REST = v.rate("GATEHOUSE_RATE_LIMIT_REST")
	c.Guard.TrustedProxies = v.proxies("GATEHOUSE_TRUSTED_PROXIES")
	if get("GATEHOUSE_RATE_LIMIT_AUTHORIZE_PER_ADDRESS") != "" {
		c.Guard.AuthorizePerAddress = v.rate("GATEHOUSE_RATE_LIMIT_AUTHORIZE_PER_ADDRESS")
	} else if len(c.Guard.TrustedProxies) > 0 {
		// The limit counts legitimate sign-ins too, so it is on by default only where the
		// source address is the client's: behind declared proxies. Behind a proxy Gatehouse
		// does not know, every client has the proxy's address, and one budget for everyone
		// would let one client stop all sign-ins.
		c.Guard.AuthorizePerAddress = guard.Rate{N: 600, Per: time.Minute}
	}
	c.DatabaseWait = v.duration("GATEHOUSE_DATABASE_WAIT")
	c.ShutdownDrain = v.duration("GATEHOUSE_SHUTDOWN_DRAIN")
	c.BootstrapSecretTo = get("GATEHOUSE_BOOTSTRAP_SECRET_FILE")
	if err := v.check(c); err != nil {
		return c, err
	}
	if level := get("GATEHOUSE_LOG_LEVEL"); c.LogLevel.UnmarshalText([]byte(level)) != nil {
		// slog's own error speaks of its parser ("slog: level string"); the operator needs the
		// values the variable takes.
		return c, fmt.Errorf("GATEHOUSE_LOG_LEVEL: want debug, info, warn or error, got %q", level)
	}
	if (c.BootstrapClientID == "") != (c.BootstrapClientSecret == "") {
		return c, errors.New("set both GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET, or neither")
	}
	return c, nil
}

// vars reads and parses the runtime variables of LoadConfig, keeping the first error.
type vars struct {
	get   func(name string) string // the value, or the settings table's default
	first error
}

func (v *vars) fail(name string, err error) {
	if v.first == nil {
		v.first = fmt.Errorf("%s: %w", name, err)
	}
}

func (v *vars) duration(name string) time.Duration {
	s := v.get(name)
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		v.fail(name, fmt.Errorf("want a duration such as 500ms, 15s or 1m, got %q", s))
	}
	return d
}

func (v *vars) count(name string) int {
	s := v.get(name)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 10000 {
		v.fail(name, fmt.Errorf("want a whole number from 1 to 10000, got %q", s))
	}
	return n
}

func (v *vars) rate(name string) guard.Rate {
	r, err := guard.ParseRate(v.get(name))
	if err != nil {
		v.fail(name, err)
	}
	return r
}

func (v *vars) proxies(name string) guard.Proxies {
	p, err := guard.ParseProxies(v.get(name))
	if err != nil {
		v.fail(name, err)
	}
	return p
}

// check returns the first parse error, or a bound that contradicts another.
func (v *vars) check(c Config) error {
	if v.first != nil {
		return v.first
	}
	if t := c.Guard.RequestTimeout; t <= 0 || t > WriteTimeout-5*time.Second {
		return fmt.Errorf("GATEHOUSE_REQUEST_TIMEOUT: want a duration above 0 and at most %s (the HTTP write timeout less 5 s), got %s", WriteTimeout-5*time.Second, t)
	}
	return nil
}

// publicURL checks the URL people and identity providers reach Gatehouse at, which every
// issued token, discovery document, callback and metadata URL is built from. It is kept as
// written, less surrounding space and a trailing slash: IdPs and applications were configured
// with those strings (issuer, entity ID, ACS), so rewriting it would break them.
func publicURL(raw string) (string, error) {
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = shownURL(raw) // url.Error quotes the whole URL, a password in it too
		}
		return "", fmt.Errorf("want an absolute http or https URL such as https://sso.example.com: %w", err)
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme != "https" && scheme != "http" || u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("want an absolute http or https URL such as https://sso.example.com, got %q", shownURL(raw))
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("want a URL without user information, query or fragment, got %q", shownURL(raw))
	}
	return raw, nil
}

// shownURL is a URL as an error quotes it: the user information before an "@" (a user name
// and password) is masked, as it would be in the start-up error and the log that keeps it.
func shownURL(raw string) string {
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return raw
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return raw[:start] + "xxxxx" + raw[at:]
}

// PublicURLWarnings are the start-up log's warnings about the public URL, if any.
//
// GATEHOUSE_PUBLIC_URL unset (so http://localhost:8080) while the server listens on another
// port: tokens and redirect URIs would not reach it (the bootstrap banner's curl goes to the
// listen port, with a note). The default is kept rather than derived from the port: a server
// behind a port mapping (docker -p 8080:9090) is right with it, and an issuer that moved on
// upgrade would void every token issued.
//
// An http URL on a host other than this machine's: it starts, because a trial on a private
// network is legitimate, but the sign-in cookie then goes without Secure or the __Host- prefix
// (a sibling subdomain can plant one, the network can read it), and Entra ID and Google
// accept http redirect URIs only on localhost.
func PublicURLWarnings(c Config) []string {
	var warnings []string
	if port, mismatch := listenPortMismatch(c); mismatch {
		warnings = append(warnings, "GATEHOUSE_PUBLIC_URL is unset, so tokens, sign-in redirects and SAML metadata name "+
			c.PublicURL+", but the server listens on port "+port+": set GATEHOUSE_PUBLIC_URL to the URL clients reach it at")
	}
	if u, err := url.Parse(c.PublicURL); err == nil && strings.EqualFold(u.Scheme, "http") && !loopbackHost(u.Hostname()) {
		warnings = append(warnings, "GATEHOUSE_PUBLIC_URL "+c.PublicURL+" is plain http on a host other than this machine's: "+
			"sign-in cookies go without Secure or the __Host- prefix, so the network can read them and a sibling subdomain "+
			"can plant one, and Entra ID and Google take http redirect URIs only on localhost; serve Gatehouse over https "+
			"(behind a TLS-terminating proxy) for anything beyond a trial")
	}
	return warnings
}

// listenPortMismatch is whether the public URL was left to its default while the server
// listens on another numeric port (not 0, which the system chooses), and that port.
func listenPortMismatch(c Config) (string, bool) {
	_, port, err := net.SplitHostPort(c.Addr)
	if !c.PublicURLUnset || err != nil {
		return "", false
	}
	_, numeric := strconv.Atoi(port)
	return port, numeric == nil && port != "0" && !strings.HasSuffix(c.PublicURL, ":"+port)
}

// loopbackHost is whether host names this machine: localhost (and its subdomains, RFC 6761)
// or a loopback address.
func loopbackHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// retentionDays reads a retention in whole days, from 1 to 36500 (more would overflow a
// time.Duration).
func retentionDays(name string, get func(string) string) (time.Duration, error) {
	days, err := strconv.Atoi(get(name))
	if err != nil || days < 1 || days > 36500 {
		return 0, errors.New(name + ": want a whole number of days from 1 to 36500")
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

// dnsServer checks GATEHOUSE_DNS_SERVER ("" : the system resolver): host:port with a port from
// 1 to 65535. A wrong one would fail every domain check, with a reason each workspace's admins
// read; it fails the start instead, where the operator reads it.
func dnsServer(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("want host:port, such as 10.0.0.2:53 or [2001:db8::53]:53, got %q", addr)
	}
	return nil
}
