package main

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

func TestSCIMRetentionConfig(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GATEHOUSE_SCIM_ACTIVITY_RETENTION_DAYS" {
				return v
			}
			return ""
		}
	}
	c, err := app.LoadConfig(env(""))
	if err != nil || c.SCIMActivityRetention != 90*24*time.Hour {
		t.Fatalf("default: %v %v", c.SCIMActivityRetention, err)
	}
	if c, err = app.LoadConfig(env("7")); err != nil || c.SCIMActivityRetention != 7*24*time.Hour {
		t.Fatalf("7: %v %v", c.SCIMActivityRetention, err)
	}
	if c, err = app.LoadConfig(env("36500")); err != nil || c.SCIMActivityRetention != 36500*24*time.Hour {
		t.Fatalf("36500: %v %v", c.SCIMActivityRetention, err)
	}
	for _, bad := range []string{"0", "-1", "ninety", "36501", "213600"} {
		if _, err := app.LoadConfig(env(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Unset, the public URL stays http://localhost:8080 whatever the listen address (a port
// mapping may make it right; an issuer moved by an upgrade would void every token), and a
// server listening on another port warns at start; so does a plain-http public URL on a host
// other than this machine's.
func TestPublicURLWarnings(t *testing.T) {
	for _, c := range []struct{ addr, public, warn string }{
		{"", "", ""},
		{":8080", "", ""},
		{":9090", "", "listens on port 9090"},
		{"[::]:9090", "", "listens on port 9090"},
		{"localhost:18082", "", "listens on port 18082"},
		{"127.0.0.1:0", "", ""}, // a port chosen by the system: nothing to compare
		{":http", "", ""},       // a service name: net.Listen takes it, the URL is not derived from it
		{":9090", "https://sso.example.com", ""},
		{":9090", "http://localhost:9090", ""},
		{":9090", "http://127.0.0.1:9090", ""},
		{":9090", "http://[::1]:9090", ""},
		{":9090", "http://gh.localhost:9090", ""},
		{":8080", "http://sso.example.com", "plain http on a host other than this machine's"},
		{":8080", "HTTP://10.0.0.7:8080", "plain http"},
		{":9090", "http://localhost.example.com:9090", "plain http"},
	} {
		env := func(name string) string {
			return map[string]string{"GATEHOUSE_ADDR": c.addr, "GATEHOUSE_PUBLIC_URL": c.public}[name]
		}
		cfg, err := app.LoadConfig(env)
		if err != nil {
			t.Fatalf("GATEHOUSE_ADDR=%q: %v", c.addr, err)
		}
		if want := cmp.Or(c.public, "http://localhost:8080"); cfg.PublicURL != want {
			t.Errorf("GATEHOUSE_ADDR=%q GATEHOUSE_PUBLIC_URL=%q: public URL %q, want %q", c.addr, c.public, cfg.PublicURL, want)
		}
		w := strings.Join(app.PublicURLWarnings(cfg), "\n")
		if (c.warn == "") != (w == "") || !strings.Contains(w, c.warn) {
			t.Errorf("GATEHOUSE_ADDR=%q GATEHOUSE_PUBLIC_URL=%q: warning %q, want one with %q", c.addr, c.public, w, c.warn)
		}
	}
}

// GATEHOUSE_DNS_SERVER must be host:port: a wrong one fails the start, saying what it wants,
// instead of every domain check, whose reason each workspace's admins would read.
func TestDNSServerConfig(t *testing.T) {
	for _, c := range []struct {
		value string
		ok    bool
	}{
		{"", true}, {"10.0.0.2:53", true}, {"[2001:db8::53]:53", true}, {"dns.internal:5353", true},
		{"10.0.0.2", false}, {"10.0.0.2:", false}, {":53", false}, {"10.0.0.2:0", false}, {"10.0.0.2:65536", false}, {"10.0.0.2:dns", false},
	} {
		_, err := app.LoadConfig(func(k string) string { return map[string]string{"GATEHOUSE_DNS_SERVER": c.value}[k] })
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), "GATEHOUSE_DNS_SERVER: want host:port")) {
			t.Errorf("GATEHOUSE_DNS_SERVER=%q: %v, want ok %v", c.value, err, c.ok)
		}
	}
}

