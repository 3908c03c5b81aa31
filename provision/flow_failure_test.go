package provision

import (
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// The same answer refused twice at once (a double submission of the IdP's form, two reloads
// of the refusal page) is one failed event: both requests read the open flow before either
// recorded its failure, as two recordFailure calls with the flow as first read do here. The
// second finds the flow marked (store.MarkFlowFailed, in the event's transaction) and records
// none. Before, each wrote its event and then marked the flow: two events for one attempt.
func TestOpenFlowFailureRecordedOnceUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		conn := e.connection("okta", true, "member", true)
		now := e.s.now()
		f := &models.SignInFlow{ID: store.NewID(), WorkspaceID: e.ws, ApplicationID: store.NewID(), BrandID: store.NewID(), ConnectionID: conn.ID,
			BrowserHash: "browser", ClientID: "c", RedirectURI: "https://app.test/cb", Scope: "openid", UpstreamStateHash: store.NewID().String(),
			UpstreamVerifierEnc: []byte("sealed"), RequestID: "req-1", ExpiresAt: now.Add(time.Hour), CreatedAt: now}
		must(0, e.st.CreateFlow(e.ctx, f))
		for _, requestID := range []string{"req-2", "req-3"} {
			read := *f // as each request read it: open, no failure recorded
			e.s.recordFailure(e.ctx, &read, conn, "", "Sign-in failed.", "the browser sent no sign-in cookie", requestID, nil)
		}
		var events []string
		if err := e.st.RawScan(e.ctx, &events, "SELECT request_id FROM sign_in_events WHERE outcome = 'failed'"); err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 || events[0] != "req-2" {
			t.Fatalf("failed events of the requests %v, want the first one's only", events)
		}
		got := must(e.st.FlowByUpstreamState(e.ctx, f.UpstreamStateHash))
		if got.FailedAt == nil || got.ClaimedAt != nil {
			t.Fatalf("the flow after its refusals: failed %v, claimed %v; want failed and still open", got.FailedAt, got.ClaimedAt)
		}
	})
}
