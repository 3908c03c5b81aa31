package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/bindcli"
	"gatehouse/models"
	"gatehouse/store"
)

// bindCase is one input row of the bind test and the status it must end with.
type bindCase struct {
	fields []string // accountUuid, authModule, identifier, secret (or malformed)
	want   string
}

// `gatehouse bind` against a real server: 10,000 rows with bad ones among them, checked row by
// row and in the database, a dry run that writes nothing first, then a re-run that changes
// nothing.
func TestCLIBind(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		id, sec := e.CreateClient(admin, []string{"graphql"}, "")
		ws := uuid.MustParse(str(e.MustGQL(admin, `{ viewer { workspaceId } }`, nil), "viewer", "workspaceId"))

		// Accounts straight into the database (their creation is not what is tested).
		const good, extra = 9900, 40
		users := make([]*models.UserAccount, good+extra)
		now := time.Now().UTC()
		for i := range users {
			email := fmt.Sprintf("person%d@corp.example", i)
			users[i] = &models.UserAccount{ID: store.NewID(), WorkspaceID: ws, Email: email, EmailKey: email,
				UserName: email, UserNameKey: email, FirstName: "P", LastName: fmt.Sprint(i), Active: true,
				CreatedAt: now, UpdatedAt: now}
		}
		for b := range slices.Chunk(users, 500) {
			if err := e.App.Store().Create(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
		u := func(i int) string { return users[i].ID.String() }
		ident := func(i int) string { return fmt.Sprintf("user%d@corp.example", i) }

		var cases []bindCase
		special := map[int][]bindCase{} // rows inserted after good row i
		for i := range good {
			c := bindCase{fields: []string{u(i), "microsoft", ident(i), ""}, want: "ok"}
			if i%1000 == 7 {
				c.fields[3] = "s3cret-" + fmt.Sprint(i) // a few with a secret (hashed on the server)
			}
			cases = append(cases, c)
			if i%500 != 250 {
				continue
			}
			k := i / 500 // 0..19
			special[i] = append(special[i],
				bindCase{[]string{"not-a-uuid", "microsoft", "x" + fmt.Sprint(k), ""}, "NOT_FOUND"},
				bindCase{[]string{u(good + k), "microsoft", "   ", ""}, "INVALID"},
				bindCase{[]string{store.NewID().String(), "microsoft", "ghost" + fmt.Sprint(k), ""}, "NOT_FOUND"},
				bindCase{[]string{u(good + 20 + k), "okta", "nomodule" + fmt.Sprint(k), ""}, "NOT_FOUND"},
				bindCase{[]string{u(good + k), "microsoft", strings.Repeat("a", 300), ""}, "INVALID"},
				// The identity of an earlier row (other case): taken by that row's account.
				bindCase{[]string{u(good + 20 + k), "microsoft", strings.ToUpper(ident(k)), ""}, "TAKEN"},
			)
			if k < 5 {
				special[i] = append(special[i], bindCase{[]string{u(k), "microsoft"}, "INVALID"}) // too few fields
			}
		}
		// Rebinding within the file: the later row replaces the account's identity.
		for k := range 5 {
			special[100+k] = append(special[100+k], bindCase{[]string{u(200 + k), "microsoft", "renamed" + fmt.Sprint(k), ""}, "ok"})
		}
		var all []bindCase
		for i, c := range cases {
			all = append(all, c)
			all = append(all, special[i]...)
		}
		if len(all) < 10000 {
			t.Fatalf("only %d rows", len(all))
		}
		dir := t.TempDir()
		in := filepath.Join(dir, "accounts.csv")
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{"accountUuid", "authModule", "identifier", "secret"})
		for _, c := range all {
			w.Write(c.fields)
		}
		w.Flush()
		if err := os.WriteFile(in, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"GATEHOUSE_CLIENT_ID=" + id, "GATEHOUSE_CLIENT_SECRET=" + sec}
		bind := func(out string, extra ...string) cliResult {
			t.Helper()
			r := gatehouseCLI(t, env, append([]string{"bind", "--url", e.URL, "--csv", in, "--out", out}, extra...)...)
			if r.code != 1 || r.stdout != "" {
				t.Fatalf("bind %v: exit %d (want 1: some rows fail), stdout %q, stderr %s", extra, r.code, r.stdout, r.stderr)
			}
			return r
		}
		bindings := func() map[string]string {
			t.Helper()
			ids := make([]uuid.UUID, len(users))
			for i, u := range users {
				ids[i] = u.ID
			}
			got, err := e.App.Store().CredentialsForAccounts(context.Background(), ws, ids)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for acct, cs := range got {
				for _, c := range cs {
					m[acct.String()] = c.Identifier
				}
			}
			return m
		}

		// A dry run reports what the real run will, row by row (below), and writes nothing.
		// Small chunks: the rows an earlier row decides (TAKEN, a rebinding) are far apart in
		// the file, and must still be decided after it.
		dry := filepath.Join(dir, "dry.csv")
		r := bind(dry, "--dry-run", "--chunk-size", "100")
		if !strings.Contains(r.stderr, fmt.Sprintf("%d rows checked by the server (dry run, nothing written)", len(all))) ||
			!regexp.MustCompile(`: [1-9]\d* would be bound, [1-9]\d* would fail\n`).MatchString(r.stderr) {
			t.Errorf("dry run summary: %s", r.stderr)
		}
		if n := len(bindings()); n != 0 {
			t.Fatalf("the dry run bound %d accounts", n)
		}
		checkResults(t, dry, all, func(c bindCase) string { return c.want })

		// The real run, checked row by row and in the database.
		out := filepath.Join(dir, "results.csv")
		r = bind(out)
		if !strings.Contains(r.stderr, fmt.Sprintf("%d rows decided", len(all))) ||
			!regexp.MustCompile(`: [1-9]\d* bound, [1-9]\d* failed\n`).MatchString(r.stderr) {
			t.Errorf("summary: %s", r.stderr)
		}
		checkResults(t, out, all, func(c bindCase) string { return c.want })
		sameOutcomes(t, dry, out)
		want := map[string]string{}
		for _, c := range all {
			if c.want == "ok" {
				want[c.fields[0]] = c.fields[2]
			}
		}
		got := bindings()
		if len(got) != len(want) {
			t.Fatalf("%d accounts bound, want %d", len(got), len(want))
		}
		for acct, idf := range want {
			if got[acct] != idf {
				t.Fatalf("account %s bound to %q, want %q", acct, got[acct], idf)
			}
		}
		first, _ := os.ReadFile(out)

		// Again: the same results, the same bindings.
		out2 := filepath.Join(dir, "results2.csv")
		bind(out2)
		second, _ := os.ReadFile(out2)
		if !bytes.Equal(first, second) {
			t.Error("the re-run's results differ from the first run's")
		}
		if again := bindings(); !maps.Equal(again, got) {
			t.Error("the re-run changed the bindings")
		}
	})
}

