package sso_test

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/guard"
	"gatehouse/sso"
	"gatehouse/store/storetest"
)

// A hostile or broken identity provider: a customer configures the IdP's URLs, so every
// answer Gatehouse reads from one may be built to hurt it. These tests attack the bounds of
// the outbound calls of a browser sign-in (netguard's client: its timeout, its body bound, its
// address and redirect rules; sso's protocol checks) through the front door, an httptest
// server standing in for the IdP.

// hostileRequestTimeout is the request deadline of the hostile-IdP tests' servers: a sign-in
// waiting on an IdP that never finishes its answer ends by it.
const hostileRequestTimeout = 2 * time.Second

// newHostileEnv starts a server with one admission slot and a short request deadline: a
// sign-in that kept its slot, or outlived its deadline, shows.
func newHostileEnv(t *testing.T, dbURL string) *testEnv {
	return newTestEnv(t, dbURL, func(c *app.Config) {
		c.Guard = guard.Config{RequestTimeout: hostileRequestTimeout, MaxConcurrent: 1, PriorityConcurrent: 2,
			QueueTimeout: 200 * time.Millisecond}
	})
}

// stalling is an IdP endpoint that sends its headers and then a byte a second (trickle) or
// nothing, until the client goes away. gone waits until every request it took has seen its
// client go: a request Gatehouse leaves behind (a goroutine, a socket) fails the test.
type stalling struct {
	trickle bool
	mu      sync.Mutex
	open    sync.WaitGroup
	stop    chan struct{}
	n       int
}

func newStalling(t *testing.T, trickle bool) *stalling {
	s := &stalling{trickle: trickle, stop: make(chan struct{})}
	t.Cleanup(func() { close(s.stop) })
	return s
}

// at answers in the IdP's stead (testIdP.hostile).
func (s *stalling) at(http.Handler) http.Handler { return http.HandlerFunc(s.serve) }

func (s *stalling) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.n++
	s.open.Add(1)
	s.mu.Unlock()
	defer s.open.Done()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		if s.trickle {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

// gone reports whether every request the endpoint took saw its client go within limit (far
// above netguard's 10 s outbound timeout: this is no timing assertion, only a leak check), and
// how many it took.
func (s *stalling) gone(limit time.Duration) (bool, int) {
	done := make(chan struct{})
	go func() { s.open.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		return false, s.requests()
	}
	return true, s.requests()
}

func (s *stalling) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// An IdP endpoint that answers its headers and then trickles its body, a byte a second, or
// sends nothing more: the sign-in ends by its deadline with the error redirect and the safe
// message, the event names the endpoint, the IdP's connections are all closed in the end (the
// key set's fetch, which outlives the request, by netguard's timeout), and the server, with
// its one admission slot, serves the next sign-in once the IdP answers.
func TestSignInHostileIdPStalls(t *testing.T) {
	for _, c := range []struct{ path, public, cause string }{ // the cause: the call, then the deadline
		{"/.well-known/openid-configuration", "not answering in time", "start: the identity provider did not answer in time: discovery"},
		{"/jwks", "not answering in time", "id_token: failed to verify signature: fetching keys"},
		{"/token", "not answering in time", "code exchange:"},
		{"/userinfo", "not answering in time", "userinfo:"},
	} {
		for _, trickle := range []bool{true, false} {
			name := strings.TrimPrefix(c.path, "/") + "/headers then nothing"
			if trickle {
				name = strings.TrimPrefix(c.path, "/") + "/trickle"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel() // most of a case is waiting on the IdP
				idp := hostileIdP(t)
				storetest.Each(t, func(t *testing.T, dbURL string) {
					w := newSignInWorld(t, newHostileEnv(t, dbURL), idp)
					s := newStalling(t, trickle)
					idp.set(func(p *testIdP) { p.hostile = map[string]func(http.Handler) http.Handler{c.path: s.at} })
					w.refusedAs(t, c.public, c.cause)
					if cause := lastFailure(t, w.e); !strings.HasSuffix(cause, "context deadline exceeded") && !strings.HasSuffix(cause, "timed out") {
						t.Errorf("the event's cause %q does not say the deadline passed", cause)
					}
					if ok, n := s.gone(20 * time.Second); !ok || n == 0 {
						t.Errorf("%d requests to %s, all ended: %v", n, c.path, ok)
					}
					idp.set(func(p *testIdP) { p.hostile = nil })
					// The stalled key set fetch ends on the IdP's side (gone) a moment before
					// go-oidc's side lets go of it (it shares one fetch among the sign-ins that
					// wait for keys, run with the provider's context), so a sign-in in that moment
					// still gets the stalled fetch's timeout: the next one fetches afresh. Every
					// other call is the sign-in's own, and its first sign-in must succeed.
					attempts := 1
					if c.path == "/jwks" {
						attempts = 3
					}
					var r result
					for attempt := 0; attempt < attempts; attempt++ {
						if r, _ = w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "hostile@example.com"); r.query.Get("code") != "" {
							break
						}
						time.Sleep(200 * time.Millisecond)
					}
					if r.query.Get("code") == "" {
						t.Errorf("a sign-in once the IdP answers: %d %q", r.status, r.location)
					}
				})
			})
		}
	}
}

