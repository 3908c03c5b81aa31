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

// Tokens are refused once expired (with 30 s leeway), also when their signature was verified
// and cached before they expired.
func TestExpiredTokensAreRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		st, err := store.Open(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		box, _ := secret.NewBox(secret.NewKey())
		clk := clock.NewFake(time.Now())
		svc := provision.New(st, box, provision.Options{Clock: clk})
		if _, err := svc.Bootstrap(ctx, "ghc_a", "ghs_secret"); err != nil {
			t.Fatal(err)
		}
		srv, err := New(ctx, svc, "https://gatehouse.example", slog.New(slog.DiscardHandler))
		if err != nil {
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