// bindSetup makes a connection with the slug microsoft, user accounts with the given emails
// and a client with scope graphql; it returns the environment that gives bind the client.
func bindSetup(e *testEnv, emails ...string) (env, users []string) {
	admin := e.AdminToken()
	e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
	for _, m := range emails {
		users = append(users, e.CreateUser(admin, m))
	}
	id, sec := e.CreateClient(admin, []string{"graphql"}, "")
	return []string{"GATEHOUSE_CLIENT_ID=" + id, "GATEHOUSE_CLIENT_SECRET=" + sec}, users
}

// sameOutcomes compares a dry run's results CSV with the real run's: the same rows, statuses
// and messages, save that a dry run's ok says so.
func sameOutcomes(t *testing.T, dryPath, realPath string) {
	t.Helper()
	read := func(path string) [][]string {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	dry, real := read(dryPath), read(realPath)
	if len(dry) != len(real) {
		t.Fatalf("dry run: %d rows, real run: %d", len(dry), len(real))
	}
	for i := range real {
		d := dry[i]
		if i > 0 && d[4] == bindcli.StatusOK {
			if d[5] != bindcli.DryRunOK {
				t.Fatalf("dry run row %d: message %q", i, d[5])
			}
			d = append(d[:5:5], "")
		}
		if !slices.Equal(d, real[i]) {
			t.Fatalf("row %d: dry run %q, real run %q", i, dry[i], real[i])
		}
	}
}

// checkResults reads a results CSV and compares it with the input, row by row: the input
// fields (a secret redacted) and the status want gives.
func checkResults(t *testing.T, path string, all []bindCase, want func(bindCase) string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], []string{"accountUuid", "authModule", "identifier", "secret", "status", "message"}) {
		t.Fatalf("header %v", recs[0])
	}
	if len(recs)-1 != len(all) {
		t.Fatalf("%d result rows for %d input rows", len(recs)-1, len(all))
	}
	bad := 0
	for i, c := range all {
		rec := recs[i+1]
		in := append([]string(nil), c.fields...)
		from := 3 // the secret; in a row with fields missing, as many columns before it too
		from -= max(0, 4-len(in))
		for len(in) < 4 {
			in = append(in, "")
		}
		for i := from; i < 4; i++ {
			if in[i] != "" {
				in[i] = bindcli.Redacted
			}
		}
		status, msg := rec[4], rec[5]
		if !slices.Equal(rec[:4], in) || status != want(c) || (status != "ok" && msg == "") {
			if bad++; bad <= 5 {
				t.Errorf("row %d: got %q, want fields %q status %s", i+1, rec, in, want(c))
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d rows differ", bad)
	}
}

// A dry run whose chunk cannot hold a group of dependent rows says which rows it decided
// without the rows they depend on, and warns: here the second row is TAKEN by the first in
// the real run, and the dry run, sending one row per chunk, cannot know.
func TestCLIBindDryRunWarnsOfASplitGroup(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		env, users := bindSetup(e, "ann@corp.example", "ben@corp.example")
		a, b := users[0], users[1]
		dir := t.TempDir()
		in := filepath.Join(dir, "accounts.csv")
		if err := os.WriteFile(in, []byte("accountUuid,authModule,identifier\n"+a+",microsoft,shared\n"+b+",microsoft,SHARED\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		run := func(extra ...string) (cliResult, [][]string) {
			out := filepath.Join(dir, "results.csv")
			r := gatehouseCLI(t, env, append([]string{"bind", "--url", e.URL, "--csv", in, "--out", out, "--chunk-size", "1"}, extra...)...)
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			recs, err := csv.NewReader(f).ReadAll()
			if err != nil || len(recs) != 3 {
				t.Fatalf("results %v: %v", recs, err)
			}
			return r, recs
		}
		r, dry := run("--dry-run")
		if r.code != 0 || !strings.Contains(r.stderr, "bind: warning: 1 row was checked without earlier rows of the file it depends on") {
			t.Fatalf("dry run: exit %d, stderr %s", r.code, r.stderr)
		}
		if dry[1][3] != "ok" || dry[1][4] != bindcli.DryRunOK || dry[2][3] != "ok" ||
			!strings.HasPrefix(dry[2][4], bindcli.DryRunOK+" (dry run: checked without the earlier rows it depends on") {
			t.Fatalf("dry run results: %q", dry)
		}
		r, real := run()
		if r.code != 1 || real[1][3] != "ok" || real[2][3] != "TAKEN" {
			t.Fatalf("real run: exit %d, results %q", r.code, real)
		}
	})
}