// A callback on a replica that has not read the IdP's discovery document (the sign-in started
// on another), which then stalls: the person reads that the IdP is not answering, as at the
// start, not that its answer could not be verified, and the event says the same.
func TestSignInHostileIdPStallsDiscoveryAtTheCallback(t *testing.T) {
	idp := hostileIdP(t)
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newHostileEnv(t, dbURL)
		w := newSignInWorld(t, e, idp)
		replica := e.Replica()
		stop := newBrowser(t, e.URL+"/sso/oidc/callback")
		started, _ := w.signIn(t, stop, w.app, "login_hint", "hostile@example.com") // discovery read here, on e
		if !strings.HasPrefix(started.location, e.URL+"/sso/oidc/callback?") {
			t.Fatalf("expected the IdP's redirect to the callback: %+v", started)
		}
		s := newStalling(t, false)
		idp.set(func(p *testIdP) {
			p.hostile = map[string]func(http.Handler) http.Handler{"/.well-known/openid-configuration": s.at}
		})
		defer idp.set(func(p *testIdP) { p.hostile = nil })
		fin := newBrowser(t, w.redirect)
		fin.c.Jar = stop.c.Jar // the cookie is the host's, whatever the port
		r := fin.get(t, replica+strings.TrimPrefix(started.location, e.URL))
		if r.query.Get("error") != "access_denied" || !strings.Contains(r.query.Get("error_description"), "not answering in time") {
			t.Errorf("the callback: %d %q, want access_denied, not answering in time", r.status, r.location)
		}
		if cause := lastFailure(t, e); !strings.HasPrefix(cause, "the identity provider did not answer in time: discovery") {
			t.Errorf("the event's cause %q", cause)
		}
	})
}

// lastFailure is the cause of the last failed sign-in event.
func lastFailure(t *testing.T, e *testEnv) string {
	t.Helper()
	var cause string
	if err := e.App.Store().RawScan(t.Context(), &cause, "SELECT cause FROM sign_in_events WHERE outcome = 'failed' ORDER BY created_at DESC LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	return cause
}

// bloated is an IdP that pads its answer at a path with whitespace to over netguard's 1 MiB
// bound (a JSON object's inside it, an XML document's after it): sent as it is, gzipped
// (2 KiB on the wire; Go's transport inflates it transparently, so the bound must count
// inflated bytes), or under a Content-Length of 10 GiB. Unbounded, every one of them is a
// valid answer.
func bloated(encoding string) func(http.Handler) http.Handler {
	return func(idp http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			idp.ServeHTTP(rec, r)
			body, pad := rec.Body.Bytes(), bytes.Repeat([]byte(" "), 2<<20)
			padded := append(body, pad...)
			if bytes.HasPrefix(body, []byte("{")) {
				padded = append(append([]byte("{"), pad...), body[1:]...)
			}
			maps.Copy(w.Header(), rec.Header())
			switch encoding {
			case "gzip":
				w.Header().Set("Content-Encoding", "gzip")
				w.WriteHeader(rec.Code)
				// The fastest level: 2 MiB at the default level took over the connection test's
				// second under the race detector (go test -race), which this is not testing.
				gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
				gz.Write(padded)
				gz.Close()
			case "length":
				w.Header().Set("Content-Length", strconv.Itoa(10<<30))
				w.WriteHeader(rec.Code)
				w.Write(padded)
			default:
				w.WriteHeader(rec.Code)
				w.Write(padded)
			}
		})
	}
}