// GATEHOUSE_LOG_LEVEL takes the four levels README names, in any case; another value stops the
// start saying which values it takes, not in the words of Go's log package.
func TestLogLevelConfig(t *testing.T) {
	for _, ok := range []string{"", "debug", "info", "warn", "error", "WARN"} {
		if _, err := app.LoadConfig(func(k string) string { return map[string]string{"GATEHOUSE_LOG_LEVEL": ok}[k] }); err != nil {
			t.Errorf("GATEHOUSE_LOG_LEVEL=%q: %v", ok, err)
		}
	}
	r := gatehouseCLI(t, []string{"GATEHOUSE_LOG_LEVEL=loud", "GATEHOUSE_DATABASE_URL=postgres://127.0.0.1:1/none"}, "serve")
	want := `GATEHOUSE_LOG_LEVEL: want debug, info, warn or error, got "loud"`
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "slog") {
		t.Errorf("GATEHOUSE_LOG_LEVEL=loud: exit %d, stderr %q, want %q", r.code, r.stderr, want)
	}
}

// GATEHOUSE_ALLOWED_PRIVATE_NETWORKS: an entry that is no CIDR prefix or address, or that
// names a cloud metadata address (never reached), stops the start with a message quoting it,
// before the database is opened.
func TestAllowedPrivateNetworksConfig(t *testing.T) {
	for _, c := range []struct{ value, err string }{
		{"10.1.0.0/16,10.2.0.0/33", `GATEHOUSE_ALLOWED_PRIVATE_NETWORKS: "10.2.0.0/33" is not a CIDR prefix such as 10.1.0.0/16 or fd00::/8`},
		{"adfs.corp.example", `GATEHOUSE_ALLOWED_PRIVATE_NETWORKS: "adfs.corp.example" is not a CIDR prefix`},
		{"169.254.169.254", `GATEHOUSE_ALLOWED_PRIVATE_NETWORKS: "169.254.169.254" is a cloud metadata address, which outbound requests never reach`},
	} {
		r := gatehouseCLI(t, []string{"GATEHOUSE_ALLOWED_PRIVATE_NETWORKS=" + c.value, "GATEHOUSE_DATABASE_URL=postgres://127.0.0.1:1/none"}, "serve")
		if r.code == 0 || !strings.Contains(r.stderr, c.err) {
			t.Errorf("%q: exit %d, stderr %q, want %q", c.value, r.code, r.stderr, c.err)
		}
	}
	c, err := app.LoadConfig(func(k string) string {
		return map[string]string{"GATEHOUSE_ALLOWED_PRIVATE_NETWORKS": " 10.1.0.0/16, fd00::/8 ,127.0.0.1"}[k]
	})
	if err != nil || fmt.Sprint(c.AllowedPrivateNetworks) != "[10.1.0.0/16 fd00::/8 127.0.0.1/32]" || c.AllowPrivateNetworks {
		t.Fatalf("%v, %v", c.AllowedPrivateNetworks, err)
	}
}

