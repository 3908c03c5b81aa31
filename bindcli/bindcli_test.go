package bindcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const goodUUID = "0190aaaa-0000-7000-8000-000000000001"

func TestReadKeepsMalformedRows(t *testing.T) {
	in := "\ufeffaccountUuid,authModule,identifier,extra\n" +
		goodUUID + ",microsoft,alice@corp.example,x\n" +
		"not-a-uuid,microsoft,bob,x\n" +
		goodUUID + ", ,  ,x\n" +
		goodUUID + ",microsoft\n" +
		goodUUID + ",microsoft,a\"b,x\n" + // a bare quote: a CSV syntax error
		goodUUID + ",microsoft,carol,x\n" +
		goodUUID + ",microsoft,jos\xe9@corp.example,x\n" // Latin-1: é is one byte
	f, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Rows) != 7 || f.Header[0] != "accountUuid" {
		t.Fatalf("rows %d, header %q", len(f.Rows), f.Header)
	}
	want := []struct {
		status, msg string
		line        int
	}{
		{"", "", 2},
		{"", "", 3}, // the server's to decide: a malformed accountUuid names no account
		{"", "", 4}, // and so is a blank authModule or identifier
		{StatusInvalid, "line 5 has 2 fields; the header has 4", 5},
		{StatusInvalid, "line 6: malformed CSV", 6},
		{"", "", 7},
		{StatusInvalid, "identifier is not UTF-8 text: save the CSV as UTF-8", 8},
	}
	for i, w := range want {
		r := f.Rows[i]
		if r.Status != w.status || !strings.HasPrefix(r.Message, w.msg) || r.Line != w.line {
			t.Errorf("row %d: %+v, want %+v", i, r, w)
		}
	}
	for _, bad := range []string{"", "accountUuid,identifier\n", "uuid,authModule,identifier\n"} {
		if _, err := Read(strings.NewReader(bad)); err == nil || strings.Contains(err.Error(), "semicolons") {
			t.Errorf("header %q: %v", bad, err)
		}
	}
	if _, err := Read(strings.NewReader("accountUuid;authModule;identifier\n")); err == nil || !strings.Contains(err.Error(), "separated by semicolons") {
		t.Errorf("a header with semicolons: %v", err)
	}
	// A byte-order mark before a quoted header name (spreadsheets quote every field).
	if f, err := Read(strings.NewReader("\ufeff\"accountUuid\",\"authModule\",\"identifier\"\n\"" + goodUUID + "\",\"m\",\"alice\"\n")); err != nil ||
		len(f.Rows) != 1 || f.Rows[0].Status != "" || f.Header[0] != "accountUuid" {
		t.Errorf("a BOM before a quoted header: %v, %+v", err, rowsOf(f))
	}
}

// A quote left open would read the lines after it as one field, and those rows would vanish
// from the results: the file is refused, naming the line, before anything is sent. So is a
// quoted field that holds a line break (no binding value does).
func TestReadRefusesAFieldOverSeveralLines(t *testing.T) {
	head := "accountUuid,authModule,identifier,secret\n" + goodUUID + ",microsoft,alice,\n"
	for _, c := range []struct{ name, rest, want string }{
		{"a quote never closed", goodUUID + ",microsoft,\"bob\n" + goodUUID + ",microsoft,carol\n" + goodUUID + ",microsoft,dave\n",
			"line 3: a quoted field opened there is not closed before line"},
		{"closed by a later row's quote", goodUUID + ",microsoft,\"bob\n" + goodUUID + ",microsoft,carol\n" + goodUUID + ",microsoft,\"dave\"\n",
			"line 3: a quoted field opened there is not closed before line"},
		{"a line break inside quotes", goodUUID + ",microsoft,\"bob\r\nsmith\"\n" + goodUUID + ",microsoft,carol\n",
			"line 3: the quoted identifier field runs over several lines"},
		{"a secret left open over the next rows", goodUUID + ",microsoft,bob,\"pw\n" + goodUUID + ",microsoft,carol,pw2\n" + goodUUID + ",microsoft,dave,pw3\"\n",
			"line 3: the quoted secret field runs over several lines and holds what reads as further rows"},
	} {
		f, err := Read(strings.NewReader(head + c.rest))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (%d rows), want an error with %q", c.name, err, len(rowsOf(f)), c.want)
		}
	}
}

