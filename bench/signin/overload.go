package main

// -overload: the browser sign-in path under overload for a fixed duration, every answer
// tallied (written for a fault probe of 2026-12-05; bench/README.md has its findings):
//
//	go run ./bench/signin -db sqlite -c 256 -overload 20s
//	go run ./bench/signin -db sqlite -protocols oidc,saml -c 64 -overload 20s -idp-delay 8s -reuse-every 0
//
// With -db-outage (outage.go), PostgreSQL stops in the middle: the browsers reload a page
// answered 503 with Retry-After, as a person does, and the tallies are kept per phase.

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/glebarez/go-sqlite"
	_ "github.com/jackc/pgx/v5/stdlib"

	"gatehouse/bench/internal/benchkit"
)

type tally struct {
	start   time.Time
	mu      sync.Mutex
	answers map[string]int // "path status [RA] ctype" -> n
	fails   map[string]int
	samples map[string]string
	okLat   []time.Duration
	allLat  []time.Duration
	codes   map[string]bool
	dupCode int
	reuseOK int
	ok      int
	// users is each person's sign-in as the bench saw it: "ok", or why not (the integrity
	// check names it for rows the server wrote without a finished sign-in).
	users map[int]string
	// Reloads of a page (or the application's retries at the token endpoint) answered 503 with
	// Retry-After, by route; the sign-ins that finished after at least one, and that failed.
	reloads                  map[string]int
	reloadedOK, reloadedFail int
	// With -db-outage: the phase (before, during, after the outage) and what each saw.
	phase     atomic.Int32
	byPhase   [3]map[string]int
	okPhase   [3]int
	failPhase [3]int
	// seconds since start → sign-ins finished, 503s, other 5xx answers
	timeline map[int]*[3]int
}

const (
	phaseBefore = iota
	phaseDuring
	phaseAfter
)

var phaseNames = [3]string{"before the outage", "during the outage (stop asked → PostgreSQL answering again)", "after the outage"}

func newTally() *tally {
	t := &tally{start: time.Now(), answers: map[string]int{}, fails: map[string]int{}, samples: map[string]string{},
		codes: map[string]bool{}, users: map[int]string{}, reloads: map[string]int{}, timeline: map[int]*[3]int{}}
	for p := range t.byPhase {
		t.byPhase[p] = map[string]int{}
	}
	return t
}

// second is the timeline's bucket of now; t.mu held.
func (t *tally) second() *[3]int {
	s := int(time.Since(t.start) / time.Second)
	if t.timeline[s] == nil {
		t.timeline[s] = &[3]int{}
	}
	return t.timeline[s]
}

func (t *tally) answer(path string, resp *http.Response, body []byte) {
	key := fmt.Sprintf("%-22s %d", path, resp.StatusCode)
	if resp.StatusCode == 503 || resp.StatusCode == 429 {
		key += fmt.Sprintf(" Retry-After=%q ct=%q", resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}
	t.mu.Lock()
	t.answers[key]++
	t.byPhase[t.phase.Load()][key]++
	switch {
	case resp.StatusCode == 503:
		t.second()[1]++
	case resp.StatusCode >= 500:
		t.second()[2]++
	}
	if resp.StatusCode >= 400 {
		if _, ok := t.samples[key]; !ok {
			t.samples[key] = fmt.Sprintf("%.200q", body)
		}
	}
	t.mu.Unlock()
}

// printAnswers prints answers by route and status, with a sample body of each error when
// samples is set.
func (t *tally) printAnswers(answers map[string]int, samples bool) {
	keys := make([]string, 0, len(answers))
	for k := range answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %6d  %s\n", answers[k], k)
		if s, ok := t.samples[k]; ok && samples {
			fmt.Printf("          body: %s\n", s)
		}
	}
}

// overloadConfig is what -overload runs.
type overloadConfig struct {
	db         string
	protocols  []string
	browsers   int
	d          time.Duration
	reuseEvery int
	idpDelay   time.Duration
	// reloads: how many times a browser reloads a page answered 503 with Retry-After, after
	// that wait, in one sign-in (the application likewise retries its code's redemption).
	reloads int
	// outage: PostgreSQL (the cluster) is stopped in the middle of the run (nil: never).
	outage  *outage
	cluster *cluster
}