// A start refused for its configuration reports it before it creates anything: no SQLite
// database or key file (with the default relative path, in the working directory), no
// bootstrap secret file, no table in a PostgreSQL database. Each of these was refused after
// the SQLite key file was made: a sqlite: URL without a file path (by the store), an OTEL_*
// setting the tracing refuses; bootstrap credentials that the bootstrap of a new database
// refuses, after the database was migrated too; GATEHOUSE_METRICS_ADDR, once the bootstrap had
// written its secret file too. GATEHOUSE_DEBUG_ADDR was not refused at all: the server ran,
// and logged the listener's error.
func TestStartRefusedForItsConfigurationCreatesNothing(t *testing.T) {
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318"}
	weak := []string{"GATEHOUSE_BOOTSTRAP_CLIENT_ID=admin", "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=hunter2"}
	const bootstrapRefused = "GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: INVALID: "
	// The generated secret would have nowhere to go ({dir}: the working directory).
	noSecretFile := []string{"GATEHOUSE_BOOTSTRAP_SECRET_FILE=missing/secret.txt"}
	const secretFileRefused = "GATEHOUSE_BOOTSTRAP_SECRET_FILE: cannot write the generated admin secret to " +
		"{dir}/missing/secret.txt: no such file or directory (set it to a file in a writable directory, " +
		"or choose the credentials: GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET)"
	cases := []struct {
		name     string
		env      []string
		args     []string
		message  string
		postgres bool // applies to a PostgreSQL database too
	}{
		{"OTLP protocol", append(otel, "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"), nil,
			`OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" is not supported (want http/protobuf or grpc)`, true},
		{"OTLP headers", append(otel, "OTEL_EXPORTER_OTLP_HEADERS=Authorization: Bearer x"), nil,
			"OTEL_EXPORTER_OTLP_HEADERS: entry 1 is not name=value (headers are written name=value,name=value)", true},
		{"OTLP endpoint", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://[::1"}, nil,
			"OTEL_EXPORTER_OTLP_ENDPOINT: not a URL (want one such as http://otel-collector:4318)", true},
		{"OTLP protocol, clients", append(otel, "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"), []string{"clients", "list"},
			`OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" is not supported (want http/protobuf or grpc)`, true},
		{"short bootstrap secret", weak, nil, bootstrapRefused + "the platform admin client's secret must be 32 to 256 characters, " +
			"random (openssl rand -hex 24 makes one); the one given has 7", true},
		{"application's bootstrap id", []string{"GATEHOUSE_BOOTSTRAP_CLIENT_ID=gha_admin", "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + strings.Repeat("s", 32)}, nil,
			bootstrapRefused + `the platform admin client's id must be text without control characters, and must not begin with "gha_", ` +
				"the prefix of applications' client ids", true},
		{"short bootstrap secret, clients", weak, []string{"clients", "list"}, bootstrapRefused +
			"the platform admin client's secret must be 32 to 256 characters, random (openssl rand -hex 24 makes one); the one given has 7", true},
		{"bootstrap secret file in a missing directory", noSecretFile, nil, secretFileRefused, true},
		{"bootstrap secret file in a missing directory, clients", noSecretFile, []string{"clients", "list"}, secretFileRefused, true},
		{"metrics address", []string{"GATEHOUSE_METRICS_ADDR=nonsense"}, nil,
			"GATEHOUSE_METRICS_ADDR: listen tcp: address nonsense: missing port in address", true},
		{"debug address", []string{"GATEHOUSE_DEBUG_ADDR=nonsense"}, nil,
			"GATEHOUSE_DEBUG_ADDR: listen tcp: address nonsense: missing port in address", true},
		{"SQLite URL without a path", []string{"GATEHOUSE_DATABASE_URL=sqlite:"}, nil, `store: sqlite needs a file path, got "sqlite:"`, false},
		{"SQLite in memory", []string{"GATEHOUSE_DATABASE_URL=sqlite::memory:"}, nil, `store: sqlite needs a file path, got "sqlite::memory:"`, false},
		{"SQLite in memory, clients", []string{"GATEHOUSE_DATABASE_URL=sqlite::memory:"}, []string{"clients", "list"},
			`store: sqlite needs a file path, got "sqlite::memory:"`, false},
		// Refused without a side effect before too, but for a missing GATEHOUSE_ENCRYPTION_KEY.
		{"another database", []string{"GATEHOUSE_DATABASE_URL=mysql://db/gatehouse"}, nil,
			"store: unsupported database URL (want sqlite:<path> or postgres://…)", false},
	}
	for _, dialect := range storetest.Dialects() {
		for _, c := range cases {
			if dialect == "postgres" && !c.postgres {
				continue
			}
			t.Run(dialect+"/"+c.name, func(t *testing.T) {
				dir := t.TempDir()
				if real, err := filepath.EvalSymlinks(dir); err == nil {
					dir = real // the working directory, as the command sees it
				}
				env := append([]string{"GATEHOUSE_ADDR=127.0.0.1:0"}, c.env...)
				var dbURL string
				if dialect == "postgres" {
					dbURL = storetest.URL(t, dialect)
					env = append(env, "GATEHOUSE_DATABASE_URL="+dbURL, "GATEHOUSE_ENCRYPTION_KEY="+secret.NewKey())
				}
				r := gatehouseCLIIn(t, dir, env, c.args...)
				message := strings.ReplaceAll(c.message, "{dir}", dir)
				if r.code != 1 || r.stderr != "gatehouse: "+message+"\n" {
					t.Fatalf("exit %d, stderr %q, want exit 1 and %q", r.code, r.stderr, message)
				}
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					t.Errorf("%s was created", e.Name())
				}
				if dialect == "postgres" {
					if tables := postgresTables(t, dbURL); len(tables) > 0 {
						t.Errorf("tables were created: %v", tables)
					}
				}
			})
		}
	}
}