func rowsOf(f *File) []*Row {
	if f == nil {
		return nil
	}
	return f.Rows
}

func TestWriteResultsRedactsSecrets(t *testing.T) {
	f, err := Read(strings.NewReader("identifier,secret,accountUuid,authModule\nalice,hunter2," + goodUUID + ",m\nbob,," + goodUUID + ",m\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.Rows[0].Status, f.Rows[1].Status, f.Rows[1].Message = StatusOK, "TAKEN", "identifier is taken"
	var b strings.Builder
	if err := WriteResults(&b, f); err != nil {
		t.Fatal(err)
	}
	want := "identifier,secret,accountUuid,authModule,status,message\n" +
		"alice,[redacted]," + goodUUID + ",m,ok,\n" +
		"bob,," + goodUUID + ",m,TAKEN,identifier is taken\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// fakeGatehouse answers the token endpoint and the bulk mutation like Gatehouse does, with
// faults injected: a refused token, 429 and 503 answers.
type fakeGatehouse struct {
	mu        sync.Mutex
	expiresIn int
	tokens    atomic.Int64
	refuse    map[string]bool // tokens answered with 401 once
	faults    []int           // statuses to answer before the next real answer
	items     int
	noDryRun  bool // answers a dry run as a server older than it does
	// noDryRunOK answers it with status 200, as a gqlgen configured not to use 422 (or a
	// proxy rewriting the status) does.
	noDryRunOK bool
}

func (g *fakeGatehouse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/oauth/token":
		if id, sec, _ := r.BasicAuth(); id != "id" || sec != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		n := g.tokens.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok%d","token_type":"Bearer","expires_in":%d}`, n, g.expiresIn)
	case "/graphql/v1":
		g.mu.Lock()
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if g.refuse[tok] {
			delete(g.refuse, tok)
			g.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if len(g.faults) > 0 {
			status := g.faults[0]
			g.faults = g.faults[1:]
			g.mu.Unlock()
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(status)
			return
		}
		g.mu.Unlock()
		var req struct {
			Query     string
			Variables struct {
				Items []struct{ AccountUUID, AuthModule, Identifier string }
			}
		}
		json.NewDecoder(r.Body).Decode(&req)
		if (g.noDryRun || g.noDryRunOK) && strings.Contains(req.Query, "dryRun") {
			// gqlgen's answer to an argument the schema does not have.
			w.Header().Set("Content-Type", "application/json")
			if !g.noDryRunOK {
				w.WriteHeader(http.StatusUnprocessableEntity)
			}
			fmt.Fprint(w, `{"errors":[{"message":"Field \"dryRun\" is not defined by type \"BulkUpdateUserAccountCredentialsInput\".","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}],"data":null}`)
			return
		}
		type ue struct{ Label, Message, Code string }
		res := make([]map[string]any, len(req.Variables.Items))
		for i, it := range req.Variables.Items {
			errs := []ue{}
			if it.Identifier == "taken" {
				errs = append(errs, ue{fmt.Sprintf("items.%d.identifier", i), "is already bound", "TAKEN"})
			}
			res[i] = map[string]any{"errors": errs}
		}
		g.mu.Lock()
		g.items += len(res)
		g.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"bulkUpdateUserAccountCredentials": map[string]any{"results": res}}})
	default:
		http.NotFound(w, r)
	}
}

func rowsFile(n int) *File {
	var b strings.Builder
	b.WriteString("accountUuid,authModule,identifier\n")
	for i := range n {
		idf := fmt.Sprintf("user%d", i)
		if i%10 == 3 {
			idf = "taken"
		}
		fmt.Fprintf(&b, "0190aaaa-0000-7000-8000-%012d,microsoft,%s\n", i, idf)
	}
	f, _ := Read(strings.NewReader(b.String()))
	return f
}

