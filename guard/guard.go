// Package guard bounds the work one HTTP request may cause and keeps the server answering
// under overload and faults: a deadline on every request (carried into every database call by
// the request context), admission control with capacity reserved for the token endpoint and
// readiness checks, per-key rate limits (client authentication failures, token issuance, SCIM
// per token, GraphQL and REST per client, browser sign-in starts per address), the client address
// behind trusted proxies, the drain state of a graceful shutdown, and request ids on
// log lines. Refusals answer 429 or 503 with Retry-After in the shape of the surface asked.
// It knows nothing of business rules; it must not read or write the database.
package guard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/webpage"
)

// Config sets the bounds. Zero durations and counts turn the corresponding bound off.
type Config struct {
	// RequestTimeout is every request's deadline; keep it well below the HTTP write timeout so
	// that an answer is always written.
	RequestTimeout time.Duration
	// MaxConcurrent requests are served at once; more wait up to QueueTimeout for a slot, then
	// get 503. PriorityConcurrent more slots are reserved for the token endpoint and /readyz,
	// so that one slow table cannot starve them of database connections.
	// A quarter of the MaxConcurrent slots (with four or more) is kept from the starts of
	// sign-ins (/oauth/authorize) for the sign-ins under way: their callbacks, ACS posts and
	// code redemptions.
	MaxConcurrent      int
	PriorityConcurrent int
	QueueTimeout       time.Duration

	// TokenFormBytes bounds the token request form the guard reads for its client id (the
	// token endpoint's own bound; the handler does not read the body again).
	TokenFormBytes int64

	AuthFailures           Rate // failed client authentications per client id
	AuthFailuresPerAddress Rate // failed client authentications per source address
	Tokens                 Rate // client-credentials tokens issued per client
	SCIM                   Rate // SCIM requests per bearer token
	GraphQL                Rate // GraphQL requests per client
	REST                   Rate // REST (/api/) requests per client
	// AuthorizePerAddress bounds the authorization requests (GET or POST /oauth/authorize) of one
	// source address: each may start a sign-in, a row that lives until it expires, and a
	// refused one records a sign-in event, all without authentication.
	AuthorizePerAddress Rate

	// TrustedProxies are the proxies whose X-Forwarded-For names the source address of the
	// per-address limits and of the access log.
	TrustedProxies Proxies
}

// Guard is the middleware state shared by every request of one server.
type Guard struct {
	cfg               Config
	general, priority chan struct{}
	// starts bounds the sign-ins' starts served at once to three quarters of the general
	// slots (nil: fewer than four slots, no bound of their own).
	starts   chan struct{}
	draining atomic.Bool

	authFail, authFailAddr, tokens, scim, graphql, rest, authorize *keyed
	now                                                            func() time.Time
}

// New returns a Guard with cfg's bounds.
func New(cfg Config) *Guard {
	g := &Guard{cfg: cfg, now: time.Now,
		authFail: newKeyed(cfg.AuthFailures), authFailAddr: newKeyed(cfg.AuthFailuresPerAddress),
		tokens: newKeyed(cfg.Tokens), scim: newKeyed(cfg.SCIM), graphql: newKeyed(cfg.GraphQL), rest: newKeyed(cfg.REST),
		authorize: newKeyed(cfg.AuthorizePerAddress)}
	if cfg.MaxConcurrent > 0 {
		g.general = make(chan struct{}, cfg.MaxConcurrent)
	}
	if cfg.MaxConcurrent >= 4 {
		g.starts = make(chan struct{}, cfg.MaxConcurrent-cfg.MaxConcurrent/4)
	}
	if cfg.PriorityConcurrent > 0 {
		g.priority = make(chan struct{}, cfg.PriorityConcurrent)
	}
	return g
}

// Drain marks the server as shutting down: Draining reports true from now on (/readyz
// answers 503 so that load balancers stop sending).
func (g *Guard) Drain() { g.draining.Store(true) }

// Draining reports whether Drain was called.
func (g *Guard) Draining() bool { return g.draining.Load() }

// retryAfterUnavailable is the Retry-After of a 503: the database or the queue may clear soon.
const retryAfterUnavailable = "1"

