package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"gatehouse/bench/internal/rawhttp"
)

// runBind pre-creates accounts (through the bulk path of the API, not timed), then binds all
// of them three ways, unbinding in between.
func runBind(s *server, workers, n int, modes string) error {
	cc := clientcredentials.Config{ClientID: benchClientID, ClientSecret: benchClientSecret, TokenURL: s.url + "/oauth/token"}
	tok, err := cc.Token(context.Background())
	if err != nil {
		return err
	}
	c := client(workers)
	gql := func(query string, vars map[string]any) (map[string]any, error) {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, s.url+"/graphql/v1", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out struct {
			Data   map[string]any `json:"data"`
			Errors []any          `json:"errors"`
		}
		if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 || len(out.Errors) > 0 {
			return nil, fmt.Errorf("graphql %d: %.300s", resp.StatusCode, raw)
		}
		return out.Data, nil
	}
	for _, slug := range []string{"microsoft"} {
		if _, err := gql(`mutation($s: String!) { createConnection(input: {name: $s, slug: $s, protocol: OIDC,
			oidcConfig: {issuerUrl: "https://login.example.com/v2.0", clientId: "c", clientSecret: "s"}}) { errors { message } } }`,
			map[string]any{"s": slug}); err != nil {
			return err
		}
	}
	// Pre-create the accounts: 100 aliased createUserAccount per request.
	fmt.Printf("creating %d accounts...\n", n)
	uuids := make([]string, n)
	const perCreate = 100
	t0 := time.Now()
	r := run("create accounts (setup)", workers, (n+perCreate-1)/perCreate, 0, func(i int) (int, bool) {
		var b strings.Builder
		b.WriteString("mutation {")
		lo, hi := i*perCreate, min(n, (i+1)*perCreate)
		for k := lo; k < hi; k++ {
			fmt.Fprintf(&b, ` a%d: createUserAccount(input: {email: "user%07d@bench.example"}) { userAccount { uuid } }`, k, k)
		}
		b.WriteString("}")
		d, err := gql(b.String(), nil)
		if err != nil {
			fmt.Println(err)
			return 0, false
		}
		for k := lo; k < hi; k++ {
			m, _ := d[fmt.Sprintf("a%d", k)].(map[string]any)
			u, _ := m["userAccount"].(map[string]any)
			uuids[k], _ = u["uuid"].(string)
		}
		return hi - lo, true
	})
	if r.errors > 0 {
		return fmt.Errorf("account setup failed")
	}
	fmt.Printf("created %d accounts in %.1fs\n", n, time.Since(t0).Seconds())
	s.analyze()

	bindOne := func(k int, round string) string {
		return fmt.Sprintf(`updateUserAccountCredentials(input: {
accountUuid: "%s",
authModule: "microsoft",
identifier: "%s.user%07d@contoso.example"
secret: ""
}) { userAccount { uuid } errors { code } }`, uuids[k], round, k)
	}
	ok := func(d map[string]any, field string) bool { // for the bulk phase
		m, _ := d[field].(map[string]any)
		errs, _ := m["errors"].([]any)
		return m != nil && len(errs) == 0
	}

	// The timed phases send pre-built requests over rawhttp connections (one per worker) and
	// check the answers without decoding them: net/http's client and a JSON decode per request
	// cost CPU that the server, sharing the 2 cores, would otherwise have.
	u, _ := url.Parse(s.url)
	conns := make(chan *rawhttp.Conn, workers)
	for i := 0; i < workers; i++ {
		c, err := rawhttp.Dial(s.url)
		if err != nil {
			return err
		}
		defer c.Close()
		conns <- c
	}
	post := func(query string, mutations int) bool {
		body, _ := json.Marshal(map[string]string{"query": query})
		req := rawhttp.Request(http.MethodPost, u.Host, "/graphql/v1", tok.AccessToken, "application/json", string(body))
		c := <-conns
		status, resp, err := c.Do(req)
		conns <- c
		// Every payload answers "errors":[] and there is no other error list.
		good := err == nil && status == 200 && bytes.Count(resp, []byte(`"errors":[]`)) == mutations &&
			!bytes.Contains(resp, []byte(`"errors":[{`)) && !bytes.HasPrefix(resp, []byte(`{"errors"`))
		if !good && err == nil {
			fmt.Printf("graphql %d: %.300s\n", status, resp)
		}
		return good
	}

	if strings.Contains(modes, "single") {
		run("bind: 1 mutation per request", workers, n, 0, func(i int) (int, bool) {
			return 1, post("mutation { "+bindOne(i, "r1")+" }", 1)
		}).print()
		s.analyze()
	}

	const perAlias = 100
	if strings.Contains(modes, "aliased") {
		run("bind: 100 aliased mutations/request", workers, (n+perAlias-1)/perAlias, 0, func(i int) (int, bool) {
			var b strings.Builder
			b.WriteString("mutation {")
			lo, hi := i*perAlias, min(n, (i+1)*perAlias)
			for k := lo; k < hi; k++ {
				// The same alias names in every request, as the README advises scripts: the
				// document then has one shape and is parsed and validated once.
				fmt.Fprintf(&b, " b%d: %s", k-lo, bindOne(k, "r2"))
			}
			b.WriteString("}")
			return hi - lo, post(b.String(), hi-lo)
		}).print()
		s.analyze()
	}

	const perBulk = 1000
	if strings.Contains(modes, "bulk") {
		runBulk(gql, ok, uuids, workers, n, perBulk)
	}
	if strings.Contains(modes, "dryrun") { // the server decides every row, nothing is written
		s.analyze()
		if err := runBindCLI(s, uuids, "bind: gatehouse bind --dry-run, CSV of all", "--dry-run"); err != nil {
			return err
		}
	}
	if strings.Contains(modes, "cli") {
		s.analyze() // as between the other phases (see README: this PostgreSQL runs without autovacuum)
		if err := runBindCLI(s, uuids, "bind: gatehouse bind CLI, CSV of all accounts"); err != nil {
			return err
		}
		if strings.Contains(modes, "rerun") { // the same file again: every row already bound
			s.analyze()
			return runBindCLI(s, uuids, "bind: gatehouse bind CLI, the same CSV again")
		}
	}
	return nil
}

