package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"gatehouse/app"
	"gatehouse/provision"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// SIGTERM under load: /readyz turns 503 at once, the server keeps serving through the drain
// period, and clients that stop sending when /readyz says so (as a load balancer does) see no
// error at all; then the server stops accepting and run returns.
func TestSIGTERMUnderLoadDrainsWithoutResets(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	for k, v := range map[string]string{"GATEHOUSE_ADDR": addr, "GATEHOUSE_DATABASE_URL": "sqlite:" + filepath.Join(dir, "g.db"),
		"GATEHOUSE_BOOTSTRAP_CLIENT_ID": testAdminID, "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET": testAdminSecret,
		"GATEHOUSE_SHUTDOWN_DRAIN": "1s", "GATEHOUSE_LOG_LEVEL": "error", "GATEHOUSE_RATE_LIMIT_TOKENS": "off"} {
		t.Setenv(k, v)
	}
	base := "http://" + addr
	ran := make(chan error, 1)
	go func() { ran <- run(nil) }()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for deadline := time.Now().Add(20 * time.Second); ; { // run is serving, its signal handler set
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-ran:
			t.Fatalf("run: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}

	var stop atomic.Bool
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(testAdminID, testAdminSecret)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					t.Errorf("request during drain: %v", err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					t.Errorf("status %d", resp.StatusCode)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	// Taken before the signal is sent: the server may receive it, and start its drain, before
	// Kill returns.
	sent := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Since(sent) > 500*time.Millisecond {
			t.Fatal("readyz did not turn 503")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the load balancer takes a moment to notice
	stop.Store(true)
	wg.Wait()
	if err := <-ran; err != nil {
		t.Fatalf("run: %v", err)
	}
	if d := time.Since(sent); d < time.Second {
		t.Errorf("stopped %v after SIGTERM, before the 1 s drain", d)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after shutdown")
	}
	t.Logf("%d answered, %d failed", ok.Load(), failed.Load())
	if ok.Load() == 0 || failed.Load() != 0 {
		t.Fatalf("%d answered, %d failed", ok.Load(), failed.Load())
	}
}

// With the port taken, the server exits before creating the database or printing anything
// (README, "Start, stop and logs"): only the error, on standard error. Without
// GATEHOUSE_PUBLIC_URL on a port other than 8080 the start-up log warns about the public URL,
// but a server that cannot start has no start-up log.
func TestStartFailsBeforeBootstrapWhenPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	r := gatehouseCLI(t, []string{"GATEHOUSE_ADDR=" + ln.Addr().String(),
		"GATEHOUSE_DATABASE_URL=sqlite:" + filepath.Join(dir, "g.db"),
		"GATEHOUSE_BOOTSTRAP_SECRET_FILE=" + filepath.Join(dir, "secret.txt")})
	if r.code != 1 || !strings.Contains(r.stderr, "address already in use") || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, f := range []string{"g.db", "g.db.key", "secret.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a failed start", f)
		}
	}
}

// The generated admin secret goes once to a 0600 file, never to the log; the SQLite database
// and its key file are 0600.
func TestSecretsAtStart(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	path := filepath.Join(dir, "bootstrap.txt")
	out := bootstrapOutput(path, log)
	cfg := app.Config{DatabaseURL: "sqlite:" + filepath.Join(dir, "data", "g.db"), PublicURL: "http://localhost:8080"}
	a, err := app.New(context.Background(), cfg, log, out)
	if err != nil {
		t.Fatal(err)
	}
	a.Store().Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sec := regexpFind(t, `client_secret: (\S+)`, string(b))
	if strings.Contains(logs.String(), sec) || !strings.Contains(logs.String(), path) {
		t.Fatalf("log: %s", logs.String())
	}
	for _, f := range []string{path, filepath.Join(dir, "data", "g.db"), filepath.Join(dir, "data", "g.db.key")} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, fi.Mode(), err)
		}
	}
}

func regexpFind(t *testing.T, re, s string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in %s", re, s)
	}
	return m[1]
}

