package store

import (
	"context"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestMigration43MovesCombinedErrorsToCause: a test sign-in that failed before migration 43
// with its public message and cause in one error ("… (cause)") has it whole in cause after it,
// and error empty (what failed cannot be split safely; provision shows it whole to
// administrators only); one whose error names no cause (it does not end in ")"), a succeeded
// and a pending one are left as they were. A failure recorded after it keeps its message and
// cause apart, and migrating again moves nothing, even an error that ends in ")". On both
// dialects.
func TestMigration43MovesCombinedErrorsToCause(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, 42)
		conn := connectionFixtures(t, s)("Okta", models.ProtocolSAML)
		if err := createInOldTable(ctx, s, conn); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		test := func(status, msg string) *models.TestSignIn {
			t.Helper()
			ts := &models.TestSignIn{ID: NewID(), WorkspaceID: conn.WorkspaceID, ConnectionID: conn.ID, TokenHash: NewID().String(),
				Status: status, Error: msg, ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
			if err := createInOldTable(ctx, s, ts); err != nil {
				t.Fatal(err)
			}
			return ts
		}
		const combined = "The identity provider's response could not be accepted. (saml response: expired on 2026-12-07 (UTC))"
		old := test(models.TestSignInFailed, combined)
		public := test(models.TestSignInFailed, "The connection was deleted.")
		succeeded := test(models.TestSignInSucceeded, "")
		pending := test(models.TestSignInPending, "")
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		check := func(ts *models.TestSignIn, wantError, wantCause string) {
			t.Helper()
			got, err := s.TestSignIn(ctx, ts.WorkspaceID, ts.ConnectionID, ts.ID)
			if err != nil || got.Error != wantError || got.Cause != wantCause || got.Status != ts.Status {
				t.Fatalf("test sign-in %s: %+v, %v; want error %q, cause %q", ts.Status, got, err, wantError, wantCause)
			}
		}
		check(old, "", combined)
		check(public, public.Error, "")
		check(succeeded, "", "")
		check(pending, "", "")
		pending.Status, pending.Error, pending.Cause = models.TestSignInFailed, "The decision failed: (a rule)", "refused by the database"
		if err := s.FinishTestSignIn(ctx, pending); err != nil {
			t.Fatal(err)
		}
		migrateTwice(t, s)
		check(pending, pending.Error, pending.Cause)
		check(old, "", combined)
	})
}
