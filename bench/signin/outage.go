package main

// -db-outage AT+FOR: -overload on a PostgreSQL cluster of the bench's own, stopped AT into the
// run for FOR and started again, to see what browsers signing in meanwhile get, how soon the
// server answers again, and that nothing was half written:
//
//	go run ./bench/signin -db postgres -c 64 -overload 30s -db-outage 10s+8s
//	go run ./bench/signin -db postgres -c 64 -overload 30s -db-outage 10s+8s -db-outage-mode immediate
//
// The cluster is made with pg_createcluster on a free port (trust authentication, the
// defaults of this machine's clusters otherwise), stopped and started with pg_ctlcluster, and
// dropped with pg_dropcluster however the bench ends (failure, Ctrl-C, SIGTERM, a closed
// pipe: it runs on to its end; not SIGKILL). The shared cluster is never touched.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gatehouse/bench/internal/benchkit"
)

// outage is when, within -overload, PostgreSQL is down, and how it is stopped.
type outage struct {
	at, length time.Duration
	mode       string // pg_ctl's shutdown mode: fast (sessions terminated) or immediate (as a crash)
}

// parseOutage reads -db-outage's AT+FOR ("10s+8s").
func parseOutage(v, mode string) (*outage, error) {
	at, length, ok := strings.Cut(v, "+")
	if !ok {
		return nil, fmt.Errorf("-db-outage %q: want AT+FOR, e.g. 10s+8s", v)
	}
	o := &outage{mode: mode}
	var err error
	if o.at, err = time.ParseDuration(at); err != nil {
		return nil, fmt.Errorf("-db-outage: %w", err)
	}
	if o.length, err = time.ParseDuration(length); err != nil {
		return nil, fmt.Errorf("-db-outage: %w", err)
	}
	if o.at <= 0 || o.length <= 0 {
		return nil, fmt.Errorf("-db-outage %q: both durations must be positive", v)
	}
	if mode != "fast" && mode != "immediate" {
		return nil, fmt.Errorf("-db-outage-mode %q: want fast or immediate", mode)
	}
	return o, nil
}

// exits are what must be undone however the bench ends: a server and a cluster of its own.
var exits struct {
	mu  sync.Mutex
	fns []func()
}

// atExit registers fn to run once when the bench ends (runExits), last registered first, and
// returns it (run once however often it is called) for the caller to run earlier.
func atExit(fn func()) func() {
	once := sync.OnceFunc(fn)
	exits.mu.Lock()
	exits.fns = append(exits.fns, once)
	exits.mu.Unlock()
	return once
}

// runExits runs the exits; a second caller (main's end while a signal is handled) waits for
// the first to finish, so that the process does not end in the middle.
func runExits() {
	exits.mu.Lock()
	defer exits.mu.Unlock()
	for i := len(exits.fns) - 1; i >= 0; i-- {
		exits.fns[i]()
	}
	exits.fns = nil
}

// cleanUpOnSignal runs the exits on Ctrl-C, SIGTERM or SIGHUP. SIGPIPE is ignored: a bench
// piped into head then runs to its end and cleans up, its writes failing, instead of dying at
// the first one and leaving its cluster behind. (Notify would not do: it also delivers the
// SIGPIPEs of the bench's own sockets, which an immediate stop of PostgreSQL raises.)
func cleanUpOnSignal() {
	signal.Ignore(syscall.SIGPIPE)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-ch
		fmt.Fprintf(os.Stderr, "bench/signin: %v: stopping the server and dropping the cluster\n", s)
		runExits()
		os.Exit(1)
	}()
}

// cluster is a PostgreSQL cluster of the bench's own (pg_createcluster), on a free port, with
// trust authentication.
type cluster struct {
	version, name string
	port          int
}

