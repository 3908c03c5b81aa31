package guard

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

type requestIDKey struct{}

// requestKey finds the *request a context carries.
type requestKey struct{}

// WithRequestID returns ctx carrying the request id that every log line of the request names.
// The guard's Handler gives the same context the request's deadline (deadline.go).
func WithRequestID(ctx context.Context, id string) context.Context {
	return &request{parent: ctx, id: id}
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Repetitive warnings and errors: at most errorBurst lines of one message per errorWindow; the
// rest are counted and reported in one line when the window ends (an outage otherwise logs the
// same line for every request).
const (
	errorBurst  = 5
	errorWindow = time.Second
)

// NewLogHandler wraps h: every record logged with a request's context carries its request_id,
// and repeated WARN and ERROR lines are aggregated.
func NewLogHandler(h slog.Handler) slog.Handler {
	return &logHandler{Handler: h, agg: &aggregator{m: map[string]*window{}}}
}

type logHandler struct {
	slog.Handler
	agg *aggregator
}

type aggregator struct {
	mu sync.Mutex
	m  map[string]*window // by message: a fixed set of strings in the code
}

type window struct {
	start      time.Time
	n          int
	suppressed int
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		pass, suppressed := h.agg.admit(r.Message, r.Time)
		if suppressed > 0 {
			s := slog.NewRecord(r.Time, r.Level, r.Message+" (repeated)", 0)
			s.AddAttrs(slog.Int("suppressed", suppressed), slog.Duration("window", errorWindow))
			if err := h.Handler.Handle(ctx, s); err != nil {
				return err
			}
		}
		if !pass {
			return nil
		}
	}
	if id := RequestID(ctx); id != "" {
		// A line may name its request id itself (the id a page showed, when the line is about
		// another request than the context's, such as a sign-in's first one): one request_id
		// key in a line, the line's; the context's then goes as http_request_id, so that the
		// line still joins the access log of the request that wrote it.
		key := "request_id"
		if own, named := requestIDOf(r); named {
			if own == id {
				return h.Handler.Handle(ctx, r)
			}
			key = "http_request_id"
		}
		r = r.Clone()
		r.AddAttrs(slog.String(key, id))
	}
	return h.Handler.Handle(ctx, r)
}

// requestIDOf returns the request_id the record names, if it names one.
func requestIDOf(r slog.Record) (id string, named bool) {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "request_id" {
			id, named = a.Value.String(), true
		}
		return !named
	})
	return id, named
}

// admit reports whether a record with msg at t is logged, and how many were suppressed in
// the window that just ended.
func (a *aggregator) admit(msg string, t time.Time) (pass bool, suppressed int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.m[msg]
	if w == nil {
		if len(a.m) > 1000 { // messages are constants; stay bounded anyway
			clear(a.m)
		}
		w = &window{start: t}
		a.m[msg] = w
	}
	if t.Sub(w.start) >= errorWindow {
		suppressed = w.suppressed
		w.start, w.n, w.suppressed = t, 0, 0
	}
	if w.n < errorBurst {
		w.n++
		return true, suppressed
	}
	w.suppressed++
	return false, suppressed
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{Handler: h.Handler.WithAttrs(attrs), agg: h.agg}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{Handler: h.Handler.WithGroup(name), agg: h.agg}
}
