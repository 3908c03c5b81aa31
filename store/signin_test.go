package store

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// Sign-in state expires, is used once, and is pruned; these rules are the store's statements.
func TestSignInStateExpiryAndSingleUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		s := openTestStore(t, dbURL, math.MaxInt)
		ctx := context.Background()
		now := time.Now().UTC()
		ws, app := NewID(), NewID()
		flow := func(state string, expires time.Time) {
			if err := s.CreateFlow(ctx, &models.SignInFlow{ID: NewID(), WorkspaceID: ws, ApplicationID: app, BrandID: NewID(), ConnectionID: NewID(),
				BrowserHash: "browser", ClientID: "c", RedirectURI: "https://app/cb", Scope: "openid", UpstreamStateHash: state,
				UpstreamVerifierEnc: []byte("sealed"), Test: true,
				ExpiresAt: expires, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		flow("live", now.Add(time.Minute))
		flow("expired", now.Add(-time.Second))
		if _, err := s.ClaimFlow(ctx, "live", "another browser", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another browser claims: %v", err)
		}
		f, err := s.ClaimFlow(ctx, "live", "browser", now)
		if err != nil || f.UpstreamStateHash != "live" || f.ClaimedAt == nil || string(f.UpstreamVerifierEnc) != "sealed" || f.Test != true {
			t.Fatalf("claim: %+v %v", f, err)
		}
		if _, err := s.ClaimFlow(ctx, "live", "browser", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second claim: %v", err)
		}
		if _, err := s.ClaimFlow(ctx, "expired", "browser", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired claim: %v", err)
		}
		grant := func(code string, expires time.Time) {
			if err := s.CreateGrant(ctx, &models.Grant{ID: NewID(), WorkspaceID: ws, ApplicationID: app, ClientID: "c", CodeHash: code,
				RedirectURI: "https://app/cb", Scope: "openid", UserAccountID: NewID(), Claims: "{}", AuthTime: now,
				ExpiresAt: expires, CreatedAt: expires.Add(-time.Minute)}); err != nil { // a code lives a minute
				t.Fatal(err)
			}
		}
		grant("fresh", now.Add(time.Minute))
		grant("stale", now.Add(-time.Second))
		g, err := s.RedeemGrant(ctx, "fresh", now)
		if err != nil || g.RedeemedAt == nil {
			t.Fatalf("redeem: %+v %v", g, err)
		}
		if _, err := s.RedeemGrant(ctx, "fresh", now); !errors.Is(err, ErrStale) {
			t.Fatalf("replay: %v", err)
		}
		if g, err := s.Grant(ctx, ws, g.ID); err != nil || g.RevokedAt == nil {
			t.Fatalf("a replay revokes the grant: %+v %v", g, err)
		}
		if _, err := s.RedeemGrant(ctx, "stale", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired code: %v", err)
		}
		n, err := s.PruneSignInState(ctx, now, now)
		if err != nil || n != 2 { // the expired flow and the expired code
			t.Fatalf("prune: %d %v", n, err)
		}
	})
}
