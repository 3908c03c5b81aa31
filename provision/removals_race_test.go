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
		happenedOnce(t, e, "identity_provider_configuration.remove", models.ENOTFOUND, err1, err2)
	})
}

// Two deletions of one SCIM token at once delete it once: one succeeds with its event, the
// other finds no token (NOT_FOUND), as one after the other. Before, on PostgreSQL, the second
// read the token before the first committed, deleted nothing after it, and still succeeded
// with a second scim_token.delete event.
func TestConcurrentSCIMTokenDeletionsRecordOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		h := newHoldingTracer("DELETE") // the second deletion, held after it read the token
		e := newHeldEnv(t, dbURL, h, Options{})
		tok, _ := must2(e.s.CreateSCIMToken(e.ctx, CreateSCIMTokenInput{Name: "Okta"}))
		del := func(ctx context.Context) error { return e.s.DeleteSCIMToken(ctx, tok.ID.String()) }

		err1, err2 := raceHeld(t, e, h, del, del)
		happenedOnce(t, e, "scim_token.delete", models.ENOTFOUND, err1, err2)
	})
}
