package sso_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestAccessTokenDiesWithItsBinding: an access token issued after a browser sign-in through a
// connection answers userinfo until the person's credential there is removed or rebound to
// another identifier (GraphQL, single and bulk; a SCIM rename), and then 401 invalid_token
// "the access token is revoked", on this server and on a second replica; a code issued before
// such a change no longer redeems. Deactivating or deleting the connection ends no token
// (WorldFlow: "Existing sessions are not terminated, but new logins are blocked"). The controls
// stay 200: a token of the same person through another connection, another person's token
// through the same connection, and a token whose binding is bound again to the same identity
// (in another case), so that the test fails if the rule were global or missing. Both
// databases, real HTTP.
func TestAccessTokenDiesWithItsBinding(t *testing.T) {
	idp, otherIdP := newTestIdP(t), newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		replica := e.Replica()
		n := 0
		// Each case signs in through connections of its own: the world's IdP behind one,
		// another IdP behind the other.
		// It returns the id and slug of the one and the slug of the other.
		connections := func(t *testing.T) (mainID, main, other string) {
			t.Helper()
			n++
			main, other = "main-"+string(rune('a'+n)), "other-"+string(rune('a'+n))
			mainID = w.addConnection(t, main, main, idp, main+".example")
			w.addConnection(t, other, other, otherIdP, other+".example")
			return mainID, main, other
		}
		// signIn signs in as the person of claims at the IdP behind slug, with the
		// confidential application, and returns the access token and the account's id.
		signIn := func(t *testing.T, at *testIdP, slug string, claims map[string]any) (*oauth2.Token, string) {
			t.Helper()
			at.as(claims)
			r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", slug)
			if r.query.Get("code") == "" {
				t.Fatalf("sign-in through %s as %v: %+v", slug, claims, r)
			}
			c, tok := w.claimsOf(t, w.app, r.query.Get("code"), verifier)
			return tok, c["sub"].(string)
		}
		userinfo := func(t *testing.T, base string, tok *oauth2.Token) (int, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest("GET", base+"/oauth/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			return resp.StatusCode, body
		}
		lives := func(t *testing.T, what string, toks ...*oauth2.Token) {
			t.Helper()
			for _, tok := range toks {
				for _, base := range []string{e.URL, replica} {
					if code, body := userinfo(t, base, tok); code != http.StatusOK {
						t.Fatalf("%s: userinfo at %s: %d %v, want 200", what, base, code, body)
					}
				}
			}
		}
		dies := func(t *testing.T, what string, tok *oauth2.Token) {
			t.Helper()
			for _, base := range []string{e.URL, replica} {
				code, body := userinfo(t, base, tok)
				if code != http.StatusUnauthorized || body["error"] != "invalid_token" || body["error_description"] != "the access token is revoked" {
					t.Fatalf("%s: userinfo at %s: %d %v, want 401 invalid_token, the access token is revoked", what, base, code, body)
				}
			}
		}
		// people signs Jane and Bob in through main, and Jane, bound ahead of time, through
		// other: all answer userinfo.
		type people struct {
			jane, bob, janeElsewhere *oauth2.Token
			janeID                   string
		}
		signInPeople := func(t *testing.T, main, other string) people {
			t.Helper()
			var p people
			p.jane, p.janeID = signIn(t, idp, main, map[string]any{"sub": "jane-at-main", "email": "jane@" + main + ".example"})
			p.bob, _ = signIn(t, idp, main, map[string]any{"sub": "bob-at-main", "email": "bob@" + main + ".example"})
			w.bind(t, p.janeID, other, "jane-at-other")
			p.janeElsewhere, _ = signIn(t, otherIdP, other, map[string]any{"sub": "jane-at-other", "email": "jane@" + main + ".example"})
			lives(t, "after sign-in", p.jane, p.bob, p.janeElsewhere)
			return p
		}

		t.Run("a connection deactivated or deleted ends no token", func(t *testing.T) {
			id, main, other := connections(t)
			p := signInPeople(t, main, other)
			// A code issued before the deactivation, not redeemed yet: the sign-in was made.
			idp.as(map[string]any{"sub": "jane-at-main", "email": "jane@" + main + ".example"})
			r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", main)
			e.REST(w.tok, "POST", "/api/v1/sso/connections/"+id+"/deactivate", "").Must(t, http.StatusOK)
			if _, err := w.app.Exchange(t.Context(), r.query.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
				t.Fatalf("a code issued before the deactivation: %v", err)
			}
			lives(t, "tokens through the deactivated connection", p.jane, p.bob, p.janeElsewhere)
			// New sign-ins are blocked.
			idp.as(map[string]any{"sub": "jane-at-main", "email": "jane@" + main + ".example"})
			if r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", main); r.query.Get("error") != "access_denied" {
				t.Fatalf("a sign-in through the deactivated connection: %+v", r)
			}
			e.REST(w.tok, "DELETE", "/api/v1/sso/connections/"+id, "").Must(t, http.StatusNoContent)
			lives(t, "tokens through the deleted connection", p.jane, p.bob, p.janeElsewhere)
		})

		t.Run("a code whose credential was removed before it was redeemed", func(t *testing.T) {
			_, slug, _ := connections(t)
			idp.as(map[string]any{"sub": "kim-at-main", "email": "kim@" + slug + ".example"})
			r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", slug)
			var kim string
			if err := e.App.Store().RawScan(t.Context(), &kim, "SELECT CAST(user_account_id AS text) FROM credentials WHERE identifier_key = 'kim-at-main'"); err != nil {
				t.Fatal(err)
			}
			d := e.MustGQL(w.tok, `mutation($a: ID!, $m: String!) { removeUserAccountCredentials(input: {accountUuid: $a, authModule: $m}) {
				errors { label message code } } }`, map[string]any{"a": kim, "m": slug})
			if errs := payloadErrors(t, d, "removeUserAccountCredentials"); len(errs) > 0 {
				t.Fatalf("removeUserAccountCredentials: %v", errs)
			}
			if _, err := w.app.Exchange(t.Context(), r.query.Get("code"), oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Fatalf("a code whose credential was removed: %v, want invalid_grant", err)
			}
		})

		t.Run("the credential removed through GraphQL", func(t *testing.T) {
			_, slug, other := connections(t)
			p := signInPeople(t, slug, other)
			d := e.MustGQL(w.tok, `mutation($a: ID!, $m: String!) { removeUserAccountCredentials(input: {accountUuid: $a, authModule: $m}) {
				errors { label message code } } }`, map[string]any{"a": p.janeID, "m": slug})
			if errs := payloadErrors(t, d, "removeUserAccountCredentials"); len(errs) > 0 {
				t.Fatalf("removeUserAccountCredentials: %v", errs)
			}
			dies(t, "Jane's token through the connection of the removed credential", p.jane)
			lives(t, "Bob's token, and Jane's through another connection", p.bob, p.janeElsewhere)
		})

		t.Run("the credential rebound through GraphQL", func(t *testing.T) {
			_, slug, other := connections(t)
			p := signInPeople(t, slug, other)
			w.bind(t, p.janeID, slug, "JANE-AT-MAIN") // the same identity: no change
			lives(t, "Jane's token after her identity was bound again", p.jane)
			w.bind(t, p.janeID, slug, "someone-else-at-main") // a mis-binding corrected, say
			dies(t, "Jane's token through the connection of the rebound credential", p.jane)
			lives(t, "Bob's token, and Jane's through another connection", p.bob, p.janeElsewhere)
		})

		t.Run("the credential rebound by a SCIM rename", func(t *testing.T) {
			id, slug, _ := connections(t)
			// The SCIM token of the connection binds its users by userName (scim_users.go).
			plain, _ := e.SCIMToken(w.tok, map[string]any{"name": "IdP of " + slug, "connectionId": id,
				"scopes": []string{"users:read", "users:write"}})
			user := func(name string) string {
				return e.SCIMUser(plain, map[string]any{"userName": name + "@" + slug + ".example", "active": true})
			}
			pat, lee := user("pat"), user("lee")
			patTok, _ := signIn(t, idp, slug, map[string]any{"sub": "pat@" + slug + ".example", "email": "pat@" + slug + ".example"})
			leeTok, _ := signIn(t, idp, slug, map[string]any{"sub": "lee@" + slug + ".example", "email": "lee@" + slug + ".example"})
			lives(t, "after sign-in", patTok, leeTok)
			e.Call("PATCH", "/scim/v2/Users/"+pat, plain, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				"Operations":[{"op":"replace","path":"userName","value":"pat.renamed@`+slug+`.example"}]}`).Must(t, http.StatusOK)
			dies(t, "Pat's token after the SCIM rename rebound Pat", patTok)
			lives(t, "Lee's token", leeTok)
			// Deprovisioned (active false): the account's rule, as before.
			e.Call("PATCH", "/scim/v2/Users/"+lee, plain, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
				"Operations":[{"op":"replace","path":"active","value":false}]}`).Must(t, http.StatusOK)
			dies(t, "Lee's token after SCIM deactivated Lee", leeTok)
		})

		t.Run("the credential rebound through bulk GraphQL", func(t *testing.T) {
			_, slug, other := connections(t)
			p := signInPeople(t, slug, other)
			bulk := func(identifier string) {
				t.Helper()
				d := e.MustGQL(w.tok, `mutation($items: [UpdateUserAccountCredentialsInput!]!) { bulkUpdateUserAccountCredentials(input: {items: $items}) {
					results { errors { label message code } } } }`, map[string]any{"items": []map[string]any{
					{"accountUuid": p.janeID, "authModule": slug, "identifier": identifier, "secret": ""}}})
				results, _ := get(d, "bulkUpdateUserAccountCredentials", "results").([]any)
				if len(results) != 1 || len(results[0].(map[string]any)["errors"].([]any)) > 0 {
					t.Fatalf("bulkUpdateUserAccountCredentials: %v", d)
				}
			}
			bulk("Jane-At-Main") // the same identity: no change
			lives(t, "Jane's token after a bulk binding of the same identity", p.jane)
			bulk("jane.doe-at-main")
			dies(t, "Jane's token through the connection of the bulk-rebound credential", p.jane)
			lives(t, "Bob's token, and Jane's through another connection", p.bob, p.janeElsewhere)
		})
	})
}

// addConnection creates an active OIDC connection at idp with a verified domain and returns
// its id.
func (w *signInWorld) addConnection(t *testing.T, name, slug string, idp *testIdP, domain string) string {
	t.Helper()
	d := w.e.MustGQL(w.tok, `mutation($n: String!, $s: String, $i: String!, $c: String!, $sec: String!) { createConnection(input: {name: $n, slug: $s, protocol: OIDC,
		oidcConfig: {issuerUrl: $i, clientId: $c, clientSecret: $sec, scopes: ["openid", "email", "profile"]}, jitProvisioning: true, defaultRole: "member"}) {
		connection { id } errors { label message code } } }`,
		map[string]any{"n": name, "s": slug, "i": idp.srv.URL, "c": idp.client, "sec": idp.secret})
	if errs := payloadErrors(t, d, "createConnection"); len(errs) > 0 {
		t.Fatalf("createConnection: %v", errs)
	}
	id := str(d, "createConnection", "connection", "id")
	w.activate(id, domain)
	return id
}