// Rows the server refuses whatever the others bind (an accountUuid that names no account, a
// blank identifier) depend on no row, as when gatehouse bind refused them itself: a dry run
// keeps them out of every group. Since the server decides them, they had keys like any row, so
// the rows with the same malformed accountUuid (here a blank one), or with a blank identifier
// for one account, and the valid row of that account were one group, split over chunks: the
// dry run marked them, the valid row among them, as checked without rows they depend on, and
// warned.
func TestCLIBindDryRunRowsThatBindNothingDependOnNone(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		env, users := bindSetup(e, "ann@corp.example")
		dir := t.TempDir()
		in := filepath.Join(dir, "accounts.csv")
		file := "accountUuid,authModule,identifier\n" +
			",microsoft,b1\n,microsoft,b2\n,microsoft,b3\n" +
			users[0] + ",microsoft, \n" + users[0] + ",microsoft,\n" + users[0] + ",microsoft,ann\n"
		if err := os.WriteFile(in, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "results.csv")
		r := gatehouseCLI(t, env, "bind", "--url", e.URL, "--csv", in, "--out", out, "--chunk-size", "2", "--dry-run")
		b, _ := os.ReadFile(out)
		res, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if r.code != 1 || err != nil || len(res) != 7 || strings.Contains(r.stderr, "warning") {
			t.Fatalf("dry run: exit %d, results %q (%v), stderr %s", r.code, b, err, r.stderr)
		}
		for i, rec := range res[1:] {
			want := []string{"NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "INVALID", "INVALID", "ok"}[i]
			if rec[3] != want || strings.Contains(rec[4], "checked without") {
				t.Errorf("row %d: %s %q, want %s without a note of rows it depends on", i+2, rec[3], rec[4], want)
			}
		}
		if res[6][4] != bindcli.DryRunOK {
			t.Errorf("the valid row: %q", res[6][4])
		}
	})
}