func TestRunRetriesAndRenewsItsToken(t *testing.T) {
	g := &fakeGatehouse{expiresIn: 3600, refuse: map[string]bool{"tok1": true},
		faults: []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}}
	srv := httptest.NewServer(g)
	defer srv.Close()
	f := rowsFile(95)
	var done, failed atomic.Int64
	err := Run(context.Background(), Options{URL: srv.URL, ClientID: "id", ClientSecret: "secret", ChunkSize: 10,
		Concurrency: 3, Progress: func(d, fl int) { done.Add(int64(d)); failed.Add(int64(fl)) }}, f)
	if err != nil {
		t.Fatal(err)
	}
	// "taken" rows share an identity, so they went in order, after the others; all decided.
	for i, r := range f.Rows {
		want := StatusOK
		if i%10 == 3 {
			want = "TAKEN"
		}
		if r.Status != want || (want == "TAKEN" && r.Message != "identifier is already bound") {
			t.Fatalf("row %d: %+v", i, r)
		}
	}
	if g.items != 95 || done.Load() != 95 || failed.Load() != 10 {
		t.Fatalf("server saw %d items; progress %d done %d failed", g.items, done.Load(), failed.Load())
	}
	if g.tokens.Load() != 2 {
		t.Fatalf("%d tokens fetched; want 2 (the refused one renewed once)", g.tokens.Load())
	}
}

// A token about to expire is renewed before it is used: with 1-second tokens, every request
// gets a fresh one.
func TestRunRenewsExpiringTokens(t *testing.T) {
	g := &fakeGatehouse{expiresIn: 1}
	srv := httptest.NewServer(g)
	defer srv.Close()
	f := rowsFile(30)
	if err := Run(context.Background(), Options{URL: srv.URL, ClientID: "id", ClientSecret: "secret", ChunkSize: 10, Concurrency: 1}, f); err != nil {
		t.Fatal(err)
	}
	if g.tokens.Load() < 3 {
		t.Fatalf("%d tokens for 3 requests with expiring tokens", g.tokens.Load())
	}
}

func TestRunFailsFastOnBadCredentials(t *testing.T) {
	g := &fakeGatehouse{expiresIn: 3600}
	srv := httptest.NewServer(g)
	defer srv.Close()
	f := rowsFile(5)
	err := Run(context.Background(), Options{URL: srv.URL, ClientID: "id", ClientSecret: "wrong"}, f)
	if err == nil || !strings.Contains(err.Error(), "invalid_client") || g.items != 0 {
		t.Fatalf("err %v, items %d", err, g.items)
	}
}

// A password in --url is not shown in the message of a failed token request.
func TestRunFailureHidesTheURLsPassword(t *testing.T) {
	g := &fakeGatehouse{expiresIn: 3600}
	srv := httptest.NewServer(g)
	defer srv.Close()
	for _, base := range []string{srv.URL, "http://127.0.0.1:1"} { // refused by the server; unreachable
		withPassword := strings.Replace(base, "http://", "http://proxyuser:Pr0xyPassw0rd@", 1)
		err := Run(context.Background(), Options{URL: withPassword, ClientID: "id", ClientSecret: "wrong"}, rowsFile(1))
		if err == nil || strings.Contains(err.Error(), "Pr0xyPassw0rd") || !strings.Contains(err.Error(), "proxyuser") {
			t.Fatalf("%s: %v", base, err)
		}
	}
}

// A dry run against a server older than it stops with one message, rather than reporting
// every row as failing; the real run still works there.
func TestDryRunAgainstAnOlderServer(t *testing.T) {
	g := &fakeGatehouse{expiresIn: 3600, noDryRun: true}
	srv := httptest.NewServer(g)
	defer srv.Close()
	f := rowsFile(20)
	err := Run(context.Background(), Options{URL: srv.URL, ClientID: "id", ClientSecret: "secret", DryRun: true, ChunkSize: 9}, f)
	if !errors.Is(err, errNoDryRun) {
		t.Fatalf("dry run: %v", err)
	}
	f = rowsFile(20)
	if err := Run(context.Background(), Options{URL: srv.URL, ClientID: "id", ClientSecret: "secret", ChunkSize: 9}, f); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Rows {
		if r.Status == "" || r.Status == StatusError {
			t.Fatalf("real run: %+v", r)
		}
	}
}

// A request that keeps failing decides its rows as ERROR instead of aborting the others.
func TestRunMarksRowsOfAFailedRequest(t *testing.T) {
	g := &fakeGatehouse{expiresIn: 3600, faults: []int{http.StatusRequestEntityTooLarge}}
	srv := httptest.NewServer(g)
	defer srv.Close()
	f := rowsFile(20)
	if err := Run(context.Background(), Options{URL: srv.URL, ClientID: "id", ClientSecret: "secret", ChunkSize: 9, Concurrency: 1}, f); err != nil {
		t.Fatal(err)
	}
	errs := 0
	for _, r := range f.Rows {
		if r.Status == StatusError {
			errs++
			if !strings.Contains(r.Message, "HTTP 413") {
				t.Fatalf("message %q", r.Message)
			}
		}
	}
	if errs == 0 || errs > 9 {
		t.Fatalf("%d rows in ERROR, want one chunk's worth", errs)
	}
}

