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

// hookedClock is the real clock that runs hook, once, at the nth call of Now from when it is
// armed: the cache reads the clock when it stores an entry, so a change can be made to commit
// exactly between credentialCache.get's generation check and its Set.
type hookedClock struct {
	n    int
	hook func()
}

func (c *hookedClock) Now() time.Time {
	if c.hook != nil {
		if c.n--; c.n == 0 {
			h := c.hook
			c.hook = nil
			h()
		}
	}
	return time.Now()
}

// A change that forgets the row after get checked the generation, but before it stored what it
// loaded, still wins: the row as it was before the change is not kept.
func TestCredentialCacheForgetBetweenCheckAndSet(t *testing.T) {
	clk := &hookedClock{}
	c := newCredentialCache[string](cache.NewGroup(), "test", time.Minute, clk)
	old := "before the change"
	// get reads the clock twice: in the cache's Get (a miss), and in its Set.
	clk.n, clk.hook = 2, func() { c.forget("k") }
	v, err := c.get(context.Background(), "k", func(context.Context) (*string, error) { return &old, nil })
	if err != nil || v != &old {
		t.Fatalf("get %v %v", v, err)
	}
	if clk.hook != nil {
		t.Fatal("the change was not made: the cache reads the clock otherwise than this test expects")
	}
	if _, cached := c.c.Get("k"); cached {
		t.Fatal("the row loaded before the change was kept")
	}
}
