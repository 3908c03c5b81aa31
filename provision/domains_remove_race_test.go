package provision

import (
	"context"
	"errors"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// verifiedDomains is how many domains of conn are verified, and the connection's status.
func (e *testEnv) verifiedDomains(conn *models.Connection) (int64, models.ConnectionStatus) {
	e.t.Helper()
	_, verified := must2(e.st.CountDomains(e.ctx, e.ws, conn.ID))
	return verified, must(e.st.Connection(e.ctx, e.ws, conn.ID)).Status
}

// Two admins removing one each of the two verified domains of an active connection at once:
// one removal succeeds, the other is refused as the last verified domain's. Before, on
// PostgreSQL, each counted two verified domains before the other deleted its own, and both
// succeeded: the connection stayed active with no verified domain, which activation refuses,
// and every sign-in routed by email found no connection.
func TestRemovingVerifiedDomainsAtOnceKeepsOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("DELETE") // the second removal, held after its count, before its delete
		e := newHeldEnv(t, dbURL, h, Options{})
		conn := e.connection("okta", true, "member", true)
		e.verifyDomain(conn, "example.org")
		e.verifyDomain(conn, "example.net")
		ds := must(e.st.Domains(e.ctx, e.ws, conn.ID))
		remove := func(i int) func(context.Context) error {
			return func(ctx context.Context) error {
				_, err := e.s.RemoveDomain(ctx, conn.ID.String(), ds[i].ID.String())
				return err
			}
		}

		err1, err2 := raceHeld(t, e, h, remove(0), remove(1))
		if verified, status := e.verifiedDomains(conn); verified != 1 || status != models.StatusActive {
			t.Fatalf("after both removals: %d verified domains, status %s; want the active connection's last one kept", verified, status)
		}
		if (err1 == nil) == (err2 == nil) || models.ErrorCode(errors.Join(err1, err2)) != models.EINVALIDSTATE {
			t.Fatalf("the removals: %v, %v; want one removed and the other INVALID_STATE", err1, err2)
		}
	})
}

// An activation racing the removal of the connection's only verified domain never leaves it
// active without one: here the removal (first to lock the connection) succeeds and the
// activation is refused. Before, on PostgreSQL, the activation counted the domain before the
// removal deleted it, the removal read the connection testing before the activation
// committed, and both succeeded.
func TestActivationRacingTheLastDomainRemoval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("DELETE") // the removal, held after it read the connection, before its delete
		e := newHeldEnv(t, dbURL, h, Options{})
		conn := e.connection("okta", true, "member", false)
		conn.Status = models.StatusTesting // passed its test
		if err := e.st.UpdateConnection(e.ctx, conn); err != nil {
			t.Fatal(err)
		}
		e.verifyDomain(conn, "example.org")
		d := must(e.st.Domains(e.ctx, e.ws, conn.ID))[0]
		activate := func(ctx context.Context) error {
			_, err := e.s.ActivateConnection(ctx, conn.ID.String())
			return err
		}
		remove := func(ctx context.Context) error {
			_, err := e.s.RemoveDomain(ctx, conn.ID.String(), d.ID.String())
			return err
		}

		errActivate, errRemove := raceHeld(t, e, h, activate, remove)
		if verified, status := e.verifiedDomains(conn); status == models.StatusActive && verified == 0 {
			t.Fatalf("the connection is active with no verified domain (activation: %v, removal: %v)", errActivate, errRemove)
		}
		if e.st.Dialect() == "postgres" && (errRemove != nil || models.ErrorCode(errActivate) != models.EINVALIDSTATE) {
			t.Fatalf("activation %v, removal %v; want the removal done and the activation INVALID_STATE", errActivate, errRemove)
		}
	})
}
