package provision

import (
	"context"
	"strings"
	"sync"
	"testing"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// TestRevocationRacingRotation: secret rotations and revocations of one integration client run
// at once, many times over. Whatever the interleaving, the client ends revoked, exactly one
// revocation revoked it (one integration_client.revoke event; the others answer "already"),
// every rotation either saved its secret with its event or was refused because the client is
// revoked (never an internal error: a lost race is run again by transact), and no secret a
// rotation returned authenticates. Without store.UpdateIntegrationClient's revoked_at IS NULL,
// PostgreSQL (whose transactions overlap; SQLite's begin IMMEDIATE and run one at a time) lets
// a rotation read before a revocation save the client unrevoked, and two revocations both audit.
func TestRevocationRacingRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		const rounds, revokers, rotators = 25, 3, 3
		for round := 0; round < rounds; round++ {
			c, _, err := e.s.CreateIntegrationClient(e.ctx, CreateIntegrationClientInput{Name: "raced", Scopes: []string{models.ScopeGraphQLRead}})
			if err != nil {
				t.Fatal(err)
			}
			var (
				start     = make(chan struct{})
				wg        sync.WaitGroup
				mu        sync.Mutex
				revoked   int      // revocations that revoked (not "already")
				secrets   []string // secrets rotations returned
				failures  []error
				refusals  int // rotations refused: the client is revoked
				rotations int
			)
			for i := 0; i < revokers+rotators; i++ {
				wg.Add(1)
				go func(revoke bool) {
					defer wg.Done()
					<-start
					if revoke {
						_, already, err := e.s.RevokeIntegrationClient(e.ctx, c.ClientID)
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							failures = append(failures, err)
						} else if !already {
							revoked++
						}
						return
					}
					_, plain, err := e.s.RotateIntegrationClientSecret(e.ctx, c.ClientID)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						rotations++
						secrets = append(secrets, plain)
					case models.ErrorCode(err) == models.EINVALIDSTATE:
						refusals++
					default:
						failures = append(failures, err)
					}
				}(i%2 == 0)
			}
			close(start)
			wg.Wait()
			if len(failures) > 0 {
				t.Fatalf("round %d: %v", round, failures)
			}
			got, err := e.st.IntegrationClient(e.ctx, e.ws, c.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			if got.RevokedAt == nil {
				t.Fatalf("round %d: the client is not revoked after %d revocations (%d rotations saved)", round, revokers, rotations)
			}
			if revoked != 1 {
				t.Fatalf("round %d: %d revocations revoked the client, want 1 (the others already)", round, revoked)
			}
			var revokeEvents, rotateEvents int
			for _, ev := range []struct {
				action string
				n      *int
			}{{"integration_client.revoke", &revokeEvents}, {"integration_client.rotate_secret", &rotateEvents}} {
				if err := e.st.RawScan(e.ctx, ev.n, "SELECT count(*) FROM audit_events WHERE action = ? AND target_id = ?", ev.action, c.ClientID); err != nil {
					t.Fatal(err)
				}
			}
			if revokeEvents != 1 || rotateEvents != rotations || rotations+refusals != rotators {
				t.Fatalf("round %d: %d revoke events (want 1), %d rotate events for %d rotations saved and %d refused of %d",
					round, revokeEvents, rotateEvents, rotations, refusals, rotators)
			}
			for _, plain := range secrets {
				if _, err := e.s.AuthenticateClient(e.ctx, c.ClientID, plain); err == nil {
					t.Fatalf("round %d: a rotated secret of the revoked client authenticates", round)
				}
			}
		}
	})
}

// TestBootstrapRunAgainShowsItsSecretOnce: PostgreSQL aborts the bootstrap's transaction as a
// serialization failure's victim after the secret was shown (a trigger raises 40001 at the
// first audit event, once: a sequence is not rolled back), and transact runs it again. The
// run again keeps the id and secret shown, shows nothing twice, and returns the secret it
// shows, which opens the client it committed.
func TestBootstrapRunAgainShowsItsSecretOnce(t *testing.T) {
	ctx := context.Background()
	st, s := abortingFirstAuditEvent(t)
	var shown [][2]string
	boot, err := s.Bootstrap(ctx, "", "", func(id, sec string) error {
		shown = append(shown, [2]string{id, sec})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var aborted int64
	if err := st.DB().QueryRowContext(ctx, `SELECT last_value FROM abort_once`).Scan(&aborted); err != nil || aborted < 2 {
		t.Fatalf("the trigger ran %d times (%v): the transaction was not run again", aborted, err)
	}
	if len(shown) != 1 {
		t.Fatalf("the secret was shown %d times, want once: %v", len(shown), shown)
	}
	if boot.ClientID != shown[0][0] || boot.ClientSecret != shown[0][1] {
		t.Errorf("Bootstrap returned %q / %q, showed %q / %q", boot.ClientID, boot.ClientSecret, shown[0][0], shown[0][1])
	}
	if _, err := s.AuthenticateClient(ctx, shown[0][0], shown[0][1]); err != nil {
		t.Errorf("the secret shown does not open the client: %v", err)
	}
}

// abortingFirstAuditEvent is a migrated PostgreSQL store, whose first audit event fails
// (storetest.AbortFirstAuditEvent), and a Service on it.
func abortingFirstAuditEvent(t *testing.T) (*store.Store, *Service) {
	t.Helper()
	st := migratedStore(t, storetest.PostgresURLWith(t, ""), store.Options{})
	storetest.AbortFirstAuditEvent(t, st.DB())
	box, err := secret.NewBox(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return st, New(st, box, Options{})
}

// TestBootstrapRunAgainAfterAnotherStartsClient: the bootstrap's first attempt shows its
// secret and is aborted (40001); meanwhile another start, waiting on the bootstrap lock,
// creates its own platform admin client. The attempt run again finds that client and creates
// nothing, so the secret shown opens nothing: Bootstrap must say it created nothing and
// return no secret, not the first attempt's result (the start then withdraws the secret
// shown, app.New).
func TestBootstrapRunAgainAfterAnotherStartsClient(t *testing.T) {
	ctx := context.Background()
	st, s := abortingFirstAuditEvent(t)
	other := make(chan error, 1)
	var shown [][2]string
	boot, err := s.Bootstrap(ctx, "", "", func(id, sec string) error {
		shown = append(shown, [2]string{id, sec})
		// The other start, with chosen credentials, waits on the lock this attempt holds.
		go func() {
			_, err := s.Bootstrap(ctx, "ghc-other-start", strings.Repeat("o", minChosenSecret), nil)
			other <- err
		}()
		return storetest.WaitAdvisoryLockWaiter(t, st.DB())
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-other; err != nil {
		t.Fatalf("the other start: %v", err)
	}
	if len(shown) != 1 {
		t.Fatalf("shown %d times", len(shown))
	}
	if _, err := s.AuthenticateClient(ctx, shown[0][0], shown[0][1]); err == nil {
		t.Fatal("the secret shown opens a client: the other start's was expected to win the lock")
	}
	if boot.Created || boot.ClientSecret != "" || boot.ClientID != "" {
		t.Errorf("Bootstrap created nothing, yet returned %+v: a secret that opens nothing, as the admin's", *boot)
	}
}
