package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/cache"
)

// cacheCollector exports the counts of a cache.Group when /metrics is scraped: the caches
// count under their own lock, so a lookup costs no metric update.
type cacheCollector struct {
	g                                *cache.Group
	hits, misses, evictions, entries *prometheus.Desc
}

// RegisterCaches exports the hits, misses, evictions and size of every cache of g on reg, as
// gatehouse_cache_{hits,misses,evictions}_total and gatehouse_cache_entries by cache name.
func RegisterCaches(reg prometheus.Registerer, g *cache.Group) {
	l := []string{"cache"}
	reg.MustRegister(&cacheCollector{g: g,
		hits:      prometheus.NewDesc("gatehouse_cache_hits_total", "Cache lookups that found a live entry, by cache.", l, nil),
		misses:    prometheus.NewDesc("gatehouse_cache_misses_total", "Cache lookups that found no entry or an expired one, by cache.", l, nil),
		evictions: prometheus.NewDesc("gatehouse_cache_evictions_total", "Entries dropped to keep a cache within its bounds (least recently used first), by cache.", l, nil),
		entries:   prometheus.NewDesc("gatehouse_cache_entries", "Entries held, expired ones included until looked up or evicted, by cache.", l, nil),
	})
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hits
	ch <- c.misses
	ch <- c.evictions
	ch <- c.entries
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	c.g.Each(func(name string, s cache.Stats) {
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.Hits), name)
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(s.Misses), name)
		ch <- prometheus.MustNewConstMetric(c.evictions, prometheus.CounterValue, float64(s.Evictions), name)
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(s.Entries), name)
	})
}
