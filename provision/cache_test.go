package provision

import (
	"context"
	"testing"
	"time"

	"gatehouse/cache"
	"gatehouse/clock"
)

// A row loaded while the cache was forgotten or cleared is returned but not kept: it may be
// the row as it was before the change that forgot it.
func TestCredentialCacheKeepsNothingLoadedAcrossAForget(t *testing.T) {
	c := newCredentialCache[string](cache.NewGroup(), "test", time.Minute, clock.Real)
	old := "before the change"
	for name, change := range map[string]func(){"clear": c.clear, "forget": func() { c.forget("k") }} {
		v, err := c.get(context.Background(), "k", func(context.Context) (*string, error) {
			change() // the change commits while the row is being read
			return &old, nil
		})
		if err != nil || v != &old {
			t.Fatalf("%s: get %v %v", name, v, err)
		}
		if _, cached := c.c.Get("k"); cached {
			t.Fatalf("%s: the row loaded across the change was kept", name)
		}
		// Without a change, the row is kept.
		if _, err := c.get(context.Background(), "k", func(context.Context) (*string, error) { return &old, nil }); err != nil {
			t.Fatal(err)
		}
		if _, cached := c.c.Get("k"); !cached {
			t.Fatalf("%s: a row loaded without a change was not kept", name)
		}
		c.forget("k")
	}
}
