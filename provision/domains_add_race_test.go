package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// Two domains added at once to a connection one short of its limit: one is added, the other
// refused with the limit's message, and the connection holds the limit's number of domains.
// Before, on PostgreSQL, each counted the domains before the other's insert, and both were
// added, past MaxDomainsPerConnection.
func TestAddingDomainsAtOnceKeepsTheLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("INSERT") // the second addition, held after its count, before its insert
		e := newHeldEnv(t, dbURL, h, Options{})
		conn := e.connection("okta", true, "member", false)
		now := time.Now()
		for i := range models.MaxDomainsPerConnection - 1 {
			d := &models.Domain{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: conn.ID, Name: fmt.Sprintf("d%d.example.org", i),
				Status: models.DomainPending, VerificationMethod: models.VerifyDNSTXT, VerificationToken: "t", CreatedAt: now, UpdatedAt: now}
			if err := e.st.Create(e.ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		add := func(name string) func(context.Context) error {
			return func(ctx context.Context) error {
				_, err := e.s.AddDomain(ctx, conn.ID.String(), DomainInput{Domain: name})
				return err
			}
		}

		err1, err2 := raceHeld(t, e, h, add("first.example.com"), add("second.example.com"))
		if all, _ := must2(e.st.CountDomains(e.ctx, e.ws, conn.ID)); all != models.MaxDomainsPerConnection {
			t.Fatalf("%d domains after two additions at once (%v, %v), want the limit, %d", all, err1, err2, models.MaxDomainsPerConnection)
		}
		if err := errors.Join(err1, err2); (err1 == nil) == (err2 == nil) || !strings.Contains(err.Error(), "at most 100 domains") {
			t.Fatalf("the additions: %v, %v; want one added and the other refused at the limit", err1, err2)
		}
	})
}
