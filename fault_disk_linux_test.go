//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gatehouse/app/apptest"
	"gatehouse/secret"
	"gatehouse/store/storetest"
)

// Fault tests: the disk under the SQLite database fills up. The child server's file size limit
// (RLIMIT_FSIZE) is lowered to 0 while it runs: every write(2) to a regular file then fails
// with EFBIG (the Go runtime ignores SIGXFSZ), which SQLite reports as SQLITE_IOERR_WRITE, as
// it reports ENOSPC as SQLITE_FULL. Its output is a pipe, which the limit does not cover, as a
// journal or a container runtime's is. Raising the limit again is the space freed.

// setFileSizeLimit sets the soft RLIMIT_FSIZE of process pid (the hard one stays, so that it
// can be raised again without privileges).
func setFileSizeLimit(t *testing.T, pid int, limit uint64) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, nil, &old); err != nil {
		t.Fatal(err)
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: min(limit, old.Max), Max: old.Max}, nil); err != nil {
		t.Fatal(err)
	}
}

// diskFull is how the private cause of a write refused for want of space reads in the log.
var diskFull = regexp.MustCompile(`disk (holding the SQLite database )?is full`)

func TestFaultSQLiteDiskFull(t *testing.T) {
	bin := gatehouseBinary(t) // skipped with -short
	addr := fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))
	logs := &apptest.Logs{}
	p := startServer(t, bin, serverEnv(addr, "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"),
		"GATEHOUSE_ENCRYPTION_KEY="+secret.NewKey()), addr, logs)
	e := &testEnv{&apptest.Env{T: t, URL: p.url}}
	admin := e.AdminToken()
	tok, _ := e.SCIMToken(admin, allScopes("load"))
	e.SCIMUser(tok, map[string]any{"userName": "before@example.com"})
	brands := func() int {
		return len(get(e.MustGQL(admin, `{ brands { nodes { id } } }`, nil), "brands", "nodes").([]any))
	}
	tokens := func() int {
		return len(get(e.Call("GET", "/api/v1/scim/tokens", admin, nil).Must(t, 200).Body, "tokens").([]any))
	}
	brandsBefore, tokensBefore := brands(), tokens()

	o := &outcome{acked: map[string]string{}, statuses: map[int]int{}}
	stop := make(chan struct{})
	wg := scimLoad(p.url, tok, "full", 4, stop, func() bool { return false }, o)
	time.Sleep(300 * time.Millisecond)
	setFileSizeLimit(t, p.cmd.Process.Pid, 0)
	time.Sleep(300 * time.Millisecond) // writes in flight as the disk filled have answered

	// Every write surface answers a retryable 503 in its own shape, never 500 and never a
	// success; what needs no write goes on.
	unavailable := func(what string, status int, h http.Header, raw string) {
		t.Helper()
		if status != 503 || h.Get("Retry-After") == "" || !strings.Contains(raw, "temporarily unavailable") {
			t.Errorf("%s on a full disk: %d (Retry-After %q) %s; want 503 with Retry-After and the public message", what, status, h.Get("Retry-After"), raw)
		}
	}
	r := e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "during@example.com"})
	unavailable("SCIM create", r.Status, r.Header, r.Raw)
	if r.Header.Get("Content-Type") != "application/scim+json" || str(r.Body, "status") != "503" {
		t.Errorf("SCIM create on a full disk: not a SCIM error: %s", r.Raw)
	}
	r = e.Call("POST", "/api/v1/scim/tokens", admin, allScopes("during"))
	unavailable("REST create", r.Status, r.Header, r.Raw)
	if str(r.Body, "error", "type") != "unavailable" {
		t.Errorf("REST create on a full disk: type %q", str(r.Body, "error", "type"))
	}
	g := e.GQL(admin, `mutation { createBrand(input: {name: "During"}) { brand { id } errors { code } } }`, nil)
	unavailable("GraphQL mutation", g.Status, g.Header, g.Raw)
	if len(g.Errors) != 1 || g.Errors[0].Extensions["code"] != "UNAVAILABLE" {
		t.Errorf("GraphQL mutation on a full disk: %s", g.Raw)
	}
	during := e.Token(testAdminID, testAdminSecret) // client credentials write nothing
	e.Call("GET", "/scim/v2/Users?filter="+urlq(`userName eq "before@example.com"`), tok, nil).Must(t, 200)
	e.Call("GET", "/api/v1/scim/tokens", during, nil).Must(t, 200)
	e.MustGQL(during, `{ brands { nodes { id } } }`, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		// A full disk is not a dead process, and this is the only replica of a SQLite
		// database: taking it out of the balancer would refuse the reads it still serves.
		if resp, err := http.Get(p.url + path); err != nil || resp.StatusCode != 200 {
			t.Errorf("%s on a full disk: %v %v", path, resp.Status, err)
		} else {
			resp.Body.Close()
		}
	}
	time.Sleep(500 * time.Millisecond) // the load meets the full disk too

	// Space is freed: writes succeed again within a couple of seconds, without a restart.
	setFileSizeLimit(t, p.cmd.Process.Pid, unix.RLIM_INFINITY)
	freed := time.Now()
	for {
		r := e.Call("POST", "/scim/v2/Users", tok, map[string]any{"userName": "after@example.com"})
		if r.Status == 201 {
			break
		}
		if time.Since(freed) > 2*time.Second {
			t.Fatalf("no write succeeded 2 s after space was freed: %d %s", r.Status, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("writes succeed again %v after space was freed", time.Since(freed).Round(time.Millisecond))
	before := o.ackedCount()
	time.Sleep(500 * time.Millisecond)
	o.stop(t, stop, wg, before, "space was freed", 201, 503) // never 500
	if o.statuses[503] == 0 {
		t.Errorf("the load never met the full disk: %v", o.statuses)
	}

	// Nothing half-written: what was refused is not stored, what was acknowledged is, once.
	if stored := checkStored(t, e, tok, "full", o); stored != len(o.acked) {
		t.Errorf("%d load users stored, %d acknowledged", stored, len(o.acked))
	}
	for _, name := range []string{"before", "after", "during"} {
		want := 1
		if name == "during" {
			want = 0
		}
		r := e.Call("GET", "/scim/v2/Users?filter="+urlq(`userName eq "`+name+`@example.com"`), tok, nil).Must(t, 200)
		if n := len(get(r.Body, "Resources").([]any)); n != want {
			t.Errorf("%s@example.com stored %d times, want %d", name, n, want)
		}
	}
	if b, n := brands(), tokens(); b != brandsBefore || n != tokensBefore {
		t.Errorf("refused writes stored: %d brands (had %d), %d SCIM tokens (had %d)", b, brandsBefore, n, tokensBefore)
	}
	e.MustGQL(admin, `mutation { createBrand(input: {name: "After"}) { brand { id } } }`, nil)
	e.Call("POST", "/api/v1/scim/tokens", admin, allScopes("after")).Must(t, 201)

	// The log: one line says the disk is full, as a warning (every 503 is one; the guard
	// folds repeats); nothing is an error, and no secret is written.
	out := logs.String()
	if !diskFull.MatchString(out) {
		t.Errorf("no log line says the disk is full:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("error logged for a full disk: %s", line)
		}
	}
	for what, s := range map[string]string{"SCIM token": tok, "client secret": testAdminSecret, "access token": admin} {
		if strings.Contains(out, s) {
			t.Errorf("the log holds a %s", what)
		}
	}
}

// A server started on a full disk exits at once, saying why; the next start, with space,
// finds nothing half-written (a key file without a key, a half-migrated schema).
func TestFaultSQLiteStartOnFullDisk(t *testing.T) {
	bin := gatehouseBinary(t) // skipped with -short
	key := "GATEHOUSE_ENCRYPTION_KEY=" + secret.NewKey()
	for _, tc := range []struct {
		name   string
		blocks int // the file size limit, in the shell's 512-byte blocks
		env    []string
		want   *regexp.Regexp
	}{
		// The encryption key file beside the database is the first write.
		{"key file", 0, nil, regexp.MustCompile(`create encryption key file .*: (file too large|no space left on device)`)},
		{"open", 0, []string{key}, diskFull},         // SQLite writes its header
		{"migrations", 200, []string{key}, diskFull}, // the schema does not fit
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))
			env := serverEnv(addr, "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"), tc.env...)
			// The limit is set by the shell that becomes the server: it holds from the
			// first write.
			cmd := exec.Command("/bin/sh", "-c", fmt.Sprintf(`ulimit -f %d && exec "$0"`, tc.blocks), bin)
			cmd.Env = append(os.Environ(), env...)
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("the server did not stop on a full disk in 30 s:\n%s", out)
			}
			t.Logf("on a full disk: %v\n%s", err, out)
			if cmd.ProcessState.ExitCode() != 1 || !tc.want.Match(out) || bytes.Contains(out, []byte("panic")) {
				t.Errorf("want exit status 1 and a message matching %q, got %v:\n%s", tc.want, err, out)
			}
			p := startServer(t, bin, env, addr)
			e := &testEnv{&apptest.Env{T: t, URL: p.url}}
			tok, _ := e.SCIMToken(e.AdminToken(), allScopes("after"))
			e.SCIMUser(tok, map[string]any{"userName": "after@example.com"})
		})
	}
}

