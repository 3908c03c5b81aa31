package sso_test

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"gatehouse/app"
	"gatehouse/app/apptest"
	"gatehouse/clock"
	"gatehouse/sso/samltest"
	"gatehouse/store"
)

// A browser sign-in's round trips to the database are most of what it costs the server and
// PostgreSQL (bench/README.md, "Browser sign-in"). TestSignInRoundTrips pins them, request
// by request, from the database spans that tracing exports: one more statement on these paths
// fails it. If a change needs one, update the list here and quote bench/signin before and after
// in bench/README.md.

// roundTrips is the statements of one sign-in as "route: verbs" per request that reached the
// database, in the order of the requests (BEGIN, COMMIT and ROLLBACK for a transaction's
// calls; opening a pooled connection is not a sign-in's).
type roundTrips []string

// wantRoundTrips: dialect → protocol and phase → the statements, with warm caches (the
// application, the connection, the brand, the domain's verification, the SP's keys).
var wantRoundTrips = map[string]map[string]roundTrips{
	store.Postgres: {
		// First-time: the flow's insert; its claim, the identity's lookup, the decision's reads
		// (FirstSignInReads), one statement inserting the account, user account, credential,
		// audit event, grant, sign-in event and counters; the code's redemption.
		"oidc first-time": {"GET /oauth/authorize: INSERT", "GET /sso/oidc/callback: UPDATE SELECT SELECT WITH", "POST /oauth/token: UPDATE"},
		"oidc returning":  {"GET /oauth/authorize: INSERT", "GET /sso/oidc/callback: UPDATE SELECT WITH", "POST /oauth/token: UPDATE"},
		// The ACS reads the flow its response answers, then records the assertion ID (once
		// only) and the sealed answer in one statement; the GET that follows claims the flow,
		// takes the answer and looks up the identity in one.
		"saml first-time": {"GET /oauth/authorize: INSERT", "POST /saml/acs: SELECT WITH",
			"GET /saml/continue: WITH SELECT WITH", "POST /oauth/token: UPDATE"},
		"saml returning": {"GET /oauth/authorize: INSERT", "POST /saml/acs: SELECT WITH",
			"GET /saml/continue: WITH WITH", "POST /oauth/token: UPDATE"},
		"saml first-time, placed in a company": {"GET /oauth/authorize: INSERT", "POST /saml/acs: SELECT WITH",
			"GET /saml/continue: WITH SELECT SELECT SELECT WITH", "POST /oauth/token: UPDATE"},
	},
	// SQLite runs in process: a statement is a call, not a round trip, and its writes are one
	// per table in a transaction.
	store.SQLite: {
		"oidc first-time": {"GET /oauth/authorize: INSERT",
			"GET /sso/oidc/callback: UPDATE SELECT BEGIN SELECT INSERT INSERT INSERT INSERT INSERT INSERT INSERT COMMIT", "POST /oauth/token: UPDATE"},
		"oidc returning": {"GET /oauth/authorize: INSERT", "GET /sso/oidc/callback: UPDATE SELECT BEGIN INSERT INSERT INSERT COMMIT",
			"POST /oauth/token: UPDATE"},
		"saml first-time": {"GET /oauth/authorize: INSERT", "POST /saml/acs: SELECT BEGIN INSERT INSERT COMMIT",
			"GET /saml/continue: UPDATE DELETE SELECT BEGIN SELECT INSERT INSERT INSERT INSERT INSERT INSERT INSERT COMMIT", "POST /oauth/token: UPDATE"},
		"saml returning": {"GET /oauth/authorize: INSERT", "POST /saml/acs: SELECT BEGIN INSERT INSERT COMMIT",
			"GET /saml/continue: UPDATE DELETE SELECT BEGIN INSERT INSERT INSERT COMMIT", "POST /oauth/token: UPDATE"},
		"saml first-time, placed in a company": {"GET /oauth/authorize: INSERT", "POST /saml/acs: SELECT BEGIN INSERT INSERT COMMIT",
			"GET /saml/continue: UPDATE DELETE SELECT BEGIN SELECT SELECT SELECT INSERT INSERT INSERT INSERT INSERT INSERT COMMIT", "POST /oauth/token: UPDATE"},
	},
}