// freshWorld runs fn in a parallel subtest named name (most of a case is waiting on a server),
// with a hostile IdP of its own (hostileIdP), against a fresh server and sign-in world on every
// dialect: nothing of the IdP's is cached yet (its discovery, its key set).
func freshWorld(t *testing.T, name string, fn func(t *testing.T, w *signInWorld)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		idp := hostileIdP(t)
		eachDB(t, func(t *testing.T, e *testEnv) { fn(t, newSignInWorld(t, e, idp)) })
	})
}

// refusedAs checks that a sign-in at w ends at the application with access_denied, the safe
// message public, and one more failed event, whose cause says cause.
func (w *signInWorld) refusedAs(t *testing.T, public, cause string) {
	t.Helper()
	const failed = "SELECT count(*) FROM sign_in_events WHERE outcome = 'failed'"
	before := countRows(t, w.e, failed)
	r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "hostile@example.com")
	if r.query.Get("error") != "access_denied" || !strings.Contains(r.query.Get("error_description"), public) {
		t.Errorf("the sign-in: %d %q, want access_denied %q", r.status, r.location, public)
	}
	if n := countRows(t, w.e, failed) - before; n != 1 {
		t.Errorf("%d failed events, want 1", n)
	}
	if got := lastFailure(t, w.e); !strings.Contains(got, cause) {
		t.Errorf("the event's cause %q does not say %q", got, cause)
	}
}

// hostileIdP is a test IdP for these tests: it signs in hostile@example.com with every claim
// but sub in userinfo (so userinfo is read). Its discovery lists no client authentication
// method: a failed token request is not sent again in the form (whose answer, invalid_grant
// for a used code, would be the cause), as x/oauth2's own detection did.
func hostileIdP(t *testing.T) *testIdP {
	idp := newTestIdP(t)
	idp.as(map[string]any{"sub": "okta-hostile", "email": "hostile@example.com", "given_name": "H", "family_name": "Ostile"})
	idp.set(func(p *testIdP) { p.userinfoOnly = true })
	return idp
}

// An IdP answer over the bound (1 MiB) at discovery, JWKS, token or userinfo, however it is
// sent: the sign-in fails with the safe message, and the event says why.
func TestSignInHostileIdPOversized(t *testing.T) {
	var cases []refusal
	for _, c := range []struct{ path, public, cause string }{
		{"/.well-known/openid-configuration", "cannot be reached", "openid-configuration: netguard: response body too large"},
		{"/jwks", "could not be verified", "netguard: response body too large"},
		{"/token", "could not be verified", "code exchange: oauth2: cannot parse json"}, // x/oauth2 reads 1 MiB at most
		{"/userinfo", "could not be verified", "userinfo: netguard: response body too large"},
	} {
		for _, encoding := range []string{"identity", "gzip", "length"} {
			cases = append(cases, refusal{strings.TrimPrefix(c.path, "/") + "/" + encoding, func(w *signInWorld) {
				w.idp.set(func(p *testIdP) { p.hostile = map[string]func(http.Handler) http.Handler{c.path: bloated(encoding)} })
			}, c.public, c.cause, nil})
		}
	}
	eachRefusal(t, cases)
}

// refusal is a case of a test in which the IdP's answer refuses every sign-in: set makes the
// IdP so, and the sign-in is refusedAs public, cause.
type refusal struct {
	name          string
	set           func(w *signInWorld)
	public, cause string
	// after, when set, checks more of the refused sign-in (its event's cause: lastFailure).
	after func(t *testing.T, w *signInWorld)
}

// eachRefusal runs cases in order, each a subtest, against one server and world per dialect.
// The IdP need not be fresh for each: a refused sign-in leaves nothing of it cached but a
// discovery that succeeded (a failed discovery or key set is not kept), so the cases that
// break discovery come first.
func eachRefusal(t *testing.T, cases []refusal) {
	t.Helper()
	idp := hostileIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				c.set(w)
				w.refusedAs(t, c.public, c.cause)
				if c.after != nil {
					c.after(t, w)
				}
			})
		}
	})
}

// redirecting is an IdP that answers a path with a redirect (code) to where(r): the cloud
// metadata address, its own URL (a loop), another host.
func redirecting(code int, where func(r *http.Request) string) func(http.Handler) http.Handler {
	return func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, where(r), code) })
	}
}