// The secret file's directory matters only to a start that generates the secret: one given
// the credentials, or one on a database bootstrapped already, starts with it missing.
func TestBootstrappedDatabaseStartsWithoutASecretFile(t *testing.T) {
	bin := gatehouseBinary(t) // skipped with -short
	storetest.Each(t, func(t *testing.T, dbURL string) {
		dir := t.TempDir()
		missing := "GATEHOUSE_BOOTSTRAP_SECRET_FILE=" + filepath.Join(dir, "missing", "secret.txt")
		env := []string{"GATEHOUSE_DATABASE_URL=" + dbURL, "GATEHOUSE_ENCRYPTION_KEY=" + secret.NewKey(), missing}
		chosen := []string{"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + testAdminID, "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + testAdminSecret}
		if r := gatehouseCLIIn(t, dir, append(env, chosen...), "clients", "list"); r.code != 0 || !strings.Contains(r.stdout, testAdminID) {
			t.Fatalf("first start with chosen credentials: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		if r := gatehouseCLIIn(t, dir, env, "clients", "list"); r.code != 0 || !strings.Contains(r.stdout, testAdminID) {
			t.Fatalf("clients list on the bootstrapped database: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))
		p := startServer(t, bin, append(env, "GATEHOUSE_ADDR="+addr, "GATEHOUSE_LOG_LEVEL=warn"), addr)
		if _, err := tokenErr(p.url, testAdminID, testAdminSecret); err != nil {
			t.Errorf("token of the bootstrap client: %v", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%d files were created beside the missing directory", len(entries))
		}
	})
}

// failingOutput passes the check before the start and fails the write: the disk filled up.
type failingOutput struct{}

func (failingOutput) CheckWritable() error      { return nil }
func (failingOutput) Withdraw() (string, error) { return "", nil }
func (failingOutput) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// A generated secret that cannot be written after all rolls the bootstrap back: the start
// fails with the cause, and the next one creates the client and shows its secret.
func TestBootstrapSecretUnwrittenCreatesNoClient(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		log := slog.New(slog.NewTextHandler(t.Output(), nil))
		cfg := app.Config{DatabaseURL: dbURL, EncryptionKey: secret.NewKey(), PublicURL: "http://localhost:8080"}
		if a, err := app.New(ctx, cfg, log, failingOutput{}); err == nil || err.Error() != "no space left on device" {
			if a != nil {
				a.Close()
			}
			t.Fatalf("start with an output that fails: %v, want no space left on device", err)
		}
		var out bytes.Buffer
		a, err := app.New(ctx, cfg, log, &out)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		sec := regexpFind(t, `client_secret: (\S+)`, out.String())
		if n, err := a.Store().CountIntegrationClients(ctx); err != nil || n != 1 || sec == "" {
			t.Fatalf("after the second start: %d clients (%v), banner %q", n, err, out.String())
		}
	})
}

// stoppedAfter is a bootstrap output that shows the secret (to w) and then stops the start, as
// SIGTERM arriving at that moment does: the audit write after show fails, and the transaction
// that would have kept the client rolls back.
type stoppedAfter struct {
	io.Writer
	stop context.CancelFunc
}

func (s stoppedAfter) Write(b []byte) (int, error) {
	defer s.stop()
	return s.Writer.Write(b)
}

// secretFileStoppedAfter is the secret file whose start is stopped once the secret is in it.
type secretFileStoppedAfter struct {
	*secretFile
	stop context.CancelFunc
}

func (s secretFileStoppedAfter) Write(b []byte) (int, error) {
	defer s.stop()
	return s.secretFile.Write(b)
}

// A generated secret was shown, and then the bootstrap failed (here the start was stopped
// before the commit): the secret opens nothing, so the start's error says it was not kept and
// the secret file is removed, rather than left naming a client that does not exist. On a
// terminal the secret cannot be taken back: the error says the one shown was not kept. The
// next start bootstraps and writes a secret that works.
func TestBootstrapSecretNotKeptIsWithdrawn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		log := slog.New(slog.NewTextHandler(t.Output(), nil))
		cfg := app.Config{DatabaseURL: dbURL, EncryptionKey: secret.NewKey(), PublicURL: "http://localhost:8080"}
		path := filepath.Join(t.TempDir(), "secret.txt")
		start := func(out func(stop context.CancelFunc) io.Writer) error {
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			a, err := app.New(ctx, cfg, log, out(stop))
			if err == nil {
				a.Close()
			}
			return err
		}

		err := start(func(stop context.CancelFunc) io.Writer {
			return secretFileStoppedAfter{&secretFile{path: path, log: log}, stop}
		})
		if err == nil || !strings.Contains(err.Error(), "the generated admin secret was not kept: it opens nothing; it was removed from "+path) {
			t.Fatalf("start stopped after writing the secret file: %v", err)
		}
		if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("the secret file of a client that was not created is left: %v", serr)
		}

		var terminal bytes.Buffer
		err = start(func(stop context.CancelFunc) io.Writer { return stoppedAfter{&terminal, stop} })
		if err == nil || !strings.Contains(err.Error(), "the generated admin secret shown was not kept: it opens nothing") ||
			!strings.Contains(terminal.String(), "client_secret: ") {
			t.Fatalf("start stopped after showing the secret: %v; shown %q", err, terminal.String())
		}

		st, err := store.Open(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		n, err := st.CountIntegrationClients(context.Background())
		st.Close()
		if err != nil || n != 0 {
			t.Fatalf("after the stopped starts: %d clients (%v)", n, err)
		}

		ctx := context.Background()
		a, err := app.New(ctx, cfg, log, &secretFile{path: path, log: log})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		id, sec := regexpFind(t, `client_id: +(\S+)`, string(b)), regexpFind(t, `client_secret: (\S+)`, string(b))
		if _, err := a.Service().AuthenticateClient(ctx, id, sec); err != nil {
			t.Errorf("the secret file of the next start: %v", err)
		}
	})
}

