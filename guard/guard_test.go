package guard

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{"20/1m": {20, time.Minute}, "100/1s": {100, time.Second}, "off": {}, "0": {}} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"20", "x/1m", "20/soon", "20/0s", "-1/1s"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if (Rate{20, time.Minute}).retryAfter() != 3 || (Rate{1000, time.Second}).retryAfter() != 1 {
		t.Error("retryAfter")
	}
}

// A keyed limiter refuses past its burst, refills, forgets full buckets and stays bounded
// when flooded with new keys, without resetting tracked ones.
func TestKeyedLimiter(t *testing.T) {
	k := newKeyed(Rate{N: 3, Per: 3 * time.Second})
	now := time.Now()
	for i := range 3 {
		if !k.allow("a", now) {
			t.Fatalf("event %d refused", i)
		}
	}
	if k.allow("a", now) || k.ready("a", now) {
		t.Fatal("burst exceeded")
	}
	if !k.ready("a", now.Add(1100*time.Millisecond)) {
		t.Fatal("no refill after a second")
	}
	for i := range maxKeys + 10 {
		k.allow("flood"+strconv.Itoa(i), now)
	}
	if k.size() > maxKeys {
		t.Fatalf("%d keys", k.size())
	}
	if k.ready("a", now) {
		t.Fatal("flood reset a tracked bucket")
	}
	k.allow("b", now.Add(time.Hour)) // sweeps: every bucket is full again
	if k.size() != 1 {
		t.Fatalf("%d keys after the sweep", k.size())
	}
	// Once every bucket refilled, a read empties the limiter again, and reads of an empty
	// limiter look nothing up (the authentication-failure limiters between failures).
	k.allow("c", now.Add(2*time.Hour))
	if !k.ready("c", now.Add(4*time.Hour)) || k.tracked.Load() != 0 || k.size() != 0 {
		t.Fatalf("%d keys (%d counted) after a read past the refill", k.size(), k.tracked.Load())
	}
	var off *keyed = newKeyed(Rate{})
	if !off.allow("x", now) || !off.ready("x", now) {
		t.Fatal("a disabled limiter refuses")
	}
}

// Log lines of a request carry its id; a burst of the same ERROR is cut to a few lines and a
// count.
func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(slog.NewTextHandler(&buf, nil))).With("component", "test")
	ctx := WithRequestID(context.Background(), "req-1")
	log.WarnContext(ctx, "slow")
	if !strings.Contains(buf.String(), "request_id=req-1") || !strings.Contains(buf.String(), "component=test") {
		t.Fatalf("no request id: %s", buf.String())
	}
	// A line that names its request id has it once, its own; the context's, when another,
	// goes as http_request_id.
	buf.Reset()
	log.WarnContext(ctx, "sign-in failed", "request_id", "req-0", "cause", "x")
	if strings.Count(buf.String(), " request_id=") != 1 || !strings.Contains(buf.String(), " request_id=req-0") ||
		!strings.Contains(buf.String(), "http_request_id=req-1") {
		t.Fatalf("request id named by the line: %s", buf.String())
	}
	buf.Reset()
	log.WarnContext(ctx, "sign-in failed", "request_id", "req-1")
	if strings.Count(buf.String(), "request_id=") != 1 {
		t.Fatalf("the context's request id named by the line: %s", buf.String())
	}
	buf.Reset()
	for i := range 3000 {
		log.ErrorContext(WithRequestID(context.Background(), "r"+strconv.Itoa(i)), "store: unreachable")
	}
	if n := strings.Count(buf.String(), "\n"); n != errorBurst {
		t.Fatalf("%d lines for 3000 errors in a window", n)
	}
	// The next window reports the suppressed count first.
	h := log.Handler().(*logHandler)
	h.agg.m["store: unreachable"].start = time.Now().Add(-2 * errorWindow)
	buf.Reset()
	log.Error("store: unreachable")
	if !strings.Contains(buf.String(), "suppressed="+strconv.Itoa(3000-errorBurst)) {
		t.Fatalf("no summary: %s", buf.String())
	}
}