// overload signs people in first-time with cfg.browsers browsers for cfg.d, alternating the
// protocols, each browser starting its next sign-in as soon as one ends, while a
// client-credentials probe (every 50 ms) and an admin REST probe (every 100 ms) measure what
// the rest of the server answers. It prints every answer of Gatehouse by route and status (a
// 503's or 429's Retry-After and content type, a sample body), the failed sign-ins, both
// probes, and counts that prove nothing was half written: accounts, credentials, grants and
// events against the sign-ins that finished, unclaimed flows, duplicate codes.
func (b *bench) overload(cfg overloadConfig) {
	srv := b.srv
	protos := cfg.protocols
	t := newTally()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var user atomic.Int64
	// What the rest of the server answers meanwhile: the token endpoint's reserved slots, and
	// the general ones.
	tokens := &probe{name: "client-credentials probe (POST /oauth/token every 50ms)", phase: &t.phase}
	go tokens.run(stop, 50*time.Millisecond, func() *http.Request {
		req, _ := http.NewRequest("POST", srv.Base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.SetBasicAuth(benchkit.AdminClientID, benchkit.AdminClientSecret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	})
	api := &probe{name: "admin REST probe (GET /api/v1/sso/connections every 100ms)", phase: &t.phase}
	go api.run(stop, 100*time.Millisecond, func() *http.Request {
		req, _ := http.NewRequest("GET", srv.Base+"/api/v1/sso/connections", nil)
		req.Header.Set("Authorization", "Bearer "+b.admin)
		return req
	})
	start := t.start
	var down *outageRun
	if cfg.outage != nil {
		down = &outageRun{outage: *cfg.outage, start: start, done: make(chan struct{}), firstReadyAfterUp: -1, firstSignInAfterUp: -1, firstStartedAfterUpFinish: -1}
		go down.run(cfg.cluster, t)
		go down.pgWatch(stop, cfg.cluster.URL(), t)
		go down.watch(stop, srv.Base, "/readyz", &down.readyz, t)
		go down.watch(stop, srv.Base, "/healthz", &down.healthz, t)
	}
	for w := 0; w < cfg.browsers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := int(user.Add(1))
				p := protos[u%len(protos)]
				st := time.Now()
				obs := &observer{t: t, reuseEvery: cfg.reuseEvery, maxReloads: cfg.reloads}
				err := b.signInObserved(p, u, "provisioned", obs)
				lat := time.Since(st)
				if err == nil && down != nil {
					down.finished(st)
				}
				t.mu.Lock()
				t.allLat = append(t.allLat, lat)
				phase := t.phase.Load()
				if err == nil {
					t.ok++
					t.okPhase[phase]++
					t.second()[0]++
					t.okLat = append(t.okLat, lat)
					t.users[u] = "ok"
					if obs.reloads > 0 {
						t.reloadedOK++
					}
				} else {
					t.failPhase[phase]++
					msg := strings.TrimSpace(err.Error())
					if len(msg) > 120 {
						msg = msg[:120]
					}
					if obs.reloads > 0 {
						t.reloadedFail++
						msg = fmt.Sprintf("after %d reloads: %s", obs.reloads, msg)
					}
					if obs.code {
						msg = "code issued: " + msg
					}
					t.fails[msg]++
					t.users[u] = msg
				}
				t.mu.Unlock()
			}
		}(w)
	}
	time.Sleep(cfg.d)
	close(stop)
	wg.Wait()
	el := time.Since(start)
	if down != nil {
		<-down.done // the cluster's start returned
	}
	time.Sleep(200 * time.Millisecond)
	pct := percentile
	fmt.Printf("== %s overload: %d browsers for %s, IdP token delay %s: %d sign-ins attempted in %.1fs, %d ok (%.1f/s); ok p50 %s p99 %s max %s; all p99 %s max %s\n",
		cfg.db, cfg.browsers, cfg.d, cfg.idpDelay, len(t.allLat), el.Seconds(), t.ok, float64(t.ok)/el.Seconds(), pct(t.okLat, .5), pct(t.okLat, .99), pct(t.okLat, 1), pct(t.allLat, .99), pct(t.allLat, 1))
	fmt.Printf("server peak RSS: %s; codes issued %d, duplicate codes %d, second redemption accepted %d\n",
		srv.PeakRSS(), len(t.codes), t.dupCode, t.reuseOK)
	fmt.Println("answers:")
	t.printAnswers(t.answers, true)
	fmt.Println("failed sign-ins:")
	for k, v := range t.fails {
		fmt.Printf("  %6d  %s\n", v, k)
	}
	if cfg.reloads > 0 {
		fmt.Printf("reloads after a 503 with Retry-After (at most %d a sign-in): %v; sign-ins finished after reloading %d, failed after reloading %d\n",
			cfg.reloads, t.reloads, t.reloadedOK, t.reloadedFail)
	}
	tokens.report()
	api.report()
	if down != nil {
		down.report(t, el)
		tokens.reportPhases()
		api.reportPhases()
		t.printTimeline()
	}
	integrity(srv, cfg.db)
	t.check(srv, cfg.db)
}

