package store

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration24KeepsFlowsAnsweredByQuery: a sign-in flow under way when migration 24 runs
// reads back with no response mode (query, as it was asked), and a form_post flow stored after
// it reads back with its mode, claimed by the browser. On both dialects, migrating twice.
func TestMigration24KeepsFlowsAnsweredByQuery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 23)
		now := time.Now().UTC()
		flow := func(state, mode string) *models.SignInFlow {
			return &models.SignInFlow{ID: NewID(), WorkspaceID: NewID(), ApplicationID: NewID(), BrandID: NewID(), ConnectionID: NewID(),
				BrowserHash: "browser", ClientID: "c", RedirectURI: "https://app/cb", Scope: "openid", UpstreamStateHash: state,
				UpstreamVerifierEnc: []byte("sealed"), ResponseMode: mode, ExpiresAt: now.Add(time.Minute), CreatedAt: now}
		}
		if err := createInOldTable(ctx, s, flow("before", "")); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		if err := s.CreateFlow(ctx, flow("after", "form_post")); err != nil {
			t.Fatal(err)
		}
		for state, want := range map[string]string{"before": "", "after": "form_post"} {
			f, err := s.ClaimFlow(ctx, state, []string{"browser"}, now)
			if err != nil || f.ResponseMode != want {
				t.Errorf("flow %s: %+v %v, want response mode %q", state, f, err, want)
			}
		}
	})
}