// A CSV names connections by slug in any case, as the API takes them (models.SlugKey): a
// spreadsheet's "Microsoft" binds at microsoft, in a dry run and for real.
func TestCLIBindSlugAnyCase(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		env, users := bindSetup(e, "ann@corp.example", "ben@corp.example")
		dir := t.TempDir()
		in := filepath.Join(dir, "accounts.csv")
		if err := os.WriteFile(in, []byte("accountUuid,authModule,identifier\n"+users[0]+",Microsoft,ann\n"+users[1]+", MICROSOFT ,ben\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, mode := range [][]string{{"--dry-run"}, nil} {
			out := filepath.Join(dir, "results.csv")
			r := gatehouseCLI(t, env, append([]string{"bind", "--url", e.URL, "--csv", in, "--out", out}, mode...)...)
			res, _ := os.ReadFile(out)
			if r.code != 0 || strings.Count(string(res), ",ok,") != 2 {
				t.Fatalf("bind %v: exit %d, results %q, stderr %s", mode, r.code, res, r.stderr)
			}
		}
		d := e.MustGQL(e.AdminToken(), `{ userAccounts(filter: {authModule: "microsoft"}) { nodes { credentials { authModule identifier } } } }`, nil)
		if got := fmt.Sprint(get(d, "userAccounts", "nodes")); got != "[map[credentials:[map[authModule:microsoft identifier:ann]]] map[credentials:[map[authModule:microsoft identifier:ben]]]]" {
			t.Fatalf("bound: %s", got)
		}
	})
}

// TestCLIBindRowsTheServerDecides: a row the server can read is the server's to decide, and the
// CLI reports the server's answer for it. A malformed accountUuid names no account
// (provision/ids.go: NOT_FOUND "matches no user account"), where gatehouse bind answered
// INVALID "accountUuid is not a valid UUID" on its own; so did it for a blank authModule or
// identifier, in its own words. Each row's status and message must be what the bulk mutation
// answers for the same item, in the real run and the dry run.
func TestCLIBindRowsTheServerDecides(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		env, users := bindSetup(e, "ann@corp.example")
		rows := [][]string{
			{"not-a-uuid", "microsoft", "a1"},
			{"{" + users[0] + "}", "microsoft", "a2"},
			{"", "microsoft", "a3"},
			{"not-a-uuid", "microsoft", " "},
			{users[0], "", "a4"},
			{users[0], "microsoft", ""},
		}
		// What the server answers for each item, as gatehouse bind reports it ("field message; …").
		var want []string
		for _, r := range rows {
			d := e.MustGQL(e.AdminToken(), `mutation($a: ID!, $m: String!, $i: String!) { bulkUpdateUserAccountCredentials(input: {items: [
				{accountUuid: $a, authModule: $m, identifier: $i}], dryRun: true}) { results { errors { label message code } } } }`,
				map[string]any{"a": r[0], "m": r[1], "i": r[2]})
			errs, _ := get(d, "bulkUpdateUserAccountCredentials", "results", 0, "errors").([]any)
			if len(errs) == 0 {
				t.Fatalf("the server binds %q: %v", r, d)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, strings.TrimPrefix(str(e, "label"), "items.0.")+" "+str(e, "message"))
			}
			want = append(want, str(errs[0], "code")+" "+strings.Join(msgs, "; "))
		}
		dir := t.TempDir()
		in := filepath.Join(dir, "accounts.csv")
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.Write([]string{"accountUuid", "authModule", "identifier"})
		w.WriteAll(rows)
		if err := os.WriteFile(in, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, mode := range [][]string{{"--dry-run"}, nil} {
			out := filepath.Join(dir, "results.csv")
			r := gatehouseCLI(t, env, append([]string{"bind", "--url", e.URL, "--csv", in, "--out", out}, mode...)...)
			b, _ := os.ReadFile(out)
			res, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			if r.code != 1 || err != nil || len(res) != len(rows)+1 {
				t.Fatalf("bind %v: exit %d, results %q (%v), stderr %s", mode, r.code, b, err, r.stderr)
			}
			for i, rec := range res[1:] {
				if got := rec[3] + " " + rec[4]; got != want[i] {
					t.Errorf("bind %v, row %q: %s, want the server's answer: %s", mode, rows[i], got, want[i])
				}
			}
		}
	})
}