// The disk fills up between the check of the bootstrap secret file and its write: the start
// fails saying so, and creates no client whose secret nobody saw (nor a file with part of
// one); the next start, with space, bootstraps. PostgreSQL only: the secret file is the
// start's only write to a regular file there, so the file size limit fails that write alone.
func TestFaultBootstrapSecretFileOnFullDisk(t *testing.T) {
	bin := gatehouseBinary(t) // skipped with -short
	if os.Getenv(storetest.EnvPostgres) == "" {
		t.Skip(storetest.EnvPostgres + " is not set")
	}
	dbURL := storetest.URL(t, "postgres")
	path := filepath.Join(t.TempDir(), "secret.txt")
	env := []string{"GATEHOUSE_DATABASE_URL=" + dbURL, "GATEHOUSE_ENCRYPTION_KEY=" + secret.NewKey(),
		"GATEHOUSE_BOOTSTRAP_SECRET_FILE=" + path, "GATEHOUSE_LOG_LEVEL=warn"}
	cmd := exec.Command("/bin/sh", "-c", `ulimit -f 0 && exec "$0" clients list`, bin)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	want := "gatehouse: GATEHOUSE_BOOTSTRAP_SECRET_FILE: cannot write the generated admin secret to " + path + ": file too large"
	if cmd.ProcessState.ExitCode() != 1 || !bytes.Contains(out, []byte(want)) {
		t.Fatalf("want exit status 1 and %q, got %v:\n%s", want, err, out)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the secret file is left: %v", err)
	}
	r := gatehouseCLI(t, env, "clients", "list")
	b, err := os.ReadFile(path)
	if r.code != 0 || err != nil || !bytes.Contains(b, []byte("client_secret: ")) {
		t.Fatalf("the next start: exit %d, %q; secret file %q (%v)", r.code, r.stderr, b, err)
	}
	if n := strings.Count(r.stdout, "\n"); n != 2 { // the header and the one client
		t.Errorf("clients after the next start:\n%s", r.stdout)
	}
}