// Handler applies admission control, the request deadline and the rate limits that need no
// authenticated caller (token endpoint, SCIM) to every route.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if path == "/healthz" || path == "/metrics" { // no database; must always answer
			next.ServeHTTP(w, r)
			return
		}
		if g.draining.Load() {
			// Close each connection after its answer: the client reconnects (elsewhere once
			// the load balancer saw /readyz) instead of racing the final close of an idle one.
			w.Header().Set("Connection", "close")
		}
		if carriesSecrets(r) {
			// Every answer of these routes may carry a token, a secret or private data: no
			// cache may keep it (RFC 6749 §5.1 for tokens). One rule for all of them is
			// simpler and cheaper than deciding per field.
			w.Header().Set("Cache-Control", "no-store")
		}
		token := path == "/oauth/token" && r.Method == http.MethodPost
		clientAuth := token || (r.Method == http.MethodPost && (path == "/oauth/introspect" || path == "/oauth/revoke"))
		var clientID, addr string
		var issuance bool
		if clientAuth {
			var refused bool
			if clientID, addr, issuance, refused = g.checkTokenRequest(w, r); refused {
				return
			}
		} else if strings.HasPrefix(path, "/scim/v2/") && g.scim != nil {
			if key := bearerKey(r); key != "" && !g.scim.allow(key, g.now()) {
				g.refuse(w, r, http.StatusTooManyRequests, g.cfg.SCIM.retryAfter(), "too many requests with this token; retry later")
				return
			}
		} else if path == "/oauth/authorize" && g.authorize != nil {
			if !g.authorize.allow(g.cfg.TrustedProxies.LimitKey(r), g.now()) {
				g.refuse(w, r, http.StatusTooManyRequests, g.cfg.AuthorizePerAddress.retryAfter(), "too many sign-ins started from this address; retry later")
				return
			}
		}
		sem := g.general
		if token || path == "/readyz" {
			sem = g.priority
		}
		// The request id's context, when it can still be armed; waiting for a slot on its
		// parent keeps it unarmed (Done would make it a context without the deadline).
		rq, armable := r.Context().Value(requestKey{}).(*request)
		armable = armable && rq.armable()
		wait := r.Context()
		if armable {
			wait = rq.parent
		}
		// A sign-in's start takes a slot of starts first: under overload a person is turned away
		// before going to their identity provider, while the sign-ins under way keep a quarter
		// of the slots to finish in (an overload probe at 256 browsers saw callbacks, ACS posts
		// and code redemptions refused after people had signed in at their IdP, while new
		// starts were admitted).
		slots := [2]chan struct{}{sem}
		if path == "/oauth/authorize" && g.starts != nil {
			slots = [2]chan struct{}{g.starts, sem}
		}
		if !g.admitAll(wait, slots) {
			g.refuse(w, r, http.StatusServiceUnavailable, 1, "the server is busy; retry later")
			return
		}
		inner := r
		if armable {
			rq.arm(g.cfg.RequestTimeout, w)
		} else {
			rq = newRequest(r.Context(), g.cfg.RequestTimeout, w)
			inner = r.WithContext(rq)
		}
		rq.slots, rq.held = slots, true
		defer rq.giveBackSlots()
		defer rq.release()
		gw := &rq.w
		next.ServeHTTP(gw, inner)
		// The mux records the matched route on the request it was given; the access log and
		// the metrics outside this handler read it from theirs.
		r.Pattern = inner.Pattern
		if clientAuth {
			g.countTokenRequest(clientID, addr, issuance, gw.status)
		}
	})
}

// admitAll takes a slot of each of sems in order (nil ones are no bound), each waiting at most
// QueueTimeout; when one is refused, those taken are given back.
func (g *Guard) admitAll(ctx context.Context, sems [2]chan struct{}) bool {
	for i, sem := range sems {
		if !g.admit(ctx, sem) {
			for _, taken := range sems[:i] {
				if taken != nil {
					<-taken
				}
			}
			return false
		}
	}
	return true
}

