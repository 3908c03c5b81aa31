package guard

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// request is the context of one request: its id (WithRequestID), its deadline and its
// response writer in one allocation.
//
// The deadline behaves as context.WithDeadline (deadline_test.go compares the two) but arms no
// timer until someone waits: most requests (a token for a cached client, discovery, the key
// set) never call Done, and arming a timer and linking into the connection's context for each
// of them cost about a microsecond. The first Done, or an Err that finds the request over,
// creates the real context.WithDeadline; from then on every method answers from it.
type request struct {
	parent   context.Context
	id       string    // the request id (WithRequestID), or "": the parent's
	armed    bool      // the guard set the deadline and the writer (before any handler ran)
	deadline time.Time // zero: no deadline of its own (RequestTimeout off, or not armed)
	w        writer

	// slots are the admission semaphores (nil: no bound) the request holds a slot of while
	// held: given back when the handler returns, or for a while by Outside. Only the
	// request's own goroutine reads or writes them.
	slots [2]chan struct{}
	held  bool

	mu       sync.Mutex
	inner    atomic.Pointer[deadlineCtx] // nil until needed
	released atomic.Bool                 // the handler returned: the context is cancelled
}

type deadlineCtx struct {
	context.Context
	cancel context.CancelFunc
}

func newRequest(parent context.Context, timeout time.Duration, w http.ResponseWriter) *request {
	c := &request{parent: parent}
	c.arm(timeout, w)
	return c
}

// armable reports whether arm may still be called: not armed yet, and nothing waited on c
// (which made its real context, without the deadline).
func (c *request) armable() bool { return !c.armed && c.inner.Load() == nil }

// arm gives c its deadline and writer. The guard arms the context that WithRequestID made
// when the request carries one (the access-log middleware's), so that the request is not
// copied again for a context of its own; it must happen before any handler sees c.
func (c *request) arm(timeout time.Duration, w http.ResponseWriter) {
	c.armed, c.w = true, writer{ResponseWriter: w}
	if timeout > 0 {
		c.deadline = time.Now().Add(timeout)
		if pd, ok := c.parent.Deadline(); ok && pd.Before(c.deadline) {
			c.deadline = pd
		}
	}
}

// real returns the context.WithDeadline this request stands for, creating it (cancelled when
// the handler has returned) on first use.
func (c *request) real() *deadlineCtx {
	if in := c.inner.Load(); in != nil {
		return in
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if in := c.inner.Load(); in != nil {
		return in
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if c.deadline.IsZero() {
		ctx, cancel = context.WithCancel(c.parent)
	} else {
		ctx, cancel = context.WithDeadline(c.parent, c.deadline)
	}
	in := &deadlineCtx{Context: ctx, cancel: cancel}
	if c.released.Load() {
		cancel()
	}
	c.inner.Store(in)
	return in
}

// release cancels the context as the deferred cancel of context.WithDeadline does when the
// handler returns.
func (c *request) release() {
	c.mu.Lock()
	c.released.Store(true)
	in := c.inner.Load()
	c.mu.Unlock()
	if in != nil {
		in.cancel()
	}
}

func (c *request) Deadline() (time.Time, bool) {
	if c.deadline.IsZero() {
		return c.parent.Deadline()
	}
	return c.deadline, true
}

func (c *request) Done() <-chan struct{} { return c.real().Done() }

func (c *request) Err() error {
	if in := c.inner.Load(); in != nil {
		return in.Err()
	}
	if !c.released.Load() && c.parent.Err() == nil && (c.deadline.IsZero() || time.Now().Before(c.deadline)) {
		return nil
	}
	return c.real().Err()
}

func (c *request) Value(key any) any {
	switch key.(type) {
	case writerKey:
		if c.armed {
			return &c.w
		}
	case requestKey:
		return c
	case requestIDKey:
		if c.id != "" {
			return c.id
		}
	}
	if in := c.inner.Load(); in != nil {
		// The real context answers the context package's own lookups (its cancellation
		// state), so that contexts derived from this one attach to it directly.
		return in.Value(key)
	}
	return c.parent.Value(key)
}
