package cache_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"gatehouse/cache"
	"gatehouse/clock"
)

func TestLeastRecentlyUsedIsEvicted(t *testing.T) {
	c := cache.New[string, int](nil, "t", cache.Options{MaxEntries: 3})
	c.Set("a", 1)
	c.Set("b", 2)
	c.Set("c", 3)
	if _, ok := c.Get("a"); !ok { // a is now the most recently used: b goes first
		t.Fatal("a missing")
	}
	c.Set("d", 4)
	if _, ok := c.Get("b"); ok {
		t.Error("b survived; it was the least recently used")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("%s evicted", k)
		}
	}
	c.Set("a", 10) // replacing is no eviction
	if v, _ := c.Get("a"); v != 10 {
		t.Errorf("a = %d after replace, want 10", v)
	}
	if s := c.Stats(); s.Evictions != 1 || s.Entries != 3 || s.Hits != 5 || s.Misses != 1 {
		t.Errorf("stats = %+v, want 1 eviction, 3 entries, 5 hits, 1 miss", s)
	}
}

func TestCostBound(t *testing.T) {
	c := cache.New[int, string](nil, "t", cache.Options{MaxEntries: 100, MaxCost: 10})
	c.SetCost(1, "x", 4)
	c.SetCost(2, "y", 4)
	c.SetCost(3, "z", 4) // 12 > 10: 1 goes
	if _, ok := c.Get(1); ok {
		t.Error("1 kept past the cost bound")
	}
	c.SetCost(4, "big", 11) // more than the whole bound: not stored, nothing evicted
	if _, ok := c.Get(4); ok {
		t.Error("an entry costing more than MaxCost was stored")
	}
	if c.Len() != 2 {
		t.Errorf("Len = %d, want 2", c.Len())
	}
	if !c.Add(5, "w", 1) || c.Add(5, "again", 1) {
		t.Error("Add: want true for a new key, false for a present one")
	}
	if v, _ := c.Get(5); v != "w" {
		t.Errorf("5 = %q, want the first Add's value", v)
	}
}

func TestTTL(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := cache.New[string, int](nil, "t", cache.Options{MaxEntries: 10, TTL: 2 * time.Second, Clock: clk})
	c.Set("a", 1)
	clk.Advance(1999 * time.Millisecond)
	if _, ok := c.Get("a"); !ok {
		t.Fatal("a expired before its TTL")
	}
	clk.Advance(time.Millisecond)
	if _, ok := c.Get("a"); ok {
		t.Fatal("a outlived its TTL")
	}
	if c.Len() != 0 {
		t.Errorf("an expired entry stays after Get: Len = %d", c.Len())
	}
	c.SetUntil("b", 2, clk.Now().Add(time.Hour)) // per entry, whatever the TTL
	clk.Advance(59 * time.Minute)
	if _, ok := c.Get("b"); !ok {
		t.Error("b expired before its own expiry")
	}
	c.Delete("b")
	if _, ok := c.Get("b"); ok {
		t.Error("b survived Delete")
	}
}

func TestPerEntryExpiryWithoutTTL(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := cache.New[string, int](nil, "t", cache.Options{MaxEntries: 10, Clock: clk})
	c.Set("forever", 1)
	c.SetUntil("soon", 2, clk.Now().Add(time.Second))
	clk.Advance(time.Hour)
	if _, ok := c.Get("soon"); ok {
		t.Error("soon outlived its expiry")
	}
	if _, ok := c.Get("forever"); !ok {
		t.Error("an entry without expiry expired")
	}
	c.Clear()
	if c.Len() != 0 {
		t.Error("Clear left entries")
	}
}

func TestConcurrentUse(t *testing.T) {
	g := cache.NewGroup()
	c := cache.New[int, int](g, "t", cache.Options{MaxEntries: 64, TTL: time.Minute})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := (i * (w + 1)) % 100
				if v, ok := c.Get(k); ok && v != k*k {
					t.Errorf("Get(%d) = %d", k, v)
					return
				}
				switch i % 10 {
				case 7:
					c.Delete(k)
				case 9:
					c.Add(k, k*k, 1)
				default:
					c.Set(k, k*k)
				}
			}
		}()
	}
	wg.Wait()
	if n := c.Len(); n > 64 {
		t.Errorf("Len = %d past the bound", n)
	}
	var got []string
	g.Each(func(name string, s cache.Stats) {
		got = append(got, name)
		if s.Hits+s.Misses != 8*2000 {
			t.Errorf("hits+misses = %d, want %d", s.Hits+s.Misses, 8*2000)
		}
	})
	if len(got) != 1 || got[0] != "t" {
		t.Errorf("group holds %v", got)
	}
}

func TestGroupSumsCachesOfOneName(t *testing.T) {
	g := cache.NewGroup()
	a := cache.New[string, int](g, "clients", cache.Options{})
	b := cache.New[string, int](g, "clients", cache.Options{})
	cache.New[string, int](g, "brands", cache.Options{}).Get("x")
	a.Get("x")
	b.Set("x", 1)
	b.Get("x")
	got := map[string]cache.Stats{}
	var order []string
	g.Each(func(name string, s cache.Stats) { got[name] = s; order = append(order, name) })
	if len(order) != 2 || order[0] != "clients" || order[1] != "brands" {
		t.Fatalf("order = %v", order)
	}
	if s := got["clients"]; s.Hits != 1 || s.Misses != 1 || s.Entries != 1 {
		t.Errorf("clients = %+v", s)
	}
	var nilGroup *cache.Group
	nilGroup.Each(func(string, cache.Stats) { t.Error("a nil group has caches") })
}

// The token endpoint reads the client cache once per request: Get must stay cheap.
func BenchmarkGet(b *testing.B) {
	c := cache.New[string, *int](nil, "bench", cache.Options{MaxEntries: 100_000, TTL: time.Hour})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "ghc_" + strconv.Itoa(i)
		v := i
		c.Set(keys[i], &v)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := c.Get(keys[i&1023]); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, ok := c.Get(keys[i&1023]); !ok {
					b.Error("miss")
					return
				}
			}
		})
	})
}
