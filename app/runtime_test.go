package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"gatehouse/app"
	"gatehouse/guard"
	"gatehouse/store/storetest"
)

// defaultGuard is the guard configuration of a server started without any variable set.
func defaultGuard(t *testing.T) guard.Config {
	c, err := app.LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return c.Guard
}

func TestRuntimeConfig(t *testing.T) {
	g := defaultGuard(t)
	if g.RequestTimeout != 15*time.Second || g.MaxConcurrent != 24 || g.PriorityConcurrent != 8 ||
		g.AuthFailures.String() != "20/1m0s" || g.SCIM.N == 0 || g.GraphQL.N == 0 || g.Tokens.N == 0 ||
		g.AuthorizePerAddress.N != 0 || len(g.TrustedProxies) != 0 {
		t.Fatalf("defaults: %+v", g)
	}
	for _, bad := range []map[string]string{
		{"GATEHOUSE_REQUEST_TIMEOUT": "2m"}, // not below the write timeout
		{"GATEHOUSE_REQUEST_TIMEOUT": "soon"},
		{"GATEHOUSE_MAX_CONCURRENT_REQUESTS": "0"},
		{"GATEHOUSE_RATE_LIMIT_SCIM": "100"},
		{"GATEHOUSE_SHUTDOWN_DRAIN": "-1s"},
		{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8, lb.internal"},
	} {
		if _, err := app.LoadConfig(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	c, err := app.LoadConfig(func(k string) string {
		return map[string]string{"GATEHOUSE_RATE_LIMIT_TOKENS": "off", "GATEHOUSE_SHUTDOWN_DRAIN": "0"}[k]
	})
	if err != nil || c.Guard.Tokens.N != 0 || c.ShutdownDrain != 0 {
		t.Fatalf("off and 0: %+v %v", c, err)
	}
	// The authorize limit is on by default only behind declared proxies, where the source
	// address is the client's; set, it applies either way.
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8"}, "600/1m0s"},
		{map[string]string{"GATEHOUSE_RATE_LIMIT_AUTHORIZE_PER_ADDRESS": "60/1m"}, "60/1m0s"},
		{map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8", "GATEHOUSE_RATE_LIMIT_AUTHORIZE_PER_ADDRESS": "off"}, "off"},
	} {
		got, err := app.LoadConfig(func(k string) string { return c.env[k] })
		if err != nil || got.Guard.AuthorizePerAddress.String() != c.want {
			t.Errorf("%v: %v %v, want %s", c.env, got.Guard.AuthorizePerAddress, err, c.want)
		}
	}
}

// The public URL is checked at start and kept as written (IdPs and applications compare those
// strings), less a trailing slash; retentions are whole days.
func TestPublicURLAndRetentionConfig(t *testing.T) {
	c, err := app.LoadConfig(func(string) string { return "" })
	if err != nil || c.PublicURL != "http://localhost:8080" || c.SignInEventRetention != 90*24*time.Hour || c.SCIMActivityRetention != 90*24*time.Hour {
		t.Fatalf("defaults: %q %v %v %v", c.PublicURL, c.SignInEventRetention, c.SCIMActivityRetention, err)
	}
	for raw, want := range map[string]string{
		"HTTPS://SSO.Example.com/": "HTTPS://SSO.Example.com",
		" https://example.com/sso": "https://example.com/sso",
		"http://127.0.0.1:8080":    "http://127.0.0.1:8080",
	} {
		c, err := app.LoadConfig(func(k string) string { return map[string]string{"GATEHOUSE_PUBLIC_URL": raw}[k] })
		if err != nil || c.PublicURL != want {
			t.Errorf("%q: %q, %v; want %q", raw, c.PublicURL, err, want)
		}
	}
	for _, bad := range []map[string]string{
		{"GATEHOUSE_PUBLIC_URL": "sso.example.com"},
		{"GATEHOUSE_PUBLIC_URL": "ftp://sso.example.com"},
		{"GATEHOUSE_PUBLIC_URL": "https://"},
		{"GATEHOUSE_PUBLIC_URL": "https://sso.example.com/?tenant=1"},
		{"GATEHOUSE_PUBLIC_URL": "https://sso.example.com/#top"},
		{"GATEHOUSE_PUBLIC_URL": "https://admin:pw@sso.example.com"},
		{"GATEHOUSE_SIGN_IN_EVENT_RETENTION_DAYS": "0"},
		{"GATEHOUSE_SIGN_IN_EVENT_RETENTION_DAYS": "36501"},
		{"GATEHOUSE_SIGN_IN_EVENT_RETENTION_DAYS": "a week"},
	} {
		if _, err := app.LoadConfig(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("accepted %v", bad)
		}
	}
	// The refusal of a URL with user information quotes it without the password: the
	// message ends in the start-up error, and in whatever keeps the container's output.
	for _, raw := range []string{"https://admin:s3cr3t-pw@sso.example.com", "admin:s3cr3t-pw@sso.example.com",
		"https://admin:s3cr3t-pw@sso example.com", "https://admin:s3cr3t-pw@sso.example.com/%zz"} {
		_, err := app.LoadConfig(func(k string) string { return map[string]string{"GATEHOUSE_PUBLIC_URL": raw}[k] })
		if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") || !strings.Contains(err.Error(), "GATEHOUSE_PUBLIC_URL") {
			t.Errorf("%q: err = %v, want one naming GATEHOUSE_PUBLIC_URL without the password", raw, err)
		}
	}
	c, err = app.LoadConfig(func(k string) string { return map[string]string{"GATEHOUSE_SIGN_IN_EVENT_RETENTION_DAYS": "7"}[k] })
	if err != nil || c.Retention().SignInEvents != 7*24*time.Hour {
		t.Fatalf("7 days: %+v %v", c.Retention(), err)
	}
}

// Sign-in starts are limited per source address; behind a trusted proxy the address is the
// one its X-Forwarded-For names, otherwise the header is not believed.
func TestAuthorizeLimitPerAddress(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		t.Run(map[bool]string{false: "no trusted proxy", true: "behind a trusted proxy"}[trusted], func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, dbURL string) { testAuthorizeLimit(t, dbURL, trusted) })
		})
	}
}

