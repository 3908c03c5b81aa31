package bindcli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// Options configure a Run.
type Options struct {
	URL                    string // the Gatehouse base URL
	ClientID, ClientSecret string
	ChunkSize              int // rows per request: default 500, at most MaxChunk
	Concurrency            int // requests in flight: default 4
	// DryRun checks the rows' shape, the credentials (a token) and that every authModule is a
	// connection of the workspace, and sends no binding.
	DryRun bool
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
	// Fail fast on bad credentials or a wrong URL, before any row is sent.
	if _, err := c.token(); err != nil {
		return fmt.Errorf("bind: get an access token from %s/oauth/token: %w", base, err)
	}
	if o.DryRun {
		return c.dryRun(f)
	}
	independent, ordered := schedule(f.Rows)
	// Rows that share no identity and no (account, connection) with another row of the file
	// cannot influence each other: their chunks go out concurrently. The others are sent one
	// chunk after another in input order, so the outcome is that of input order.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for chunk := range chunks(independent, o.ChunkSize) {
		g.Go(func() error { return c.bind(gctx, chunk) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for chunk := range chunks(ordered, o.ChunkSize) {
		if err := c.bind(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

// schedule splits the undecided rows into those independent of every other row and those that
// share a key with another (their order matters). Keys are compared conservatively
// (case-insensitively, trimmed): grouping too much only costs concurrency, never correctness.
func schedule(rows []*Row) (independent, ordered []*Row) {
	count := map[string]int{}
	keys := func(r *Row) [2]string {
		mod := strings.ToLower(r.AuthModule)
		return [2]string{"i\x00" + mod + "\x00" + strings.ToLower(strings.TrimSpace(r.Identifier)),
			"a\x00" + mod + "\x00" + strings.ToLower(r.AccountUUID)}
	}
	for _, r := range rows {
		if r.Status == "" {
			for _, k := range keys(r) {
				count[k]++
			}
		}
	}
	for _, r := range rows {
		if r.Status != "" {
			continue
		}
		if k := keys(r); count[k[0]] > 1 || count[k[1]] > 1 {
			ordered = append(ordered, r)
		} else {
			independent = append(independent, r)
		}
	}
	return independent, ordered
}

func chunks(rows []*Row, size int) func(yield func([]*Row) bool) {
	return func(yield func([]*Row) bool) {
		for len(rows) > 0 {
			n := min(size, len(rows))
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

const bindMutation = `mutation Bind($items: [UpdateUserAccountCredentialsInput!]!) {
  bulkUpdateUserAccountCredentials(input: {items: $items}) { results { errors { label message code } } }
}`

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

// bind sends one chunk and decides its rows.
func (c *client) bind(ctx context.Context, rows []*Row) error {
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
	if err := c.post(ctx, bindMutation, map[string]any{"items": items}, &out); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.decide(rows, func(*Row, int) (string, string) { return StatusError, err.Error() })
		return nil
	}
	switch {
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
				return StatusOK, ""
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

// bindScope is the scope the bulk mutation needs.
const bindScope = "graphql"

// dryRun checks that the client may bind and that every authModule of the undecided rows
// names a connection of the client's workspace, and marks the rows as checked without sending
// them.
func (c *client) dryRun(f *File) error {
	var rows []*Row
	for _, r := range f.Rows {
		if r.Status == "" {
			rows = append(rows, r)
		}
	}
	// Listing connections does not need the bulk mutation's scope (graphql:read and admin may
	// list them): without this check a dry run would pass a client whose real run fails every
	// row with FORBIDDEN. The token endpoint names the scopes it granted (RFC 6749 §5.1).
	tok, err := c.token()
	if err != nil {
		return fmt.Errorf("bind: get an access token: %w", err)
	}
	if granted, _ := tok.Extra("scope").(string); granted != "" && !slices.Contains(strings.Fields(granted), bindScope) {
		c.decide(rows, func(*Row, int) (string, string) {
			return "FORBIDDEN", "the client lacks scope " + bindScope + " (it has: " + granted + ")"
		})
		return nil
	}
	var out struct {
		Data *struct {
			Connections []struct {
				Slug string `json:"slug"`
			} `json:"connections"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	if err := c.post(c.ctx, `query BindDryRun { connections { slug } }`, nil, &out); err != nil {
		return fmt.Errorf("bind: list connections: %w", err)
	}
	if len(out.Errors) > 0 || out.Data == nil {
		msg := "no data"
		if len(out.Errors) > 0 {
			msg = out.Errors[0].Message
		}
		return errors.New("bind: list connections: " + msg)
	}
	slugs := map[string]bool{}
	for _, cn := range out.Data.Connections {
		slugs[cn.Slug] = true
	}
	c.decide(rows, func(r *Row, _ int) (string, string) {
		if !slugs[r.AuthModule] {
			return "NOT_FOUND", "authModule no connection with this slug in this workspace"
		}
		return StatusOK, "dry run: well-formed, not sent"
	})
	return nil
}
