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

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

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

// issueToken issues a client-credentials access token to the client.
func issueToken(t *testing.T, srv *Server, clientID, secret string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, terr := srv.issue(req)
	if terr != nil {
		t.Fatalf("issue: %+v", terr)
	}
	return resp.AccessToken
}

// Tokens are refused once expired (with 30 s leeway), also when their signature was verified
// and cached before they expired.
// platformAdmin bootstraps the platform admin client ghc_a and returns a context acting as it.
func platformAdmin(t *testing.T, srv *Server, svc *provision.Service) context.Context {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, "ghc_a", "ghs_secret_for_the_oauth_tests_0123456789", nil); err != nil {
		t.Fatal(err)
	}
	p, err := srv.Verify(ctx, issueToken(t, srv, "ghc_a", "ghs_secret_for_the_oauth_tests_0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	return provision.WithPrincipal(ctx, p)
}

// rotateKeys starts a signing key rotation and promotes it, a minute apart on clk (keys are
// ordered by creation).
func rotateKeys(t *testing.T, svc *provision.Service, clk *clock.Fake, admin context.Context) {
	t.Helper()
	clk.Advance(time.Minute)
	if _, err := svc.StartSigningKeyRotation(admin); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := svc.PromoteSigningKey(admin); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredTokensAreRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		clk := clock.NewFake(time.Now())
		srv, svc := newTestServer(t, dbURL, "https://gatehouse.example", clk)
		if _, err := svc.Bootstrap(ctx, "ghc_a", "ghs_secret_for_the_oauth_tests_0123456789", nil); err != nil {
			t.Fatal(err)
		}
		issue := func() string { return issueToken(t, srv, "ghc_a", "ghs_secret_for_the_oauth_tests_0123456789") }
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

// A load of the signing keys that read before another must not store its keys over the later
// one's when it finishes after it: here a background reload reads the keys while the previous
// key is still published, the retirement commits and its own reload stores the set without
// it, and only then does the first load finish. The retired key must stay unpublished.
func TestAnEarlierKeyLoadNeverOverwritesALaterOne(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		clk := clock.NewFake(time.Now()) // no background reload but the one started here
		srv, svc := newTestServer(t, dbURL, "https://gatehouse.example", clk)
		admin := platformAdmin(t, srv, svc)
		current := func() string {
			keys, err := svc.SigningKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return provision.CurrentSigningKey(keys, models.IDTokenES256).ID
		}
		first := current()
		rotateKeys(t, svc, clk, admin)
		if !srv.keys.publishes(first) || current() == first {
			t.Fatalf("after the promotion: current key %s, previous key published %v", current(), srv.keys.publishes(first))
		}

		read, release := make(chan struct{}), make(chan struct{})
		held := true
		srv.keys.afterRead = func() {
			if held { // the first load only; the retirement's reload runs through
				held = false
				close(read)
				<-release
			}
		}
		earlier := make(chan error)
		go func() { earlier <- srv.keys.load(ctx, false) }()
		<-read
		if err := svc.RetireSigningKey(admin); err != nil { // reloads the keys before it returns
			t.Fatal(err)
		}
		if srv.keys.publishes(first) {
			t.Fatal("the retirement's reload still publishes the retired key")
		}
		close(release)
		if err := <-earlier; err != nil {
			t.Fatal(err)
		}
		if srv.keys.publishes(first) {
			t.Fatal("the earlier load, finishing last, published the retired key again")
		}
		if got := len(srv.keys.published().Keys); got != 1 {
			t.Fatalf("JWKS has %d keys after the retirement, want 1", got)
		}
	})
}

// A token signed with Gatehouse's own key is an access token only when it names Gatehouse
// as its issuer and audience: an id_token (audience: an application's client_id) or a token
// of another issuer sharing the key are refused, as is the untouched token's forged twin.
func TestTokensOfAnotherIssuerOrAudienceAreRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		const issuer = "https://gatehouse.example"
		srv, svc := newTestServer(t, dbURL, issuer, clock.NewFake(time.Now()))
		if _, err := svc.Bootstrap(ctx, "ghc_a", "ghs_secret_for_the_oauth_tests_0123456789", nil); err != nil {
			t.Fatal(err)
		}
		tok := issueToken(t, srv, "ghc_a", "ghs_secret_for_the_oauth_tests_0123456789")
		parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		var claims accessClaims
		if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
			t.Fatal(err)
		}
		access := srv.keys.accessSigner()
		resign := func(edit func(c *accessClaims)) string {
			c := claims
			edit(&c)
			raw, err := access.sign(c)
			if err != nil {
				t.Fatal(err)
			}
			return raw
		}
		if _, err := srv.Verify(ctx, resign(func(*accessClaims) {})); err != nil {
			t.Fatalf("the same claims signed again: %v", err) // the resigning itself is sound
		}
		for name, edit := range map[string]func(c *accessClaims){
			"another issuer":                         func(c *accessClaims) { c.Issuer = "https://other.example" },
			"an application's client_id as audience": func(c *accessClaims) { c.Audience = jwt.Audience{"gha_portal"} },
			"no audience":                            func(c *accessClaims) { c.Audience = nil },
		} {
			if _, err := srv.Verify(ctx, resign(edit)); models.ErrorCode(err) != models.EUNAUTHENTICATED {
				t.Errorf("%s: %v, want unauthenticated", name, err)
			}
		}
		// The RS256 key of id_tokens, published in the same JWKS, never signs an access token:
		// neither under its own kid nor under the ES256 key's.
		_, rs, err := srv.keys.signers(ctx, models.IDTokenRS256)
		if err != nil {
			t.Fatal(err)
		}
		for _, kid := range []string{rs.kid(), access.kid()} {
			raw, err := newJWSSigner(rs.key, kid, "at+jwt").sign(claims)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Verify(ctx, raw); models.ErrorCode(err) != models.EUNAUTHENTICATED {
				t.Errorf("an access token signed with the RS256 key, kid %s: %v, want unauthenticated", kid, err)
			}
		}
	})
}
