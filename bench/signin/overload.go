package main

// -overload: the browser sign-in path under overload for a fixed duration, every answer
// tallied (written for a fault probe of 2026-12-05; bench/README.md has its findings):
//
//	go run ./bench/signin -db sqlite -c 256 -overload 20s
//	go run ./bench/signin -db sqlite -protocols oidc,saml -c 64 -overload 20s -idp-delay 8s -reuse-every 0

import (
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
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
	// client-credentials probe
	type tokRes struct {
		status int
		lat    time.Duration
	}
	var tokMu sync.Mutex
	var toks []tokRes
	go func() {
		cl := &http.Client{Timeout: 30 * time.Second}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			go func() {
				st := time.Now()
				req, _ := http.NewRequest("POST", srv.Base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
				req.SetBasicAuth(benchkit.AdminClientID, benchkit.AdminClientSecret)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := cl.Do(req)
				status := -1
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				tokMu.Lock()
				toks = append(toks, tokRes{status, time.Since(st)})
				tokMu.Unlock()
			}()
		}
	}()
	// admin REST probe (the general pool, not the reserved one)
	var apiMu sync.Mutex
	apiSt := map[int]int{}
	var apiLat []time.Duration
	go func() {
		cl := &http.Client{Timeout: 30 * time.Second}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			go func() {
				st := time.Now()
				req, _ := http.NewRequest("GET", srv.Base+"/api/v1/sso/connections", nil)
				req.Header.Set("Authorization", "Bearer "+b.admin)
				resp, err := cl.Do(req)
				status := -1
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				apiMu.Lock()
				apiSt[status]++
				if status == 200 {
					apiLat = append(apiLat, time.Since(st))
				}
				apiMu.Unlock()
			}()
		}
	}()
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
				err := b.probeSignIn(t, p, u, cfg.reuseEvery)
				lat := time.Since(st)
				t.mu.Lock()
				t.allLat = append(t.allLat, lat)
				if err == nil {
					t.ok++
					t.okLat = append(t.okLat, lat)
				} else {
					msg := err.Error()
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
	pct := func(l []time.Duration, p float64) time.Duration {
		if len(l) == 0 {
			return 0
		}
		s := append([]time.Duration(nil), l...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[min(int(float64(len(s))*p), len(s)-1)].Round(time.Millisecond)
	}
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
	tokMu.Lock()
	st := map[int]int{}
	var tl []time.Duration
	for _, r := range toks {
		st[r.status]++
		if r.status == 200 {
			tl = append(tl, r.lat)
		}
	}
	tokMu.Unlock()
	fmt.Printf("client-credentials probe: %v; 200s p50 %s p99 %s max %s\n", st, pct(tl, .5), pct(tl, .99), pct(tl, 1))
	apiMu.Lock()
	fmt.Printf("admin REST probe (GET /api/v1/sso/connections every 100ms): %v; 200s p50 %s p99 %s\n", apiSt, pct(apiLat, .5), pct(apiLat, .99))
	apiMu.Unlock()
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

// probeSignIn is bench.signIn with every Gatehouse answer tallied, and the code redeemed twice.
func (b *bench) probeSignIn(t *tally, protocol string, user, reuseEvery int) error {
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: b.tr, Timeout: 70 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := benchkit.RandHex(32)
	sum := sha256.Sum256([]byte(verifier))
	state, nonce := benchkit.RandHex(16), benchkit.RandHex(16)
	q := url.Values{"client_id": {b.clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"},
		"scope": {"openid email profile"}, "state": {state}, "nonce": {nonce}, "connection": {b.connection[protocol]},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	req, _ := http.NewRequest("GET", b.srv.Base+"/oauth/authorize?"+q.Encode(), nil)
	var code string
	for hop := 0; code == "" && hop < 12; hop++ {
		if b.saml.owns(req.URL) {
			sub, email, given, family := person(fmt.Sprint(user), b.domain[protocol])
			acs, form, err := b.saml.answer(req.URL, samlUser{NameID: sub, Email: email, GivenName: given, Surname: family})
			if err != nil {
				return err
			}
			post, _ := http.NewRequest("POST", acs, strings.NewReader(form.Encode()))
			post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := b.tr.RoundTrip(post)
			if err != nil {
				return fmt.Errorf("POST /saml/acs: %w", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.answer("POST /saml/acs", resp, body)
			loc, err := resp.Location()
			if err != nil {
				return fmt.Errorf("POST /saml/acs answered %d: %.80s", resp.StatusCode, body)
			}
			req, _ = http.NewRequest("GET", loc.String(), nil)
			continue
		}
		if b.oidc.owns(req.URL) {
			sub, email, given, family := person(fmt.Sprint(user), b.domain[protocol])
			req, _ = http.NewRequest("GET", b.oidc.authorize(req.URL.Query(), sub, email, given, family, ""), nil)
			continue
		}
		resp, err := browser.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		path := req.Method + " " + req.URL.Path
		if strings.HasPrefix(req.URL.Path, "/saml/continue") {
			path = "GET /saml/continue"
		}
		t.answer(path, resp, raw)
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				return err
			}
			if strings.HasPrefix(loc.String(), redirectURI) {
				if e := loc.Query().Get("error"); e != "" {
					return fmt.Errorf("app got error=%s: %s", e, loc.Query().Get("error_description"))
				}
				if loc.Query().Get("state") != state {
					return errors.New("the application's state did not come back")
				}
				code = loc.Query().Get("code")
				break
			}
			req, _ = http.NewRequest("GET", loc.String(), nil)
		default:
			return fmt.Errorf("%s answered %d", path, resp.StatusCode)
		}
	}
	if code == "" {
		return errors.New("too many redirects")
	}
	t.mu.Lock()
	if t.codes[code] {
		t.dupCode++
	}
	t.codes[code] = true
	t.mu.Unlock()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}}
	redeem := func() (*http.Response, []byte, error) {
		tr, _ := http.NewRequest("POST", b.srv.Base+"/oauth/token", strings.NewReader(form.Encode()))
		tr.SetBasicAuth(url.QueryEscape(b.clientID), url.QueryEscape(b.secret))
		tr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := browser.Do(tr)
		if err != nil {
			return nil, nil, err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.answer("POST /oauth/token code", resp, raw)
		return resp, raw, nil
	}
	resp, raw, err := redeem()
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &tok) != nil {
		return fmt.Errorf("token: %d %.100s", resp.StatusCode, raw)
	}
	if reuseEvery > 0 && user%reuseEvery == 0 {
		if resp2, _, err := redeem(); err == nil && resp2.StatusCode == 200 {
			t.mu.Lock()
			t.reuseOK++
			t.mu.Unlock()
		}
	}
	parts := strings.Split(tok.IDToken, ".")
	if len(parts) != 3 {
		return errors.New("token: no id_token")
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Nonce  string `json:"nonce"`
		SignIn string `json:"sign_in"`
	}
	_ = json.Unmarshal(payload, &claims)
	if claims.Nonce != nonce || claims.SignIn != "provisioned" {
		return fmt.Errorf("id_token: nonce %q sign_in %q", claims.Nonce, claims.SignIn)
	}
	return nil
}