// printTimeline prints, a second a line, the sign-ins finished and the 5xx answers.
func (t *tally) printTimeline() {
	last := 0
	for s := range t.timeline {
		last = max(last, s)
	}
	fmt.Println("timeline (second since start: sign-ins finished, 503s, other 5xx):")
	var line []string
	for s := 0; s <= last; s++ {
		c := t.timeline[s]
		if c == nil {
			c = &[3]int{}
		}
		line = append(line, fmt.Sprintf("%d:%d/%d/%d", s, c[0], c[1], c[2]))
		if len(line) == 8 || s == last {
			fmt.Println("  " + strings.Join(line, "  "))
			line = nil
		}
	}
}

func openDB(srv *benchkit.Server, db string) (*sql.DB, error) {
	if db == "postgres" {
		return sql.Open("pgx", srv.DBURL)
	}
	return sql.Open("sqlite", strings.TrimPrefix(srv.DBURL, "sqlite:"))
}

func integrity(srv *benchkit.Server, db string) {
	conn, err := openDB(srv, db)
	if err != nil {
		fmt.Println("integrity:", err)
		return
	}
	defer conn.Close()
	for _, q := range []string{
		"SELECT count(*) FROM user_accounts",
		"SELECT count(*) FROM credentials",
		"SELECT count(*) FROM accounts",
		"SELECT count(*) FROM user_accounts u WHERE NOT EXISTS (SELECT 1 FROM credentials c WHERE c.user_account_id = u.id)",
		"SELECT count(*) FROM sign_in_flows",
		"SELECT count(*) FROM sign_in_flows WHERE claimed_at IS NULL",
		"SELECT count(*) FROM grants",
		"SELECT outcome, count(*) FROM sign_in_events GROUP BY outcome",
		"SELECT reason, count(*) FROM sign_in_events WHERE outcome <> 'succeeded' GROUP BY reason",
		"SELECT substr(cause,1,120), count(*) FROM sign_in_events WHERE outcome <> 'succeeded' GROUP BY substr(cause,1,120) ORDER BY 2 DESC LIMIT 8",
	} {
		rows, err := conn.Query(q)
		if err != nil {
			fmt.Printf("  %s: %v\n", q, err)
			continue
		}
		cols, _ := rows.Columns()
		var out []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			var parts []string
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				parts = append(parts, fmt.Sprint(v))
			}
			out = append(out, strings.Join(parts, "="))
		}
		rows.Close()
		fmt.Printf("  %s -> %s\n", q, strings.Join(out, "; "))
	}
}

