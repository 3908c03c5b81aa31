package bindcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/sync/errgroup"
)

// MaxChunk is the server's limit of items per bulk request.
const MaxChunk = 1000

// MaxChunkSecrets is the server's limit of items with a secret per bulk request
// (provision.MaxBulkSecrets: each is hashed with bcrypt): a chunk holds at most that many rows
// with a secret, whatever ChunkSize.
const MaxChunkSecrets = 50

// secretsIn counts the rows with a secret.
func secretsIn(rows []*Row) int { return countRows(rows, (*Row).hasSecret) }

// hasSecret is the server's rule (models.SecretGiven): a secret of white space only is none,
// and costs the server no hash.
func (r *Row) hasSecret() bool { return strings.TrimSpace(r.Secret) != "" }

// Options configure a Run.
type Options struct {
	URL                    string // the Gatehouse base URL
	ClientID, ClientSecret string
	ChunkSize              int // rows per request: default 500, at most MaxChunk
	Concurrency            int // requests in flight: default 4
	// DryRun sends every row to the bulk mutation's dry run: the server decides each as the
	// real run would and writes nothing.
	DryRun bool
	// Warn, when set, is told of what makes a dry run's answer less certain than the real
	// run's (a group of dependent rows split over chunks).
	Warn func(msg string)
	// HTTPClient carries the requests (default: one with a 2-minute timeout per request).
	HTTPClient *http.Client
	// Progress, when set, is told of every decided batch of rows.
	Progress func(done, failed int)
}

// Run decides every row of f that Read left undecided: it binds them through the bulk
// mutation (or, with DryRun, checks them) and sets each row's Status and Message. It returns
// an error only when nothing can be sent at all (no token, the server unreachable); rows whose
// request failed after the retries get StatusError.
func Run(ctx context.Context, o Options, f *File) error {
	c, err := connect(ctx, &o)
	if err != nil {
		return err
	}
	return c.decideAll(ctx, o, f.Rows)
}

// connect fills in o's defaults and gets a first token: bad credentials or a wrong URL fail
// here, before any row is sent.
func connect(ctx context.Context, o *Options) (*client, error) {
	if o.ChunkSize <= 0 {
		o.ChunkSize = 500
	}
	o.ChunkSize = min(o.ChunkSize, MaxChunk)
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: o.Concurrency + 1, IdleConnTimeout: 90 * time.Second}}
	}
	base := strings.TrimRight(o.URL, "/")
	c := &client{http: o.HTTPClient, endpoint: base + "/graphql/v1", progress: o.Progress,
		cc: clientcredentials.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, TokenURL: base + "/oauth/token"}}
	c.ctx = context.WithValue(ctx, oauth2.HTTPClient, o.HTTPClient) // token requests use the same client
	c.renewToken()
	if _, err := c.token(); err != nil {
		// A password in --url (a proxy's basic authentication) is not shown, as net/http's
		// own message in err does not show it.
		shown := base
		if u, perr := url.Parse(base); perr == nil {
			shown = u.Redacted()
		}
		return nil, fmt.Errorf("bind: get an access token from %s/oauth/token: %w", shown, err)
	}
	return c, nil
}