func testAuthorizeLimit(t *testing.T, dbURL string, trusted bool) {
	e := newTestEnv(t, dbURL, func(c *app.Config) {
		c.Guard = defaultGuard(t)
		c.Guard.AuthorizePerAddress = guard.Rate{N: 3, Per: time.Minute}
		if trusted {
			c.Guard.TrustedProxies, _ = guard.ParseProxies("127.0.0.1")
		}
	})
	var body string // of the last answer
	authorize := func(forwardedFor string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/oauth/authorize?client_id=gha_unknown&response_type=code", nil)
		req.Header.Set("X-Forwarded-For", forwardedFor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return resp
	}
	for i := range 3 {
		if r := authorize("198.51.100.1"); r.StatusCode != http.StatusBadRequest { // the unknown client's page
			t.Fatalf("request %d: %d", i+1, r.StatusCode)
		}
	}
	if r := authorize("198.51.100.1"); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "20" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") { // a browser's request: text, not OAuth JSON
		t.Fatalf("fourth request: %d, Retry-After %q, %s", r.StatusCode, r.Header.Get("Retry-After"), r.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, "too many sign-ins started from this address") { // the person reads why, not "null"
		t.Fatalf("fourth request's page: %q", body)
	}
	// A browser's navigation (Accept: text/html) reads it on a page, with the request id.
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/oauth/authorize?client_id=gha_unknown&response_type=code", nil)
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if id := resp.Header.Get("X-Request-Id"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "20" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || id == "" ||
		!strings.Contains(string(b), "Too many sign-ins started from this address; retry later.") || !strings.Contains(string(b), id) {
		t.Fatalf("a browser's fifth request: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	// Another client behind the proxy has its own budget; without a trusted proxy the header
	// is the client's word, and every request comes from the peer.
	want := map[bool]int{false: http.StatusTooManyRequests, true: http.StatusBadRequest}[trusted]
	if r := authorize("198.51.100.2"); r.StatusCode != want {
		t.Fatalf("another forwarded client: %d, want %d", r.StatusCode, want)
	}
}

// postRaw posts body to the GraphQL endpoint and returns status, headers and body.
func postRaw(t *testing.T, url, token string, body []byte) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/graphql/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

// A document built to make validation quadratic is refused before validation; bodies
// over the limit answer 413; a malformed body is not echoed; answers are not cacheable.
func TestGraphQLBoundedWork(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		tok := e.AdminToken()
		doc, _ := json.Marshal(map[string]string{"query": "{" + strings.Repeat("__typename ", 50000) + "}"})
		postRaw(t, e.URL, tok, []byte(`{"query":"{ __typename }"}`)) // warm up the connection
		// DOCUMENT_TOO_COMPLEX is the bounds' refusal (resolvers/bounds.go), which comes before
		// validation: the answer's code is the proof that validation did not run. (How fast it
		// is belongs to a benchmark, not to a wall-clock bound on a shared machine.)
		status, _, body := postRaw(t, e.URL, tok, doc)
		if status != http.StatusUnprocessableEntity || !strings.Contains(body, "DOCUMENT_TOO_COMPLEX") {
			t.Fatalf("quadratic document: %d %s", status, body)
		}
		// The same number of fields under distinct aliases is cheap to validate and allowed.
		var b strings.Builder
		for i := range 3000 {
			fmt.Fprintf(&b, "a%d: __typename ", i)
		}
		d := e.MustGQL(tok, "{"+b.String()+"}", nil)
		if d["a2999"] != "Query" {
			t.Fatalf("aliased: %v", d["a2999"])
		}

		big := append([]byte(`{"query":"{ __typename }","variables":{"x":"`), bytes.Repeat([]byte("A"), 5<<20)...)
		big = append(big, `"}}`...)
		status, _, body = postRaw(t, e.URL, tok, big)
		if status != http.StatusRequestEntityTooLarge || len(body) > 300 || !strings.Contains(body, "REQUEST_TOO_LARGE") {
			t.Fatalf("oversize: %d %.300s", status, body)
		}
		var hdr http.Header
		for _, bad := range []string{`{"query": "{ __typename }", "marker-not-echoed`, `{"query": ["marker-not-echoed"]}`,
			`["marker-not-echoed"]`, `{"query": "{ __typename }", "variables": "marker-not-echoed"}`} {
			status, hdr, body = postRaw(t, e.URL, tok, []byte(bad))
			if status != http.StatusBadRequest || strings.Contains(body, "marker-not-echoed") || !strings.Contains(body, "must be a JSON object") {
				t.Fatalf("malformed %s: %d %s", bad, status, body)
			}
		}
		if hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", hdr.Get("Cache-Control"))
		}
	})
}

// tokenStatus asks for a token with HTTP Basic and returns the status and Retry-After.
func tokenStatus(t *testing.T, base, id, sec string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(sec))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("token: %v", err)
		return 0, ""
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("token answer %d without Cache-Control: no-store", resp.StatusCode)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// With the default limits, a burst of 300 wrong secrets for one client id meets 429s, and the
// right secret works again within a minute.
func TestTokenEndpointBruteForceIsLimited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL, func(c *app.Config) { c.Guard = defaultGuard(t) })
		var mu sync.Mutex
		counts := map[int]int{}
		retryAfter := ""
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < 20; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 15; i++ {
					s, ra := tokenStatus(t, e.URL, testAdminID, "ghs_wrong_secret")
					mu.Lock()
					counts[s]++
					if s == http.StatusTooManyRequests {
						retryAfter = ra
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		t.Logf("300 wrong secrets in %v: %v", time.Since(start), counts)
		if counts[http.StatusTooManyRequests] < 250 || counts[http.StatusUnauthorized] > 40 || retryAfter == "" {
			t.Fatalf("burst: %v, Retry-After %q", counts, retryAfter)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			s, _ := tokenStatus(t, e.URL, testAdminID, testAdminSecret)
			if s == http.StatusOK {
				t.Logf("right secret accepted again after %v", time.Since(start))
				break
			}
			if s != http.StatusTooManyRequests || time.Now().After(deadline) {
				t.Fatalf("right secret: %d", s)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
}

// An application's client id is public (every authorization URL shows it): wrong secrets sent
// for it, more than GATEHOUSE_RATE_LIMIT_AUTH_FAILURES allows for one client id, do not lock
// the application out, so its code exchanges (its users' sign-ins) go on. Its failures count
// per source address only. Before, the 21st request of anyone's was 429, the right secret's too.
func TestApplicationClientIDCannotBeLockedOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL, func(c *app.Config) { c.Guard = defaultGuard(t) })
		admin := e.AdminToken()
		d := e.MustGQL(admin, `mutation($b: ID!) { createApplication(input: {brandId: $b, name: "Portal", redirectUris: ["https://portal.example/cb"]}) {
			application { clientId } clientSecret } }`, map[string]any{"b": e.CreateBrand(admin, "Brand")})
		id, sec := str(d, "createApplication", "application", "clientId"), str(d, "createApplication", "clientSecret")
		for i := range 30 {
			if s, _ := tokenStatus(t, e.URL, id, "ghas_wrong_secret"); s != http.StatusUnauthorized {
				t.Fatalf("wrong secret %d: %d", i+1, s)
			}
		}
		// The right secret is served: an application asking for client credentials is told
		// that grant is not its own (400), not 429.
		if s, _ := tokenStatus(t, e.URL, id, sec); s != http.StatusBadRequest {
			t.Fatalf("the right secret after 30 wrong ones: %d", s)
		}
	})
}

