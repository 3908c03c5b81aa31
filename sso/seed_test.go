package sso_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"gatehouse/app/apptest"
	"gatehouse/sso/samltest"
)

// The promises around the seeds' requests that only a browser sign-in can keep: what an
// ahead-of-time binding (seeds/000) and an existing contact without credentials (seeds/001,
// FAQ) become at the first SSO sign-in. SAML, since the seed's identifier is "the value used as
// the 'identifier' in the SAML SSO configuration within your IdP".

// seedAoTMutation is seeds/000's request byte for byte, the account's UUID and identifier
// filled in, authModule the test connection's slug instead of the seed's example "microsoft";
// the seed's text ends at the selection set, which is ours.
const seedAoTMutation = `mutation {
updateUserAccountCredentials(input: {
accountUuid: "%s",
authModule: "%s",
identifier: "%s"
secret: ""
}) { userAccount { uuid credentials { authModule identifier } } errors { label message value } }
}`

// signedIn runs a whole SAML sign-in through the world's application and returns the
// id_token's claims.
func (w *samlWorld) signedIn(t *testing.T) map[string]any {
	t.Helper()
	b := w.browser()
	page, verifier := w.toIdP(t, b)
	resp, body := w.post(t, b, w.e.URL, page)
	return w.exchange(t, w.appResult(t, resp, body).Get("code"), verifier)
}

// TestSeedAoTBindingIsTheFirstSignIn: an account bound ahead of time with the seed's mutation
// signs in at its first SAML sign-in as that account (existing_identity), "instead of" JIT:
// nobody is created, though the connection provisions just in time, and the account's email
// (another than the IdP's) plays no part.
func TestSeedAoTBindingIsTheFirstSignIn(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e) // the IdP signs in NameID 00u-ada, email ada@example.com
		ada := e.CreateUser(w.tok, "a.lovelace@example.com")
		d := e.MustGQL(w.tok, fmt.Sprintf(seedAoTMutation, ada, samlSlug, "00U-Ada"), nil)
		if errs := payloadErrors(t, d, "updateUserAccountCredentials"); len(errs) > 0 ||
			str(d, "updateUserAccountCredentials", "userAccount", "credentials", 0, "identifier") != "00U-Ada" {
			t.Fatalf("the seed's mutation: %v", d)
		}
		before := w.engineCounts(t)
		for range 2 {
			if claims := w.signedIn(t); claims["sub"] != ada || claims["sign_in"] != "existing_identity" || claims["connection"] != samlSlug {
				t.Fatalf("sign-in of the account bound ahead of time: %v", claims)
			}
		}
		if after := w.engineCounts(t); after != before {
			t.Fatalf("the sign-in created something: %+v, before %+v", after, before)
		}
		if got := w.credentialsOf(t, ada); len(got) != 1 || got[0] != samlSlug+":00U-Ada" {
			t.Fatalf("credentials: %v", got)
		}
	})
}

// TestSeedFAQContactWithoutCredentials: seeds/001's FAQ. A contact that exists but has no
// credentials, at a brand whose identity provider configuration (the seed's create request)
// auto-provisions learners, signs in for the first time through SSO: no new contact, the
// credentials are created and listed on the contact, and the next sign-in uses them.
func TestSeedFAQContactWithoutCredentials(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		learners := e.CreateAccount(w.tok, "Learners", "")
		req := strings.NewReplacer("FIXME_BRAND_ID", w.brand, "FIXME_IDP_ID", w.conn, "FIXME_ACCOUNT_ID", learners).Replace(apptest.SeedCreateIdPConfiguration)
		d := e.MustGQL(w.tok, req, nil)
		if errs := get(d, "brands", "createIdentityProviderConfiguration", "errors").([]any); len(errs) > 0 ||
			str(d, "brands", "createIdentityProviderConfiguration", "brand", "id") != w.brand {
			t.Fatalf("the seed's create request: %v", d)
		}
		ada := e.CreateUser(w.tok, "ada@example.com")
		if got := w.credentialsOf(t, ada); len(got) != 0 {
			t.Fatalf("credentials before: %v", got)
		}
		before := w.engineCounts(t)
		for _, want := range []string{"linked_by_email", "existing_identity"} {
			if claims := w.signedIn(t); claims["sub"] != ada || claims["sign_in"] != want {
				t.Fatalf("sign-in, want %s: %v", want, claims)
			}
			if got := w.credentialsOf(t, ada); len(got) != 1 || got[0] != samlSlug+":00u-ada" {
				t.Fatalf("the contact's credentials after the %s sign-in: %v", want, got)
			}
		}
		if after := w.engineCounts(t); after != before {
			t.Fatalf("the sign-in created a contact or an account: %+v, before %+v", after, before)
		}
	})
}

// TestSeedDeletedConnectionKeepsItsUsers: seeds/002's delete request "soft-deletes the
// connection. Users who authenticated via this connection retain their accounts but must use
// a different login method": the person JIT-provisioned through it keeps the account, the
// connection's row is kept (marked deleted), and a new sign-in through it never reaches the IdP.
func TestSeedDeletedConnectionKeepsItsUsers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		claims := w.signedIn(t)
		ada, _ := claims["sub"].(string)
		if claims["sign_in"] != "provisioned" || ada == "" {
			t.Fatalf("first sign-in: %v", claims)
		}
		if r := e.REST(w.tok, "DELETE", "/api/v1/sso/connections/"+w.conn, "").Must(t, 204); r.Raw != "" {
			t.Fatalf("delete answered a body: %q", r.Raw)
		}
		d := e.MustGQL(w.tok, `query($u: ID!) { userAccount(uuid: $u) { uuid email active } }`, map[string]any{"u": ada})
		if str(d, "userAccount", "uuid") != ada || str(d, "userAccount", "email") != "ada@example.com" || get(d, "userAccount", "active") != true {
			t.Fatalf("the account after its connection's delete: %v", d)
		}
		var deleted int
		if err := e.App.Store().RawScan(context.Background(), &deleted, "SELECT count(*) FROM connections WHERE id = ? AND deleted_at IS NOT NULL", w.conn); err != nil || deleted != 1 {
			t.Fatalf("soft delete: %d rows marked deleted, %v", deleted, err)
		}
		u := w.app.AuthCodeURL("app-state", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("connection", samlSlug))
		resp, body := samltest.Follow(t, w.browser(), u)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil || !strings.HasPrefix(loc.String(), w.redirect) || loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
			t.Fatalf("a sign-in through the deleted connection ended at %s with %d: %s", resp.Request.URL, resp.StatusCode, body)
		}
	})
}
