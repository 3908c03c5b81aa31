package sso_test

import (
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/sso/samltest"
)

// TestTestSignInFailedAfterTheAnswer, on both databases with real signed responses: a test
// sign-in that fails after the identity provider's answer was accepted still shows the identity
// the IdP sent and the response's warnings, with no decision (REST, GraphQL, and the result page
// in the browser that started it):
//   - the connection accepts SHA-1 and the IdP signs with it, but the IdP's form is posted by
//     another browser than the one that started the test (no sign-in cookie): the test fails
//     saying so, and keeps the identity and the SHA-1 warning that the ACS kept with the answer;
//   - the decision fails (the database refuses the account the dry run would create): the test
//     fails saying so, and keeps the identity and the warning.
//
// A test whose IdP answer was refused has neither.
func TestTestSignInFailedAfterTheAnswer(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, samlConfig: {acceptSha1Signatures: true}}) { errors { message } } }`,
			map[string]any{"id": w.conn})
		w.idp.SignWith(dsig.RSASHA1SignatureMethod)
		const sha1Warning = "signed the response with RSA-SHA1 (" + dsig.RSASHA1SignatureMethod + ")"

		// failed checks a failed test over REST and GraphQL and on the page its URL shows the
		// browser that started it: the error, the identity when the IdP's answer was accepted
		// (withIdentity; the SHA-1 warning with it), and never a decision.
		failed := func(id, u string, starter *http.Client, wantError string, withIdentity bool) {
			t.Helper()
			rest := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
			d := e.MustGQL(w.tok, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) {
				status error warnings identity { identifier email } decision { outcome } } }`, map[string]any{"c": w.conn, "i": id})
			msg := str(rest.Body, "error")
			if str(rest.Body, "status") != "failed" || str(d, "testSignIn", "status") != "FAILED" || str(d, "testSignIn", "error") != msg ||
				!strings.Contains(msg, wantError) || get(rest.Body, "decision") != nil || get(d, "testSignIn", "decision") != nil {
				t.Fatalf("failed test: %s\n%v", rest.Raw, d)
			}
			ws, _ := get(rest.Body, "warnings").([]any)
			gws, _ := get(d, "testSignIn", "warnings").([]any)
			if !withIdentity {
				if get(rest.Body, "identity") != nil || get(d, "testSignIn", "identity") != nil || len(ws) != 0 || len(gws) != 0 {
					t.Fatalf("a test whose answer was refused shows an identity or warnings: %s\n%v", rest.Raw, d)
				}
				return
			}
			if str(rest.Body, "identity", "identifier") != "00u-ada" || str(rest.Body, "identity", "email") != "ada@example.com" ||
				str(rest.Body, "identity", "claims", "company") != "Analytical Engines" || str(d, "testSignIn", "identity", "identifier") != "00u-ada" {
				t.Fatalf("the failed test lost the identity the IdP sent: %s\n%v", rest.Raw, d)
			}
			if len(ws) != 1 || len(gws) != 1 || ws[0] != gws[0] || !strings.Contains(ws[0].(string), sha1Warning) {
				t.Fatalf("warnings: REST %q, GraphQL %q; want the SHA-1 one", ws, gws)
			}
			_, page := samltest.Follow(t, starter, u)
			page = html.UnescapeString(page)
			if !strings.Contains(page, "Test sign-in: failed") || !strings.Contains(page, msg) || !strings.Contains(page, `<dd>00u-ada</dd>`) ||
				!strings.Contains(page, sha1Warning) || strings.Contains(page, `id="decision"`) {
				t.Fatalf("the result page:\n%s", page)
			}
		}

		// The IdP's form posted by another browser: the ACS accepts the answer, its
		// continuation in that browser fails.
		id, u := startTest(t, e, w.tok, w.conn, "")
		b := w.browser()
		_, page := samltest.Follow(t, b, u)
		resp, body := w.post(t, w.browser(), e.URL, page)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "opened in another browser") {
			t.Fatalf("the other browser's continuation: %d %s", resp.StatusCode, body)
		}
		failed(id, u, b, "could not be matched to this browser's sign-in. (the browser sent no sign-in cookie)", true)

		// The decision fails: the database refuses the account the dry run would create.
		allow := e.refuseWrites(t, "INSERT", "user_accounts", "")
		id, u = startTest(t, e, w.tok, w.conn, "")
		b = w.browser()
		_, page = samltest.Follow(t, b, u)
		if _, body = w.post(t, b, e.URL, page); !strings.Contains(body, "Test sign-in: failed") {
			t.Fatalf("the decision failed: %s", body)
		}
		allow()
		failed(id, u, b, "The decision failed because of a server error. (", true)

		// The IdP's answer refused (an expired assertion): no identity, no warning.
		w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
			req.Assertion.IssueInstant = req.Assertion.IssueInstant.Add(-10 * time.Minute)
		})
		id, u = startTest(t, e, w.tok, w.conn, "")
		b = w.browser()
		_, page = samltest.Follow(t, b, u)
		w.post(t, b, e.URL, page)
		failed(id, u, b, "expired", false)
	})
}