// lockUsers holds an exclusive lock on the user_accounts table (PostgreSQL) or the database's
// write lock (SQLite) from another connection until the returned function is called.
func lockUsers(t *testing.T, dbURL string) (release func()) {
	t.Helper()
	var db *sql.DB
	var err error
	stmt := "LOCK TABLE user_accounts IN ACCESS EXCLUSIVE MODE"
	if strings.HasPrefix(dbURL, "sqlite:") {
		db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(dbURL, "sqlite:")+"?_txlock=immediate")
		stmt = "UPDATE user_accounts SET updated_at = updated_at WHERE 1 = 0"
	} else {
		db, err = sql.Open("pgx", dbURL)
	}
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(stmt); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			tx.Rollback()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// A table locked longer than the request deadline: every client gets an answer (201-like
// success or 503 with Retry-After), the token endpoint and /readyz are not starved (on
// PostgreSQL: SQLite has one connection and one writer), and a write answered 503 was not
// committed while every write answered as done is there exactly once.
func TestLockedTableLongerThanDeadline(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL, func(c *app.Config) {
			c.Guard = guard.Config{RequestTimeout: time.Second, MaxConcurrent: 6, PriorityConcurrent: 2, QueueTimeout: 300 * time.Millisecond}
		})
		admin := e.AdminToken()
		release := lockUsers(t, dbURL)
		const n = 12
		type answer struct {
			status     int
			retryAfter string
			uuid       string
		}
		answers := make([]answer, n)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, _ := json.Marshal(map[string]any{"query": `mutation($e: String!) { createUserAccount(input: {email: $e, firstName: "L", lastName: "K"}) { userAccount { uuid } errors { message } } }`,
					"variables": map[string]any{"e": fmt.Sprintf("locked%d@example.com", i)}})
				status, hdr, raw := postRaw(t, e.URL, admin, body)
				var r struct{ Data map[string]any }
				json.Unmarshal([]byte(raw), &r)
				answers[i] = answer{status, hdr.Get("Retry-After"), str(r.Data, "createUserAccount", "userAccount", "uuid")}
			}()
		}
		if !strings.HasPrefix(dbURL, "sqlite:") {
			time.Sleep(100 * time.Millisecond) // the creates hold their slots and connections
			t0 := time.Now()
			if s, _ := tokenStatus(t, e.URL, testAdminID, testAdminSecret); s != 200 || time.Since(t0) > 500*time.Millisecond {
				t.Errorf("token endpoint during the lock: %d in %v", s, time.Since(t0))
			}
			resp, err := http.Get(e.URL + "/readyz")
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("readyz during the lock: %v %v", resp.StatusCode, err)
			}
			resp.Body.Close()
		}
		wg.Wait()
		elapsed := time.Since(start)
		time.Sleep(time.Second) // the lock outlives the deadline
		release()
		// PostgreSQL cancels at the deadline; SQLite's wait for the writer ends at the busy
		// timeout, a second later.
		if elapsed > 3500*time.Millisecond {
			t.Errorf("answers took %v with a 1 s deadline", elapsed)
		}
		done, refused := 0, 0
		for i, a := range answers {
			email := fmt.Sprintf("locked%d@example.com", i)
			var n int64
			if err := e.App.Store().RawScan(context.Background(), &n, "SELECT count(*) FROM user_accounts WHERE email = ?", email); err != nil {
				t.Fatal(err)
			}
			switch {
			case a.status == 200 && a.uuid != "":
				done++
				if n != 1 {
					t.Errorf("%s answered as created, %d rows", email, n)
				}
			case a.status == 503 && a.retryAfter != "":
				refused++
				if n != 0 {
					t.Errorf("%s answered 503 but committed", email)
				}
				e.CreateUser(admin, email) // the retry succeeds once the lock is gone
			default:
				t.Errorf("%s: status %d, Retry-After %q", email, a.status, a.retryAfter)
			}
		}
		t.Logf("%d created, %d answered 503 in %v", done, refused, elapsed)
		if refused == 0 {
			t.Error("no request met the lock")
		}
	})
}

