package guard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// The request context is an oracle-tested stand-in for context.WithTimeout: every scenario
// runs on both and must observe the same thing (deadline, Err before and after the deadline,
// Done, cancellation from the parent, contexts derived from it, values, the cancel at the end
// of the handler).
func TestRequestContextMatchesWithTimeout(t *testing.T) {
	type key struct{}
	type impl struct {
		name string
		make func(parent context.Context, d time.Duration) (context.Context, func())
	}
	impls := []impl{
		{"context.WithTimeout", func(p context.Context, d time.Duration) (context.Context, func()) {
			if d <= 0 {
				return context.WithCancel(p)
			}
			return context.WithTimeout(p, d)
		}},
		{"request", func(p context.Context, d time.Duration) (context.Context, func()) {
			c := newRequest(p, d, httptest.NewRecorder())
			return c, c.release
		}},
	}
	const short = 30 * time.Millisecond
	scenarios := map[string]func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string{
		"live: no error, value of the parent": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			parent := context.WithValue(context.Background(), key{}, "v")
			ctx, release := mk(parent, time.Minute)
			defer release()
			d, ok := ctx.Deadline()
			return fmt3(ctx.Err(), ok && time.Until(d) > 50*time.Second && time.Until(d) <= time.Minute, ctx.Value(key{}))
		},
		"expired, Done never called before": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			ctx, release := mk(context.Background(), short)
			defer release()
			time.Sleep(2 * short)
			// context.WithTimeout's error is set by a timer callback, which a loaded machine
			// may run late: wait for it (Err, not Done, which this case must not call first).
			for start := time.Now(); ctx.Err() == nil && time.Since(start) < 5*time.Second; {
				time.Sleep(time.Millisecond)
			}
			return fmt3(ctx.Err(), closed(ctx.Done()), errors.Is(ctx.Err(), context.DeadlineExceeded))
		},
		"expired while waiting on Done": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			ctx, release := mk(context.Background(), short)
			defer release()
			open := !closed(ctx.Done())
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed at the deadline")
			}
			return fmt3(ctx.Err(), open, context.Cause(ctx))
		},
		"parent cancelled": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			parent, cancel := context.WithCancel(context.Background())
			ctx, release := mk(parent, time.Minute)
			defer release()
			child, stop := context.WithCancel(ctx) // derived before the cancel
			defer stop()
			cancel()
			<-child.Done()
			return fmt3(ctx.Err(), closed(ctx.Done()), child.Err())
		},
		"parent cancelled, Err before Done": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			parent, cancel := context.WithCancel(context.Background())
			ctx, release := mk(parent, time.Minute)
			defer release()
			cancel()
			return fmt3(ctx.Err(), closed(ctx.Done()), nil)
		},
		"parent with an earlier deadline": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			parent, cancel := context.WithTimeout(context.Background(), short)
			defer cancel()
			pd, _ := parent.Deadline()
			ctx, release := mk(parent, time.Minute)
			defer release()
			d, ok := ctx.Deadline()
			<-ctx.Done()
			return fmt3(ok && d.Equal(pd), ctx.Err(), nil)
		},
		"derived context ends at the deadline": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			ctx, release := mk(context.Background(), short)
			defer release()
			child, stop := context.WithCancel(ctx)
			defer stop()
			<-child.Done()
			return fmt3(child.Err(), ctx.Err(), nil)
		},
		"cancelled when the handler returns": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			ctx, release := mk(context.Background(), time.Minute)
			release()
			return fmt3(ctx.Err(), closed(ctx.Done()), nil)
		},
		"cancelled when the handler returns, a derived context ends": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			ctx, release := mk(context.Background(), time.Minute)
			child, stop := context.WithCancel(ctx)
			defer stop()
			release()
			<-child.Done()
			return fmt3(child.Err(), ctx.Err(), nil)
		},
		"no timeout: only the parent's deadline": func(t *testing.T, mk func(context.Context, time.Duration) (context.Context, func())) string {
			ctx, release := mk(context.Background(), 0)
			defer release()
			_, ok := ctx.Deadline()
			return fmt3(ok, ctx.Err(), closed(ctx.Done()))
		},
	}
	for name, run := range scenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var want string
			for i, im := range impls {
				got := run(t, im.make)
				if i == 0 {
					want = got
				} else if got != want {
					t.Errorf("%s: %s; %s: %s", impls[0].name, want, im.name, got)
				}
			}
		})
	}
}

