package provision

import (
	"context"
	"errors"
	"sync"
	"time"

	"gatehouse/store"
)

// credentialCache keeps recently read credential rows (integration clients, SCIM tokens) for a
// short time, so that bursts of requests with the same credential do not read its row each
// time. The TTL bounds how long a revocation takes to reach other replicas; this replica
// forgets an entry at once when it changes the row. A missing row is cached too (as nil), and
// the cache is bounded so that unknown keys cannot grow it without limit.
type credentialCache[T any] struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.Mutex
	m   map[string]cachedRow[T]
}

type cachedRow[T any] struct {
	v  *T // nil: no such row
	at time.Time
}

// maxCachedCredentials bounds a credentialCache; when full it is emptied.
const maxCachedCredentials = 100_000

func newCredentialCache[T any](ttl time.Duration, now func() time.Time) *credentialCache[T] {
	return &credentialCache[T]{ttl: ttl, now: now, m: make(map[string]cachedRow[T])}
}

// get returns the cached row for key, or loads it; load's store.ErrNotFound means "no row".
func (c *credentialCache[T]) get(ctx context.Context, key string, load func(context.Context) (*T, error)) (*T, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < c.ttl {
		return e.v, nil
	}
	v, err := load(ctx)
	if errors.Is(err, store.ErrNotFound) {
		v, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedCredentials {
		clear(c.m)
	}
	c.m[key] = cachedRow[T]{v: v, at: c.now()}
	c.mu.Unlock()
	return v, nil
}

// forget drops key, so that the next get reads the row again.
func (c *credentialCache[T]) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}