// newCluster creates and starts a cluster of the newest installed PostgreSQL; drop removes it.
func newCluster() (*cluster, error) {
	versions, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(versions) == 0 {
		return nil, errors.New("no PostgreSQL server under /usr/lib/postgresql (-db-outage needs pg_createcluster)")
	}
	sort.Slice(versions, func(i, j int) bool { return pgVersion(versions[i]) < pgVersion(versions[j]) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := &cluster{version: strconv.Itoa(pgVersion(versions[len(versions)-1])), name: "gatehouse_outage_" + benchkit.RandHex(4), port: port}
	// initdb's -A trust: the cluster's pg_hba.conf trusts local and loopback connections.
	if err := run("pg_createcluster", c.version, c.name, "-p", strconv.Itoa(port), "--", "-A", "trust"); err != nil {
		c.drop()
		return nil, err
	}
	if err := c.start(); err != nil {
		c.drop()
		return nil, err
	}
	return c, nil
}

// pgVersion is the major version in a path /usr/lib/postgresql/<version>/bin/postgres.
func pgVersion(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// URL is the cluster's postgres database, as its superuser.
func (c *cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func (c *cluster) String() string { return fmt.Sprintf("%s/%s on port %d", c.version, c.name, c.port) }

// start starts the cluster and waits until it accepts connections.
func (c *cluster) start() error {
	return run("pg_ctlcluster", "--skip-systemctl-redirect", c.version, c.name, "start")
}

// stop stops the cluster in pg_ctl's mode: fast (every session terminated, open transactions
// rolled back) or immediate (as a crash: no checkpoint, recovery at the next start).
func (c *cluster) stop(mode string) error {
	return run("pg_ctlcluster", "--skip-systemctl-redirect", c.version, c.name, "stop", "-m", mode)
}

// drop stops the cluster if it runs and removes it, its data, configuration and log.
func (c *cluster) drop() {
	if err := run("pg_dropcluster", "--stop", c.version, c.name); err != nil {
		fmt.Fprintln(os.Stderr, "bench/signin: drop the cluster:", err)
	}
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// outageRun is what happened to the database during one -overload run, and the server's
// readiness around it, as times since the run's start.
type outageRun struct {
	outage
	start                    time.Time
	done                     chan struct{} // closed when the cluster's start returned
	stopAsked, down, started time.Duration // stop issued, stop returned, start returned
	stopErr, startErr        error
	mu                       sync.Mutex
	upAsked                  time.Duration // start issued
	// lastAnswer is the last time PostgreSQL answered a query before the outage, up the first
	// time after it (pg_ctlcluster start returns seconds after that on a busy machine).
	lastAnswer, up            time.Duration
	upBy                      string // what saw it answer again: the bench's query or /readyz
	readyz, healthz           []transition
	firstReadyAfterUp         time.Duration // -1: not seen
	firstSignInAfterUp        time.Duration // -1: none
	firstStartedAfterUpFinish time.Duration // the first sign-in begun after up, when it finished; -1: none
}

// transition is a probe's answer changing (status -1: no answer).
type transition struct {
	at     time.Duration
	status int
}

// run stops the cluster o.at after start for o.length, then starts it again, moving the
// tally's phase to during; pgWatch moves it to after.
func (o *outageRun) run(c *cluster, t *tally) {
	defer close(o.done)
	time.Sleep(time.Until(o.start.Add(o.at)))
	o.stopAsked = time.Since(o.start)
	t.phase.Store(phaseDuring)
	o.stopErr = c.stop(o.mode)
	o.down = time.Since(o.start)
	time.Sleep(time.Until(o.start.Add(o.at + o.length)))
	o.mu.Lock()
	o.upAsked = time.Since(o.start)
	o.mu.Unlock()
	o.startErr = c.start()
	o.started = time.Since(o.start)
}

// pgWatch asks PostgreSQL for SELECT 1 on a new connection every 50 ms until stop, and moves
// the tally to the phase after the outage when it answers after its start was asked (or
// /readyz does, whichever is first: under load either may be late).
func (o *outageRun) pgWatch(stop <-chan struct{}, url string, t *tally) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return
	}
	defer db.Close()
	db.SetMaxIdleConns(0) // a new connection each time, as a server's pool makes after the outage
	for {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var one int
		err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		cancel()
		at := time.Since(o.start)
		o.mu.Lock()
		switch {
		case err == nil && o.upAsked == 0:
			o.lastAnswer = at
		case err == nil && o.up == 0:
			o.answered(at, "a query of the bench's own", t)
		}
		o.mu.Unlock()
	}
}

// answered notes that PostgreSQL answered again at at, as seen by, and moves the tally to the
// phase after the outage; o.mu held.
func (o *outageRun) answered(at time.Duration, by string, t *tally) {
	o.up, o.upBy = at, by
	t.phase.Store(phaseAfter)
}

// watch asks path (/readyz or /healthz) every 100 ms until stop and keeps the changes of its
// answer; for /readyz also the first 200 after PostgreSQL's start was asked, which says that
// it answers again if pgWatch has not said so yet.
func (o *outageRun) watch(stop <-chan struct{}, base, path string, into *[]transition, t *tally) {
	cl := &http.Client{Timeout: 5 * time.Second}
	last := 0
	for {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		status := -1
		if resp, err := cl.Get(base + path); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		at := time.Since(o.start)
		o.mu.Lock()
		if status != last {
			*into = append(*into, transition{at, status})
			last = status
		}
		if path == "/readyz" && status == 200 && o.upAsked > 0 {
			if o.up == 0 { // the server's ping answered before the bench's own query
				o.answered(at, "/readyz", t)
			}
			if o.firstReadyAfterUp < 0 {
				o.firstReadyAfterUp = at
			}
		}
		o.mu.Unlock()
	}
}

// finished notes a sign-in begun at began that finished now.
func (o *outageRun) finished(began time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.up == 0 {
		return
	}
	now := time.Since(o.start)
	if now > o.up && o.firstSignInAfterUp < 0 {
		o.firstSignInAfterUp = now
	}
	if began.Sub(o.start) > o.up && o.firstStartedAfterUpFinish < 0 {
		o.firstStartedAfterUpFinish = now
	}
}

func (o *outageRun) report(t *tally, end time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := func(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
	fmt.Printf("database outage (%s stop), since the run's start: stop asked at %s, last query answered at %s, stop returned at %s; "+
		"start asked at %s, answering again at %s (seen by %s), start returned at %s: PostgreSQL did not answer for %s\n",
		o.mode, s(o.stopAsked), s(o.lastAnswer), s(o.down), s(o.upAsked), s(o.up), o.upBy, s(o.started), s(o.up-o.lastAnswer))
	if o.stopErr != nil || o.startErr != nil {
		fmt.Printf("  stop: %v; start: %v\n", o.stopErr, o.startErr)
	}
	after := func(d time.Duration) string {
		if d < 0 {
			return "never"
		}
		return s(d-o.up) + " after"
	}
	fmt.Printf("recovery, after PostgreSQL answered again: /readyz 200 %s; first sign-in finished %s; first sign-in begun after it finished %s\n",
		after(o.firstReadyAfterUp), after(o.firstSignInAfterUp), after(o.firstStartedAfterUpFinish))
	for _, w := range []struct {
		path string
		l    []transition
	}{{"/readyz", o.readyz}, {"/healthz", o.healthz}} {
		var parts []string
		for _, tr := range w.l {
			parts = append(parts, fmt.Sprintf("%s %d", s(tr.at), tr.status))
		}
		fmt.Printf("%s (every 100ms; its answer at each change): %s\n", w.path, strings.Join(parts, ", "))
	}
	if o.up == 0 {
		fmt.Println("PostgreSQL did not answer again before the run's end")
		o.up = end
	}
	spans := [3]time.Duration{o.stopAsked, o.up - o.stopAsked, end - o.up}
	for p, name := range phaseNames {
		fmt.Printf("-- %s (%s): %d sign-ins finished (%.1f/s), %d failed\n", name, s(spans[p]), t.okPhase[p],
			float64(t.okPhase[p])/spans[p].Seconds(), t.failPhase[p])
		t.printAnswers(t.byPhase[p], false)
	}
}
