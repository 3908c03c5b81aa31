package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"gatehouse/app"
	"gatehouse/secret"
	"gatehouse/store/storetest"
)

// The command line is tested by running the built binary, as an operator would.

var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// gatehouseBinary builds the command once per test run, statically (CGO_ENABLED=0) as the
// container does, with a known release version.
func gatehouseBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binary.once.Do(func() {
		if binary.dir, binary.err = os.MkdirTemp("", "gatehouse-cli-test-"); binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "gatehouse")
		cmd := exec.Command("go", "build", "-ldflags", "-X main.version=v0.0.0-test", "-o", binary.path, ".")
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &stderr
		if err := cmd.Run(); err != nil {
			binary.err = fmt.Errorf("CGO_ENABLED=0 go build: %v: %s", err, stderr.String())
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// cliResult is one run of the binary.
type cliResult struct {
	code           int
	stdout, stderr string
}

// gatehouseCLI runs the binary with only the given environment (plus PATH and HOME).
func gatehouseCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	return gatehouseCLIIn(t, t.TempDir(), env, args...)
}

// gatehouseCLIIn is gatehouseCLI in the working directory dir, which is HOME too.
func gatehouseCLIIn(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	// A command that should have exited (a start its configuration refuses) but keeps
	// serving fails the test, with exit code -1, instead of hanging it.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatehouseBinary(t), args...)
	cmd.Dir = dir // nothing the command writes by default (a bootstrap secret file) lands in the repository
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "USER=tester"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("gatehouse %v: %v", args, err)
	}
	return r
}

