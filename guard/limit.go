package guard

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: N events at once, refilled at N per Per. N == 0 disables it.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate reads "N/duration" ("20/1m", "100/1s") or "off".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("want N/duration (e.g. 20/1m) or off, got %q", s)
	}
	v, err := strconv.Atoi(n)
	if err != nil || v < 0 {
		return Rate{}, fmt.Errorf("want a whole number of events before the slash, got %q", n)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("want a positive duration after the slash (1s, 1m), got %q", per)
	}
	return Rate{N: v, Per: d}, nil
}

// String formats r as ParseRate reads it.
func (r Rate) String() string {
	if r.N == 0 {
		return "off"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// retryAfter is how long one event takes to refill, in whole seconds (at least 1).
func (r Rate) retryAfter() int {
	s := int((r.Per/time.Duration(r.N) + time.Second - 1) / time.Second)
	return max(s, 1)
}

// maxKeys bounds each keyed limiter's memory (about 150 bytes a key). Keys can come from
// unauthenticated input (a client id, a bearer token), so past the bound new keys go untracked
// rather than evicting tracked ones: an attacker cannot reset a bucket by flooding.
const maxKeys = 50000

// keyed is a token bucket per key (client id, address, token) with bounded memory: a bucket
// that refilled completely is the same as a new one, so sweeps drop those.
type keyed struct {
	rate      Rate
	mu        sync.Mutex
	m         map[string]*rate.Limiter
	lastSweep time.Time
	// tracked is len(m), readable without the lock: the authentication-failure limiters are
	// empty unless someone failed recently, and then ready has nothing to look up.
	tracked atomic.Int64
}

func newKeyed(r Rate) *keyed {
	if r.N == 0 {
		return nil
	}
	return &keyed{rate: r, m: make(map[string]*rate.Limiter), lastSweep: time.Now()}
}

// ready reports whether key has an event left, without taking it.
func (k *keyed) ready(key string, now time.Time) bool {
	if k == nil || k.tracked.Load() == 0 {
		return true
	}
	k.mu.Lock()
	if now.Sub(k.lastSweep) > k.rate.Per {
		k.sweep(now) // so that the limiter empties again once failures stop
	}
	l := k.m[key]
	k.mu.Unlock()
	return l == nil || l.TokensAt(now) >= 1
}

// allow takes an event for key and reports whether there was one.
func (k *keyed) allow(key string, now time.Time) bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	if now.Sub(k.lastSweep) > k.rate.Per || len(k.m) >= maxKeys {
		k.sweep(now)
	}
	l := k.m[key]
	if l == nil {
		if len(k.m) >= maxKeys {
			k.mu.Unlock()
			return true
		}
		l = rate.NewLimiter(rate.Every(k.rate.Per/time.Duration(k.rate.N)), k.rate.N)
		k.m[key] = l
		k.tracked.Store(int64(len(k.m)))
	}
	k.mu.Unlock()
	return l.AllowN(now, 1)
}

// sweep drops full buckets; k.mu is held.
func (k *keyed) sweep(now time.Time) {
	k.lastSweep = now
	for key, l := range k.m {
		if l.TokensAt(now) >= float64(k.rate.N) {
			delete(k.m, key)
		}
	}
	k.tracked.Store(int64(len(k.m)))
}

func (k *keyed) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}
