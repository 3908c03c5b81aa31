package provision

import (
	"context"
	"errors"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// holdingTracer is a store TracerProvider (store.Options) that holds the first statement named
// verb (the span's name) of the calls traced, those whose context carries a span: it closes
// entered and waits for release before the statement is sent. The store's statements of a
// call are traced from the caller's context, so one call can be held between two statements.
type holdingTracer struct {
	noop.TracerProvider
	verb             string
	entered, release chan struct{}
	once             sync.Once
}

func newHoldingTracer(verb string) *holdingTracer {
	return &holdingTracer{verb: verb, entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *holdingTracer) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return holdingTracerOf{h.TracerProvider.Tracer(name, opts...), h}
}

type holdingTracerOf struct {
	trace.Tracer
	h *holdingTracer
}

func (t holdingTracerOf) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if name == t.h.verb {
		t.h.once.Do(func() {
			close(t.h.entered)
			<-t.h.release
		})
	}
	return t.Tracer.Start(ctx, name, opts...)
}

// traced is ctx with a span, so that the store traces (and holdingTracer may hold) its calls.
func traced(ctx context.Context) context.Context {
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled}))
}

// newHeldEnv is newTestEnv over a store traced by h, with the platform admin as the caller.
func newHeldEnv(t *testing.T, dbURL string, h *holdingTracer, opts Options) *testEnv {
	t.Helper()
	e := newTestEnvWith(t, dbURL, store.Options{TracerProvider: h}, opts)
	e.ctx = WithPrincipal(e.ctx, &Principal{ClientID: "test", WorkspaceID: e.ws, Scopes: models.AllScopes,
		PlatformAdmin: true, ActorType: "client"})
	return e
}

// raceHeld runs second until holdingTracer h holds it, then first; it releases second once
// first has returned or, on PostgreSQL, waits for a lock (second's, which a correct write
// holds). SQLite runs one write transaction at a time: there nothing is held, and the two
// run one after the other. It returns both errors.
func raceHeld(t *testing.T, e *testEnv, h *holdingTracer, first, second func(context.Context) error) (errFirst, errSecond error) {
	t.Helper()
	if e.st.Dialect() != store.Postgres {
		return first(e.ctx), second(e.ctx)
	}
	secondDone := make(chan error, 1)
	go func() { secondDone <- second(traced(e.ctx)) }()
	select {
	case <-h.entered:
	case err := <-secondDone:
		t.Fatalf("the second call was not held: %v", err)
	}
	firstDone := make(chan error, 1)
	go func() { firstDone <- first(e.ctx) }()
	waiting := func() bool {
		var n int
		if err := e.st.RawScan(e.ctx, &n, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE NOT l.granted AND a.datname = current_database()`); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	for done := false; !done; {
		select {
		case errFirst = <-firstDone:
			done = true
			firstDone = nil
		default:
			done = waiting()
		}
	}
	close(h.release)
	errSecond = <-secondDone
	if firstDone != nil {
		errFirst = <-firstDone
	}
	return errFirst, errSecond
}

// Two promotions of the next signing key at once (the button pressed twice, a CLI retried)
// promote it once: the other is INVALID_STATE, and the key that was current stays published,
// retired, so that the tokens it signed verify until they expire. Before, on PostgreSQL, the
// second promotion read the keys before the first committed (a next key to promote) and
// deleted the retired keys after it: the key the first had just retired, which signed every
// token in use, was unpublished at once, and every integration's API calls failed with 401.
func TestConcurrentSigningKeyPromotionsKeepThePreviousKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("DELETE") // the second promotion, held before it deletes the retired keys
		e := newHeldEnv(t, dbURL, h, Options{})
		if err := e.s.EnsureSigningKey(e.ctx, models.IDTokenES256); err != nil {
			t.Fatal(err)
		}
		old := must(e.st.SigningKeys(e.ctx))
		if len(old) != 1 {
			t.Fatalf("%d keys, want the first", len(old))
		}
		next := must(e.s.StartSigningKeyRotation(e.ctx))

		err1, err2 := raceHeld(t, e, h, e.s.PromoteSigningKey, e.s.PromoteSigningKey)
		roles := map[string]string{}
		for _, info := range must(e.s.SigningKeyInfos(e.ctx)) {
			roles[info.Kid] = info.Role
		}
		if roles[next[0].Kid] != "current" || roles[old[0].ID] != "previous" || len(roles) != 2 {
			t.Fatalf("keys after the promotions: %v; want %s current and %s previous", roles, next[0].Kid, old[0].ID)
		}
		happenedOnce(t, e, "signing_key.promoted", models.EINVALIDSTATE, err1, err2)
	})
}

// Two promotions of the next SAML SP key at once promote it once: the other is INVALID_STATE,
// the next key is current and the one it replaced previous. Before, on PostgreSQL, the second
// promotion found the next key before the first committed and moved the keys again after it:
// it deleted the key just made previous and demoted the new current key to previous, leaving
// no current key, so that the next use generated a new key pair no IdP had (AuthnRequests
// signed with it refused, assertions encrypted to the promoted key decrypted only as
// previous until retired).
func TestConcurrentSPKeyPromotionsPromoteOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("DELETE") // the second promotion, held before it drops the previous key
		e := newHeldEnv(t, dbURL, h, Options{})
		before := must(e.s.SPKeyInfos(e.ctx))
		if len(before) != 1 {
			t.Fatalf("%d SP keys, want the current one", len(before))
		}
		next := must(e.s.StartSPKeyRotation(e.ctx))

		err1, err2 := raceHeld(t, e, h, e.s.PromoteSPKey, e.s.PromoteSPKey)
		roles := map[string]string{}
		for _, row := range must(e.st.SAMLSPKeys(e.ctx)) {
			roles[models.CertificateFingerprint(row.Certificate)] = row.ID
		}
		want := map[string]string{next.FingerprintSHA256: models.SPKeyCurrent, before[0].FingerprintSHA256: models.SPKeyPrevious}
		if len(roles) != 2 || roles[next.FingerprintSHA256] != want[next.FingerprintSHA256] ||
			roles[before[0].FingerprintSHA256] != want[before[0].FingerprintSHA256] {
			t.Fatalf("SP keys after the promotions: %v; want %v", roles, want)
		}
		happenedOnce(t, e, "saml_sp_key.promoted", models.EINVALIDSTATE, err1, err2)
	})
}

// happenedOnce checks that of two writes racing one did it, with its one event action, and
// the other was refused with code, as one after the other would be.
func happenedOnce(t *testing.T, e *testEnv, action, code string, err1, err2 error) {
	t.Helper()
	var events int
	if err := e.st.RawScan(e.ctx, &events, "SELECT count(*) FROM audit_events WHERE action = ?", action); err != nil {
		t.Fatal(err)
	}
	if events != 1 {
		t.Fatalf("%d %s events (the writes: %v, %v), want 1", events, action, err1, err2)
	}
	if (err1 == nil) == (err2 == nil) || models.ErrorCode(errors.Join(err1, err2)) != code {
		t.Fatalf("the writes: %v, %v; want one done and the other %s", err1, err2, code)
	}
}
