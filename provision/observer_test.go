package provision

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// recordingObserver remembers the outcomes it is told.
type recordingObserver struct {
	mu       sync.Mutex
	outcomes []string
}

func (r *recordingObserver) SignIn(outcome string) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, outcome)
	r.mu.Unlock()
}

func TestSignInTellsTheObserver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		obs := &recordingObserver{}
		e.s.observer = obs
		ctx := e.ctx
		brand := must(e.s.CreateBrand(ctx, BrandInput{Name: ptr("Portal")}))
		okta := e.connection("okta", true, "member", true)
		jane := Identity{Identifier: "jane-sub", Email: "jane@acme.test"}

		if _, err := e.s.SignIn(context.Background(), brand.ID, okta.ID, Identity{}); models.ErrorCode(err) != models.EINVALID {
			t.Fatalf("no identifier: %v", err)
		}
		must(e.s.SignIn(context.Background(), brand.ID, okta.ID, jane))
		must(e.s.SignIn(context.Background(), brand.ID, okta.ID, jane))
		inactive := e.connection("inactive", true, "member", false)
		if _, err := e.s.SignIn(context.Background(), brand.ID, inactive.ID, jane); models.ErrorCode(err) != models.EFORBIDDEN {
			t.Fatalf("inactive connection: %v", err)
		}
		if _, err := e.s.SignIn(context.Background(), brand.ID, uuid.New(), jane); err == nil {
			t.Fatal("a sign-in through an unknown connection succeeded")
		}
		obs.mu.Lock()
		got := obs.outcomes
		obs.mu.Unlock()
		want := []string{"error", string(SignInProvisioned), string(SignInExistingIdentity), string(SignInRefused)}
		if len(got) != 5 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
			t.Fatalf("observed %v, want %v then the unknown connection's", got, want)
		}
		if got[4] != string(SignInRefused) && got[4] != "error" {
			t.Fatalf("unknown connection observed as %q", got[4])
		}
	})
}
