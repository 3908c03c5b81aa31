package provision

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// Two removals of one brand configuration at once (two admins, a retried call) remove it
// once: one succeeds with its event, the other finds no configuration (NOT_FOUND), as one
// after the other. Before, on PostgreSQL, the second read the configuration before the first
// committed, deleted nothing after it, and still succeeded with a second removal event in the
// audit log.
func TestConcurrentConfigurationRemovalsRecordOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("DELETE") // the second removal, held after it read the configuration
		e := newHeldEnv(t, dbURL, h, Options{})
		brand := must(e.s.CreateBrand(e.ctx, BrandInput{Name: ptr("Portal")}))
		conn := e.connection("okta", true, "member", false)
		in := IdentityProviderConfigurationInput{BrandID: brand.ID.String(), IdentityProviderID: conn.ID.String()}
		if _, _, err := e.s.CreateIdentityProviderConfiguration(e.ctx, in); err != nil {
			t.Fatal(err)
		}
		remove := func(ctx context.Context) error {
			_, err := e.s.RemoveIdentityProviderConfiguration(ctx, in.BrandID, in.IdentityProviderID)
			return err
		}

		err1, err2 := raceHeld(t, e, h, remove, remove)
		var events int
		if err := e.st.RawScan(e.ctx, &events, "SELECT count(*) FROM audit_events WHERE action = 'identity_provider_configuration.remove'"); err != nil {
			t.Fatal(err)
		}
		if events != 1 {
			t.Fatalf("%d removal events (removals: %v, %v), want 1", events, err1, err2)
		}
		if (err1 == nil) == (err2 == nil) || models.ErrorCode(err1) != models.ENOTFOUND && models.ErrorCode(err2) != models.ENOTFOUND {
			t.Fatalf("the removals: %v, %v; want one done and the other NOT_FOUND", err1, err2)
		}
	})
}
