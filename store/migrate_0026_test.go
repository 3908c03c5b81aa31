package store

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration26KeepsAnswersInFlight: a SAML answer stored before migration 26 (no
// identifier key) is still taken by its flow's claim afterwards, with a lookup for the empty
// key, which finds nobody and names no identity (the decision then looks the person up on its
// own); an answer stored after it carries its key. On both dialects, migrating twice.
func TestMigration26KeepsAnswersInFlight(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 25)
		now := time.Now().UTC()
		flow := func(state string) *models.SignInFlow {
			f := &models.SignInFlow{ID: NewID(), WorkspaceID: NewID(), ApplicationID: NewID(), BrandID: NewID(), ConnectionID: NewID(),
				BrowserHash: "browser", ClientID: "c", RedirectURI: "https://app/cb", Scope: "openid", UpstreamStateHash: state,
				UpstreamRequestID: "_" + state, UpstreamVerifierEnc: []byte("sealed"), ExpiresAt: now.Add(time.Minute), CreatedAt: now}
			if err := s.CreateFlow(ctx, f); err != nil {
				t.Fatal(err)
			}
			return f
		}
		before := flow("before")
		if err := s.db(ctx).Exec(`INSERT INTO saml_answers (flow_id, identity_enc, expires_at) VALUES (?, ?, ?)`,
			before.ID, []byte("sealed before"), before.ExpiresAt).Error; err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		after := flow("after")
		if fresh, err := s.PutSAMLAnswer(ctx, after.ID, []byte("sealed after"), after.ExpiresAt, "jane-sub"); err != nil || !fresh {
			t.Fatalf("put: %v %v", fresh, err)
		}
		for state, want := range map[string]string{"before": "", "after": "jane-sub"} {
			f, answer, lookup, err := s.ClaimSAMLFlow(ctx, state, []string{"browser"}, now)
			if err != nil || string(answer) != "sealed "+state {
				t.Fatalf("claim %s: %+v %q %v", state, f, answer, err)
			}
			if s.Dialect() == Postgres && (lookup == nil || lookup.IdentifierKey != want || lookup.User != nil) {
				t.Errorf("claim %s: lookup %+v, want one for %q finding nobody", state, lookup, want)
			}
		}
	})
}