// A dry run tells what the real run would: a client that may read (graphql:read, admin) but
// not bind gets FORBIDDEN on every row from both, and nothing is bound.
func TestCLIBindDryRunNeedsTheBindScope(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		acct := e.CreateUser(admin, "dana@corp.example")
		dir := t.TempDir()
		in := filepath.Join(dir, "accounts.csv")
		if err := os.WriteFile(in, []byte("accountUuid,authModule,identifier\n"+acct+",microsoft,dana@corp.example\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, scopes := range [][]string{{"graphql:read"}, {"admin"}} {
			id, sec := e.CreateClient(admin, scopes, "")
			env := []string{"GATEHOUSE_CLIENT_ID=" + id, "GATEHOUSE_CLIENT_SECRET=" + sec}
			for _, mode := range [][]string{{"--dry-run"}, nil} {
				out := filepath.Join(dir, "results.csv")
				r := gatehouseCLI(t, env, append([]string{"bind", "--url", e.URL, "--csv", in, "--out", out}, mode...)...)
				res, _ := os.ReadFile(out)
				if r.code != 1 || !strings.Contains(string(res), ",FORBIDDEN,") || !strings.Contains(r.stderr, "bind: 1 row ") {
					t.Fatalf("scopes %v, bind %v: exit %d, results %q, stderr %s", scopes, mode, r.code, res, r.stderr)
				}
			}
		}
		creds, err := e.App.Store().CredentialsForAccounts(context.Background(), uuid.MustParse(str(e.MustGQL(admin, `{ viewer { workspaceId } }`, nil), "viewer", "workspaceId")),
			[]uuid.UUID{uuid.MustParse(acct)})
		if err != nil || len(creds) != 0 {
			t.Fatalf("bound: %v %v", creds, err)
		}
	})
}

// One account named in the two spellings of its UUID the server accepts (lower and upper
// case), and in one it does not ({…}): the dry run must still answer what the real run does.
func TestCLIBindDryRunUUIDSpellings(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		env, users := bindSetup(e, "x@corp.example", "y@corp.example", "w@corp.example")
		x, y, w := users[0], users[1], users[2]
		dir := t.TempDir()
		in := filepath.Join(dir, "accounts.csv")
		file := "accountUuid,authModule,identifier\n" +
			x + ",microsoft,a\n" + // P: x takes a
			strings.ToUpper(x) + ",microsoft,c\n" + // R: x moves to c, freeing a
			"{" + x + "},microsoft,d\n" + // names no account
			y + ",microsoft,a\n" + // Q: a is free again
			w + ",microsoft,c\n" // S: c is x's
		if err := os.WriteFile(in, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		run := func(extra ...string) string {
			out := filepath.Join(dir, "out.csv")
			gatehouseCLI(t, env, append([]string{"bind", "--url", e.URL, "--csv", in, "--out", out}, extra...)...)
			b, _ := os.ReadFile(out)
			return strings.ReplaceAll(strings.ReplaceAll(string(b), "dry run: would be bound, nothing written", ""), `""`, "")
		}
		dry := run("--dry-run")
		real := run()
		if dry != real {
			t.Fatalf("dry run:\n%s\nreal run:\n%s", dry, real)
		}
	})
}