// An IdP that redirects discovery, JWKS, token or userinfo to the cloud metadata address (over
// https or http), to itself in a loop, or (a token request, with the client secret) to another
// host: refused, and the event says why. Private networks are allowed here (the IdP is on
// loopback), so the metadata address stands for every refused one; netguard's own tests
// refuse loopback and private targets with the guard fully on.
func TestSignInHostileIdPRedirects(t *testing.T) {
	var reached atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Error(w, "not here", http.StatusNotFound)
	}))
	defer other.Close()
	metadata := func(scheme string) func(*http.Request) string {
		return func(*http.Request) string { return scheme + "://169.254.169.254/latest/meta-data/" }
	}
	elsewhere := func(r *http.Request) string { return other.URL + r.URL.Path }
	public := map[string]string{"/.well-known/openid-configuration": "cannot be reached"}
	var cases []refusal
	for _, path := range []string{"/.well-known/openid-configuration", "/jwks", "/token", "/userinfo"} {
		for _, c := range []struct {
			name  string
			code  int
			where func(r *http.Request) string
			cause string // a GET's; a token request's is the redirect itself, never followed
		}{
			{"metadata address over https", http.StatusFound, metadata("https"),
				"netguard: address not allowed: the host's address is a cloud metadata address"},
			{"metadata address over http", http.StatusFound, metadata("http"),
				"netguard: address not allowed: redirect to http://169.254.169.254/latest/meta-data/ is not an https URL"},
			{"loop", http.StatusFound, func(r *http.Request) string { return r.URL.RequestURI() }, "stopped after 5 redirects"},
			// A GET may go to another host (a CDN's key set); a POST with the secret may not.
			{"another host, 307", http.StatusTemporaryRedirect, elsewhere, ""},
			{"another host, 308", http.StatusPermanentRedirect, elsewhere, ""},
		} {
			if c.cause == "" && path != "/token" {
				continue
			}
			if path == "/token" {
				c.cause = fmt.Sprintf("code exchange: the identity provider answered HTTP %d", c.code)
			}
			cases = append(cases, refusal{strings.TrimPrefix(path, "/") + "/" + c.name, func(w *signInWorld) {
				w.idp.set(func(p *testIdP) {
					p.hostile = map[string]func(http.Handler) http.Handler{path: redirecting(c.code, c.where)}
				})
			}, cmp.Or(public[path], "could not be verified"), c.cause, nil})
		}
	}
	eachRefusal(t, cases)
	if n := reached.Load(); n != 0 {
		t.Errorf("%d requests went to the other host", n)
	}
}

// keySetOf is an IdP whose key set holds n keys: n-1 decoys (RSA keys no one holds the
// private half of, with the kid of the IdP's own key) before its own.
func keySetOf(t *testing.T, n int) func(http.Handler) http.Handler {
	var decoys []jose.JSONWebKey
	for range n - 1 {
		m, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 2048))
		if err != nil {
			t.Fatal(err)
		}
		m.SetBit(m, 2047, 1).SetBit(m, 0, 1)
		decoys = append(decoys, jose.JSONWebKey{Key: &rsa.PublicKey{N: m, E: 65537}, KeyID: "k1", Algorithm: "RS256", Use: "sig"})
	}
	return func(idp http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			idp.ServeHTTP(rec, r)
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
				t.Errorf("the IdP's key set: %v", err)
			}
			set.Keys = append(slices.Clone(decoys), set.Keys...)
			json.NewEncoder(w).Encode(set)
		})
	}
}

// A key set of more keys than any IdP publishes is refused: go-oidc verifies an id_token
// against each key with the token's kid (a hostile IdP gives them all that kid), or against
// every key when the token has none, so a 1 MiB set of P-521 keys cost some 7 s of CPU a
// pass, twice for a token no key verifies. Up to the bound, the id_token's key is found among
// the others, with a kid or without; past it the sign-in fails and the event says why, and
// the connection test says so too.
func TestSignInHostileIdPKeySet(t *testing.T) {
	sets := map[int]func(http.Handler) http.Handler{sso.MaxKeys: keySetOf(t, sso.MaxKeys), sso.MaxKeys + 1: keySetOf(t, sso.MaxKeys+1)}
	for _, noKid := range []bool{false, true} {
		for _, n := range []int{sso.MaxKeys, sso.MaxKeys + 1} {
			freshWorld(t, fmt.Sprintf("%d keys, no kid %v", n, noKid), func(t *testing.T, w *signInWorld) {
				w.idp.set(func(p *testIdP) {
					p.hostile, p.noKid = map[string]func(http.Handler) http.Handler{"/jwks": sets[n]}, noKid
				})
				if n == sso.MaxKeys {
					if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "hostile@example.com"); r.query.Get("code") == "" {
						t.Fatalf("the sign-in: %d %q", r.status, r.location)
					}
					return
				}
				w.refusedAs(t, "could not be verified", fmt.Sprintf("the key set holds %d keys; Gatehouse takes a key set of at most %d", n, sso.MaxKeys))
				res := w.e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
				if res.Body["success"] != false || get(res.Body, "details", "jwksValid") != false ||
					!strings.Contains(fmt.Sprint(res.Body["problems"]), fmt.Sprintf("holds %d keys; Gatehouse takes", n)) {
					t.Fatalf("the connection test: %s", res.Raw)
				}
			})
		}
	}
}