func TestSignInRoundTrips(t *testing.T) {
	rcv := apptest.NewOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	// each runs fn on a fresh server of each dialect, traced, its clock frozen: no cached row
	// expires between the sign-ins, however slowly they run. measure runs signIn, which ends
	// with a sign_in claim, and checks its statements against wantRoundTrips.
	each := func(t *testing.T, fn func(e *testEnv, measure func(phase, wantSignIn string, signIn func() map[string]any))) {
		apptest.Each(t, func(t *testing.T, env *apptest.Env) {
			e := &testEnv{env}
			t.Cleanup(func() { e.App.Tracing().Shutdown(context.Background()) })
			want := wantRoundTrips[e.App.Store().Dialect()]
			fn(e, func(phase, wantSignIn string, signIn func() map[string]any) {
				t.Helper()
				if err := e.App.Tracing().Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				rcv.Reset()
				if claims := signIn(); claims["sign_in"] != wantSignIn {
					t.Fatalf("%s: sign_in = %v, want %s", phase, claims["sign_in"], wantSignIn)
				}
				// A request's span ends as its handler returns, which may be just after the
				// browser has the answer: until every database call has its request, flush again.
				var got roundTrips
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					if err := e.App.Tracing().Flush(context.Background()); err != nil {
						t.Fatal(err)
					}
					spans, _ := rcv.Received()
					var orphan string
					if got, orphan = roundTripsOf(spans); orphan == "" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: a database call outside any request: %s", phase, orphan)
					}
				}
				if !slices.Equal(got, want[phase]) {
					t.Errorf("%s: the database calls, request by request:\n%s\nwant:\n%s", phase,
						strings.Join(got, "\n"), strings.Join(want[phase], "\n"))
				}
			})
		}, func(c *app.Config) { c.TestClock = clock.NewFake(time.Now()) })
	}

	t.Run("oidc", func(t *testing.T) {
		idp := newTestIdP(t)
		each(t, func(e *testEnv, measure func(string, string, func() map[string]any)) {
			w := newSignInWorld(e.T, e, idp)
			signIn := func(who string) map[string]any {
				idp.as(map[string]any{"sub": "okta-" + who, "email": who + "@example.com", "given_name": "Jane", "family_name": "Doe"})
				res, verifier := w.signIn(e.T, newBrowser(e.T, w.redirect), w.app, "login_hint", who+"@example.com")
				claims, _ := w.claimsOf(e.T, w.app, res.query.Get("code"), verifier)
				return claims
			}
			signIn("warm") // fills the caches
			measure("oidc first-time", "provisioned", func() map[string]any { return signIn("jane") })
			measure("oidc returning", "existing_identity", func() map[string]any { return signIn("jane") })
		})
	})

	t.Run("saml", func(t *testing.T) {
		each(t, func(e *testEnv, measure func(string, string, func() map[string]any)) {
			w := newSAMLWorld(e.T, e)
			company := e.CreateCompany(w.tok, "Analytical Engines")
			account := e.CreateAccount(w.tok, "Analytical Engines", company)
			// signIn signs who in; company, when set, is their companyName attribute, which the
			// connection maps to the company claim placement reads.
			signIn := func(who, company string) map[string]any {
				// A NameID in mixed case: the continuation's lookup matches only if the ACS
				// stored the identifier's key (models.Key), not the identifier as sent.
				u := samltest.User{NameID: "00U-" + who, Email: who + "@example.com", GivenName: "Ada", Surname: "Lovelace"}
				if company != "" {
					u.Attributes = map[string][]string{"companyName": {company}}
				}
				w.idp.SignIn(u)
				b := w.browser()
				page, verifier := w.toIdP(e.T, b)
				resp, body := w.post(e.T, b, e.URL, page)
				return w.exchange(e.T, w.appResult(e.T, resp, body).Get("code"), verifier)
			}
			signIn("warm", "")
			measure("saml first-time", "provisioned", func() map[string]any { return signIn("ada", "") })
			measure("saml returning", "existing_identity", func() map[string]any { return signIn("ada", "") })
			// Placed by the company claim: the company's and its oldest account's reads.
			measure("saml first-time, placed in a company", "provisioned", func() map[string]any {
				claims := signIn("charles", "Analytical Engines")
				if claims["account_id"] != account {
					e.T.Fatalf("placed in %v, want the company's account %s", claims["account_id"], account)
				}
				return claims
			})
		})
	})
}

// roundTripsOf groups the database spans (client spans of a SQL system) under the request
// (server span) they were made for. orphan names a database call of no request among spans,
// if any: a call made outside any request would escape this count.
func roundTripsOf(spans []*tracepb.Span) (_ roundTrips, orphan string) {
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[string(s.GetSpanId())] = s
	}
	requestOf := func(s *tracepb.Span) *tracepb.Span {
		for p := byID[string(s.GetParentSpanId())]; p != nil; p = byID[string(p.GetParentSpanId())] {
			if p.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
				return p
			}
		}
		return nil
	}
	var requests []*tracepb.Span
	calls := map[*tracepb.Span][]*tracepb.Span{}
	for _, s := range spans {
		if _, db := apptest.SpanAttr(s, "db.system.name"); !db || s.GetKind() != tracepb.Span_SPAN_KIND_CLIENT ||
			s.GetName() == "sql.connector.connect" {
			continue
		}
		r := requestOf(s)
		if r == nil {
			return nil, s.GetName()
		}
		if calls[r] == nil {
			requests = append(requests, r)
		}
		calls[r] = append(calls[r], s)
	}
	byStart := func(a, b *tracepb.Span) int { return cmp.Compare(a.GetStartTimeUnixNano(), b.GetStartTimeUnixNano()) }
	slices.SortFunc(requests, byStart)
	var out roundTrips
	for _, r := range requests {
		slices.SortFunc(calls[r], byStart)
		verbs := make([]string, len(calls[r]))
		for i, c := range calls[r] {
			verbs[i] = c.GetName()
			switch c.GetName() {
			case "sql.conn.begin_tx":
				verbs[i] = "BEGIN"
			case "sql.tx.commit":
				verbs[i] = "COMMIT"
			case "sql.tx.rollback":
				verbs[i] = "ROLLBACK"
			}
		}
		out = append(out, r.GetName()+": "+strings.Join(verbs, " "))
	}
	return out, ""
}
