package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2/clientcredentials"
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
	ok := func(d map[string]any, field string) bool {
		m, _ := d[field].(map[string]any)
		errs, _ := m["errors"].([]any)
		return m != nil && len(errs) == 0
	}

	if strings.Contains(modes, "single") {
		run("bind: 1 mutation per request", workers, n, 0, func(i int) (int, bool) {
			d, err := gql("mutation { "+bindOne(i, "r1")+" }", nil)
			return 1, err == nil && ok(d, "updateUserAccountCredentials")
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
				fmt.Fprintf(&b, " b%d: %s", k, bindOne(k, "r2"))
			}
			b.WriteString("}")
			d, err := gql(b.String(), nil)
			if err != nil {
				return 0, false
			}
			good := true
			for k := lo; k < hi; k++ {
				good = good && ok(d, fmt.Sprintf("b%d", k))
			}
			return hi - lo, good
		}).print()
		s.analyze()
	}

	const perBulk = 1000
	if !strings.Contains(modes, "bulk") {
		return nil
	}
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
	return nil
}