// A SAML IdP's metadata URL (read by the connection test and the hourly refresh, through one
// fetch) attacked as the OIDC endpoints are: over the bound however it is sent, redirected to
// the metadata address or in a loop, stalled. The connection test says what is wrong, within
// the request's deadline, and the stalled fetch's connection is closed.
func TestSAMLMetadataHostileIdP(t *testing.T) {
	cases := []struct {
		name    string
		hostile func(http.Handler) http.Handler // nil: a stalling one
		problem string
	}{
		{"oversized", bloated("identity"), "response is larger than 1048576 bytes"},
		{"gzip bomb", bloated("gzip"), "response is larger than 1048576 bytes"},
		{"lying length", bloated("length"), "response is larger than 1048576 bytes"},
		{"redirect to the metadata address", redirecting(http.StatusFound, func(*http.Request) string { return "https://169.254.169.254/latest/meta-data/" }),
			"netguard: address not allowed: the host's address is a cloud metadata address"},
		{"redirect to http", redirecting(http.StatusFound, func(*http.Request) string { return "http://169.254.169.254/latest/meta-data/" }),
			"netguard: address not allowed: redirect to http://169.254.169.254/latest/meta-data/ is not an https URL"},
		{"loop", redirecting(http.StatusFound, func(r *http.Request) string { return r.URL.Path }), "stopped after 5 redirects"},
		{"trickle", nil, "timed out"},
	}
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newHostileEnv(t, dbURL)
		w := newSAMLWorld(t, e)
		md := w.idp.Metadata(t)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var s *stalling
				hostile := c.hostile
				if hostile == nil {
					s = newStalling(t, true)
					hostile = s.at
				}
				srv := httptest.NewServer(hostile(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					rw.Header().Set("Content-Type", "application/samlmetadata+xml")
					io.WriteString(rw, md)
				})))
				t.Cleanup(srv.Close) // after the stalling endpoint's own cleanup ends its requests
				body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"metadataUrl": srv.URL + "/metadata"}})
				e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)
				res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
				if res.Body["success"] != false || get(res.Body, "details", "metadataValid") != false ||
					!strings.Contains(fmt.Sprint(res.Body["problems"]), c.problem) {
					t.Fatalf("the connection test: %s", res.Raw)
				}
				if s != nil {
					if ok, n := s.gone(20 * time.Second); !ok || n == 0 {
						t.Errorf("%d requests to the metadata URL, all ended: %v", n, ok)
					}
				}
				e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200) // the one slot is free
			})
		}
	})
}

// edited is an IdP whose JSON answer at a path goes through edit, and is sent as contentType
// ("": the IdP's own).
func edited(contentType string, edit func(v any) any) func(http.Handler) http.Handler {
	return func(idp http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			idp.ServeHTTP(rec, r)
			var v any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				http.Error(w, "the test IdP's answer is not JSON", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", cmp.Or(contentType, rec.Header().Get("Content-Type")))
			w.WriteHeader(rec.Code)
			json.NewEncoder(w).Encode(edit(v))
		})
	}
}

// setField is an edit of a JSON object: k set to v.
func setField(k string, v any) func(any) any {
	return func(o any) any { o.(map[string]any)[k] = v; return o }
}