// check compares what the server wrote with the sign-ins the bench saw, person by person
// (each bench user signs in once, as user-N): every credential (and its account), grant and
// provisioned event belongs to a sign-in that finished, and each finished one has exactly one
// of each, its grant redeemed once. A code issued but never redeemed (the application gave
// up) is counted apart: its grant expires unused; so is a redemption or a sign-in the server
// committed whose answer was lost (the database crashed before acknowledging the commit). It prints what differs, with the bench's view of
// each person named.
func (t *tally) check(srv *benchkit.Server, db string) {
	conn, err := openDB(srv, db)
	if err != nil {
		fmt.Println("check:", err)
		return
	}
	defer conn.Close()
	count := func(q string) map[int]int {
		out := map[int]int{}
		rows, err := conn.Query(q)
		if err != nil {
			fmt.Printf("check: %s: %v\n", q, err)
			return out
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int
			if rows.Scan(&id, &n) == nil {
				u, err := strconv.Atoi(strings.TrimPrefix(id, "user-"))
				if err != nil {
					u = -1 // not a bench user: reported as such
				}
				out[u] += n
			}
		}
		return out
	}
	creds := count("SELECT identifier, count(*) FROM credentials GROUP BY identifier")
	grants := count("SELECT c.identifier, count(*) FROM grants g JOIN credentials c ON c.user_account_id = g.user_account_id GROUP BY c.identifier")
	redeemed := count("SELECT c.identifier, count(*) FROM grants g JOIN credentials c ON c.user_account_id = g.user_account_id WHERE g.redeemed_at IS NOT NULL GROUP BY c.identifier")
	events := count("SELECT identifier, count(*) FROM sign_in_events WHERE outcome = 'provisioned' GROUP BY identifier")
	var accounts, orphans, orphanGrants int
	_ = conn.QueryRow("SELECT count(*) FROM user_accounts").Scan(&accounts)
	_ = conn.QueryRow("SELECT count(*) FROM user_accounts u WHERE NOT EXISTS (SELECT 1 FROM credentials c WHERE c.user_account_id = u.id)").Scan(&orphans)
	_ = conn.QueryRow("SELECT count(*) FROM grants g WHERE NOT EXISTS (SELECT 1 FROM credentials c WHERE c.user_account_id = g.user_account_id)").Scan(&orphanGrants)
	t.mu.Lock()
	defer t.mu.Unlock()
	var problems, lost []string
	unredeemed := 0
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if orphans > 0 || orphanGrants > 0 {
		problem("%d accounts and %d grants without a credential", orphans, orphanGrants)
	}
	users := map[int]bool{}
	for _, m := range []map[int]int{creds, grants, events} {
		for u := range m {
			users[u] = true
		}
	}
	for u := range t.users {
		if t.users[u] == "ok" {
			users[u] = true
		}
	}
	ids := make([]int, 0, len(users))
	for u := range users {
		ids = append(ids, u)
	}
	sort.Ints(ids)
	for _, u := range ids {
		c, g, r, e, saw := creds[u], grants[u], redeemed[u], events[u], t.users[u]
		switch {
		case saw == "ok" && (c != 1 || g != 1 || r != 1 || e != 1):
			problem("user-%d finished, but %d credentials, %d grants (%d redeemed), %d provisioned events", u, c, g, r, e)
		case saw == "ok":
		case c == 1 && g == 1 && r == 0 && e == 1 && strings.HasPrefix(saw, "code issued: "):
			unredeemed++
		case c == 1 && g == 1 && r == 1 && e == 1 && strings.HasPrefix(saw, "code issued: "),
			c == 1 && g == 1 && r == 0 && e == 1 && strings.HasPrefix(saw, "server_error from "):
			// The redemption, or the sign-in's decision, committed and its answer was lost (a
			// commit whose acknowledgement the database's crash cut off): the application got
			// 503 (a retry is a second redemption, refused) or server_error.
			lost = append(lost, fmt.Sprintf("user-%d (%s)", u, saw))
		case c > 0 || g > 0 || e > 0:
			if saw == "" {
				saw = "never signed in by the bench"
			}
			problem("user-%d did not finish (%s), but %d credentials, %d grants (%d redeemed), %d provisioned events", u, saw, c, g, r, e)
		}
	}
	fmt.Printf("check: %d sign-ins finished; %d accounts, %d credentials, %d grants (%d redeemed), %d provisioned events; %d codes issued and never redeemed (the application gave up)\n",
		t.ok, accounts, sum(creds), sum(grants), sum(redeemed), sum(events), unredeemed)
	fmt.Printf("check: duplicate codes %d, second redemptions accepted %d\n", t.dupCode, t.reuseOK)
	if len(lost) > 0 {
		fmt.Printf("check: %d redemptions or sign-ins committed whose answer was lost (the application got 503 or server_error; a retried redemption is refused): %s\n",
			len(lost), strings.Join(lost, "; "))
	}
	if t.dupCode > 0 || t.reuseOK > 0 {
		problem("%d duplicate codes, %d second redemptions accepted", t.dupCode, t.reuseOK)
	}
	if len(problems) == 0 {
		fmt.Println("check: nothing half written, no sign-in finished twice, no code redeemed twice")
		return
	}
	fmt.Printf("check: %d PROBLEMS\n", len(problems))
	for i, p := range problems {
		if i == 20 {
			fmt.Printf("  … and %d more\n", len(problems)-i)
			break
		}
		fmt.Println("  " + p)
	}
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// probe sends one request every so often until stop, each on its own goroutine, and keeps
// the statuses and the latencies of the 200s.
type probe struct {
	name     string
	phase    *atomic.Int32
	mu       sync.Mutex
	statuses map[int]int
	byPhase  [3]map[int]int
	lat      []time.Duration
}

func (p *probe) run(stop <-chan struct{}, every time.Duration, newRequest func() *http.Request) {
	p.statuses = map[int]int{}
	for i := range p.byPhase {
		p.byPhase[i] = map[int]int{}
	}
	cl := &http.Client{Timeout: 30 * time.Second}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		go func() {
			start := time.Now()
			resp, err := cl.Do(newRequest())
			status := -1
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
			}
			p.mu.Lock()
			p.statuses[status]++
			p.byPhase[p.phase.Load()][status]++
			if status == http.StatusOK {
				p.lat = append(p.lat, time.Since(start))
			}
			p.mu.Unlock()
		}()
	}
}

