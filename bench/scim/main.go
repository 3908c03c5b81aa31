// Command scim is the SCIM initial-push benchmark: an identity provider provisioning a
// workspace from scratch, the way Okta does it. It builds and starts a real Gatehouse server
// (one per database), then from -clients concurrent clients:
//
//  1. creates -users users with POST /scim/v2/Users (Okta-shaped bodies),
//  2. looks each one up with GET /scim/v2/Users?filter=userName eq "…",
//  3. deactivates each one with PATCH (path-less replace of active=false),
//  4. adds -group-members users to one group in a single PATCH, and removes them again,
//  5. with -list-pages, reads the users' list as Okta's import does: one client, GET
//     /scim/v2/Users?startIndex=1&count=100, then 101, 201, … (every page, or that many pages
//     spread evenly over the list), and prints the page latency by depth.
//
// It prints throughput and p50/p99 latency per phase and the server's peak RSS, for SQLite and
// PostgreSQL. It is not run by go test.
//
//	go run ./bench/scim -users 20000 -clients 8
//	go run ./bench/scim -db postgres -postgres 'postgres://root@127.0.0.1:5432/postgres?sslmode=disable'
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"gatehouse/bench/internal/benchkit"
	"gatehouse/bench/internal/rawhttp"
	"gatehouse/models"
	"gatehouse/store"
)