// decideAll decides the undecided rows of rows, which hold every row that depends on one of
// them (Stream's windows do).
func (c *client) decideAll(ctx context.Context, o Options, rows []*Row) error {
	if o.DryRun {
		// Nothing is written, so a chunk is decided against the server's state alone: rows that
		// depend on each other go out in one chunk (dryRunChunks), and every chunk at once.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(o.Concurrency)
		chunks, cut := dryRunChunks(rows, o.ChunkSize)
		for _, chunk := range chunks {
			g.Go(func() error { return c.send(gctx, chunk, true) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		for _, r := range cut {
			r.Message += " " + cutNote
		}
		if len(cut) > 0 && o.Warn != nil {
			rows, they, their := fmt.Sprintf("%d rows were", len(cut)), "they depend", "their messages say"
			if len(cut) == 1 {
				rows, they, their = "1 row was", "it depends", "its message says"
			}
			o.Warn(fmt.Sprintf("%s checked without earlier rows of the file %s on, which did not fit in the same chunk; the real run may decide otherwise (%s so): raise --chunk-size (at most %d)",
				rows, they, their, MaxChunk))
		}
		return nil
	}
	independent, ordered := schedule(rows)
	// Rows that share no identity and no (account, connection) with another row of the file
	// cannot influence each other: their chunks go out concurrently. The others are sent one
	// chunk after another in input order, so the outcome is that of input order.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for chunk := range chunks(independent, o.ChunkSize) {
		g.Go(func() error { return c.send(gctx, chunk, false) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for chunk := range chunks(ordered, o.ChunkSize) {
		if err := c.send(ctx, chunk, false); err != nil {
			return err
		}
	}
	return nil
}

// Plan is what a first pass over the input learns without holding its rows: that it can be
// read whole (no quote left open, which would lose rows: such a file is refused before
// anything is sent), how many rows it has, and for a dry run where each group of rows that
// depend on each other ends.
type Plan struct {
	Rows int
	// groupEnd[i] is the index of the last row of row i's group (dry run only): a dry run
	// decides a group in one chunk, so a window of rows must hold it whole.
	groupEnd []int32
}

// Check reads the input once, as Stream will, and returns its Plan or the error that refuses
// it. It keeps per row only what a dry run needs to group rows: a few bytes, not the row.
func Check(r io.Reader, dryRun bool) (*Plan, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	p := &Plan{}
	var parent []int32
	find := func(i int32) int32 {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	seed := maphash.MakeSeed()
	firstWithKey := map[uint64]int32{} // a hash of the key: a collision only groups more
	for i := int32(0); ; i++ {
		row, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		p.Rows++
		if !dryRun {
			continue
		}
		parent = append(parent, i)
		if row.Status != "" {
			continue // decided already: in no group
		}
		for _, k := range rowKeys(row) {
			h := maphash.String(seed, k)
			if j, ok := firstWithKey[h]; ok {
				a, b := find(i), find(j)
				parent[max(a, b)] = min(a, b)
			} else {
				firstWithKey[h] = i
			}
		}
	}
	if dryRun {
		end := make([]int32, len(parent)) // per root: its group's last row
		for i := range parent {
			end[find(int32(i))] = int32(i)
		}
		p.groupEnd = parent // reused: parent is not needed once every root's end is known
		for i := range parent {
			p.groupEnd[i] = end[find(int32(i))]
		}
	}
	return p, nil
}

// Stream decides the rows of rd a window at a time and hands each window's rows, decided, to
// done, in input order: the memory held is a window's rows, not the file's. Windows are
// decided one after another, so a row is decided after every earlier row of the file, as in
// Run; a dry run's window holds every group of dependent rows it starts whole (plan, from
// Check on the same input). Its errors are Run's, and done's.
func Stream(ctx context.Context, o Options, rd *Reader, plan *Plan, done func([]*Row) error) error {
	c, err := connect(ctx, &o)
	if err != nil {
		return err
	}
	// Enough rows for every request in flight to carry a full chunk several times over.
	size := o.ChunkSize * o.Concurrency * 4
	var window []*Row
	flush := func() error {
		if decided := countDecided(window); decided > 0 && o.Progress != nil {
			o.Progress(decided, decided) // malformed rows, decided as they were read
		}
		if err := c.decideAll(ctx, o, window); err != nil {
			return err
		}
		if err := done(window); err != nil {
			return err
		}
		window = window[:0]
		return nil
	}
	need := int32(-1) // the last row the window must hold
	for i := int32(0); ; i++ {
		row, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		window = append(window, row)
		if o.DryRun && int(i) < len(plan.groupEnd) {
			need = max(need, plan.groupEnd[i])
		}
		if len(window) >= size && i >= need {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(window) > 0 {
		return flush()
	}
	return nil
}

func countDecided(rows []*Row) int {
	return countRows(rows, func(r *Row) bool { return r.Status != "" })
}

// countRows counts the rows for which is holds.
func countRows(rows []*Row, is func(*Row) bool) int {
	n := 0
	for _, r := range rows {
		if is(r) {
			n++
		}
	}
	return n
}

// rowKeys are what makes two rows depend on each other: the identity they bind and the
// (account, connection) they bind it for. Keys are compared conservatively
// (case-insensitively, trimmed): grouping too much only costs concurrency, never correctness.
// A row the server refuses whatever the other rows bind has none: an accountUuid that is not
// an id as the server reads one (isID) names no account, and a blank authModule or identifier
// is refused (the server's checks, provision CredentialInput.validate). Such a row binds
// nothing, so it depends on no row and no row on it; with keys, every row of a file with the
// same malformed accountUuid (a column left blank) or a blank identifier would be one group,
// sent in order in the real run and, in a dry run, held whole in a window and split over
// chunks with a warning.
func rowKeys(r *Row) []string {
	acct := strings.TrimSpace(r.AccountUUID)
	mod := strings.ToLower(strings.TrimSpace(r.AuthModule))
	ident := strings.ToLower(strings.TrimSpace(r.Identifier))
	if !isID(acct) || mod == "" || ident == "" {
		return nil
	}
	return []string{"i\x00" + mod + "\x00" + ident, "a\x00" + mod + "\x00" + strings.ToLower(acct)}
}

// schedule splits the undecided rows into those independent of every other row and those that
// share a key with another (their order matters).
func schedule(rows []*Row) (independent, ordered []*Row) {
	count := map[string]int{}
	for _, r := range rows {
		if r.Status == "" {
			for _, k := range rowKeys(r) {
				count[k]++
			}
		}
	}
	for _, r := range rows {
		if r.Status != "" {
			continue
		}
		if slices.ContainsFunc(rowKeys(r), func(k string) bool { return count[k] > 1 }) {
			ordered = append(ordered, r)
		} else {
			independent = append(independent, r)
		}
	}
	return independent, ordered
}

// cutNote ends the message of a row a dry run decided without rows it depends on.
const cutNote = "(dry run: checked without the earlier rows it depends on, which went in another chunk; the real run may differ)"

// dryRunChunks packs the undecided rows into chunks of at most size rows (and MaxChunkSecrets
// rows with a secret, but for a group that has more), keeping every group
// of rows linked by shared keys (directly or through other rows) in one chunk, in file order:
// the server decides a chunk's items in order, so each row is decided after the rows before
// it that it depends on, as in the real run. A group larger than size is split in file order;
// cut holds the rows of its later chunks that depend on a row they will not see (cutRows).
func dryRunChunks(rows []*Row, size int) (chunks [][]*Row, cut []*Row) {
	// Union-find over the undecided rows, joined through their keys.
	var undecided []*Row
	for _, r := range rows {
		if r.Status == "" {
			undecided = append(undecided, r)
		}
	}
	parent := make([]int, len(undecided))
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	firstWithKey := map[string]int{}
	for i, r := range undecided {
		parent[i] = i
		for _, k := range rowKeys(r) {
			if j, ok := firstWithKey[k]; ok {
				a, b := find(i), find(j)
				parent[max(a, b)] = min(a, b) // the root is the group's first row
			} else {
				firstWithKey[k] = i
			}
		}
	}
	// Groups in the order of their first rows, each in file order.
	groupOf := map[int]int{}
	var groups [][]*Row
	for i, r := range undecided {
		root := find(i)
		g, ok := groupOf[root]
		if !ok {
			g = len(groups)
			groupOf[root] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], r)
	}
	var cur []*Row
	curSecrets := 0 // rows of cur with a secret: at most MaxChunkSecrets, but in a group of more
	for _, g := range groups {
		gs := secretsIn(g)
		if (len(cur)+len(g) > size || curSecrets+gs > MaxChunkSecrets) && len(cur) > 0 {
			chunks, cur, curSecrets = append(chunks, cur), nil, 0
		}
		if len(g) > size {
			cut = append(cut, cutRows(g, size)...)
		}
		for len(g) > size {
			chunks, g = append(chunks, g[:size:size]), g[size:]
			gs = secretsIn(g)
		}
		cur, curSecrets = append(cur, g...), curSecrets+gs
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks, cut
}

// cutRows are the rows of group g, sent in pieces of size rows, that are decided without a row
// they depend on: those that share a key with a row of an earlier piece, or with a row so cut
// before them (whose own outcome may differ from the real run's). The others are decided as
// in the real run, even in a later piece.
func cutRows(g []*Row, size int) []*Row {
	var cut []*Row
	apart := map[string]bool{} // keys whose state a later row may not see as the real run would
	for start := 0; start < len(g); start += size {
		piece := g[start:min(start+size, len(g))]
		if start > 0 {
			for _, r := range piece {
				if k := rowKeys(r); slices.ContainsFunc(k, func(k string) bool { return apart[k] }) {
					cut = append(cut, r)
					for _, k := range k {
						apart[k] = true
					}
				}
			}
		}
		for _, r := range piece { // the rows of this piece are earlier for the next pieces
			for _, k := range rowKeys(r) {
				apart[k] = true
			}
		}
	}
	return cut
}

// chunks cuts rows into requests of at most size rows, of which at most MaxChunkSecrets have
// a secret.
func chunks(rows []*Row, size int) func(yield func([]*Row) bool) {
	return func(yield func([]*Row) bool) {
		for len(rows) > 0 {
			n, secrets := 0, 0
			for n < min(size, len(rows)) && (!rows[n].hasSecret() || secrets < MaxChunkSecrets) {
				if rows[n].hasSecret() {
					secrets++
				}
				n++
			}
			if !yield(rows[:n:n]) {
				return
			}
			rows = rows[n:]
		}
	}
}

type client struct {
	http     *http.Client
	endpoint string
	cc       clientcredentials.Config
	ctx      context.Context
	progress func(done, failed int)

	mu sync.Mutex
	ts oauth2.TokenSource
}

// renewToken starts a new token source: the next request fetches a new token. The source
// itself renews a token shortly before it expires; this is for a token the server refuses
// earlier (a restarted server with new keys, a revoked token).
func (c *client) renewToken() {
	c.mu.Lock()
	c.ts = oauth2.ReuseTokenSource(nil, c.cc.TokenSource(c.ctx))
	c.mu.Unlock()
}

func (c *client) token() (*oauth2.Token, error) {
	c.mu.Lock()
	ts := c.ts
	c.mu.Unlock()
	return ts.Token()
}

// The real run's mutation names no dryRun, so that it works with a server older than the
// dry run.
const (
	bindMutation = `mutation Bind($items: [UpdateUserAccountCredentialsInput!]!) {
  bulkUpdateUserAccountCredentials(input: {items: $items}) { results { errors { label message code } } }
}`
	dryRunMutation = `mutation BindDryRun($items: [UpdateUserAccountCredentialsInput!]!) {
  bulkUpdateUserAccountCredentials(input: {items: $items, dryRun: true}) { results { errors { label message code } } }
}`
)

// errNoDryRun stops a dry run against a server that predates it: every row would otherwise
// read as failing.
var errNoDryRun = errors.New("bind: this server has no dry run (it predates the dryRun argument of bulkUpdateUserAccountCredentials): upgrade it, or run without --dry-run")

// noDryRun reports whether a GraphQL error message is the validation error of a server that
// does not know the dryRun argument.
func noDryRun(msg string) bool { return strings.Contains(msg, `"dryRun"`) }

// DryRunOK is the message of a row a dry run found would bind.
const DryRunOK = "dry run: would be bound, nothing written"

type userError struct {
	Label   string `json:"label"`
	Message string `json:"message"`
	Code    string `json:"code"`
}

type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// send sends one chunk to the bulk mutation, or to its dry run, and decides its rows.
func (c *client) send(ctx context.Context, rows []*Row, dryRun bool) error {
	type item struct {
		AccountUUID string  `json:"accountUuid"`
		AuthModule  string  `json:"authModule"`
		Identifier  string  `json:"identifier"`
		Secret      *string `json:"secret,omitempty"`
	}
	items := make([]item, len(rows))
	for i, r := range rows {
		items[i] = item{AccountUUID: r.AccountUUID, AuthModule: r.AuthModule, Identifier: r.Identifier}
		if r.Secret != "" {
			items[i].Secret = &r.Secret
		}
	}
	var out struct {
		Data *struct {
			Bulk *struct {
				Results []struct {
					Errors []userError `json:"errors"`
				} `json:"results"`
			} `json:"bulkUpdateUserAccountCredentials"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	mutation, okMessage := bindMutation, ""
	if dryRun {
		mutation, okMessage = dryRunMutation, DryRunOK
	}
	if err := c.post(ctx, mutation, map[string]any{"items": items}, &out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if dryRun && noDryRun(err.Error()) {
			return errNoDryRun
		}
		c.decide(rows, func(*Row, int) (string, string) { return StatusError, err.Error() })
		return nil
	}
	switch {
	case dryRun && len(out.Errors) > 0 && noDryRun(out.Errors[0].Message):
		return errNoDryRun
	case len(out.Errors) > 0:
		code, msg := out.Errors[0].Extensions.Code, out.Errors[0].Message
		if code == "" {
			code = StatusError
		}
		c.decide(rows, func(*Row, int) (string, string) { return code, msg })
	case out.Data == nil || out.Data.Bulk == nil || len(out.Data.Bulk.Results) != len(rows):
		c.decide(rows, func(*Row, int) (string, string) {
			return StatusError, "the server's answer does not have one result per row"
		})
	default:
		res := out.Data.Bulk.Results
		c.decide(rows, func(_ *Row, i int) (string, string) {
			if len(res[i].Errors) == 0 {
				return StatusOK, okMessage
			}
			return res[i].Errors[0].Code, messages(res[i].Errors)
		})
	}
	return nil
}

func (c *client) decide(rows []*Row, outcome func(*Row, int) (string, string)) {
	failed := 0
	for i, r := range rows {
		r.Status, r.Message = outcome(r, i)
		if r.Status != StatusOK {
			failed++
		}
	}
	if c.progress != nil {
		c.progress(len(rows), failed)
	}
}

// itemLabel is the "items.<index>." prefix the bulk mutation puts before a field name.
var itemLabel = regexp.MustCompile(`^items\.\d+\.`)

// messages joins a row's problems as "field message; …".
func messages(es []userError) string {
	parts := make([]string, len(es))
	for i, e := range es {
		if f := itemLabel.ReplaceAllString(e.Label, ""); f != "" {
			parts[i] = f + " " + e.Message
		} else {
			parts[i] = e.Message
		}
	}
	return strings.Join(parts, "; ")
}

// Retries of one request: a busy or restarting server (429, 502-504, a dropped connection)
// is waited for; binding is idempotent, so a request sent twice binds the same.
const (
	maxAttempts = 8
	maxBackoff  = 15 * time.Second
)

// post sends a GraphQL request with a bearer token and decodes the answer into out.
func (c *client) post(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	backoff := 250 * time.Millisecond
	renewed := false
	for attempt := 1; ; attempt++ {
		tok, err := c.token()
		if err != nil {
			return fmt.Errorf("access token: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		tok.SetAuthHeader(req)
		resp, err := c.http.Do(req)
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			wait = backoff
		case resp.StatusCode == http.StatusOK:
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				return fmt.Errorf("decode the server's answer: %w", err)
			}
			return nil
		case resp.StatusCode == http.StatusUnauthorized && !renewed:
			drain(resp)
			c.renewToken()
			renewed = true
			continue
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusBadGateway ||
			resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
			wait = retryAfter(resp.Header.Get("Retry-After"), backoff)
			drain(resp)
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		default:
			msg := httpMessage(resp)
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
		}
		if attempt == maxAttempts {
			return fmt.Errorf("gave up after %d attempts: %w", attempt, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func retryAfter(h string, def time.Duration) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	return def
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// httpMessage is a short account of an unexpected answer: a GraphQL or RFC 6749 error message
// when there is one, else the status text.
func httpMessage(resp *http.Response) string {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var g struct {
		Errors []gqlError `json:"errors"`
		Error  any        `json:"error"`
	}
	if json.Unmarshal(raw, &g) == nil {
		if len(g.Errors) > 0 {
			return g.Errors[0].Message
		}
		if s, ok := g.Error.(string); ok {
			return s
		}
	}
	return http.StatusText(resp.StatusCode)
}
