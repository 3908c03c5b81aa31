package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gatehouse/app/apptest"
	"gatehouse/secret"
	"gatehouse/store/storetest"
)

// Fault tests: PostgreSQL restarted under SCIM write load, and the Gatehouse process killed
// (SIGKILL) and restarted under load. Each checks that every request got an answer (or, for
// the requests in flight when the process died, a closed connection and nothing else) and
// that every acknowledged write is stored exactly once. CI runs a few seconds of load;
// GATEHOUSE_FAULT_LONG=1 runs longer and repeats the fault. They skip under -short.

// faultLoad is how long load runs around each fault, and how many faults are injected.
func faultLoad() (time.Duration, int) {
	if os.Getenv("GATEHOUSE_FAULT_LONG") != "" {
		return 20 * time.Second, 5
	}
	return 3 * time.Second, 1
}

// outcome is what the load saw.
type outcome struct {
	mu       sync.Mutex
	acked    map[string]string // userName → id of every 201
	statuses map[int]int
	noAnswer []string // userNames whose request got no HTTP answer
	sent     atomic.Int64
}

// ackedCount is how many requests were acknowledged so far, read while the load runs.
func (o *outcome) ackedCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.acked)
}

// scimLoad posts SCIM users with unique userNames from workers until stop is closed. A
// request that gets no answer is recorded; allowNoAnswer says whether that is expected at
// the moment it failed (the server process was being killed).
func scimLoad(base, token, prefix string, workers int, stop <-chan struct{}, allowNoAnswer func() bool, o *outcome) *sync.WaitGroup {
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("%s-%d-%d@example.com", prefix, w, i)
				o.sent.Add(1)
				req, _ := http.NewRequest("POST", base+"/scim/v2/Users", strings.NewReader(`{"userName":"`+name+`"}`))
				req.Header.Set("Content-Type", "application/scim+json")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					if !allowNoAnswer() {
						o.mu.Lock()
						o.noAnswer = append(o.noAnswer, name+": "+err.Error())
						o.mu.Unlock()
					}
					time.Sleep(20 * time.Millisecond)
					continue
				}
				var body struct{ ID string }
				if resp.StatusCode == 201 {
					_ = json.NewDecoder(resp.Body).Decode(&body)
				}
				resp.Body.Close()
				o.mu.Lock()
				o.statuses[resp.StatusCode]++
				if resp.StatusCode == 201 {
					o.acked[name] = body.ID
				}
				o.mu.Unlock()
				if resp.StatusCode >= 500 {
					time.Sleep(20 * time.Millisecond) // an IdP backs off too
				}
			}
		}()
	}
	return &wg
}

// stop stops the load and fails unless every request got an answer, a write was acknowledged
// after the first before ones (once the fault was over: after), and every status was one of
// allowed.
func (o *outcome) stop(t *testing.T, stop chan struct{}, wg *sync.WaitGroup, before int, after string, allowed ...int) {
	t.Helper()
	close(stop)
	wg.Wait()
	if len(o.noAnswer) > 0 {
		t.Errorf("%d requests got no answer, e.g. %v", len(o.noAnswer), o.noAnswer[0])
	}
	if len(o.acked) == before {
		t.Errorf("no write succeeded after %s", after)
	}
	for status, n := range o.statuses {
		if !slices.Contains(allowed, status) {
			t.Errorf("unexpected status %d (%d times) around the fault", status, n)
		}
	}
}

// checkStored fails unless every acknowledged user is stored exactly once, with the id the
// client was given, and reports how many users are stored.
func checkStored(t *testing.T, e *testEnv, token, prefix string, o *outcome) int {
	t.Helper()
	seen := map[string][]string{}
	for start := 1; ; start += 1000 {
		r := e.Call("GET", fmt.Sprintf("/scim/v2/Users?count=1000&startIndex=%d&filter=%s", start, urlq(`userName sw "`+prefix+`"`)), token, nil).Must(t, 200)
		res, _ := get(r.Body, "Resources").([]any)
		for _, u := range res {
			seen[str(u, "userName")] = append(seen[str(u, "userName")], str(u, "id"))
		}
		if len(res) < 1000 {
			break
		}
	}
	for name, id := range o.acked {
		if ids := seen[name]; len(ids) != 1 || ids[0] != id {
			t.Errorf("acknowledged %s (id %s) is stored as %v", name, id, ids)
		}
	}
	for name, ids := range seen {
		if len(ids) != 1 {
			t.Errorf("%s stored %d times", name, len(ids))
		}
	}
	return len(seen)
}

func TestFaultPostgresRestartUnderSCIMLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: skipped with -short")
	}
	pg := storetest.NewCluster(t)
	e := newTestEnv(t, pg.URL())
	tok, _ := e.SCIMToken(e.AdminToken(), allScopes("load"))
	load, faults := faultLoad()
	o := &outcome{acked: map[string]string{}, statuses: map[int]int{}}
	stop := make(chan struct{})
	wg := scimLoad(e.URL, tok, "pgr", 8, stop, func() bool { return false }, o)
	for i := 0; i < faults; i++ {
		time.Sleep(load / 2)
		pg.Restart()
	}
	time.Sleep(load / 2) // the service recovers without a restart of its own
	before := o.ackedCount()
	time.Sleep(load / 2)
	o.stop(t, stop, wg, before, "PostgreSQL came back", 201, 500, 503)
	stored := checkStored(t, e, tok, "pgr", o)
	t.Logf("%d restarts: %d requests, statuses %v, %d acknowledged, %d stored", faults, o.sent.Load(), o.statuses, len(o.acked), stored)
}

// serverEnv is the environment of a child server listening on addr, on the database dbURL,
// logging warnings and errors only; env adds to it.
func serverEnv(addr, dbURL string, env ...string) []string {
	return append([]string{"GATEHOUSE_ADDR=" + addr, "GATEHOUSE_DATABASE_URL=" + dbURL, "GATEHOUSE_PUBLIC_URL=http://" + addr,
		"GATEHOUSE_BOOTSTRAP_CLIENT_ID=" + testAdminID, "GATEHOUSE_BOOTSTRAP_CLIENT_SECRET=" + testAdminSecret,
		"GATEHOUSE_LOG_LEVEL=warn"}, env...)
}

// process is a running gatehouse binary.
type process struct {
	cmd *exec.Cmd
	url string
	// exited is closed once the process has exited and been waited for.
	exited chan struct{}
}

// wait waits until the process has exited.
func (p *process) wait() { <-p.exited }

// startServer starts bin with env added and waits until it is ready; its output goes to the
// test's and to logs, if given. A process that exits before it is ready fails the test at
// once (a start refused by its configuration or its database), not after the 30 s deadline.
func startServer(t *testing.T, bin string, env []string, addr string, logs ...io.Writer) *process {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	out := io.MultiWriter(append([]io.Writer{t.Output()}, logs...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, url: "http://" + addr, exited: make(chan struct{})}
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); p.wait() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(p.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("gatehouse at %s exited before it was ready: %v", addr, waitErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("gatehouse at %s did not become ready", addr)
	return nil
}

func TestFaultServerKilledUnderLoad(t *testing.T) {
	bin := gatehouseBinary(t) // skipped with -short
	storetest.Each(t, func(t *testing.T, dbURL string) {
		addr := fmt.Sprintf("127.0.0.1:%d", storetest.FreePort(t))
		if strings.HasPrefix(dbURL, "sqlite:") {
			dbURL = "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
		}
		// The load is one SCIM token's: on a fast host it outruns the default per-token limit
		// (6000/1m), whose 429s this test of kills would count as a fault's.
		env := serverEnv(addr, dbURL, "GATEHOUSE_ENCRYPTION_KEY="+secret.NewKey(), "GATEHOUSE_RATE_LIMIT_SCIM=1000000/1m")
		p := startServer(t, bin, env, addr)
		e := &testEnv{&apptest.Env{T: t, URL: p.url}}
		tok, _ := e.SCIMToken(e.AdminToken(), allScopes("load"))

		load, faults := faultLoad()
		o := &outcome{acked: map[string]string{}, statuses: map[int]int{}}
		var down atomic.Bool // the process is dead or not yet ready again
		stop := make(chan struct{})
		wg := scimLoad(p.url, tok, "kill", 8, stop, down.Load, o)
		for i := 0; i < faults; i++ {
			time.Sleep(load / 2)
			down.Store(true)
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.wait()
			p = startServer(t, bin, env, addr)
			time.Sleep(200 * time.Millisecond) // requests already failing against the dead process finish failing
			down.Store(false)
		}
		time.Sleep(load / 2)
		close(stop)
		wg.Wait()
		if len(o.noAnswer) > 0 {
			t.Errorf("%d requests got no answer while the server was up, e.g. %v", len(o.noAnswer), o.noAnswer[0])
		}
		for status := range o.statuses {
			if status != 201 {
				t.Errorf("unexpected status %d (%d times) around the kill", status, o.statuses[status])
			}
		}
		stored := checkStored(t, e, tok, "kill", o)
		t.Logf("%d kills: %d requests, statuses %v, %d acknowledged, %d stored (the rest were in flight)", faults, o.sent.Load(), o.statuses, len(o.acked), stored)
	})
}
