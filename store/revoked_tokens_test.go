package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// Revoked tokens: revoking twice is one row, a token not revoked is ErrNotFound, and pruning
// removes exactly the rows of tokens expired before the given time.
func TestRevokedTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st := openTestStore(t, dbURL, allMigrations)
		now := time.Now().UTC().Truncate(time.Second)
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		if err := st.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		tok := func(exp time.Time) *models.RevokedToken {
			return &models.RevokedToken{JTI: NewID(), WorkspaceID: ws.ID, ClientID: "ghc_x", ExpiresAt: exp, RevokedAt: now}
		}
		live, dead := tok(now.Add(time.Hour)), tok(now.Add(-time.Hour))
		for _, r := range []*models.RevokedToken{live, dead, live} {
			if _, err := st.RevokeToken(ctx, r); err != nil {
				t.Fatalf("revoke %s: %v", r.JTI, err)
			}
		}
		if got, err := st.RevokedToken(ctx, live.JTI); err != nil || got.ClientID != "ghc_x" || !got.ExpiresAt.Equal(live.ExpiresAt) {
			t.Fatalf("revoked token: %+v, %v", got, err)
		}
		if _, err := st.RevokedToken(ctx, NewID()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("token never revoked: %v", err)
		}
		if n, err := st.PruneRevokedTokens(ctx, now); err != nil || n != 1 {
			t.Fatalf("prune: %d, %v", n, err)
		}
		if _, err := st.RevokedToken(ctx, dead.JTI); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired row kept: %v", err)
		}
		if _, err := st.RevokedToken(ctx, live.JTI); err != nil {
			t.Fatalf("live row pruned: %v", err)
		}
	})
}