// An unquoted comma in a secret makes its row a field too long: the row is INVALID, and the
// second half of the secret, which the CSV reader put under the next column, is no more
// echoed than the first, nor is any part of it on the terminal. The results file is CSV that
// reads back as the input's columns plus status and message, on every row.
func TestCLIBindCommaInASecret(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		env, users := bindSetup(e, "ann@corp.example", "ben@corp.example", "cid@corp.example")
		a, b, c := users[0], users[1], users[2]
		dir := t.TempDir()
		for _, f := range []struct{ header, rows string }{
			{"accountUuid,authModule,identifier,secret,note\n",
				a + ",microsoft,ann,\"quoted,Half1\",n1\n" + // quoted: one field, bound
					b + ",microsoft,ben,open,Half2,n2\n" + // the comma shifts Half2 under note
					c + ",microsoft,cid,Half3 x\"y,n3\n"}, // a bare quote: cut at a syntax error
			{"secret,accountUuid,authModule,identifier\n",
				"\"quoted,Half1\"," + a + ",microsoft,ann\n" +
					"open,Half2," + b + ",microsoft,ben\n" + // Half2 under accountUuid
					"Half3," + c + "microsoft,cid\n"}, // a comma missing: a field short
		} {
			in := filepath.Join(dir, "accounts.csv")
			if err := os.WriteFile(in, []byte(f.header+f.rows), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "results.csv")
			r := gatehouseCLI(t, env, "bind", "--url", e.URL, "--csv", in, "--out", out)
			res, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if r.code != 1 {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			for _, half := range []string{"Half1", "Half2", "Half3", "open"} {
				if strings.Contains(string(res), half) || strings.Contains(r.stdout+r.stderr, half) {
					t.Errorf("a part of a secret (%s) is shown: results\n%s\nstderr %s", half, res, r.stderr)
				}
			}
			recs, err := csv.NewReader(bytes.NewReader(res)).ReadAll() // one number of fields on every row
			header := strings.Split(strings.TrimSpace(f.header), ",")
			if err != nil || len(recs) != 4 || !slices.Equal(recs[0], append(header, "status", "message")) {
				t.Fatalf("results %q: %v", recs, err)
			}
			status := len(header)
			if recs[1][status] != "ok" || recs[2][status] != "INVALID" || recs[3][status] != "INVALID" {
				t.Errorf("statuses: %q", recs)
			}
		}
	})
}

// A file of rows with secrets binds whole: the server takes at most 50 items with a secret per
// request (each is hashed with bcrypt), so the run (and its dry run) sends them in chunks of at
// most 50 such rows whatever --chunk-size; a chunk of 500 with 60 secrets was refused whole.
func TestCLIBindChunksSecrets(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		emails := make([]string, 60)
		for i := range emails {
			emails[i] = fmt.Sprintf("p%d@corp.example", i)
		}
		env, users := bindSetup(e, emails...)
		var b strings.Builder
		b.WriteString("accountUuid,authModule,identifier,secret\n")
		for i, u := range users {
			fmt.Fprintf(&b, "%s,microsoft,p%d,pw-%d\n", u, i, i)
		}
		dir := t.TempDir()
		in := filepath.Join(dir, "accounts.csv")
		if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, dry := range []bool{true, false} {
			out := filepath.Join(dir, fmt.Sprintf("results-%v.csv", dry))
			args := []string{"bind", "--url", e.URL, "--csv", in, "--out", out}
			if dry {
				args = append(args, "--dry-run")
			}
			r := gatehouseCLI(t, env, args...)
			res, _ := os.ReadFile(out)
			if r.code != 0 {
				t.Fatalf("dry run %v: exit %d, stderr %s, results\n%s", dry, r.code, r.stderr, res)
			}
		}
		d := e.MustGQL(e.AdminToken(), `{ userAccounts(filter: {authModule: "microsoft"}, first: 100) { totalCount nodes { credentials { hasSecret } } } }`, nil)
		if get(d, "userAccounts", "totalCount") != 60.0 || get(d, "userAccounts", "nodes", 59, "credentials", 0, "hasSecret") != true {
			t.Fatalf("bound: %v", d)
		}
	})
}

