package provision

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"gatehouse/cache"
	"gatehouse/clock"
	"gatehouse/store"
)

// credentialCache keeps recently read credential rows (integration clients, SCIM tokens) for a
// short time, so that bursts of requests with the same credential do not read its row each
// time. The TTL bounds how long a revocation takes to reach other replicas; this replica
// forgets an entry at once when it changes the row. A missing row is cached too (as nil), and
// the cache is bounded so that unknown keys cannot grow it without limit.
type credentialCache[T any] struct {
	c *cache.Cache[string, *T] // nil value: no such row
	// gen counts forgets and clears: a get whose load began before one does not store what
	// it loaded, which may be the row as it was before the change.
	gen atomic.Uint64
}

// maxCachedCredentials bounds a credentialCache.
const maxCachedCredentials = 100_000

func newCredentialCache[T any](g *cache.Group, name string, ttl time.Duration, clk clock.Clock) *credentialCache[T] {
	return &credentialCache[T]{c: cache.New[string, *T](g, name,
		cache.Options{MaxEntries: maxCachedCredentials, TTL: ttl, Clock: clk})}
}

// get returns the cached row for key, or loads it; load's store.ErrNotFound means "no row".
func (c *credentialCache[T]) get(ctx context.Context, key string, load func(context.Context) (*T, error)) (*T, error) {
	if v, ok := c.c.Get(key); ok {
		return v, nil
	}
	gen := c.gen.Load()
	v, err := load(ctx)
	if errors.Is(err, store.ErrNotFound) {
		v, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c.gen.Load() == gen {
		c.c.Set(key, v)
		// A forget may have come between the check and the Set, its Delete before the Set:
		// then gen has moved by now, and what was just stored goes. A forget after this load
		// of gen deletes after the Set itself (it moves gen, then deletes), so either way the
		// row as it was before the change is not kept.
		if c.gen.Load() != gen {
			c.c.Delete(key)
		}
	}
	return v, nil
}

// forget drops key, so that the next get reads the row again.
func (c *credentialCache[T]) forget(key string) {
	c.gen.Add(1)
	c.c.Delete(key)
}

// clear drops every entry: for a change whose keys the caller cannot name (a connection is
// cached under its slug and under each of its domains).
func (c *credentialCache[T]) clear() {
	c.gen.Add(1)
	c.c.Clear()
}
