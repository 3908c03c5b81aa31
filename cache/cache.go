// Package cache provides the one bounded cache every Gatehouse cache is built from: a map with
// least-recently-used eviction under a bound on entries (and optionally on an estimated cost),
// an optional time to live (per cache, or per entry), and counts of hits, misses and
// evictions that telemetry exports per cache name. It is safe for concurrent use and costs
// one mutex, one map lookup and a few pointer writes per Get.
//
// A cache only remembers; what an entry means, when it must be forgotten and how a missing
// value is loaded are its owner's business. No cache is a package variable: each belongs to
// the service or handler that uses it and is built when that is built.
package cache

import (
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/clock"
)

// Options configure a Cache.
type Options struct {
	// MaxEntries bounds the number of entries (at least 1; default 1,000).
	MaxEntries int
	// MaxCost, when positive, bounds the sum of the entries' costs (see SetCost).
	MaxCost int
	// TTL, when positive, is how long an entry set with Set or SetCost lives.
	TTL time.Duration
	// Clock tells the time entries expire against (default clock.Real).
	Clock clock.Clock
}

// Stats are a cache's counts since it was built.
type Stats struct {
	Hits, Misses uint64
	// Evictions counts entries dropped to make room (not expired or deleted ones).
	Evictions uint64
	Entries   int
}

// Cache maps keys to values, bounded. The zero value is not usable: build one with New.
type Cache[K comparable, V any] struct {
	name  string
	o     Options
	clk   clock.Clock
	timed atomic.Bool // some entry may expire: Get needs the time

	mu   sync.Mutex
	m    map[K]*entry[K, V]
	root entry[K, V] // root.next is the most recently used, root.prev the least
	cost int
	st   Stats
}

type entry[K comparable, V any] struct {
	key        K
	val        V
	exp        time.Time // zero: never
	cost       int
	prev, next *entry[K, V]
}

// New builds a cache named name (the label of its metrics) and adds it to g (nil: none).
func New[K comparable, V any](g *Group, name string, o Options) *Cache[K, V] {
	if o.MaxEntries <= 0 {
		o.MaxEntries = 1000
	}
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	c := &Cache[K, V]{name: name, o: o, clk: o.Clock, m: make(map[K]*entry[K, V])}
	c.root.next, c.root.prev = &c.root, &c.root
	c.timed.Store(o.TTL > 0)
	g.add(c)
	return c
}

// Name is the cache's name.
func (c *Cache[K, V]) Name() string { return c.name }

// Get returns the value of key, if it is there and has not expired.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	var now time.Time
	if c.timed.Load() {
		now = c.clk.Now()
	}
	c.mu.Lock()
	e, ok := c.m[key]
	if !ok {
		c.st.Misses++
		c.mu.Unlock()
		var zero V
		return zero, false
	}
	if !e.exp.IsZero() && !now.Before(e.exp) {
		c.remove(e)
		c.st.Misses++
		c.mu.Unlock()
		var zero V
		return zero, false
	}
	if c.root.next != e {
		c.unlink(e)
		c.pushFront(e)
	}
	c.st.Hits++
	v := e.val
	c.mu.Unlock()
	return v, true
}

// Set stores value under key, for the cache's TTL.
func (c *Cache[K, V]) Set(key K, value V) { c.set(key, value, c.expiry(), 0) }

// SetCost stores value under key with its estimated cost (see Options.MaxCost), for the cache's
// TTL. A value costing more than MaxCost is not stored.
func (c *Cache[K, V]) SetCost(key K, value V, cost int) { c.set(key, value, c.expiry(), cost) }

// SetUntil stores value under key until exp, whatever the cache's TTL.
func (c *Cache[K, V]) SetUntil(key K, value V, exp time.Time) {
	if !c.timed.Load() {
		c.timed.Store(true)
	}
	c.set(key, value, exp, 0)
}

// Add stores value under key unless key is already there (and not expired); it reports
// whether it stored it.
func (c *Cache[K, V]) Add(key K, value V, cost int) bool {
	exp := c.expiry()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok && (e.exp.IsZero() || c.clk.Now().Before(e.exp)) {
		return false
	}
	return c.store(key, value, exp, cost)
}

func (c *Cache[K, V]) expiry() time.Time {
	if c.o.TTL > 0 {
		return c.clk.Now().Add(c.o.TTL)
	}
	return time.Time{}
}

func (c *Cache[K, V]) set(key K, value V, exp time.Time, cost int) {
	c.mu.Lock()
	c.store(key, value, exp, cost)
	c.mu.Unlock()
}

// store adds or replaces key's entry and evicts the least recently used entries beyond the
// bounds. c.mu is held.
func (c *Cache[K, V]) store(key K, value V, exp time.Time, cost int) bool {
	if old, ok := c.m[key]; ok {
		c.remove(old)
	}
	if c.o.MaxCost > 0 && cost > c.o.MaxCost {
		return false
	}
	e := &entry[K, V]{key: key, val: value, exp: exp, cost: cost}
	c.m[key] = e
	c.pushFront(e)
	c.cost += cost
	for len(c.m) > c.o.MaxEntries || c.o.MaxCost > 0 && c.cost > c.o.MaxCost {
		c.remove(c.root.prev)
		c.st.Evictions++
	}
	return true
}

// Delete forgets key.
func (c *Cache[K, V]) Delete(key K) {
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		c.remove(e)
	}
	c.mu.Unlock()
}

// Clear forgets every entry.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	clear(c.m)
	c.root.next, c.root.prev = &c.root, &c.root
	c.cost = 0
	c.mu.Unlock()
}

// Len is the number of entries, expired ones included until they are looked up or evicted.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Stats returns the cache's counts.
func (c *Cache[K, V]) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.Entries = len(c.m)
	return s
}

func (c *Cache[K, V]) remove(e *entry[K, V]) {
	c.unlink(e)
	delete(c.m, e.key)
	c.cost -= e.cost
}

func (c *Cache[K, V]) unlink(e *entry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *Cache[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = &c.root, c.root.next
	c.root.next.prev = e
	c.root.next = e
}

// Group is the set of caches whose counts telemetry exports. It is safe for concurrent use;
// a nil *Group holds nothing.
type Group struct {
	mu     sync.Mutex
	caches []named
}

type named interface {
	Name() string
	Stats() Stats
}

// NewGroup returns an empty group.
func NewGroup() *Group { return &Group{} }

func (g *Group) add(c named) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.caches = append(g.caches, c)
	g.mu.Unlock()
}

// Each calls fn with the name and counts of every cache of the group, in the order they were
// built. Caches of the same name (one per service in a test process) are summed.
func (g *Group) Each(fn func(name string, s Stats)) {
	if g == nil {
		return
	}
	g.mu.Lock()
	cs := append([]named(nil), g.caches...)
	g.mu.Unlock()
	var order []string
	sums := map[string]Stats{}
	for _, c := range cs {
		s, seen := sums[c.Name()]
		if !seen {
			order = append(order, c.Name())
		}
		t := c.Stats()
		s.Hits += t.Hits
		s.Misses += t.Misses
		s.Evictions += t.Evictions
		s.Entries += t.Entries
		sums[c.Name()] = s
	}
	for _, n := range order {
		fn(n, sums[n])
	}
}