// admit takes a slot of sem, waiting at most QueueTimeout.
func (g *Guard) admit(ctx context.Context, sem chan struct{}) bool {
	if sem == nil {
		return true
	}
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	if g.cfg.QueueTimeout <= 0 {
		return false
	}
	t := time.NewTimer(g.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// giveBackSlots returns the request's admission slots, if it holds them.
func (c *request) giveBackSlots() {
	if c.held {
		for _, sem := range c.slots {
			if sem != nil {
				<-sem
			}
		}
		c.held = false
	}
}

// Outside runs fn, a wait on another service (an identity provider's discovery, token or
// userinfo endpoint), with the request's admission slots given back meanwhile. The slots bound
// the work on the database and the CPUs, which such a wait uses neither of; held through it,
// they let one identity provider that answers slowly or not at all take every slot, and the
// whole server answered 503 (an overload probe: one IdP answering in 8 s took the server from
// 120 sign-ins/s to 4, and the admin API to 86 % 503s). After fn the request takes its slots
// again, in admission's order, waiting as long as its deadline allows, in line with the
// requests queued for them: a request half done is not dropped for the queue timeout. Outside
// reports false when they did not come before the deadline; the request then holds none, and
// should answer as a busy server does (a sign-in still records its failure then, outside
// admission: only the database pool bounds that write). ctx is the request's context or one
// derived from it; Outside must be called on the request's own goroutine. Without admission
// control it just runs fn.
func Outside(ctx context.Context, fn func()) bool {
	rq, _ := ctx.Value(requestKey{}).(*request)
	if rq == nil || !rq.held {
		fn()
		return true
	}
	rq.giveBackSlots()
	fn()
	for i, sem := range rq.slots { // in admission's order
		if sem == nil {
			continue
		}
		select {
		case sem <- struct{}{}:
			continue
		default:
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for _, taken := range rq.slots[:i] {
				if taken != nil {
					<-taken
				}
			}
			return false
		}
	}
	rq.held = true
	return true
}

// checkTokenRequest refuses a client-authenticated request (token, introspection, revocation)
// while its client id or source address has used up its authentication failures, or the
// client its client-credentials token issuance.
func (g *Guard) checkTokenRequest(w http.ResponseWriter, r *http.Request) (clientID, addr string, issuance, refused bool) {
	clientID, grant, ok := tokenRequest(r, g.cfg.TokenFormBytes)
	if !ok {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_request",
			"error_description": "the request body is not a valid form or is too large"})
		return "", "", false, true
	}
	// Only the client-credentials grant mints tokens at a client's will; an application's
	// authorization-code exchanges follow its users' sign-ins.
	issuance = r.URL.Path == "/oauth/token" && grant == "client_credentials" && clientID != ""
	addr = g.cfg.TrustedProxies.LimitKey(r)
	now := g.now()
	switch {
	case lockable(clientID) && !g.authFail.ready(clientID, now):
		g.refuse(w, r, http.StatusTooManyRequests, g.cfg.AuthFailures.retryAfter(), "too many failed authentications for this client; retry later")
	case !g.authFailAddr.ready(addr, now):
		g.refuse(w, r, http.StatusTooManyRequests, g.cfg.AuthFailuresPerAddress.retryAfter(), "too many failed authentications from this address; retry later")
	case issuance && !g.tokens.ready(clientID, now):
		g.refuse(w, r, http.StatusTooManyRequests, g.cfg.Tokens.retryAfter(), "too many tokens requested for this client; retry later")
	default:
		return clientID, addr, issuance, false
	}
	return clientID, addr, issuance, true
}

// lockable reports whether a client id's failed authentications are limited per client id
// (AuthFailures), which refuses its right secret too once they are spent: an integration
// client's. An application's client id is public (every authorization URL shows it), so such
// a limit would let anyone stop its code exchanges, every sign-in to the brand's application,
// with twenty wrong secrets a minute; and its secret, always one Gatehouse generated (256
// random bits; a public application has none), cannot be guessed online anyway. Its failures
// count against the source address (AuthFailuresPerAddress) only.
func lockable(clientID string) bool {
	return clientID != "" && !provision.IsApplicationClientID(clientID)
}

// countTokenRequest charges a failed authentication (401) or an issued token (200).
func (g *Guard) countTokenRequest(clientID, addr string, issuance bool, status int) {
	now := g.now()
	switch status {
	case http.StatusUnauthorized:
		if lockable(clientID) {
			g.authFail.allow(clientID, now)
		}
		g.authFailAddr.allow(addr, now)
	case http.StatusOK:
		if issuance {
			g.tokens.allow(clientID, now)
		}
	}
}

