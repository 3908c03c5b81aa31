package main

// -overload: the browser sign-in path under overload for a fixed duration, every answer
// tallied (written for a fault probe of 2026-12-05; bench/README.md has its findings):
//
//	go run ./bench/signin -db sqlite -c 256 -overload 20s
//	go run ./bench/signin -db sqlite -protocols oidc,saml -c 64 -overload 20s -idp-delay 8s -reuse-every 0

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/glebarez/go-sqlite"
	_ "github.com/jackc/pgx/v5/stdlib"

	"gatehouse/bench/internal/benchkit"
)

type tally struct {
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
}

func (t *tally) answer(path string, resp *http.Response, body []byte) {
	key := fmt.Sprintf("%-22s %d", path, resp.StatusCode)
	if resp.StatusCode == 503 || resp.StatusCode == 429 {
		key += fmt.Sprintf(" Retry-After=%q ct=%q", resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
	}
	t.mu.Lock()
	t.answers[key]++
	if resp.StatusCode >= 400 {
		if _, ok := t.samples[key]; !ok {
			t.samples[key] = fmt.Sprintf("%.200q", body)
		}
	}
	t.mu.Unlock()
}

// overloadConfig is what -overload runs.
type overloadConfig struct {
	db         string
	protocols  []string
	browsers   int
	d          time.Duration
	reuseEvery int
	idpDelay   time.Duration
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
	t := &tally{answers: map[string]int{}, fails: map[string]int{}, samples: map[string]string{}, codes: map[string]bool{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var user atomic.Int64
	// What the rest of the server answers meanwhile: the token endpoint's reserved slots, and
	// the general ones.
	tokens := &probe{name: "client-credentials probe (POST /oauth/token every 50ms)"}
	go tokens.run(stop, 50*time.Millisecond, func() *http.Request {
		req, _ := http.NewRequest("POST", srv.Base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
		req.SetBasicAuth(benchkit.AdminClientID, benchkit.AdminClientSecret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	})
	api := &probe{name: "admin REST probe (GET /api/v1/sso/connections every 100ms)"}
	go api.run(stop, 100*time.Millisecond, func() *http.Request {
		req, _ := http.NewRequest("GET", srv.Base+"/api/v1/sso/connections", nil)
		req.Header.Set("Authorization", "Bearer "+b.admin)
		return req
	})
	start := time.Now()
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
				err := b.signInObserved(p, u, "provisioned", &observer{t: t, reuseEvery: cfg.reuseEvery})
				lat := time.Since(st)
				t.mu.Lock()
				t.allLat = append(t.allLat, lat)
				if err == nil {
					t.ok++
					t.okLat = append(t.okLat, lat)
				} else {
					msg := strings.TrimSpace(err.Error())
					if len(msg) > 90 {
						msg = msg[:90]
					}
					t.fails[msg]++
				}
				t.mu.Unlock()
			}
		}(w)
	}
	time.Sleep(cfg.d)
	close(stop)
	wg.Wait()
	el := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	pct := percentile
	fmt.Printf("== %s overload: %d browsers for %s, IdP token delay %s: %d sign-ins attempted in %.1fs, %d ok (%.1f/s); ok p50 %s p99 %s max %s; all p99 %s max %s\n",
		cfg.db, cfg.browsers, cfg.d, cfg.idpDelay, len(t.allLat), el.Seconds(), t.ok, float64(t.ok)/el.Seconds(), pct(t.okLat, .5), pct(t.okLat, .99), pct(t.okLat, 1), pct(t.allLat, .99), pct(t.allLat, 1))
	fmt.Printf("server peak RSS: %s; codes issued %d, duplicate codes %d, second redemption accepted %d\n",
		srv.PeakRSS(), len(t.codes), t.dupCode, t.reuseOK)
	keys := make([]string, 0, len(t.answers))
	for k := range t.answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println("answers:")
	for _, k := range keys {
		fmt.Printf("  %6d  %s\n", t.answers[k], k)
		if s, ok := t.samples[k]; ok {
			fmt.Printf("          body: %s\n", s)
		}
	}
	fmt.Println("failed sign-ins:")
	for k, v := range t.fails {
		fmt.Printf("  %6d  %s\n", v, k)
	}
	tokens.report()
	api.report()
	integrity(srv, cfg.db)
}

func integrity(srv *benchkit.Server, db string) {
	var conn *sql.DB
	var err error
	if db == "postgres" {
		conn, err = sql.Open("pgx", srv.DBURL)
	} else {
		conn, err = sql.Open("sqlite", strings.TrimPrefix(srv.DBURL, "sqlite:"))
	}
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

// probe sends one request every so often until stop, each on its own goroutine, and keeps
// the statuses and the latencies of the 200s.
type probe struct {
	name     string
	mu       sync.Mutex
	statuses map[int]int
	lat      []time.Duration
}

func (p *probe) run(stop <-chan struct{}, every time.Duration, newRequest func() *http.Request) {
	p.statuses = map[int]int{}
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
}

func (o *observer) answer(path string, resp *http.Response, body []byte) {
	if o == nil {
		return
	}
	if strings.HasPrefix(path, "GET /saml/continue") {
		path = "GET /saml/continue"
	}
	o.t.answer(path, resp, body)
}

func (o *observer) issued(code string) {
	if o == nil {
		return
	}
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