// Answers that look valid but are not what an IdP sends: a sign-in takes what does no harm
// (an expires_in past any token's life, an id_token of 900 KB within the bound) and refuses
// the rest with the cause; no endpoint of the discovery document reaches the cloud metadata
// address.
func TestSignInHostileIdPOddAnswers(t *testing.T) {
	metadata := "https://169.254.169.254/latest/meta-data/"
	const disc, token, userinfo = "/.well-known/openid-configuration", "/token", "/userinfo"
	for _, c := range []struct {
		name          string
		path          string
		hostile       func(http.Handler) http.Handler
		idTokenClaims map[string]any
		public, cause string // "": signs in
	}{
		{name: "expires_in of 10^11 s", path: token, hostile: edited("", setField("expires_in", 1e11))},
		{name: "expires_in of 10^30 s", path: token, hostile: edited("", setField("expires_in", 1e30)),
			public: "could not be verified", cause: "code exchange: oauth2: cannot parse json"},
		{name: "token answer as text/plain", path: token, hostile: edited("text/plain", func(v any) any { return v }),
			public: "could not be verified", cause: "code exchange: oauth2: server response missing access_token"},
		{name: "id_token of 900 KB", idTokenClaims: map[string]any{"padding": strings.Repeat("x", 650<<10)}},
		{name: "userinfo as a JSON array", path: userinfo, hostile: edited("", func(v any) any { return []any{v} }),
			public: "could not be verified", cause: "userinfo: oidc: failed to decode userinfo"},
		{name: "userinfo of another sub", path: userinfo, hostile: edited("", setField("sub", "okta-someone-else")),
			public: "could not be verified", cause: "userinfo: sub differs from the id_token's"},
		{name: "another issuer", path: disc, hostile: edited("", setField("issuer", "https://idp.example.net")),
			public: "cannot be reached", cause: `discovery issuer "https://idp.example.net" does not match the connection's issuer`},
		{name: "token endpoint over plain http", path: disc, hostile: edited("", setField("token_endpoint", "http://idp.example.net/token")),
			public: "cannot be reached", cause: "discovery document lacks an https authorization_endpoint, token_endpoint or jwks_uri"},
		{name: "token endpoint at the metadata address", path: disc, hostile: edited("", setField("token_endpoint", metadata)),
			public: "could not be verified", cause: "code exchange: Post \"" + metadata + "\": dial 169.254.169.254:443: netguard: address not allowed: the host's address is a cloud metadata address"},
		{name: "jwks_uri at the metadata address", path: disc, hostile: edited("", setField("jwks_uri", metadata)),
			public: "could not be verified", cause: "dial 169.254.169.254:443: netguard: address not allowed: the host's address is a cloud metadata address"},
		{name: "userinfo at the metadata address", path: disc, hostile: edited("", setField("userinfo_endpoint", metadata)),
			public: "could not be verified", cause: "userinfo: Get \"" + metadata + "\": dial 169.254.169.254:443: netguard: address not allowed: the host's address is a cloud metadata address"},
	} {
		freshWorld(t, c.name, func(t *testing.T, w *signInWorld) {
			w.idp.set(func(p *testIdP) {
				p.hostile, p.idTokenClaims = nil, c.idTokenClaims
				if c.hostile != nil {
					p.hostile = map[string]func(http.Handler) http.Handler{c.path: c.hostile}
				}
			})
			if c.cause != "" {
				w.refusedAs(t, c.public, c.cause)
				return
			}
			if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "hostile@example.com"); r.query.Get("code") == "" {
				t.Fatalf("the sign-in: %d %q, cause %q", r.status, r.location, lastFailure(t, w.e))
			}
		})
	}
}