func TestCLIHelpListsEveryVariable(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"migrate", "--help"},
		{"version", "--help"}, {"clients", "--help"}, {"clients", "create", "--help"}, {"clients", "list", "--help"},
		{"clients", "rotate", "--help"}, {"clients", "revoke", "--help"}, {"bind", "--help"}, {"healthcheck", "--help"}} {
		r := gatehouseCLI(t, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") || r.stderr != "" {
			t.Errorf("gatehouse %v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	r := gatehouseCLI(t, nil, "--help")
	for _, s := range app.Settings {
		def := s.Shown
		if def == "" {
			def = s.Default
		}
		if def == "" {
			def = "unset"
		}
		if !strings.Contains(r.stdout, s.Name+" (default: "+def+")") {
			t.Errorf("--help does not list %s with its default %q", s.Name, def)
		}
	}
	// The bounds bind enforces (exit 2 beyond them, below) are in its help, as in docs/cli.md.
	if r := gatehouseCLI(t, nil, "bind", "--help"); !strings.Contains(r.stdout, "GATEHOUSE_CLIENT_SECRET") ||
		!strings.Contains(r.stdout, "--dry-run writes nothing on the server") ||
		!strings.Contains(r.stdout, "rows per request (at most 1000)") || !strings.Contains(r.stdout, "requests in flight (at most 64)") {
		t.Errorf("bind --help: %s", r.stdout)
	}
	// A mistake points at the help of the command it was made in.
	for _, c := range []struct {
		args []string
		help string
	}{
		{[]string{"bogus"}, "gatehouse"}, {[]string{"--no-such-flag"}, "gatehouse"},
		{[]string{"serve", "extra"}, "gatehouse serve"}, {[]string{"serve", "--no-such-flag"}, "gatehouse serve"},
		{[]string{"bind"}, "gatehouse bind"}, {[]string{"bind", "--chunk-size", "x"}, "gatehouse bind"},
		{[]string{"bind", "--url", "http://127.0.0.1:1", "--csv", "-", "--client-id", "c", "--client-secret", "s", "--chunk-size", "1001"}, "gatehouse bind"},
		{[]string{"bind", "--url", "http://127.0.0.1:1", "--csv", "-", "--client-id", "c", "--client-secret", "s", "--concurrency", "65"}, "gatehouse bind"},
		{[]string{"clients", "bogus"}, "gatehouse clients"}, {[]string{"clients", "rotate"}, "gatehouse clients rotate"},
		{[]string{"clients", "create", "--name", "x"}, "gatehouse clients create"},
		{[]string{"clients", "create", "--scopes", "graphql"}, "gatehouse clients create"},
		{[]string{"clients", "list", "extra"}, "gatehouse clients list"}, {[]string{"clients", "list", "--bogus"}, "gatehouse clients list"},
		{[]string{"healthcheck", "extra"}, "gatehouse healthcheck"},
	} {
		if r := gatehouseCLI(t, nil, c.args...); r.code != 2 || !strings.Contains(r.stderr, "Run '"+c.help+" --help' for usage.") {
			t.Errorf("gatehouse %v: exit %d (want 2), stderr %q (want a pointer to '%s --help')", c.args, r.code, r.stderr, c.help)
		}
	}
}

func TestCLIVersion(t *testing.T) {
	r := gatehouseCLI(t, nil, "version")
	if r.code != 0 || !regexp.MustCompile(`^gatehouse v0\.0\.0-test .*go1\.\d+`).MatchString(r.stdout) {
		t.Fatalf("version: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

// Every GATEHOUSE_* variable the code reads is in the settings table, so --help and the
// defaults cannot miss one; and every server setting is documented in the README.
func TestSettingsTableListsEveryVariable(t *testing.T) {
	names := regexp.MustCompile(`GATEHOUSE_[A-Z0-9_]+`)
	used := map[string]string{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// examples/ are client applications with their own variables, not Gatehouse's.
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "examples") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range names.FindAllString(string(b), -1) {
			used[strings.TrimRight(n, "_")] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 10 {
		t.Fatalf("found only %d variable names: %v", len(used), used)
	}
	for n, path := range used {
		if _, ok := app.LookupSetting(n); !ok {
			t.Errorf("%s (used in %s) is not in the settings table in config.go", n, path)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range app.Settings {
		if !strings.Contains(string(readme), "`"+s.Name+"`") {
			t.Errorf("README.md does not document %s", s.Name)
		}
		// Its row in a README table ("| `NAME` | default | meaning |") names the default the
		// code uses, as --help does.
		if s.Default == "" {
			continue
		}
		row := regexp.MustCompile("(?m)^\\| `" + s.Name + "` \\|([^|]*)\\|").FindStringSubmatch(string(readme))
		if row == nil {
			t.Errorf("README.md has no table row for %s", s.Name)
		} else if !strings.Contains(row[1], "`"+s.Default+"`") {
			t.Errorf("README.md gives %s the default %q; the code uses `%s`", s.Name, strings.TrimSpace(row[1]), s.Default)
		}
	}
	// loadConfig takes its defaults from the table.
	c, err := app.LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"GATEHOUSE_ADDR": c.Addr, "GATEHOUSE_DATABASE_URL": c.DatabaseURL,
		"GATEHOUSE_PUBLIC_URL": c.PublicURL} {
		if s, _ := app.LookupSetting(name); s.Default != got {
			t.Errorf("%s: loadConfig default %q, table %q", name, got, s.Default)
		}
	}
}

// `gatehouse` with no command serves, and a SIGTERM stops it cleanly.
func TestCLIServesByDefault(t *testing.T) {
	if got := readyzURL(func(string) string { return "" }); got != "http://127.0.0.1:8080/readyz" {
		t.Errorf("readyz URL %q", got)
	}
	bin := gatehouseBinary(t)
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	dir := t.TempDir()
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // the working directory, as the server sees it
	}
	// GATEHOUSE_BOOTSTRAP_SECRET_FILE unset: the default, in the working directory.
	secretFile := filepath.Join(dir, "gatehouse-bootstrap-secret.txt")
	cmd.Dir = dir
	metricsAddr := freeAddr(t)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GATEHOUSE_ADDR=" + addr, "GATEHOUSE_SHUTDOWN_DRAIN=0s",
		"GATEHOUSE_METRICS_ADDR=" + metricsAddr,
		"GATEHOUSE_DATABASE_URL=sqlite:" + filepath.Join(dir, "g.db")} // GATEHOUSE_PUBLIC_URL unset too
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not become ready: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The metrics listener, bound before anything was created, serves once the server does.
	if resp, err := http.Get("http://" + metricsAddr + "/metrics"); err != nil {
		t.Errorf("metrics listener: %v", err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusOK {
		t.Errorf("metrics listener: GET /metrics = %d", resp.StatusCode)
	}
	// The banner's curl reaches the server although GATEHOUSE_PUBLIC_URL was left to its
	// default on another port, and says so; the log warns about it too.
	banner, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`curl -s -u '([^:']+):([^']+)' -d grant_type=client_credentials (\S+)/oauth/token\n`).FindStringSubmatch(string(banner))
	if m == nil || m[3] != "http://"+addr {
		t.Fatalf("the banner's curl: %q in\n%s", m, banner)
	}
	if _, err := tokenErr(m[3], m[1], m[2]); err != nil {
		t.Errorf("the banner's curl: %v", err)
	}
	if !strings.Contains(string(banner), "GATEHOUSE_PUBLIC_URL is unset, so tokens and sign-in URLs name http://localhost:8080") {
		t.Errorf("no note of the public URL:\n%s", banner)
	}
	// The container's health check: the binary probes its own /readyz.
	if r := gatehouseCLI(t, []string{"GATEHOUSE_ADDR=" + addr}, "healthcheck"); r.code != 0 || r.stdout != "ready\n" {
		t.Errorf("healthcheck of a running server: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop on SIGINT")
	}
	if r := gatehouseCLI(t, []string{"GATEHOUSE_ADDR=" + addr}, "healthcheck"); r.code != 1 || !strings.Contains(r.stderr, "healthcheck") {
		t.Errorf("healthcheck of a stopped server: exit %d, %q", r.code, r.stderr)
	}
	// Not a terminal: the generated bootstrap credentials went to the file, not the log.
	if b, err := os.ReadFile(secretFile); err != nil || !strings.Contains(string(b), "client_secret:") ||
		strings.Contains(out.String(), "client_secret:") {
		t.Errorf("bootstrap credentials: file %q (%v), output:\n%s", b, err, out.String())
	}
	if !strings.Contains(out.String(), "but the server listens on port") {
		t.Errorf("no warning of the public URL:\n%s", out.String())
	}
	// The log names the file by its absolute path, which the reader of the log can find
	// without knowing the server's working directory.
	if want, _ := json.Marshal(secretFile); !strings.Contains(out.String(), `"path":`+string(want)) {
		t.Errorf("the log does not name %s:\n%s", secretFile, out.String())
	}
}

// clients create/list/rotate/revoke work on the database directly; a real server honours them.
func TestCLIClients(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		key := secret.NewKey()
		env := []string{"GATEHOUSE_DATABASE_URL=" + dbURL, "GATEHOUSE_ENCRYPTION_KEY=" + key,
			"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + testAdminID, "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + testAdminSecret}
		run := func(want int, args ...string) string {
			t.Helper()
			r := gatehouseCLI(t, env, args...)
			if r.code != want {
				t.Fatalf("gatehouse %v: exit %d (want %d)\nstdout: %s\nstderr: %s", args, r.code, want, r.stdout, r.stderr)
			}
			return r.stdout + r.stderr
		}
		for range 2 {
			if out := run(0, "migrate"); !strings.Contains(out, "schema version") {
				t.Fatalf("migrate: %s", out)
			}
		}
		var created clientJSON
		if err := json.Unmarshal([]byte(run(0, "clients", "create", "--name", "ops script", "--scopes", "graphql,admin", "--json")), &created); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(created.ClientID, "ghc_") || !strings.HasPrefix(created.ClientSecret, "ghs_") ||
			!slices.Equal(created.Scopes, []string{"graphql", "admin"}) || created.PlatformAdmin {
			t.Fatalf("created: %+v", created)
		}
		// The service layer's rules apply (and say what is wrong), naming the flag or argument
		// the operator wrote, not the API's field, with the value where the message needs it.
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"create", "--name", "x", "--scopes", "graphql,root"}, `invalid: --scopes "root": unknown scope; valid scopes are`},
			{[]string{"create", "--name", "x", "--scopes", ","}, `invalid: --scopes "": at least one scope is required`},
			{[]string{"create", "--name", "x", "--scopes", "admin", "--workspace", "0190"}, "invalid: --workspace is not a valid UUID"},
			{[]string{"create", "--name", strings.Repeat("n", 129), "--scopes", "admin"}, "invalid: --name must be at most 128 characters"},
			{[]string{"list", "--workspace", "0190c1d2-0000-7000-8000-000000000000"}, `not_found: --workspace "0190c1d2-0000-7000-8000-000000000000": no such workspace`},
			{[]string{"revoke", "ghc_nope"}, `not_found: CLIENT_ID "ghc_nope": no such integration client in any workspace`},
		} {
			if out := run(1, append([]string{"clients"}, c.args...)...); !strings.Contains(out, c.want) {
				t.Errorf("clients %v: want %q, got %s", c.args, c.want, out)
			}
		}
		var listed []clientJSON
		if err := json.Unmarshal([]byte(run(0, "clients", "list", "--json")), &listed); err != nil {
			t.Fatal(err)
		}
		if len(listed) != 2 || listed[0].ClientID != testAdminID || !listed[0].PlatformAdmin ||
			listed[1].ClientID != created.ClientID || listed[1].ClientSecret != "" || listed[1].Status != "active" {
			t.Fatalf("list: %+v", listed)
		}
		if out := run(0, "clients", "list"); strings.Contains(out, created.ClientSecret) || !strings.Contains(out, created.ClientID) {
			t.Fatalf("list (table): %s", out)
		}

		// A real server on the same database.
		e := newTestEnv(t, dbURL, func(c *app.Config) { c.EncryptionKey = key })
		tok := e.Token(created.ClientID, created.ClientSecret)
		if d := e.MustGQL(tok, `{ viewer { clientId } }`, nil); str(d, "viewer", "clientId") != created.ClientID {
			t.Fatalf("viewer: %v", d)
		}

		var rotated clientJSON
		if err := json.Unmarshal([]byte(run(0, "clients", "rotate", created.ClientID, "--json")), &rotated); err != nil {
			t.Fatal(err)
		}
		if rotated.ClientSecret == "" || rotated.ClientSecret == created.ClientSecret {
			t.Fatalf("rotate: %+v", rotated)
		}
		// The server re-reads a client at most every 2 s (its cache), like every replica.
		waitFor(t, "the old secret refused and the new one accepted after rotate", func() bool {
			_, oldErr := tokenErr(e.URL, created.ClientID, created.ClientSecret)
			_, newErr := tokenErr(e.URL, created.ClientID, rotated.ClientSecret)
			return oldErr != nil && newErr == nil
		})
		tok = e.Token(created.ClientID, rotated.ClientSecret)

		run(0, "clients", "revoke", created.ClientID)
		// No new token, and the token it has stops working, within the client cache TTL (2 s).
		waitFor(t, "the revoked client refused", func() bool {
			_, err := tokenErr(e.URL, created.ClientID, rotated.ClientSecret)
			return err != nil && e.GQL(tok, `{ viewer { clientId } }`, nil).Status == http.StatusUnauthorized
		})
		if out := run(0, "clients", "revoke", created.ClientID); !strings.Contains(out, "already revoked") { // idempotent
			t.Errorf("revoke of a revoked client: %s", out)
		}
		if err := json.Unmarshal([]byte(run(0, "clients", "list", "--json")), &listed); err != nil || listed[1].Status != "revoked" {
			t.Fatalf("list after revoke: %+v %v", listed, err)
		}
		if out := run(1, "clients", "rotate", created.ClientID); !strings.Contains(out, "revoked") {
			t.Errorf("rotate of a revoked client: %s", out)
		}

		// Every change is in the audit log of the client's workspace, as the operator.
		d := e.MustGQL(e.AdminToken(), `{ auditEvents(first: 20) { actorType actorId action targetId } }`, nil)
		var actions []string
		for _, ev := range get(d, "auditEvents").([]any) {
			if str(ev, "actorType") == "operator" && str(ev, "actorId") == "cli:tester" && str(ev, "targetId") == created.ClientID {
				actions = append(actions, str(ev, "action"))
			}
		}
		slices.Sort(actions)
		if want := []string{"integration_client.create", "integration_client.revoke",
			"integration_client.rotate_secret"}; !slices.Equal(actions, want) {
			t.Errorf("operator audit events %v, want %v", actions, want)
		}

		// Another workspace: create there by id; rotate finds the client's workspace by itself.
		wsID := str(e.MustGQL(e.AdminToken(), `mutation { createWorkspace(input: {name: "Tenant"}) { workspace { id } } }`, nil),
			"createWorkspace", "workspace", "id")
		var tenant clientJSON
		if err := json.Unmarshal([]byte(run(0, "clients", "create", "--workspace", wsID, "--name", "tenant admin", "--scopes", "admin", "--json")), &tenant); err != nil {
			t.Fatal(err)
		}
		if tenant.WorkspaceID != wsID {
			t.Fatalf("tenant client in %s, want %s", tenant.WorkspaceID, wsID)
		}
		if err := json.Unmarshal([]byte(run(0, "clients", "list", "--workspace", wsID, "--json")), &listed); err != nil ||
			len(listed) != 1 || listed[0].ClientID != tenant.ClientID {
			t.Fatalf("list --workspace: %+v %v", listed, err)
		}
		if err := json.Unmarshal([]byte(run(0, "clients", "rotate", tenant.ClientID, "--json")), &rotated); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the tenant client's new secret accepted", func() bool {
			_, err := tokenErr(e.URL, tenant.ClientID, rotated.ClientSecret)
			return err == nil
		})
		if out := run(1, "clients", "list", "--workspace", "0190aaaa-0000-7000-8000-000000000000"); !strings.Contains(out, "no such workspace") {
			t.Errorf("unknown workspace: %s", out)
		}
	})
}