// TestOIDCTestSignInShowsTheClaimsOfAnUnusableAnswer, on both databases: an OIDC connection
// whose identifier claim (upn) the IdP does not send fails a test sign-in, saying so, and the
// test shows the claims the IdP did send (REST, GraphQL, the result page), with an empty
// identifier and no decision: what the admin needs to choose the claim. A real sign-in fails the
// same way, and the application reads nothing of the claims.
func TestOIDCTestSignInShowsTheClaimsOfAnUnusableAnswer(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSignInWorld(t, e, idp)
		d := e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, oidcConfig: {identifierClaim: "upn"}}) { errors { message } } }`,
			map[string]any{"id": w.conn})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
			t.Fatalf("identifierClaim upn: %v", errs)
		}
		idp.as(map[string]any{"sub": "entra-oid-1", "email": "grace@example.com", "preferred_username": "grace@contoso.example"})
		const cause = "the IdP's answer has no upn claim (a non-empty string), the connection's identifier claim"

		id, u := startTest(t, e, w.tok, w.conn, "")
		r := newBrowser(t, w.redirect).get(t, u)
		page := html.UnescapeString(r.body)
		if r.status != http.StatusOK || !strings.Contains(page, "Test sign-in: failed") || !strings.Contains(page, cause) ||
			!strings.Contains(page, `"preferred_username": "grace@contoso.example"`) || strings.Contains(page, `id="decision"`) {
			t.Fatalf("result page: %d %s", r.status, r.body)
		}
		rest := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200)
		g := e.MustGQL(w.tok, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { status error identity { identifier claims } decision { outcome } } }`,
			map[string]any{"c": w.conn, "i": id})
		if str(rest.Body, "status") != "failed" || !strings.Contains(str(rest.Body, "error"), cause) || get(rest.Body, "decision") != nil ||
			str(rest.Body, "identity", "identifier") != "" || str(rest.Body, "identity", "claims", "preferred_username") != "grace@contoso.example" ||
			str(rest.Body, "identity", "claims", "sub") != "entra-oid-1" {
			t.Fatalf("the failed test over REST: %s", rest.Raw)
		}
		if str(g, "testSignIn", "status") != "FAILED" || str(g, "testSignIn", "identity", "claims", "preferred_username") != "grace@contoso.example" ||
			get(g, "testSignIn", "decision") != nil {
			t.Fatalf("the failed test over GraphQL: %v", g)
		}

		res, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
		if res.query.Get("error") != "access_denied" || res.query.Get("code") != "" || strings.Contains(res.query.Encode(), "contoso") {
			t.Fatalf("a real sign-in: %v", res.query)
		}
	})
}