// Rows that share an identity (compared case-insensitively) or an account at a connection with
// another row keep their file order; the rest may go in any order.
func TestScheduleKeepsDependentRowsInOrder(t *testing.T) {
	a, b, c := "0190aaaa-0000-7000-8000-00000000000a", "0190aaaa-0000-7000-8000-00000000000b", "0190aaaa-0000-7000-8000-00000000000c"
	rows := []*Row{
		{AccountUUID: a, AuthModule: "m", Identifier: "alice"},                    // 0: identity shared with 3
		{AccountUUID: b, AuthModule: "m", Identifier: "bob"},                      // 1: account shared with 4
		{AccountUUID: c, AuthModule: "m", Identifier: "carol"},                    // 2: independent
		{AccountUUID: c, AuthModule: "n", Identifier: " ALICE "},                  // 3: other connection: independent of 0
		{AccountUUID: b, AuthModule: "m", Identifier: "robert"},                   // 4
		{AccountUUID: a, AuthModule: "n", Identifier: "x", Status: StatusInvalid}, // decided: not sent
		{AccountUUID: c, AuthModule: "m", Identifier: "Alice"},                    // 6: identity shared with 0, account with 2
	}
	ind, ord := schedule(rows)
	index := func(rs []*Row) []int {
		var out []int
		for _, r := range rs {
			for i := range rows {
				if rows[i] == r {
					out = append(out, i)
				}
			}
		}
		return out
	}
	if got := fmt.Sprint(index(ind), index(ord)); got != "[3] [0 1 2 4 6]" {
		t.Fatalf("independent, ordered = %s", got)
	}
}

// A dry run's chunks keep each group of rows linked by shared keys, directly or through other
// rows, together and in file order; groups fill chunks up to the size; a group larger than a
// chunk is split in file order; decided rows are not sent.
func TestDryRunChunksKeepLinkedRowsTogether(t *testing.T) {
	acct := func(n int) string { return fmt.Sprintf("0190aaaa-0000-7000-8000-%012d", n) }
	rows := []*Row{
		{AccountUUID: acct(1), AuthModule: "m", Identifier: "alice"},                    // 0: group 0, 4, 6
		{AccountUUID: acct(2), AuthModule: "m", Identifier: "bob"},                      // 1: alone
		{AccountUUID: acct(3), AuthModule: "m", Identifier: "carol"},                    // 2: group 2, 5
		{AccountUUID: acct(4), AuthModule: "n", Identifier: "ALICE"},                    // 3: other connection: alone
		{AccountUUID: acct(5), AuthModule: "m", Identifier: " Alice "},                  // 4: identity of 0
		{AccountUUID: acct(3), AuthModule: "M", Identifier: "dora"},                     // 5: account of 2
		{AccountUUID: acct(5), AuthModule: "m", Identifier: "erin"},                     // 6: account of 4, so linked to 0
		{AccountUUID: acct(2), AuthModule: "m", Identifier: "x", Status: StatusInvalid}, // decided
	}
	index := func(chunks [][]*Row) string {
		var out [][]int
		for _, ch := range chunks {
			var is []int
			for _, r := range ch {
				is = append(is, slices.Index(rows, r))
			}
			out = append(out, is)
		}
		return fmt.Sprint(out)
	}
	for _, c := range []struct {
		size      int
		want, cut string
	}{
		{8, "[[0 4 6 1 2 5 3]]", "[[]]"},
		{3, "[[0 4 6] [1 2 5] [3]]", "[[]]"},
		{4, "[[0 4 6 1] [2 5 3]]", "[[]]"},
		{2, "[[0 4] [6 1] [2 5] [3]]", "[[6]]"}, // the group of three split in file order
		{1, "[[0] [4] [6] [1] [2] [5] [3]]", "[[4 6 5]]"},
	} {
		chunks, cut := dryRunChunks(rows, c.size)
		if got, gotCut := index(chunks), index([][]*Row{cut}); got != c.want || gotCut != c.cut {
			t.Errorf("size %d: chunks %s, cut %s; want %s, %s", c.size, got, gotCut, c.want, c.cut)
		}
	}
}