// TestCLIClientsRevokeTwice, on both databases: revoking a revoked client succeeds (exit 0,
// "already revoked" on stdout) and changes nothing, through the CLI and through GraphQL's
// revokeIntegrationClient alike (one rule, in provision): one audit event, the first
// revocation's time and the row untouched.
func TestCLIClientsRevokeTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		key := secret.NewKey()
		env := []string{"GATEHOUSE_DATABASE_URL=" + dbURL, "GATEHOUSE_ENCRYPTION_KEY=" + key,
			"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + testAdminID, "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + testAdminSecret}
		run := func(args ...string) cliResult {
			t.Helper()
			r := gatehouseCLI(t, env, args...)
			if r.code != 0 {
				t.Fatalf("gatehouse %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
			}
			return r
		}
		var c clientJSON
		if err := json.Unmarshal([]byte(run("clients", "create", "--name", "leaked", "--scopes", "graphql", "--json").stdout), &c); err != nil {
			t.Fatal(err)
		}
		if r := run("clients", "revoke", c.ClientID); r.stdout != "revoked "+c.ClientID+"\n" {
			t.Fatalf("first revoke: %q", r.stdout)
		}
		e := newTestEnv(t, dbURL, func(cfg *app.Config) { cfg.EncryptionKey = key })
		// state is what a revocation must not change once made: the row's revocation and
		// update times as stored, and the number of revocation events.
		state := func() string {
			t.Helper()
			var times []string
			var events []int
			if err := e.App.Store().RawScan(t.Context(), &times,
				"SELECT CAST(revoked_at AS TEXT) || ' ' || CAST(updated_at AS TEXT) FROM integration_clients WHERE client_id = ?", c.ClientID); err != nil || len(times) != 1 {
				t.Fatalf("the client's times: %v %v", times, err)
			}
			if err := e.App.Store().RawScan(t.Context(), &events,
				"SELECT COUNT(*) FROM audit_events WHERE action = 'integration_client.revoke' AND target_id = ?", c.ClientID); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("%s, %d revocation events", times[0], events[0])
		}
		first := state()
		if !strings.HasSuffix(first, ", 1 revocation events") {
			t.Fatalf("after the first revoke: %s", first)
		}
		for i := range 2 {
			if r := run("clients", "revoke", c.ClientID); r.stdout != c.ClientID+" is already revoked\n" || r.stderr != "" {
				t.Fatalf("revoke again (%d): stdout %q, stderr %q", i+1, r.stdout, r.stderr)
			}
			d := e.MustGQL(e.AdminToken(), `mutation($id: String!) { revokeIntegrationClient(input: {clientId: $id}) {
				integrationClient { revoked revokedAt } errors { code } } }`, map[string]any{"id": c.ClientID})
			if get(d, "revokeIntegrationClient", "integrationClient", "revoked") != true ||
				len(get(d, "revokeIntegrationClient", "errors").([]any)) != 0 {
				t.Fatalf("revokeIntegrationClient of a revoked client: %v", d)
			}
			if now := state(); now != first {
				t.Fatalf("revoking a revoked client changed it: %s, then %s", first, now)
			}
		}
	})
}

