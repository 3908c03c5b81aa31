package telemetry

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"gatehouse/cache"
)

func TestCacheMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := cache.NewGroup()
	RegisterCaches(reg, g)
	c := cache.New[string, int](g, "clients", cache.Options{MaxEntries: 1})
	c.Get("a")
	c.Set("a", 1)
	c.Get("a")
	c.Get("a")
	c.Set("b", 2) // evicts a
	want := `
# HELP gatehouse_cache_evictions_total Entries dropped to keep a cache within its bounds (least recently used first), by cache.
# TYPE gatehouse_cache_evictions_total counter
gatehouse_cache_evictions_total{cache="clients"} 1
# HELP gatehouse_cache_hits_total Cache lookups that found a live entry, by cache.
# TYPE gatehouse_cache_hits_total counter
gatehouse_cache_hits_total{cache="clients"} 2
# HELP gatehouse_cache_misses_total Cache lookups that found no entry or an expired one, by cache.
# TYPE gatehouse_cache_misses_total counter
gatehouse_cache_misses_total{cache="clients"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gatehouse_cache_hits_total",
		"gatehouse_cache_misses_total", "gatehouse_cache_evictions_total"); err != nil {
		t.Fatal(err)
	}
}