// Token issuance is limited per client, SCIM per token and GraphQL per client, each answering 429 with Retry-After in
// its own error shape; another token or client is not affected.
func TestSurfaceRateLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL, func(c *app.Config) {
			c.Guard = defaultGuard(t)
			c.Guard.SCIM = guard.Rate{N: 5, Per: time.Minute}
			c.Guard.GraphQL = guard.Rate{N: 5, Per: time.Minute}
			c.Guard.Tokens = guard.Rate{N: 3, Per: time.Minute}
		})

		admin := e.AdminToken()
		for i := range 3 { // 3 client-credentials tokens a minute per client
			s, ra := tokenStatus(t, e.URL, testAdminID, testAdminSecret)
			if want := map[bool]int{true: 429, false: 200}[i == 2]; s != want || (s == 429 && ra != "20") {
				t.Fatalf("token %d: %d, Retry-After %q", i+2, s, ra)
			}
		}
		scimA, _ := e.SCIMToken(admin, map[string]any{"name": "a"})
		scimB, _ := e.SCIMToken(admin, map[string]any{"name": "b"})
		var last *apiResponse
		for range 6 {
			last = e.Call("GET", "/scim/v2/Users", scimA, nil)
		}
		if last.Status != 429 || last.Header.Get("Retry-After") != "12" || str(last.Body, "status") != "429" ||
			!strings.HasPrefix(last.Header.Get("Content-Type"), "application/scim+json") {
			t.Fatalf("SCIM: %d %v %s", last.Status, last.Header, last.Raw)
		}
		// The token's bucket whatever the header's spelling: the scheme's case and the spaces
		// before the token, which SCIM accepts, are no new bucket.
		for _, h := range []string{"bearer " + scimA, "BEARER " + scimA, "Bearer   " + scimA, "Bearer \t" + scimA} {
			if r := e.Call("GET", "/scim/v2/Users", "", nil, "Authorization", h); r.Status != 429 {
				t.Fatalf("SCIM, Authorization %q: %d %s", strings.Replace(h, scimA, "<token>", 1), r.Status, r.Raw)
			}
		}
		e.Call("GET", "/scim/v2/Users", scimB, nil).Must(t, 200)

		// The admin used GraphQL 0 times so far (REST created the tokens).
		other, otherSecret := e.CreateClient(admin, []string{"graphql:read"}, "")
		for range 4 {
			e.MustGQL(admin, "{ __typename }", nil)
		}
		r := e.GQL(admin, "{ __typename }", nil)
		if r.Status != 429 || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "RATE_LIMITED" {
			t.Fatalf("GraphQL: %d %s", r.Status, r.Raw)
		}
		e.MustGQL(e.Token(other, otherSecret), "{ __typename }", nil)
	})
}