// Withdraw removes only the secret file's own secret: one that another start (a replica
// sharing the volume) wrote in its place since is left.
func TestSecretFileWithdrawLeavesAnotherStartsSecret(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	path := filepath.Join(t.TempDir(), "secret.txt")
	mine, other := &secretFile{path: path, log: log}, &secretFile{path: path, log: log}
	if _, err := mine.Write([]byte("client_secret: mine\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Write([]byte("client_secret: other\n")); err != nil {
		t.Fatal(err)
	}
	if done, err := mine.Withdraw(); err != nil || !strings.Contains(done, "was left") {
		t.Fatalf("withdraw of a replaced file: %q, %v", done, err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "client_secret: other\n" {
		t.Fatalf("the other start's file: %q, %v", b, err)
	}
	if done, err := other.Withdraw(); err != nil || !strings.Contains(done, "removed from "+path) {
		t.Fatalf("withdraw of its own file: %q, %v", done, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file is left: %v", err)
	}
}

// secretFileRacedBy is the secret file whose start, once its secret is written, has another
// start wait on the bootstrap lock it holds (race, which returns once that start waits).
type secretFileRacedBy struct {
	*secretFile
	race func() error
}

func (s secretFileRacedBy) Write(b []byte) (int, error) {
	n, err := s.secretFile.Write(b)
	if err == nil {
		err = s.race()
	}
	return n, err
}

// A bootstrap whose transaction PostgreSQL aborted after the secret was written runs again,
// and finds the admin client that another start, waiting on the bootstrap lock, created
// meanwhile: the secret written opens nothing, so the start removes the file (and runs on
// the other start's client) rather than leave it looking like the admin's.
func TestBootstrapRunAgainAfterAnotherStartWithdrawsItsSecret(t *testing.T) {
	ctx := context.Background()
	dbURL := storetest.PostgresURLWith(t, "")
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.AbortFirstAuditEvent(t, st.DB())
	box, err := secret.NewBox(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	otherID, otherSecret := "ghc-other-start", strings.Repeat("o", 40)
	other := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	path := filepath.Join(t.TempDir(), "secret.txt")
	out := secretFileRacedBy{&secretFile{path: path, log: log}, func() error {
		go func() {
			_, err := provision.New(st, box, provision.Options{}).Bootstrap(ctx, otherID, otherSecret, nil)
			other <- err
		}()
		return storetest.WaitAdvisoryLockWaiter(t, st.DB())
	}}
	a, err := app.New(ctx, app.Config{DatabaseURL: dbURL, EncryptionKey: secret.NewKey(), PublicURL: "http://localhost:8080"}, log, out)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := <-other; err != nil {
		t.Fatalf("the other start: %v", err)
	}
	if _, err := a.Service().AuthenticateClient(ctx, otherID, otherSecret); err != nil {
		t.Fatalf("the other start's client: %v", err)
	}
	if b, err := os.ReadFile(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the secret file of a client that was not created is left (%v): %s", err, b)
	}
}

// Withdraw removes only what it read: another start that writes its own secret in the file's
// place just after Withdraw read the file (its Write removes the file and creates its own)
// keeps it.
func TestSecretFileWithdrawRacingAnotherStartsWrite(t *testing.T) {
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	path := filepath.Join(t.TempDir(), "secret.txt")
	mine, other := &secretFile{path: path, log: log}, &secretFile{path: path, log: log}
	if _, err := mine.Write([]byte("client_secret: mine\n")); err != nil {
		t.Fatal(err)
	}
	mine.checked = func() {
		if _, err := other.Write([]byte("client_secret: other\n")); err != nil {
			t.Error(err)
		}
	}
	if _, err := mine.Withdraw(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "client_secret: other\n" {
		t.Fatalf("the other start's file, written as the withdrawal ran: %q, %v", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".gatehouse-bootstrap-*")); len(left) > 0 {
		t.Errorf("left beside the file: %v", left)
	}
}