// A run interrupted by Ctrl-C while the server is slow to answer leaves --out as it was: the
// results of an earlier run stay whole, and a file that did not exist is not made, nor is a
// partial file left beside it.
func TestCLIBindInterruptedKeepsTheResultsFile(t *testing.T) {
	sent, stop := make(chan struct{}, 100), make(chan struct{})
	srv := bindServer(t, func(w http.ResponseWriter, r *http.Request) {
		sent <- struct{}{}
		select { // a server slow to answer: the run is interrupted meanwhile
		case <-r.Context().Done():
		case <-stop:
		}
	})
	defer close(stop) // before the server closes
	dir := t.TempDir()
	in := bindInput(t, dir, 50)
	const earlier = "accountUuid,authModule,identifier,status,message\nthe results of an earlier run\n"
	for _, exists := range []bool{true, false} {
		out := filepath.Join(dir, fmt.Sprintf("results-%v.csv", exists))
		if exists {
			if err := os.WriteFile(out, []byte(earlier), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(gatehouseBinary(t), "bind", "--url", srv.URL, "--csv", in, "--out", out, "--chunk-size", "10")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GATEHOUSE_CLIENT_ID=ghc_x", "GATEHOUSE_CLIENT_SECRET=ghs_x"}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sent:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("no request sent: %s", stderr.String())
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		exit := cmd.Wait()
		got, err := os.ReadFile(out)
		if exists && string(got) != earlier || !exists && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("--out after the interrupted run: %q, %v", got, err)
		}
		if ee, ok := exit.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "bind: interrupted") ||
			!strings.Contains(stderr.String(), out+" is left as it was") {
			t.Fatalf("exit %v, stderr %s", exit, stderr.String())
		}
		for len(sent) > 0 {
			<-sent
		}
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".*")); len(names) > 0 {
		t.Errorf("files left: %v", names)
	}
}

// bind streams: it sends a window of rows, writes their results and only then reads the next,
// so that its memory is a window's and its results grow as it goes. The server looks at the
// results file while the run is half done: the rows decided so far are in it, in order.
func TestCLIBindStreams(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "results.csv")
	var mu sync.Mutex
	requests, seen := 0, -1
	srv := bindServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var body struct {
			Variables struct{ Items []any } `json:"variables"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		if requests++; requests == 25 { // of 50
			if names, _ := filepath.Glob(filepath.Join(dir, ".results.csv.partial-*")); len(names) == 1 {
				b, _ := os.ReadFile(names[0])
				seen = bytes.Count(b, []byte("\n")) - 1
			}
		}
		mu.Unlock()
		res := make([]map[string]any, len(body.Variables.Items))
		for i := range res {
			res[i] = map[string]any{"errors": []any{}}
		}
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"bulkUpdateUserAccountCredentials": map[string]any{"results": res}}})
	})
	in := bindInput(t, dir, 5000)
	r := gatehouseCLI(t, []string{"GATEHOUSE_CLIENT_ID=ghc_x", "GATEHOUSE_CLIENT_SECRET=ghs_x"},
		"bind", "--url", srv.URL, "--csv", in, "--out", out, "--chunk-size", "100", "--concurrency", "1")
	if r.code != 0 || !strings.Contains(r.stderr, "bind: 5000 rows decided") {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	// Windows of 400 rows (100 a request, 1 in flight, 4 times over): by the 25th request,
	// the six windows before its own are written.
	if seen < 2000 || seen > 2400 {
		t.Errorf("the results file held %d rows when the 25th request of 100 rows came", seen)
	}
	res, _ := os.ReadFile(out)
	if recs, err := csv.NewReader(bytes.NewReader(res)).ReadAll(); err != nil || len(recs) != 5001 {
		t.Fatalf("results: %d rows, %v", len(recs), err)
	}
}

// bindServer stands in for a Gatehouse server: its token endpoint gives any client a token,
// and graphql answers everything else.
func bindServer(t *testing.T, graphql http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
			return
		}
		graphql(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// bindInput writes an input file of n rows, each a new account and identity, in dir.
func bindInput(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("accountUuid,authModule,identifier\n")
	for i := range n {
		fmt.Fprintf(&b, "%s,microsoft,user%d@corp.example\n", uuid.New(), i)
	}
	in := filepath.Join(dir, "accounts.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return in
}
