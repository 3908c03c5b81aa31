package telemetry

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestGraphQLOperationNamesAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, nil)
	for i := 0; i < MaxOperationNames+50; i++ {
		m.GraphQLOperation(fmt.Sprintf("Op%d", i), i%2 == 0)
	}
	if got := m.GraphQLOperation(strings.Repeat("A", MaxOperationNameBytes+1), false); got != OperationOther {
		t.Fatalf("a long name counted as %q", got)
	}
	if got := m.GraphQLOperation("Op0", false); got != "Op0" {
		t.Fatalf("a name seen before the cap counted as %q", got)
	}
	if got := m.GraphQLOperation("Op120", false); got != OperationOther {
		t.Fatalf("a name past the cap counted as %q", got)
	}
	// Every name has two series (success, error); the names past the cap share "(other)".
	if n := testutil.CollectAndCount(m.graphql); n != 2*(MaxOperationNames+1) {
		t.Fatalf("%d series, want %d", n, 2*(MaxOperationNames+1))
	}
	if v := testutil.ToFloat64(m.graphql.WithLabelValues(OperationOther, OutcomeSuccess)); v != 27 {
		t.Fatalf("(other) successes = %v, want 27", v) // 25 odd names past the cap, the long one, Op120
	}
	if v := testutil.ToFloat64(m.graphql.WithLabelValues("Op0", OutcomeError)); v != 1 {
		t.Fatalf("Op0 errors = %v, want 1", v)
	}
}

func TestOutcomeOfStatus(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry(), nil)
	c := m.SCIMOperation("user", "patch")
	for _, s := range []int{200, 201, 204, 400, 404, 409, 412, 401, 403, 500, 503} {
		c.ObserveStatus(s)
	}
	for outcome, want := range map[string]float64{OutcomeSuccess: 3, OutcomeClientError: 4, OutcomeDenied: 2, OutcomeServerError: 2} {
		if v := testutil.ToFloat64(m.scim.WithLabelValues("user", "patch", outcome)); v != want {
			t.Errorf("%s = %v, want %v", outcome, v, want)
		}
	}
}

// TestTokenGrantOther: a grant outside the named ones still counts, as "other", whose series
// exists only from then on (no grant of the token endpoint makes it today).
func TestTokenGrantOther(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, nil)
	if n := testutil.CollectAndCount(reg, "gatehouse_oauth_tokens_issued_total"); n != 2 {
		t.Fatalf("%d token series at start, want 2", n)
	}
	m.TokenIssued("urn:ietf:params:oauth:grant-type:token-exchange")
	if v := testutil.ToFloat64(m.tokens.vec.WithLabelValues("other")); v != 1 {
		t.Fatalf("other = %v, want 1", v)
	}
}

func TestNilMetricsCountNothing(t *testing.T) {
	var m *Metrics
	m.TokenIssued("client_credentials")
	m.ClientAuthFailure("token")
	m.SignIn("refused")
	m.SCIMOperation("user", "get").ObserveStatus(200)
	if got := m.GraphQLOperation("Op", false); got != "Op" {
		t.Fatalf("GraphQLOperation on nil = %q", got)
	}
}

func BenchmarkCounting(b *testing.B) {
	m := NewMetrics(prometheus.NewRegistry(), nil)
	c := m.SCIMOperation("user", "get")
	b.ReportAllocs()
	for b.Loop() {
		m.TokenIssued("client_credentials")
		m.GraphQLOperation("WhoAmI", false)
		c.ObserveStatus(200)
	}
}