func (p *probe) report() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Printf("%s: %v; 200s p50 %s p99 %s max %s\n", p.name, p.statuses, percentile(p.lat, .5), percentile(p.lat, .99), percentile(p.lat, 1))
}

func (p *probe) reportPhases() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Printf("%s: before %v, during %v, after %v\n", p.name, p.byPhase[phaseBefore], p.byPhase[phaseDuring], p.byPhase[phaseAfter])
}

// percentile is the p-th of durations (0 when none).
func percentile(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(int(float64(len(s))*p), len(s)-1)].Round(time.Millisecond)
}

// observer is what -overload learns of each sign-in (bench.signInObserved); a nil one
// observes nothing.
type observer struct {
	t          *tally
	reuseEvery int // redeem every n-th user's code a second time (0: never)
	maxReloads int // reload a page answered 503 with Retry-After at most this many times
	reloads    int // this sign-in's reloads so far
	code       bool
}

func (o *observer) answer(path string, resp *http.Response, body []byte) {
	if o == nil {
		return
	}
	o.t.answer(route(path), resp, body)
}

func route(path string) string {
	if strings.HasPrefix(path, "GET /saml/continue") {
		return "GET /saml/continue"
	}
	return path
}

// reload reports whether the browser (or, at the token endpoint, the application) sends the
// request of path again after resp, as a person reloads a page that says to: a 503 with
// Retry-After, within this sign-in's reloads. It waits the Retry-After (30 s at most) first.
func (o *observer) reload(path string, resp *http.Response) bool {
	if o == nil || resp.StatusCode != http.StatusServiceUnavailable || o.reloads >= o.maxReloads {
		return false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return false
	}
	o.reloads++
	o.t.mu.Lock()
	o.t.reloads[route(path)]++
	o.t.mu.Unlock()
	time.Sleep(time.Duration(min(secs, 30)) * time.Second)
	return true
}

func (o *observer) issued(code string) {
	if o == nil {
		return
	}
	o.code = true
	o.t.mu.Lock()
	if o.t.codes[code] {
		o.t.dupCode++
	}
	o.t.codes[code] = true
	o.t.mu.Unlock()
}

func (o *observer) redeemsTwice(user int) bool {
	return o != nil && o.reuseEvery > 0 && user%o.reuseEvery == 0
}

// redeemedAgain counts a code redeemed twice: a second 200 after a first one. A second 200
// after a refused first redemption (a 503 under overload) is the application's retry
// succeeding, as it should.
func (o *observer) redeemedAgain(first, again int) {
	if first == http.StatusOK && again == http.StatusOK {
		o.t.mu.Lock()
		o.t.reuseOK++
		o.t.mu.Unlock()
	}
}
