package oauth

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// newTestServer is a Server over a migrated store at dbURL, closed with the test.
func newTestServer(t *testing.T, dbURL, issuer string, clk clock.Clock) (*Server, *provision.Service) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	box, _ := secret.NewBox(secret.NewKey())
	svc := provision.New(st, box, provision.Options{Clock: clk})
	srv, err := New(ctx, svc, issuer, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return srv, svc
}

// Tokens are refused once expired (with 30 s leeway), also when their signature was verified
// and cached before they expired.
func TestExpiredTokensAreRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		clk := clock.NewFake(time.Now())
		srv, svc := newTestServer(t, dbURL, "https://gatehouse.example", clk)
		if _, err := svc.Bootstrap(ctx, "ghc_a", "ghs_secret"); err != nil {
			t.Fatal(err)
		}
		issue := func() string {
			req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("ghc_a", "ghs_secret")
			resp, terr := srv.issue(req)
			if terr != nil {
				t.Fatalf("issue: %+v", terr)
			}
			return resp.AccessToken
		}
		tok := issue()
		if _, err := srv.Verify(ctx, tok); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
		clk.Advance(TokenLifetime + 10*time.Second) // within the leeway
		if _, err := srv.Verify(ctx, tok); err != nil {
			t.Fatalf("token within leeway: %v", err)
		}
		clk.Advance(time.Minute) // cached, but expired
		if _, err := srv.Verify(ctx, tok); models.ErrorCode(err) != models.EUNAUTHENTICATED {
			t.Fatalf("expired cached token: %v", err)
		}
		old := issue()
		clk.Advance(TokenLifetime + time.Minute) // never verified before, expired past leeway
		if _, err := srv.Verify(ctx, old); models.ErrorCode(err) != models.EUNAUTHENTICATED {
			t.Fatalf("expired token: %v", err)
		}
		clk.Advance(-3 * TokenLifetime) // issued in the future
		if _, err := srv.Verify(ctx, issue()); err != nil {
			t.Fatalf("token from now: %v", err)
		}
		if _, err := srv.Verify(ctx, old); models.ErrorCode(err) != models.EUNAUTHENTICATED {
			t.Fatalf("token not yet valid: %v", err)
		}
	})
}
