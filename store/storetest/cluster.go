package storetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Cluster is a PostgreSQL cluster of a test's own, on a free port, with trust auth, for the
// tests that stop, restart or crash the database: the shared server is never touched. It is
// stopped and removed when the test ends.
type Cluster struct {
	t        *testing.T
	bin      string // directory of initdb, pg_ctl
	dir      string
	port     int
	asUser   *syscall.Credential // PostgreSQL refuses to run as root
	logFile  string
	settings []string
}

// NewCluster creates and starts a cluster with the given server settings ("name=value", on
// top of fsync off), or skips the test when the server binaries are missing.
func NewCluster(t *testing.T, settings ...string) *Cluster {
	t.Helper()
	bin := ""
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		bin = filepath.Dir(p)
	} else if ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(ms) > 0 {
		bin = filepath.Dir(ms[len(ms)-1])
	}
	if bin == "" {
		t.Skip("PostgreSQL server binaries (initdb, pg_ctl) not found: skipping a test that needs a cluster of its own")
	}
	c := &Cluster{t: t, bin: bin, port: FreePort(t), settings: settings}
	root, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	c.dir, c.logFile = filepath.Join(root, "data"), filepath.Join(root, "server.log")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user to run PostgreSQL as: skipping")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.asUser = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.run("initdb", "-D", c.dir, "-A", "trust", "-U", "gatehouse", "--no-sync", "-E", "UTF8")
	c.start()
	t.Cleanup(func() { c.pgctl("stop", "-m", "immediate") })
	return c
}

// URL is the cluster's postgres database, as its superuser.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://gatehouse@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Restart stops the server the hard way for its clients (fast mode: every session is
// terminated, open transactions roll back) and starts it again.
func (c *Cluster) Restart() {
	c.t.Helper()
	c.pgctl("stop", "-m", "fast")
	time.Sleep(300 * time.Millisecond) // clients see the database down for a moment
	c.start()
}

// Crash stops the server as a crash would (immediate mode: no checkpoint, and the log
// records still in shared memory are lost; what was written to the operating system stays)
// and starts it again, which replays the log.
func (c *Cluster) Crash() {
	c.t.Helper()
	c.pgctl("stop", "-m", "immediate")
	c.start()
}

func (c *Cluster) start() {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, filepath.Dir(c.dir))
	for _, s := range c.settings {
		opts += " -c " + s
	}
	c.pgctl("start", "-o", opts)
}

func (c *Cluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = filepath.Dir(c.dir)
	if c.asUser != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.asUser}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(c.logFile)
		c.t.Fatalf("%s %v: %v\n%s\n%s", name, args, err, out, log)
	}
}

func (c *Cluster) pgctl(args ...string) {
	c.t.Helper()
	c.run("pg_ctl", append([]string{"-D", c.dir, "-l", c.logFile, "-w", "-t", "60"}, args...)...)
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
