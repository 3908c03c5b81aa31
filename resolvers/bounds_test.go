package resolvers

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestOverlapCost(t *testing.T) {
	var bulk strings.Builder
	bulk.WriteString("mutation {")
	for i := range 500 {
		fmt.Fprintf(&bulk, `b%d: updateUserAccountCredentials(input: {uuid: "u%d", credentials: [{connection: "okta", identifier: "x{y}(z)"}]}) { userAccount { uuid } errors { label message code } } `, i, i)
	}
	bulk.WriteString("}")
	for _, c := range []struct {
		name string
		doc  string
		max  int // the cost is at most this
		min  int // and at least this
	}{
		{"bulk aliased mutations", bulk.String(), 5000, 3000},
		{"repeated field", "{" + strings.Repeat("__typename ", 1000) + "}", 1_000_000, 1_000_000},
		{"repeated through inline fragments", "{" + strings.Repeat("... on Query { __typename } ", 1000) + "}", 1_000_000, 1_000_000},
		{"repeated under the same parent", "{" + strings.Repeat("viewer { clientId clientId } ", 100) + "}", 50000, 50000},
		{"aliases repeat too", "{" + strings.Repeat("a: __typename ", 100) + "}", 10000, 10000},
		{"fragments share a root", "fragment A on Query { __typename } fragment B on Query { __typename } { ...A ...B ...A }", 20, 9},
		{"values are not fields", `{ f(a: {b: "__typename", c: [1, 2]}) @skip(if: false) { g } }`, 2, 2},
	} {
		if got := overlapCost(c.doc, 1<<40); got > c.max || got < c.min {
			t.Errorf("%s: cost %d, want %d..%d", c.name, got, c.min, c.max)
		}
	}
	// The scan stops at the limit: the 81 s document costs a millisecond or two.
	doc := "{" + strings.Repeat("__typename ", 50000) + "}"
	start := time.Now()
	if overlapCost(doc, MaxOverlapCost) <= MaxOverlapCost {
		t.Fatal("not over the limit")
	}
	t.Logf("refused in %v", time.Since(start))
}