// tokenErr asks for a token and returns the error, for credentials that must fail.
func tokenErr(base, id, sec string) (string, error) {
	cc := clientcredentials.Config{ClientID: id, ClientSecret: sec, TokenURL: base + "/oauth/token"}
	tok, err := cc.Token(context.Background())
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// waitFor polls cond for up to 10 s (caches on the server side expire within 2 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The audit actor of a command-line change names a person even where the environment names
// none (a container, cron): the system's user database, else the numeric id.
func TestOperatorNameWithoutTheEnvironment(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := operatorName(env(map[string]string{"USER": "ann", "SUDO_USER": "bob"})); got != "cli:bob" {
		t.Errorf("under sudo: %q", got)
	}
	if got := operatorName(env(map[string]string{"LOGNAME": "ann"})); got != "cli:ann" {
		t.Errorf("LOGNAME: %q", got)
	}
	got := operatorName(env(nil))
	if u, err := user.Current(); err == nil {
		if got != "cli:"+u.Username {
			t.Errorf("no variables: %q, want cli:%s", got, u.Username)
		}
	} else if got != "cli:uid:"+strconv.Itoa(os.Getuid()) {
		t.Errorf("no variables, no user database entry: %q", got)
	}
}

// A second SIGINT during the drain stops the server at once, as Ctrl-C does by default; the
// first one only starts the drain (here ten minutes, which the test would otherwise wait out).
func TestSecondSignalStopsAtOnce(t *testing.T) {
	bin := gatehouseBinary(t)
	addr := freeAddr(t)
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GATEHOUSE_ADDR=" + addr, "GATEHOUSE_SHUTDOWN_DRAIN=10m",
		"GATEHOUSE_DATABASE_URL=sqlite:" + filepath.Join(dir, "g.db"), "GATEHOUSE_BOOTSTRAP_SECRET_FILE=" + filepath.Join(dir, "secret.txt")}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	readyz := func() int {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(what string, status int) {
		for deadline := time.Now().Add(30 * time.Second); readyz() != status; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: /readyz never answered %d\n%s", what, status, out.String())
			}
		}
	}
	waitFor("start", http.StatusOK)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitFor("the first SIGINT", http.StatusServiceUnavailable) // draining, still serving
	// The default behaviour comes back right after the first signal is taken; the drain has
	// begun by then (/readyz said so), but give the goroutine that restores it a moment.
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the server stopped on the first SIGINT, before its drain: %v\n%s", err, out.String())
	default:
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("exit after a second SIGINT: %v, want the signal's failure\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the server kept draining after a second SIGINT\n%s", out.String())
	}
}

// freeAddr is a loopback address with a port nobody listens on, for a server the test starts.
func freeAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))
}