// tokenRequest reads a token request's client id (HTTP Basic or the form) and grant type
// without consuming the body for the handler: the form parsed here stays in r.PostForm. ok is
// false for a form that can't be read.
func tokenRequest(r *http.Request, maxBytes int64) (clientID, grant string, ok bool) {
	// As the token endpoint reads it: a type it parses as a form is parsed here too, so that the
	// client's limits count the request.
	if models.MediaType(r.Header.Get("Content-Type")) == "application/x-www-form-urlencoded" {
		r.Body = http.MaxBytesReader(nil, r.Body, maxBytes)
		if err := r.ParseForm(); err != nil {
			return "", "", false
		}
	} // else the handler refuses it
	grant = r.PostForm.Get("grant_type")
	if id, _, basic := r.BasicAuth(); basic {
		if v, err := url.QueryUnescape(id); err == nil {
			return v, grant, true
		}
		return id, grant, true
	}
	return r.PostForm.Get("client_id"), grant, true
}

// bearerKey is the token of a request's Authorization header as the SCIM endpoints read it:
// the scheme in any case and the spaces around the token do not count, so that rewriting them
// does not give the same token another bucket. Another header is its own key.
func bearerKey(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return a
}

// PerClient limits the requests of each authenticated client to the admin API next serves:
// GraphQL's, or REST's (a path under /api/), each with its own rate. It runs after
// authentication, with the principal in the request's context.
func (g *Guard) PerClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, rate := g.graphql, g.cfg.GraphQL
		if strings.HasPrefix(r.URL.Path, "/api/") {
			limit, rate = g.rest, g.cfg.REST
		}
		if p := provision.PrincipalFrom(r.Context()); limit != nil && p != nil && !limit.allow(p.ClientID, g.now()) {
			g.refuse(w, r, http.StatusTooManyRequests, rate.retryAfter(), "too many requests from this client; retry later")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// carriesSecrets reports whether the route's answers may carry tokens or secrets.
func carriesSecrets(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasPrefix(p, "/oauth/") || strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/scim/") ||
		(p == "/graphql/v1" && r.Method == http.MethodPost)
}

// refuse answers status (429 or 503) with Retry-After and an error body in the surface's shape.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, status, retryAfter int, msg string) {
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(retryAfter))
	code := "RATE_LIMITED"
	if status == http.StatusServiceUnavailable {
		code = "UNAVAILABLE"
	}
	var body any
	p := r.URL.Path
	switch {
	case p == "/oauth/authorize" || p == "/oauth/logout": // a browser: a page, not an OAuth JSON error (below)
	case strings.HasPrefix(p, "/scim/"):
		h.Set("Content-Type", "application/scim+json")
		body = map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
			"status": strconv.Itoa(status), "detail": msg}
	case strings.HasPrefix(p, "/oauth/"):
		h.Set("Content-Type", "application/json")
		body = map[string]any{"error": "temporarily_unavailable", "error_description": msg}
	case strings.HasPrefix(p, "/graphql/"):
		h.Set("Content-Type", "application/json")
		body = map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}}}
	case strings.HasPrefix(p, "/api/"):
		h.Set("Content-Type", "application/json")
		body = map[string]any{"error": map[string]any{"type": strings.ToLower(code), "message": msg}}
	}
	switch {
	case body == nil && strings.Contains(r.Header.Get("Accept"), "text/html"):
		// A browser's page (authorize, a callback, the ACS): the message and the request id
		// on a page, as the sign-in's own refusals read.
		webpage.Write(w, status, "Try again in a moment", strings.ToUpper(msg[:1])+msg[1:]+".", webpage.RequestID(w))
		return
	case body == nil: // the rest: text
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(msg + "\n"))
		return
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

type writerKey struct{}

// MarkUnavailable records that the request met an unavailable database (a GraphQL error
// presenter calls it): its answer becomes 503 with Retry-After even where the surface would
// say 200, so that a client sees the same retryable answer through the whole outage.
func MarkUnavailable(ctx context.Context) {
	if w, ok := ctx.Value(writerKey{}).(*writer); ok {
		w.unavailable.Store(true)
	}
}

// writer records the status and adds Retry-After to every 503 and 429.
type writer struct {
	http.ResponseWriter
	status      int
	unavailable atomic.Bool
}

func (w *writer) WriteHeader(code int) {
	if w.status == 0 {
		if code == http.StatusOK && w.unavailable.Load() {
			code = http.StatusServiceUnavailable
		}
		if (code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests) && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", retryAfterUnavailable)
		}
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