// A body's media type is read as media types compare, case-insensitively and without its
// parameters, and the same way by every layer (models.MediaType). A token request whose form is
// typed APPLICATION/X-WWW-FORM-URLENCODED is one the endpoint serves, so the client's issuance
// limit counts it: before, the guard read no form from it, took it for another grant, and a
// client could mint tokens past its limit by the case of one header. REST and SCIM take JSON
// typed in any case, with parameters, and refuse a type that only begins like theirs.
func TestBodyMediaTypesAreReadAsTheyCompare(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL, func(c *app.Config) {
			c.Guard = defaultGuard(t)
			c.Guard.Tokens = guard.Rate{N: 2, Per: time.Minute}
		})
		admin := e.AdminToken() // the client's first token of the minute
		for i := range 2 {
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8")
			req.SetBasicAuth(testAdminID, testAdminSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := map[bool]int{true: 429, false: 200}[i == 1]; resp.StatusCode != want {
				t.Fatalf("token %d with the form type in capitals: %d %s, want %d", i+2, resp.StatusCode, body, want)
			}
		}

		rest := func(ct string) *apiResponse {
			t.Helper()
			return e.Call("POST", "/api/v1/scim/tokens", admin, `{"name": "typed"}`, "Content-Type", ct)
		}
		if r := rest("Application/JSON; charset=UTF-8"); r.Status != 201 {
			t.Fatalf("REST, JSON in capitals: %d %v", r.Status, r.Body)
		}
		if r := rest("application/jsonx"); r.Status != 400 || !strings.Contains(str(r.Body, "error", "message"), "must be JSON") {
			t.Fatalf("REST, application/jsonx: %d %v", r.Status, r.Body)
		}
		scimTok, _ := e.SCIMToken(admin, map[string]any{"name": "scim"})
		scim := func(ct, userName string) *apiResponse {
			t.Helper()
			return e.Call("POST", "/scim/v2/Users", scimTok, `{"userName": "`+userName+`"}`, "Content-Type", ct)
		}
		if r := scim("Application/SCIM+JSON; charset=utf-8", "caps"); r.Status != 201 {
			t.Fatalf("SCIM, scim+json in capitals: %d %v", r.Status, r.Body)
		}
		if r := scim("application/scim+jsonx", "other"); r.Status != 400 || str(r.Body, "scimType") != "invalidSyntax" {
			t.Fatalf("SCIM, application/scim+jsonx: %d %v", r.Status, r.Body)
		}
	})
}
