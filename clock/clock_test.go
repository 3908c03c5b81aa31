package clock_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/clock"
)

func TestFake(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := clock.NewFake(t0)
	if !f.Now().Equal(t0) {
		t.Fatalf("Now = %v, want %v", f.Now(), t0)
	}
	f.Advance(time.Minute)
	if want := t0.Add(time.Minute); !f.Now().Equal(want) {
		t.Fatalf("after Advance: %v, want %v", f.Now(), want)
	}
	f.Set(t0)
	if !f.Now().Equal(t0) {
		t.Fatalf("after Set: %v, want %v", f.Now(), t0)
	}
	if d := time.Since(clock.Real.Now()); d < 0 || d > time.Minute {
		t.Fatalf("Real is %v away from time.Now", d)
	}
}

// The layers below and beside the service read the time only through the injected clock, so
// that a test's fake clock reaches every decision.
func TestNoTimeNowOutsideTheClock(t *testing.T) {
	for _, dir := range []string{"store", "rest", "resolvers", "scim"} {
		root := filepath.Join("..", dir)
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for n := 1; sc.Scan(); n++ {
				line := sc.Text()
				for _, call := range []string{"time.Now(", "time.Since(", "time.Until("} {
					if strings.Contains(line, call) {
						t.Errorf("%s:%d calls %s): use the injected clock", path, n, call)
					}
				}
			}
			return sc.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
