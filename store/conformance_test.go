package store_test

import (
	"context"
	"reflect"
	"sort"
	"testing"

	"gatehouse/store"
	"gatehouse/store/conformance"
	"gatehouse/store/storetest"
)

// The store's declared contract, on every dialect: one database per dialect, migrated once,
// and a fresh handle on it for each subtest.
func TestConformance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		openMigrated(t, dbURL)
		conformance.RunTests(t, func(t *testing.T) *store.Store {
			st, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

// Every exported method of *store.Store has a subtest in the conformance suite, and the suite
// names no method that does not exist.
func TestConformanceCoversEveryMethod(t *testing.T) {
	covered := map[string]bool{}
	for _, m := range conformance.Methods() {
		if covered[m] {
			t.Errorf("conformance names %s twice", m)
		}
		covered[m] = true
	}
	typ := reflect.TypeOf(&store.Store{})
	var missing []string
	for i := 0; i < typ.NumMethod(); i++ {
		name := typ.Method(i).Name
		if !covered[name] {
			missing = append(missing, name)
		}
		delete(covered, name)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("(*store.Store).%s has no subtest in store/conformance: add one that asserts its error contract", m)
	}
	for m := range covered {
		t.Errorf("store/conformance names %s, which *store.Store does not have", m)
	}
}