// The writer travels in the request context, for MarkUnavailable.
func TestRequestContextCarriesWriter(t *testing.T) {
	c := newRequest(context.Background(), time.Minute, httptest.NewRecorder())
	defer c.release()
	MarkUnavailable(c)
	if !c.w.unavailable.Load() {
		t.Fatal("MarkUnavailable did not reach the request's writer")
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func fmt3(a, b, c any) string {
	s := ""
	for _, v := range []any{a, b, c} {
		switch v := v.(type) {
		case error:
			s += "err(" + v.Error() + ") "
		case nil:
			s += "nil "
		case bool:
			if v {
				s += "true "
			} else {
				s += "false "
			}
		case string:
			s += v + " "
		default:
			s += "? "
		}
	}
	return s
}

// Contexts derived from a request context attach to its real context like to any
// context.WithDeadline: no goroutine per derived context (the database driver derives some).
func TestRequestContextDerivesWithoutGoroutines(t *testing.T) {
	c := newRequest(context.Background(), time.Minute, httptest.NewRecorder())
	defer c.release()
	before := runtime.NumGoroutine()
	var stops []context.CancelFunc
	for range 50 {
		_, stop := context.WithCancel(c)
		stops = append(stops, stop)
	}
	if n := runtime.NumGoroutine() - before; n > 5 {
		t.Errorf("%d goroutines for 50 derived contexts", n)
	}
	for _, stop := range stops {
		stop()
	}
}

// A request that carries a context from WithRequestID (the access-log middleware's) keeps it:
// the guard arms it with the deadline and the writer instead of copying the request, and log
// lines still find the id. Without one, the guard makes its own.
func TestHandlerArmsRequestIDContext(t *testing.T) {
	g := New(Config{RequestTimeout: time.Minute})
	var seen context.Context
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Context()
		if _, ok := r.Context().Deadline(); !ok {
			t.Error("no deadline")
		}
		MarkUnavailable(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	r := httptest.NewRequest(http.MethodGet, "/api/v1/sso/connections", nil)
	r = r.WithContext(WithRequestID(r.Context(), "req-7"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if seen != r.Context() || RequestID(seen) != "req-7" {
		t.Fatalf("the handler got another context (%v) or lost the id (%q)", seen != r.Context(), RequestID(seen))
	}
	if w.Code != http.StatusServiceUnavailable || seen.Err() == nil {
		t.Fatalf("status %d, err %v: the armed context is not the guard's", w.Code, seen.Err())
	}
	plain := httptest.NewRequest(http.MethodGet, "/api/v1/sso/connections", nil)
	h.ServeHTTP(httptest.NewRecorder(), plain)
	if seen == plain.Context() {
		t.Fatal("the guard armed a context it did not find")
	}
	if _, ok := seen.Deadline(); !ok {
		t.Fatal("no deadline without a request id")
	}
}

// A request id's context that something already waited on (its real context exists, without
// the deadline) is not armed: the guard makes its own, so the deadline holds.
func TestHandlerDoesNotArmAWaitedContext(t *testing.T) {
	g := New(Config{RequestTimeout: 50 * time.Millisecond})
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
			t.Error("no deadline")
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "/api/v1/sso/connections", nil)
	ctx := WithRequestID(r.Context(), "req-8")
	_ = ctx.Done()
	h.ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx))
}

// A request that waited for a slot still gets its deadline on the request id's context.
func TestHandlerArmsAfterQueueing(t *testing.T) {
	g := New(Config{RequestTimeout: 50 * time.Millisecond, MaxConcurrent: 1, QueueTimeout: 5 * time.Second})
	hold := make(chan struct{})
	h := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("hold") {
			<-hold
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
			t.Error("no deadline after queueing")
		}
	}))
	first := httptest.NewRequest(http.MethodGet, "/api/v1/sso/connections?hold", nil)
	done := make(chan struct{})
	go func() { h.ServeHTTP(httptest.NewRecorder(), first); close(done) }()
	time.Sleep(20 * time.Millisecond) // the first request holds the only slot
	r := httptest.NewRequest(http.MethodGet, "/api/v1/sso/connections", nil)
	r = r.WithContext(WithRequestID(r.Context(), "req-9"))
	go func() { time.Sleep(30 * time.Millisecond); close(hold) }()
	h.ServeHTTP(httptest.NewRecorder(), r)
	<-done
}