// An IdP whose discovery document points an endpoint at a name of the operator's network: the
// sign-in event's cause, which the workspace's admins read, names the host the document gave
// and why it could not be reached, never the address the name resolved to (here the metadata
// address, or a loopback port that refuses connections) nor the resolver's; a name refused by
// the guard reads as one not found (TestUnreachableHostsReadAlike). Before, it read
// "dial tcp 169.254.169.254:443: …" and "dial tcp 127.0.0.1:PORT: connect: connection
// refused": a map of the operator's internal names, and of which of their ports answer.
// TestConnectTo stands in for the operator's DNS.
func TestSignInCauseNamesNoResolvedAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	mod := func(c *app.Config) {
		c.TestConnectTo = map[string]string{"metadata.intranet.example:443": "169.254.169.254:443", "closed.intranet.example:443": closed}
	}
	for _, c := range []struct{ name, field, url, cause string }{
		{"token endpoint at the metadata address", "token_endpoint", "https://metadata.intranet.example/token",
			`code exchange: Post "https://metadata.intranet.example/token": dial metadata.intranet.example:443: host not found, or none of its addresses is one Gatehouse may connect to`},
		{"jwks_uri at a closed port", "jwks_uri", "https://closed.intranet.example/jwks",
			"dial closed.intranet.example:443: connect: connection refused"},
		{"userinfo at a closed port", "userinfo_endpoint", "https://closed.intranet.example/userinfo",
			`userinfo: Get "https://closed.intranet.example/userinfo": dial closed.intranet.example:443: connect: connection refused`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			idp := hostileIdP(t)
			eachDB(t, func(t *testing.T, e *testEnv) {
				w := newSignInWorld(t, e, idp)
				w.idp.set(func(p *testIdP) {
					p.hostile = map[string]func(http.Handler) http.Handler{"/.well-known/openid-configuration": edited("", setField(c.field, c.url))}
				})
				w.refusedAs(t, "could not be verified", c.cause)
				if got := lastFailure(t, e); strings.Contains(got, "169.254.169.254") || strings.Contains(got, closed) || strings.Contains(got, "127.0.0.1") {
					t.Errorf("the event's cause names the resolved address: %q", got)
				}
			}, mod)
		})
	}
}

// An IdP that resets the connection in the middle of its answer (discovery, JWKS, token,
// userinfo): the sign-in event's cause, which the workspace's admins read, says the
// connection was reset, naming the IdP's host and port, never Gatehouse's own address (the
// address and port it connected from, an address of the operator's network). Before, it
// read "read tcp 10.0.3.7:51234->203.0.113.9:443: read: connection reset by peer".
func TestSignInCauseNamesNoLocalAddress(t *testing.T) {
	var mu sync.Mutex
	var from []string // the addresses Gatehouse connected from
	reset := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			from = append(from, r.RemoteAddr)
			mu.Unlock()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.(*net.TCPConn).SetLinger(0) // close with a RST
			conn.Close()
		})
	}
	namesNoLocalAddress := func(t *testing.T, w *signInWorld) {
		got := lastFailure(t, w.e)
		mu.Lock()
		defer mu.Unlock()
		for _, a := range from {
			if strings.Contains(got, a) {
				t.Errorf("the event's cause names Gatehouse's own address %s: %q", a, got)
			}
		}
	}
	var cases []refusal
	for _, c := range []struct{ path, public string }{
		{"/.well-known/openid-configuration", "cannot be reached"}, {"/jwks", "could not be verified"},
		{"/token", "could not be verified"}, {"/userinfo", "could not be verified"},
	} {
		cases = append(cases, refusal{strings.TrimPrefix(c.path, "/"), func(w *signInWorld) {
			w.idp.set(func(p *testIdP) { p.hostile = map[string]func(http.Handler) http.Handler{c.path: reset} })
		}, c.public, "connection reset by peer", namesNoLocalAddress})
	}
	eachRefusal(t, cases)
}

// A key set holding a key of an algorithm go-oidc does not verify with (ES256K, on the
// secp256k1 curve, which go-jose cannot read) beside the IdP's own: the sign-in leaves it out,
// as go-oidc does, and so does the connection test, which refused the whole set ("unsupported
// elliptic curve").
func TestKeySetWithAnUnsupportedKey(t *testing.T) {
	freshWorld(t, "an ES256K key beside the IdP's", func(t *testing.T, w *signInWorld) {
		secp256k1 := json.RawMessage(`{"kty":"EC","crv":"secp256k1","alg":"ES256K","use":"sig","kid":"k256",` +
			`"x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 43) + `"}`)
		w.idp.set(func(p *testIdP) {
			p.hostile = map[string]func(http.Handler) http.Handler{"/jwks": func(idp http.Handler) http.Handler {
				return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					rec := httptest.NewRecorder()
					idp.ServeHTTP(rec, r)
					var set struct {
						Keys []json.RawMessage `json:"keys"`
					}
					if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
						t.Errorf("the IdP's key set: %v", err)
					}
					set.Keys = append([]json.RawMessage{secp256k1}, set.Keys...)
					json.NewEncoder(rw).Encode(set)
				})
			}}
		})
		if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "login_hint", "hostile@example.com"); r.query.Get("code") == "" {
			t.Fatalf("the sign-in: %d %q", r.status, r.location)
		}
		res := w.e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
		if get(res.Body, "details", "jwksValid") != true {
			t.Fatalf("the connection test: %s", res.Raw)
		}
	})
}

