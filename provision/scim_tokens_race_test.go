package provision

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

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
		var events int
		if err := e.st.RawScan(e.ctx, &events, "SELECT count(*) FROM audit_events WHERE action = 'scim_token.delete'"); err != nil {
			t.Fatal(err)
		}
		if events != 1 {
			t.Fatalf("%d deletion events (deletions: %v, %v), want 1", events, err1, err2)
		}
		if (err1 == nil) == (err2 == nil) || models.ErrorCode(err1) != models.ENOTFOUND && models.ErrorCode(err2) != models.ENOTFOUND {
			t.Fatalf("the deletions: %v, %v; want one done and the other NOT_FOUND", err1, err2)
		}
	})
}