func main() {
	var (
		dbs      = flag.String("db", "sqlite,postgres", "databases to run: sqlite, postgres or both")
		pgURL    = benchkit.PostgresFlag()
		users    = flag.Int("users", 10000, "users to create, look up and deactivate")
		clients  = flag.Int("clients", 8, "concurrent IdP clients")
		members  = flag.Int("group-members", 1000, "members added and removed in one group PATCH")
		keepLogs = flag.Bool("server-logs", false, "show the server's warnings")
		prebuilt = flag.String("server", "", "benchmark this prebuilt gatehouse binary instead of building the module (A/B against another commit)")
		preload  = flag.Int("preload", 0, "PostgreSQL only: insert this many extra users directly (through the store) before the lookup phase, e.g. 1000000")
		pages    = flag.Int("list-pages", 0, "after the other phases, one client reads the users' list 100 at a time by startIndex: -1 every page, N > 0 that many pages spread evenly over the list, 0 none")
	)
	flag.Parse()
	bin, done, err := benchkit.Binary(*prebuilt)
	if err != nil {
		fail(err)
	}
	defer done()
	fmt.Printf("SCIM initial push: %d users, %d clients, %d-member group PATCH (GOMAXPROCS of the machine: %d cores)\n\n",
		*users, *clients, *members, numCPU())
	for _, db := range strings.Split(*dbs, ",") {
		if err := run(bin, strings.TrimSpace(db), *pgURL, *users, *clients, *members, *preload, *pages, *keepLogs); err != nil {
			fail(fmt.Errorf("%s: %w", db, err))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return max(strings.Count(string(b), "processor\t:"), 1)
}

// server is the benchmark's Gatehouse with the SCIM token an IdP would use.
type server struct {
	*benchkit.Server
	host  string // host:port
	tok   string // SCIM token
	hc    *http.Client
	conns chan *rawhttp.Conn
}

func run(bin, db, pgAdmin string, users, clients, members, preload, pages int, logs bool) error {
	s, err := start(bin, db, pgAdmin, clients, logs)
	if err != nil {
		return err
	}
	defer s.Stop()

	fmt.Printf("== %s\n", db)
	benchkit.PhaseHeader()
	names := make([]string, users)
	ids := make([]string, users)
	prefix := benchkit.RandHex(3)
	for i := range names {
		names[i] = fmt.Sprintf("user%07d.%s@example.com", i, prefix)
	}
	s.phase("POST /Users", users, clients, func(i int) (int, error) {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,
"name":{"givenName":"Test","familyName":"User %d"},"emails":[{"primary":true,"value":%q,"type":"work"}],
"displayName":"Test User %d","locale":"en-US","externalId":"00u%010d","groups":[],"password":"1mz050nq","active":true}`,
			names[i], i, names[i], i, i)
		var out struct{ ID string }
		st, err := s.do("POST", "/scim/v2/Users", body, &out)
		ids[i] = out.ID
		return st, err
	}, 201)
	if preload > 0 && db == "postgres" {
		if err := preloadUsers(s.DBURL, preload); err != nil {
			return err
		}
	}
	if err := s.Analyze(); err != nil {
		return err
	}
	s.phase(`GET userName eq`, users, clients, func(i int) (int, error) {
		var out struct{ TotalResults int }
		st, err := s.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+names[(i*7919)%users]+`"`), "", &out)
		if err == nil && out.TotalResults != 1 {
			err = fmt.Errorf("lookup found %d users", out.TotalResults)
		}
		return st, err
	}, 200)
	if err := s.Analyze(); err != nil {
		return err
	}
	s.phase("PATCH active=false", users, clients, func(i int) (int, error) {
		return s.do("PATCH", "/scim/v2/Users/"+ids[i],
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`, nil)
	}, 200)
	var gid struct{ ID string }
	if _, err := s.do("POST", "/scim/v2/Groups", `{"displayName":"bench"}`, &gid); err != nil {
		return err
	}
	m := min(members, users)
	vals := make([]string, m)
	for i := range vals {
		vals[i] = `{"value":"` + ids[i] + `"}`
	}
	for _, op := range []string{"add", "remove"} {
		body := `{"Operations":[{"op":"` + op + `","path":"members","value":[` + strings.Join(vals, ",") + `]}]}`
		s.phase(fmt.Sprintf("PATCH group %s %d", op, m), 1, 1, func(int) (int, error) {
			return s.do("PATCH", "/scim/v2/Groups/"+gid.ID, body, nil)
		}, 200)
	}
	if pages != 0 {
		if err := s.listPages(pages); err != nil {
			return err
		}
	}
	var stats map[string]any
	var took []string
	for i := 0; i < 3; i++ { // the first call also prepares the statements
		start := time.Now()
		if _, err := s.doAdmin("GET", "/api/v1/scim/statistics", &stats); err != nil {
			return err
		}
		took = append(took, time.Since(start).Round(10*time.Microsecond).String())
	}
	fmt.Printf("GET /api/v1/scim/statistics (%v totalUsers): %s\n", stats["totalUsers"], strings.Join(took, ", "))
	fmt.Printf("server peak RSS: %s\n\n", s.PeakRSS())
	return nil
}

// preloadUsers inserts n users straight into the bench workspace (through the store, with the
// statistics counters they move), so that lookups and statistics run against a table of
// realistic size.
func preloadUsers(dbURL string, n int) error {
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	ws, err := st.PlatformAdminWorkspace(ctx) // the bench's SCIM token belongs to it
	if err != nil {
		return err
	}
	start := time.Now()
	for done := 0; done < n; done += 10000 {
		now := time.Now().UTC()
		batch := make([]*models.UserAccount, min(10000, n-done))
		for i := range batch {
			name := fmt.Sprintf("pre%d@preload.example", done+i)
			batch[i] = &models.UserAccount{ID: store.NewID(), WorkspaceID: ws, Email: name, EmailKey: name,
				EmailType: models.EmailTypeWork, UserName: name, UserNameKey: name, FirstName: "Pre", LastName: "Load", Active: true, Version: 1,
				CreatedAt: now, UpdatedAt: now}
		}
		if err := st.CreateUserAccounts(ctx, batch); err != nil {
			return fmt.Errorf("preload: %w", err)
		}
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("VACUUM ANALYZE user_accounts"); err != nil {
		return err
	}
	fmt.Printf("%-28s %8d %9.2f\n", "(preload via the store)", n, time.Since(start).Seconds())
	return nil
}

// listPages reads the users' list as Okta's "Import Users" does: one client, count=100,
// startIndex 1, 101, 201, … (every page with pages < 0, else that many pages at evenly spaced
// startIndexes), checks each page's size and totalResults, and prints the phase and the
// median and slowest page of each tenth of the list.
func (s *server) listPages(pages int) error {
	const count = 100
	var first struct{ TotalResults int }
	if _, err := s.do("GET", "/scim/v2/Users?startIndex=1&count=1", "", &first); err != nil {
		return err
	}
	total := first.TotalResults
	all := (total + count - 1) / count
	if pages < 0 || pages > all {
		pages = all
	}
	start := func(i int) int { return 1 + int(int64(i)*int64(all)/int64(pages))*count }
	lat := make([]time.Duration, pages)
	s.phase(fmt.Sprintf("GET /Users pages of %d", count), pages, 1, func(i int) (int, error) {
		var out struct {
			TotalResults, ItemsPerPage int
		}
		t := time.Now()
		st, err := s.do("GET", fmt.Sprintf("/scim/v2/Users?startIndex=%d&count=%d", start(i), count), "", &out)
		lat[i] = time.Since(t)
		if err == nil && (out.TotalResults != total || out.ItemsPerPage != min(count, total-start(i)+1)) {
			err = fmt.Errorf("startIndex %d: totalResults %d, itemsPerPage %d; want %d, %d", start(i), out.TotalResults, out.ItemsPerPage,
				total, min(count, total-start(i)+1))
		}
		return st, err
	}, 200)
	fmt.Printf("   page latency by depth (%d users, %d of %d pages read): startIndex from, p50, max\n", total, pages, all)
	for d := 0; d < 10; d++ {
		from, to := d*pages/10, (d+1)*pages/10
		if from == to {
			continue
		}
		part := append([]time.Duration(nil), lat[from:to]...)
		sort.Slice(part, func(i, j int) bool { return part[i] < part[j] })
		fmt.Printf("   %9d %9s %9s\n", start(from), part[len(part)/2].Round(10*time.Microsecond), part[len(part)-1].Round(10*time.Microsecond))
	}
	return nil
}

var adminToken string

func start(bin, db, pgAdmin string, clients int, logs bool) (*server, error) {
	ks, err := benchkit.Start(bin, db, pgAdmin, logs)
	if err != nil {
		return nil, err
	}
	s := &server{Server: ks, host: strings.TrimPrefix(ks.Base, "http://"), conns: make(chan *rawhttp.Conn, clients*2),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxConnsPerHost: clients * 2}}}
	req, _ := http.NewRequest("POST", s.Base+"/oauth/token", strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth(benchkit.AdminClientID, benchkit.AdminClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.hc.Do(req)
	if err != nil {
		s.Stop()
		return nil, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	adminToken = tok.AccessToken
	var created struct{ PlainValue string }
	req, _ = http.NewRequest("POST", s.Base+"/api/v1/scim/tokens", strings.NewReader(
		`{"name":"bench","scopes":["users:read","users:write","groups:read","groups:write"]}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = s.hc.Do(req)
	if err != nil {
		s.Stop()
		return nil, err
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if created.PlainValue == "" {
		s.Stop()
		return nil, errors.New("could not create a SCIM token")
	}
	s.tok = created.PlainValue
	return s, nil
}

// do sends one SCIM request on a pooled keep-alive connection (the cheap raw client: the
// load generator shares the machine's cores with the server and the database).
func (s *server) do(method, path, body string, out any) (int, error) {
	var c *rawhttp.Conn
	select {
	case c = <-s.conns:
	default:
		var err error
		if c, err = rawhttp.Dial(s.Base); err != nil {
			return 0, err
		}
	}
	status, raw, err := c.Do(rawhttp.Request(method, s.host, path, s.tok, "application/scim+json", body))
	select {
	case s.conns <- c:
	default:
		c.Close()
	}
	if err != nil {
		return 0, err
	}
	if out != nil && status < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return status, err
		}
	}
	if status >= 300 {
		return status, fmt.Errorf("%s %s: %d %s", method, path, status, bytes.TrimSpace(raw))
	}
	return status, nil
}

func (s *server) doAdmin(method, path string, out any) (int, error) {
	req, _ := http.NewRequest(method, s.Base+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

// phase runs n operations from c clients through benchkit's phase (throughput, latency, CPU
// per operation of the server, the database and this load generator); an answer other than
// want counts as an error.
func (s *server) phase(name string, n, c int, op func(i int) (int, error), want int) {
	s.Phase(name, n, c, func(i int) error {
		st, err := op(i)
		if err == nil && st != want {
			err = fmt.Errorf("status %d, want %d", st, want)
		}
		return err
	})
}