// A key set that does not answer within netguard's outbound timeout (10 s), under a request
// deadline further off (GATEHOUSE_REQUEST_TIMEOUT's default is 15 s; this server has none):
// the person reads that the IdP is not answering, as for its other endpoints, not that its
// answer could not be verified. go-oidc formats the key set's fetch error into its own, so the
// timeout is not in the error's chain.
func TestSignInHostileIdPKeySetTimesOut(t *testing.T) {
	idp := hostileIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		s := newStalling(t, false)
		idp.set(func(p *testIdP) { p.hostile = map[string]func(http.Handler) http.Handler{"/jwks": s.at} })
		defer idp.set(func(p *testIdP) { p.hostile = nil })
		b := newBrowser(t, w.redirect)
		b.c.Timeout = time.Minute // the browser waits out the IdP's timeout
		r, _ := w.signIn(t, b, w.app, "login_hint", "hostile@example.com")
		if r.query.Get("error") != "access_denied" || !strings.Contains(r.query.Get("error_description"), "not answering in time") {
			t.Errorf("the sign-in: %d %q, want access_denied, not answering in time", r.status, r.location)
		}
		if cause := lastFailure(t, w.e); !strings.HasPrefix(cause, "the identity provider did not answer in time: id_token: failed to verify signature: fetching keys") {
			t.Errorf("the event's cause %q does not say the key set did not answer in time", cause)
		}
	})
}

// What an IdP's document says is echoed in a connection test's problems clipped, as the other
// problems clip it: a discovery document's issuer, a key set's key that does not parse (go-jose
// names its curve), a SAML metadata document's entityID or an element it does not close
// (encoding/xml names it), each of 200 KB here. Before, the problem carried it whole: a
// response, and an audit event (its summary keeps the problems), of up to the 1 MiB the
// document may take, for each test an admin runs.
func TestConnectionTestClipsWhatTheIdPSays(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	clipped := func(t *testing.T, res *apptest.RESTResponse, says string) {
		t.Helper()
		problems, _ := get(res.Body, "problems").([]any)
		if res.Body["success"] != false || !strings.Contains(fmt.Sprint(problems), says) {
			t.Fatalf("the connection test: %.2000s", res.Raw)
		}
		for _, p := range problems {
			if n := len(p.(string)); n > 4096 {
				t.Errorf("a problem of %d bytes: %.300s…", n, p)
			}
		}
	}
	for _, c := range []struct{ name, path, says string }{
		{"issuer", "/.well-known/openid-configuration", "does not match the connection's issuerUrl"},
		{"curve", "/jwks", "is not a valid JSON Web Key Set"},
	} {
		freshWorld(t, c.name, func(t *testing.T, w *signInWorld) {
			edit := setField("issuer", "https://idp.example.net/"+long)
			if c.path == "/jwks" {
				edit = func(v any) any {
					set := v.(map[string]any)
					set["keys"] = append(set["keys"].([]any), map[string]any{"kty": "EC", "crv": long, "x": "AA", "y": "AA"})
					return set
				}
			}
			w.idp.set(func(p *testIdP) { p.hostile = map[string]func(http.Handler) http.Handler{c.path: edited("", edit)} })
			clipped(t, w.e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200), c.says)
		})
	}
	t.Run("metadata", func(t *testing.T) {
		t.Parallel()
		eachDB(t, func(t *testing.T, e *testEnv) {
			w := newSAMLWorld(t, e)
			var mu sync.Mutex
			var md string
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				rw.Header().Set("Content-Type", "application/samlmetadata+xml")
				io.WriteString(rw, md)
			}))
			t.Cleanup(srv.Close)
			body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"metadataUrl": srv.URL + "/metadata"}})
			e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)
			for _, c := range []struct{ doc, says string }{
				{strings.Replace(w.idp.Metadata(t), `entityID="`+w.idp.EntityID+`"`, `entityID="`+w.idp.EntityID+long+`"`, 1),
					"does not match the connection's entityId"},
				// encoding/xml names the element a document does not close.
				{`<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><` + long + `></EntityDescriptor>`, "is not XML"},
			} {
				mu.Lock()
				md = c.doc
				mu.Unlock()
				clipped(t, e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200), c.says)
			}
		})
	})
}
