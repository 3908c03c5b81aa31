package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/secret"
	"gatehouse/store"
)

// Several processes starting at once on one new SQLite file (the server and `gatehouse
// clients` beside it, as docs/cli.md describes, or replicas of a test) all start: the first
// migrates and bootstraps, the others wait for it and find the migrations applied, the
// platform admin client made and the key file beside the database written. Each round starts
// a server, three `migrate` and three `clients list` on a fresh file at once.
func TestSQLiteFirstStartFromSeveralProcesses(t *testing.T) {
	want := migrationsOfOneStart(t)
	for round := range 6 {
		db := filepath.Join(t.TempDir(), "g.db")
		startAtOnce(t, []string{"GATEHOUSE_DATABASE_URL=sqlite:" + db}, []string{"serve"}, []string{"migrate"},
			[]string{"clients", "list"}, []string{"migrate"}, []string{"clients", "list"}, []string{"migrate"}, []string{"clients", "list"})
		if clients, migrations := startState(t, db); clients != 1 || migrations != want {
			t.Fatalf("round %d: %d clients, %d migrations recorded; want 1 client and %d migrations", round, clients, migrations, want)
		}
	}
}

// Servers starting while another process holds the write lock of a new SQLite file for longer
// than their busy timeout (a long migration step) wait for it, as on PostgreSQL they wait for
// the migrations' lock, instead of stopping with "database is locked". Their busy timeout is
// 2 s here (GATEHOUSE_REQUEST_TIMEOUT=1s); the lock is held 5 s.
func TestSQLiteStartWaitsForALongMigration(t *testing.T) {
	want := migrationsOfOneStart(t)
	db := filepath.Join(t.TempDir(), "g.db")
	s, err := store.Open(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	locked, release := make(chan struct{}), make(chan struct{})
	go func() {
		// A transaction takes the write lock at BEGIN on SQLite (_txlock=immediate).
		if err := s.InTx(context.Background(), func(context.Context) error {
			close(locked)
			<-release
			return nil
		}); err != nil {
			t.Error(err)
		}
	}()
	<-locked
	time.AfterFunc(5*time.Second, func() { close(release) })
	env := []string{"GATEHOUSE_DATABASE_URL=sqlite:" + db, "GATEHOUSE_REQUEST_TIMEOUT=1s", "GATEHOUSE_ENCRYPTION_KEY=" + secret.NewKey()}
	outs := startAtOnce(t, env, []string{"serve"}, []string{"serve"}, []string{"serve"})
	s.Close()
	// Each said why it waited, once, rather than seeming to hang.
	for i, out := range outs {
		if n := strings.Count(out, "another process holds this SQLite database's write lock; waiting for it"); n != 1 {
			t.Errorf("server %d said it waited %d times:\n%s", i, n, out)
		}
	}
	if clients, migrations := startState(t, db); clients != 1 || migrations != want {
		t.Fatalf("%d clients, %d migrations recorded; want 1 client and %d migrations", clients, migrations, want)
	}
}

// migrationsOfOneStart is how many migrations one process alone records.
func migrationsOfOneStart(t *testing.T) int64 {
	t.Helper()
	db := filepath.Join(t.TempDir(), "ref.db")
	if r := gatehouseCLI(t, []string{"GATEHOUSE_DATABASE_URL=sqlite:" + db}, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %s", r.stderr)
	}
	_, n := startState(t, db)
	return n
}

// startAtOnce starts the commands at once, with env and the bootstrap client's credentials; a
// server is stopped (SIGTERM) once it is ready. Each must succeed. It returns what each wrote.
func startAtOnce(t *testing.T, env []string, commands ...[]string) []string {
	t.Helper()
	bin := gatehouseBinary(t)
	dir := t.TempDir()
	env = append([]string{"PATH=" + os.Getenv("PATH"), "GATEHOUSE_SHUTDOWN_DRAIN=0s",
		"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + testAdminID, "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + testAdminSecret}, env...)
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, len(commands))
	errs := make([]error, len(commands))
	start := make(chan struct{})
	for i, args := range commands {
		addr := freeAddr(t)
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, slices.Concat(env, []string{"GATEHOUSE_ADDR=" + addr}) // a copy each
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if errs[i] = cmd.Start(); errs[i] != nil {
				return
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			if args[0] == "serve" {
				for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && len(exited) == 0; time.Sleep(50 * time.Millisecond) {
					if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							break
						}
					}
				}
				cmd.Process.Signal(syscall.SIGTERM)
			}
			errs[i] = <-exited
		}()
	}
	close(start)
	wg.Wait()
	texts := make([]string, len(commands))
	for i, err := range errs {
		if err != nil {
			t.Errorf("gatehouse %s: %v\n%s", strings.Join(commands[i], " "), err, outs[i].String())
		}
		texts[i] = outs[i].String()
	}
	return texts
}

// startState counts the integration clients and the recorded migrations of a SQLite file.
func startState(t *testing.T, db string) (clients, migrations int64) {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if clients, err = s.CountIntegrationClients(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.RawScan(context.Background(), &migrations, "SELECT count(*) FROM schema_migrations"); err != nil {
		t.Fatal(err)
	}
	return clients, migrations
}