// postgresTables lists the tables of the PostgreSQL database at dbURL.
func postgresTables(t *testing.T, dbURL string) []string {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// A SQLite database restored without its key file is refused (docs/administration.md#backups)
// reading only: the refusal used to migrate the database first, so that one restored under a
// newer release was left migrated by a start that did not run, and no longer started with the
// release it came from. It does not even wait for the write lock another process holds, as
// a migration does.
func TestKeyFileMissingRefusedWithoutMigrating(t *testing.T) {
	dir := t.TempDir()
	if r := gatehouseCLIIn(t, dir, nil, "clients", "list"); r.code != 0 { // bootstrapped, with signing keys
		t.Fatalf("clients list: exit %d, %s", r.code, r.stderr)
	}
	if err := os.Remove(filepath.Join(dir, "gatehouse.db.key")); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	locked, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- st.InTx(context.Background(), func(context.Context) error { // the write lock, at BEGIN
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	var released atomic.Bool
	unlock := time.AfterFunc(20*time.Second, func() { released.Store(true); close(release) }) // a bound for a start that waits
	r := gatehouseCLIIn(t, dir, []string{"GATEHOUSE_ADDR=127.0.0.1:0"})
	if unlock.Stop() {
		close(release)
	}
	want := "gatehouse: the SQLite database gatehouse.db has no key file beside it (gatehouse.db.key): put back the key file"
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) || released.Load() {
		t.Errorf("exit %d, stderr %q, after the write lock was released: %v; stdout %s", r.code, r.stderr, released.Load(), r.stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse.db.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was made: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A start whose encryption key opens none of the database's secrets (another key, or another
// key file, than the one it was made with) is refused reading only, as it was, once it had
// migrated the database, at the signing keys: a database of an older schema was left migrated
// by a start that did not run, and no longer started with the release it came from. The
// database here is rolled back to the schema before the last migration; the refused start
// leaves it there.
func TestWrongEncryptionKeyRefusedWithoutMigrating(t *testing.T) {
	keyA, keyB := secret.NewKey(), secret.NewKey()
	cases := []struct {
		name, dialect string
		keyFile       bool // SQLite's key file, replaced by keyB's; else GATEHOUSE_ENCRYPTION_KEY
	}{
		{"sqlite key file", "sqlite", true},
		{"sqlite", "sqlite", false},
		{"postgres", "postgres", false},
	}
	for _, c := range cases {
		if !slices.Contains(storetest.Dialects(), c.dialect) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			dbURL := "sqlite:" + filepath.Join(dir, "gatehouse.db")
			if c.dialect == "postgres" {
				dbURL = storetest.URL(t, c.dialect)
			}
			env := func(key string) []string {
				e := []string{"GATEHOUSE_ADDR=127.0.0.1:0", "GATEHOUSE_DATABASE_URL=" + dbURL}
				if !c.keyFile {
					e = append(e, "GATEHOUSE_ENCRYPTION_KEY="+key)
				}
				return e
			}
			if r := gatehouseCLIIn(t, dir, env(keyA), "clients", "list"); r.code != 0 { // bootstrapped, with signing keys
				t.Fatalf("clients list: exit %d, %s", r.code, r.stderr)
			}
			want := "gatehouse: provision: signing keys: secret: cannot decrypt (wrong GATEHOUSE_ENCRYPTION_KEY?)\n"
			if c.keyFile {
				keyFile := filepath.Join(dir, "gatehouse.db.key")
				if err := os.WriteFile(keyFile, []byte(keyB), 0o600); err != nil {
					t.Fatal(err)
				}
				want = "gatehouse: provision: signing keys: secret: cannot decrypt with the key file " + keyFile +
					" (not the one made with this database? a backup is the database and its key file)\n"
			}
			// The schema of the release before migration 43.
			db := openTestDB(t, dbURL)
			for _, q := range []string{"ALTER TABLE test_sign_ins DROP COLUMN cause", "DELETE FROM schema_migrations WHERE version = 43"} {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			migrations := func() (n int) {
				if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			before := migrations()
			r := gatehouseCLIIn(t, dir, env(keyB))
			if r.code != 1 || r.stderr != want {
				t.Errorf("exit %d, stderr %q, want exit 1 and %q", r.code, r.stderr, want)
			}
			if after := migrations(); after != before {
				t.Errorf("schema_migrations: %d rows before the refused start, %d after", before, after)
			}
		})
	}
}

// openTestDB opens the database at dbURL (sqlite:<path> or postgres://…) with database/sql.
func openTestDB(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", dbURL
	if path, ok := store.SQLitePath(dbURL); ok {
		driver, dsn = "sqlite", "file:"+path
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
