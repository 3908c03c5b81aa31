package sso_test

import (
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/sso/samltest"
)

// TestSAMLPostBinding: an IdP whose metadata offers only the HTTP-POST SingleSignOnService is
// usable. The connection created from its metadata URL records the binding; the authorize step
// answers a page whose form the browser posts to the IdP (strict CSP, not stored, the flow's
// cookie set as for a redirect), and the sign-in completes end to end: code, token, id_token.
// With signRequests the request carries an enveloped signature, which the IdP verifies with
// the signing certificate of /saml/metadata; an IdP that expects another key refuses it.
func TestSAMLPostBinding(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp := samltest.New(t)
		idp.PostOnly()
		w := newSAMLWorldAt(t, e, samlWorldOptions{idp: idp, samlConfig: map[string]any{"metadataUrl": idp.EntityID, "signRequests": true}})
		cfg := w.samlConfig(t)
		if cfg["ssoUrl"] != idp.SSOURL || cfg["ssoBinding"] != "http_post" {
			t.Fatalf("created from POST-only metadata: %v", cfg)
		}
		gql := e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { samlConfig { ssoUrl ssoBinding } } }`, map[string]any{"id": w.conn})
		if got := str(gql, "connection", "samlConfig", "ssoBinding"); got != "HTTP_POST" {
			t.Fatalf("GraphQL ssoBinding %q: %v", got, gql)
		}
		signing, _ := spMetadataCerts(t, e.URL)
		der, _ := base64.StdEncoding.DecodeString(signing[0])
		spCert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}

		// signIn starts at the application, posts the page's form to the IdP as a browser
		// would, and returns the IdP's answer (its page posting to the ACS) with the verifier.
		signIn := func(t *testing.T, b *http.Client) (status int, idpPage, verifier string) {
			t.Helper()
			verifier = oauth2.GenerateVerifier()
			resp, err := b.Get(w.app.AuthCodeURL("app-state", oauth2.S256ChallengeOption(verifier), oidc.Nonce("app-nonce"),
				oauth2.SetAuthURLParam("connection", samlSlug)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page := string(body)
			h := resp.Header
			csp := h.Get("Content-Security-Policy")
			if resp.StatusCode != 200 || h.Get("Cache-Control") != "no-store" || !strings.Contains(csp, "default-src 'none'") ||
				!strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe-inline") ||
				!strings.Contains(csp, "frame-ancestors 'none'") || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				t.Fatalf("the authorize page: %d %v\n%s", resp.StatusCode, h, page)
			}
			// A browser that runs no script presses Continue.
			if !strings.Contains(page, `<button type="submit">Continue</button>`) {
				t.Fatalf("no Continue button:\n%s", page)
			}
			if !strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), "gatehouse_signin") {
				t.Fatalf("no flow cookie: %v", h.Values("Set-Cookie"))
			}
			action, vals, err := samltest.Form(page)
			if err != nil || action != idp.SSOURL || vals.Get("SAMLRequest") == "" || vals.Get("RelayState") == "" {
				t.Fatalf("the page posts %v to %q: %v", vals, action, err)
			}
			resp, err = b.PostForm(action, vals)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(body), verifier
		}

		idp.RequireSignedRequests(spCert)
		b := w.browser()
		status, page, verifier := signIn(t, b)
		if status != 200 {
			t.Fatalf("the IdP refused the posted request: %d %s", status, page)
		}
		reqs := idp.Requests()
		last := reqs[len(reqs)-1]
		ar, err := samltest.AuthnRequestOf(last)
		if err != nil || last.Method != http.MethodPost || ar.Signature == nil || ar.Destination != idp.SSOURL {
			t.Fatalf("the IdP got %s %+v: %v", last.Method, ar, err)
		}
		resp, body := w.post(t, b, e.URL, page)
		q := w.appResult(t, resp, body)
		claims := w.exchange(t, q.Get("code"), verifier)
		if claims["sign_in"] != "provisioned" || claims["email"] != "ada@example.com" || claims["connection"] != samlSlug {
			t.Fatalf("claims %v", claims)
		}

		// An IdP that holds another certificate for the SP refuses the signature.
		_, other, _ := samltest.NewKeyPair(t)
		idp.RequireSignedRequests(other)
		if status, page, _ := signIn(t, w.browser()); status != http.StatusForbidden || !strings.Contains(page, "signature") {
			t.Fatalf("another key: %d %s", status, page)
		}

		// Without signRequests, the request is posted unsigned, and an IdP that does not ask
		// for signed requests signs the person in.
		idp.RequireSignedRequests(nil)
		w.e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"signRequests": false}}`).Must(t, 200)
		b = w.browser()
		status, page, verifier = signIn(t, b)
		reqs = idp.Requests()
		if ar, err := samltest.AuthnRequestOf(reqs[len(reqs)-1]); status != 200 || err != nil || ar.Signature != nil {
			t.Fatalf("unsigned: %d %v %+v", status, err, ar)
		}
		resp, body = w.post(t, b, e.URL, page)
		again := w.exchange(t, w.appResult(t, resp, body).Get("code"), verifier)
		if again["sign_in"] != "existing_identity" || again["sub"] != claims["sub"] {
			t.Fatalf("returning: %v", again)
		}
	})
}