func runBulk(gql func(string, map[string]any) (map[string]any, error), ok func(map[string]any, string) bool,
	uuids []string, workers, n, perBulk int) {
	run("bind: bulk mutation, 1000 items/request", workers, (n+perBulk-1)/perBulk, 0, func(i int) (int, bool) {
		lo, hi := i*perBulk, min(n, (i+1)*perBulk)
		items := make([]map[string]any, 0, hi-lo)
		for k := lo; k < hi; k++ {
			items = append(items, map[string]any{"accountUuid": uuids[k], "authModule": "microsoft",
				"identifier": fmt.Sprintf("r3.user%07d@contoso.example", k), "secret": ""})
		}
		d, err := gql(`mutation($items: [UpdateUserAccountCredentialsInput!]!) {
			bulkUpdateUserAccountCredentials(input: {items: $items}) { errors { label code } } }`, map[string]any{"items": items})
		return hi - lo, err == nil && ok(d, "bulkUpdateUserAccountCredentials")
	}).print()
}

// runBindCLI binds every account with the `gatehouse bind` command (the built binary, its
// default chunk size and concurrency) from a CSV file, as an admin would, and times it; extra
// are further flags (--dry-run).
func runBindCLI(s *server, uuids []string, label string, extra ...string) error {
	dir, err := os.MkdirTemp("", "gatehouse-bench-bind")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var b strings.Builder
	b.WriteString("accountUuid,authModule,identifier\n")
	for k, u := range uuids {
		fmt.Fprintf(&b, "%s,microsoft,r4.user%07d@contoso.example\n", u, k)
	}
	in := filepath.Join(dir, "accounts.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(benchBinary, append([]string{"bind", "--url", s.url, "--csv", in, "--out", filepath.Join(dir, "results.csv")}, extra...)...)
	cmd.Env = append(os.Environ(), "GATEHOUSE_CLIENT_ID="+benchClientID, "GATEHOUSE_CLIENT_SECRET="+benchClientSecret)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stdout, &stderr
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return fmt.Errorf("gatehouse bind: %v: %s", err, stderr.String())
	}
	fmt.Printf("%-44s %8d rows %7.1fs %9.0f rows/s  (%s)\n", label, len(uuids),
		d.Seconds(), float64(len(uuids))/d.Seconds(), strings.TrimSpace(lastLine(stderr.String())))
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
