package provision

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// Two admins changing different fields of one account at once (one renames it, the other
// moves it into a company) both keep their change. Before, on PostgreSQL, each wrote every
// field of the account as it had read it: the rename, committed last, put the account back
// out of its company (and the other way round the name back), with both calls successful and
// both events recorded; placement then stopped finding the account for the company.
func TestConcurrentAccountUpdatesKeepBothChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("UPDATE") // the rename, held after it read the account, before its write
		e := newHeldEnv(t, dbURL, h, Options{})
		co := must(e.s.CreateCompany(e.ctx, "Acme"))
		individual, company := models.AccountIndividual, models.AccountCompany
		name := "Acme Ops"
		a := must(e.s.CreateAccount(e.ctx, AccountInput{Name: &name, Type: &individual}))
		coID, renamed := co.ID.String(), "Acme Operations"
		move := func(ctx context.Context) error {
			_, err := e.s.UpdateAccount(ctx, a.ID.String(), AccountInput{Type: &company, CompanyID: &coID})
			return err
		}
		rename := func(ctx context.Context) error {
			_, err := e.s.UpdateAccount(ctx, a.ID.String(), AccountInput{Name: &renamed})
			return err
		}

		errMove, errRename := raceHeld(t, e, h, move, rename)
		if errMove != nil || errRename != nil {
			t.Fatalf("the updates: %v, %v", errMove, errRename)
		}
		got := must(e.st.Account(e.ctx, e.ws, a.ID))
		if got.Name != renamed || got.Type != models.AccountCompany || got.CompanyID == nil || *got.CompanyID != co.ID {
			t.Fatalf("the account after both updates: %q %s company %v; want %q, COMPANY, in %s", got.Name, got.Type, got.CompanyID, renamed, co.ID)
		}
	})
}