// A secret in a legacy encoding is refused (it would be hashed with U+FFFD for its accented
// letters, a password nobody can type), and the refusal does not echo it.
func TestReadRefusesASecretThatIsNotUTF8(t *testing.T) {
	f, err := Read(strings.NewReader("identifier,secret,accountUuid,authModule\nalice,p\xe2ss\xe9," + goodUUID + ",m\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := f.Rows[0]
	if r.Status != StatusInvalid || !strings.HasPrefix(r.Message, "secret is not UTF-8 text") || strings.Contains(r.Message, "p\xe2ss") || strings.Contains(r.Message, "\xe9") {
		t.Fatalf("%+v", r)
	}
}

// dryRunChunks, checked against a naive model on random files: every undecided row is sent
// once and no decided row; no chunk is larger than size; a group (the transitive closure of
// shared keys, computed pairwise here) that fits in a chunk is in one chunk; and the rows of a
// group keep file order across and within chunks.
func TestDryRunChunksProperties(t *testing.T) {
	for seed := range 2000 {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		n, size := 1+r.IntN(14), 1+r.IntN(5)
		rows := make([]*Row, n)
		for i := range rows {
			rows[i] = &Row{AccountUUID: fmt.Sprintf("0190aaaa-0000-7000-8000-%012d", r.IntN(4)),
				AuthModule: []string{"m", "M", "n"}[r.IntN(3)], Identifier: []string{"a", "B", " b", "c"}[r.IntN(4)]}
			if r.IntN(8) == 0 {
				rows[i].Status = StatusInvalid
			}
		}
		// Naive groups: repeat pairwise merging until nothing changes.
		group := make([]int, n)
		for i := range group {
			group[i] = i
		}
		for changed := true; changed; {
			changed = false
			for i := range rows {
				for j := range rows {
					ki, kj := rowKeys(rows[i]), rowKeys(rows[j])
					if rows[i].Status == "" && rows[j].Status == "" && (ki[0] == kj[0] || ki[1] == kj[1]) && group[i] != group[j] {
						g := min(group[i], group[j])
						group[i], group[j], changed = g, g, true
					}
				}
			}
		}
		chunks, cut := dryRunChunks(rows, size)
		chunkOf, pos := map[*Row]int{}, map[*Row]int{}
		k := 0
		for c, ch := range chunks {
			if len(ch) == 0 || len(ch) > size {
				t.Fatalf("seed %d: chunk %d has %d rows (size %d)", seed, c, len(ch), size)
			}
			for _, row := range ch {
				if _, dup := chunkOf[row]; dup || row.Status != "" {
					t.Fatalf("seed %d: row sent twice or decided", seed)
				}
				chunkOf[row], pos[row] = c, k
				k++
			}
		}
		members := map[int][]int{}
		for i, row := range rows {
			if row.Status == "" {
				if _, ok := chunkOf[row]; !ok {
					t.Fatalf("seed %d: row %d not sent", seed, i)
				}
				members[group[i]] = append(members[group[i]], i)
			}
		}
		var wantCut []*Row
		for _, m := range members {
			if len(m) <= size && chunkOf[rows[m[0]]] != chunkOf[rows[m[len(m)-1]]] {
				t.Fatalf("seed %d, size %d: group %v split over chunks", seed, size, m)
			}
			// A row is decided apart when it shares a key with an earlier row of the group
			// that is in an earlier chunk, or was itself decided apart.
			apart := map[int]bool{}
			for x, i := range m {
				for _, j := range m[:x] {
					ki, kj := rowKeys(rows[i]), rowKeys(rows[j])
					if (ki[0] == kj[0] || ki[1] == kj[1]) && (chunkOf[rows[j]] < chunkOf[rows[i]] || apart[j]) {
						apart[i] = true
					}
				}
				if apart[i] {
					wantCut = append(wantCut, rows[i])
				}
			}
			for x := 1; x < len(m); x++ {
				if pos[rows[m[x-1]]] > pos[rows[m[x]]] {
					t.Fatalf("seed %d: group %v out of file order", seed, m)
				}
			}
		}
		byPos := func(a, b *Row) int { return pos[a] - pos[b] }
		slices.SortFunc(cut, byPos)
		slices.SortFunc(wantCut, byPos)
		if !slices.Equal(cut, wantCut) {
			t.Fatalf("seed %d, size %d: %d rows marked as decided apart from their group, want %d", seed, size, len(cut), len(wantCut))
		}
	}
}

// The server reads an account UUID in its hyphenated form with hex digits in either case:
// rows naming one account in both cases depend on each other. Another spelling ({…},
// urn:uuid:…, no hyphens) names no account.
func TestRowKeysCanonicalUUID(t *testing.T) {
	x := "0190aaaa-0000-7000-8000-00000000000a"
	for _, other := range []string{strings.ToUpper(x), " " + strings.ToUpper(x) + " "} {
		a := rowKeys(&Row{AccountUUID: x, AuthModule: "m", Identifier: "a"})
		b := rowKeys(&Row{AccountUUID: other, AuthModule: "m", Identifier: "b"})
		if a[1] != b[1] {
			t.Errorf("%s and %q: account keys differ", x, other)
		}
	}
	for _, s := range []string{x, strings.ToUpper(x)} {
		if !isID(s) {
			t.Errorf("isID(%s) is false", s)
		}
	}
	for _, s := range []string{"{" + x + "}", "urn:uuid:" + x, strings.ReplaceAll(x, "-", ""), "not-a-uuid", ""} {
		if isID(s) {
			t.Errorf("isID(%s) is true: the server reads it as no account", s)
		}
	}
}

// The older server's validation error may come with status 200: the dry run still stops.
func TestDryRunAgainstAnOlderServerAnswering200(t *testing.T) {
	srv := httptest.NewServer(&fakeGatehouse{expiresIn: 3600, noDryRunOK: true})
	defer srv.Close()
	err := Run(context.Background(), Options{URL: srv.URL, ClientID: "id", ClientSecret: "secret", DryRun: true, ChunkSize: 9}, rowsFile(20))
	if !errors.Is(err, errNoDryRun) {
		t.Fatalf("dry run: %v", err)
	}
}

// Rows checked apart get the note and one warning, in the plural when several.
func TestDryRunWarnsOfRowsCheckedApart(t *testing.T) {
	srv := httptest.NewServer(&fakeGatehouse{expiresIn: 3600})
	defer srv.Close()
	f, err := Read(strings.NewReader("accountUuid,authModule,identifier\n" +
		"0190aaaa-0000-7000-8000-00000000000a,m,x\n0190aaaa-0000-7000-8000-00000000000b,m,x\n0190aaaa-0000-7000-8000-00000000000c,m,X\n"))
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	err = Run(context.Background(), Options{URL: srv.URL, ClientID: "id", ClientSecret: "secret", DryRun: true, ChunkSize: 1,
		Warn: func(m string) { warnings = append(warnings, m) }}, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "2 rows were checked without earlier rows of the file they depend on") ||
		!strings.Contains(warnings[0], "their messages say so") {
		t.Errorf("warnings %q", warnings)
	}
	for i, r := range f.Rows {
		if noted := strings.HasSuffix(r.Message, " "+cutNote); noted != (i > 0) {
			t.Errorf("row %d: %q", i, r.Message)
		}
	}
}

// A row of a split group that shares no key with a row of an earlier
// chunk, directly or through earlier rows, was decided as the real run would and is not noted.
// Row 2 (account c, identity z) joins the group only through the later row 3.
func TestDryRunChunksCutOnlyRowsThatDependOnEarlierChunks(t *testing.T) {
	mk := func(acct, id string) *Row {
		return &Row{AccountUUID: "0190aaaa-0000-7000-8000-00000000000" + acct, AuthModule: "m", Identifier: id}
	}
	rows := []*Row{mk("a", "x"), mk("b", "x"), mk("c", "z"), mk("c", "x")}
	_, cut := dryRunChunks(rows, 2)
	if len(cut) != 1 || cut[0] != rows[3] {
		t.Errorf("cut %d rows, want only row 3", len(cut))
	}
}

// Other columns are carried through (docs/cli.md), and a spreadsheet's
// multi-line cell in one of them is a valid CSV field, not a quote left open.
func TestReadCarriesAMultiLineExtraColumn(t *testing.T) {
	f, err := Read(strings.NewReader("accountUuid,authModule,identifier,note\n" +
		goodUUID + ",m,alice,\"first line\nsecond line\"\n" + goodUUID + ",m,bob,x\n"))
	if err != nil || len(f.Rows) != 2 || f.Rows[0].Status != "" || f.Rows[1].Status != "" {
		t.Fatalf("%v, %+v", err, rowsOf(f))
	}
}
