package sso_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/crewjam/saml"
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

// TestSAMLNewSSOURLBinding: ssoBinding is the binding of ssoUrl, so a new ssoUrl given without
// one is sent to by HTTP-Redirect, the default, not by the binding chosen for the old URL. A
// connection created from the metadata of an IdP that offers only HTTP-POST is moved by hand
// (REST, then GraphQL) to an IdP that takes only HTTP-Redirect, and the person signs in there
// by a redirect; the stale HTTP_POST would post the request to an IdP that refuses it. An
// explicit ssoBinding is taken as given, the same ssoUrl sent again keeps the binding, and an
// ssoUrl given with metadataXml whose SingleSignOnService it is takes that one's binding.
func TestSAMLNewSSOURLBinding(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		postIdP := samltest.New(t)
		postIdP.PostOnly()
		w := newSAMLWorldAt(t, e, samlWorldOptions{idp: postIdP, samlConfig: map[string]any{"metadataUrl": postIdP.EntityID}})
		if cfg := w.samlConfig(t); cfg["ssoBinding"] != "http_post" {
			t.Fatalf("created from POST-only metadata: %v", cfg)
		}
		redirectIdP := samltest.New(t)
		redirectIdP.RedirectOnly()
		redirectIdP.SignIn(samltest.User{NameID: "00u-ada", Email: "ada@example.com", GivenName: "Ada", Surname: "Lovelace"})
		redirectIdP.TrustSP(t, w.spMetadata(t, e))
		binding := func(t *testing.T) string {
			t.Helper()
			d := e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { samlConfig { ssoBinding } } }`, map[string]any{"id": w.conn})
			return str(d, "connection", "samlConfig", "ssoBinding")
		}
		// signIn signs Ada in through the redirect-only IdP, by the redirect (toIdP fails on
		// anything else, such as Gatehouse's page posting to the IdP).
		signIn := func(t *testing.T) map[string]any {
			t.Helper()
			w.activate(w.conn, "") // a new ssoUrl needs a new test: done by hand here
			w.idp = redirectIdP
			b := w.browser()
			page, verifier := w.toIdP(t, b)
			reqs := redirectIdP.Requests()
			if last := reqs[len(reqs)-1]; last.Method != http.MethodGet {
				t.Fatalf("the AuthnRequest came by %s", last.Method)
			}
			resp, body := w.post(t, b, e.URL, page)
			return w.exchange(t, w.appResult(t, resp, body).Get("code"), verifier)
		}
		moveTo := func(idp *samltest.IdP) map[string]any {
			return map[string]any{"entityId": idp.EntityID, "ssoUrl": idp.SSOURL, "certificate": idp.CertificatePEM}
		}
		updateGQL := func(t *testing.T, saml map[string]any) {
			t.Helper()
			d := e.MustGQL(w.tok, `mutation($id: ID!, $saml: SamlConfigInput!) { updateConnection(input: {id: $id, samlConfig: $saml}) {
				connection { samlConfig { ssoUrl ssoBinding } } errors { label message } } }`, map[string]any{"id": w.conn, "saml": saml})
			if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
				t.Fatalf("updateConnection: %v", errs)
			}
		}

		// REST: the IdP's values typed in by hand, no ssoBinding.
		body, _ := json.Marshal(map[string]any{"samlConfig": moveTo(redirectIdP)})
		put := e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200).Body
		if got := str(put, "connection", "samlConfig", "ssoBinding"); got != "http_redirect" {
			t.Fatalf("REST: a new ssoUrl kept ssoBinding %q", got)
		}
		if claims := signIn(t); claims["sign_in"] != "provisioned" || claims["email"] != "ada@example.com" {
			t.Fatalf("claims %v", claims)
		}

		// GraphQL: back to the POST-only IdP with its binding said; the same ssoUrl sent
		// again is no change of it.
		cfg := moveTo(postIdP)
		cfg["ssoBinding"] = "HTTP_POST"
		updateGQL(t, cfg)
		if got := binding(t); got != "HTTP_POST" {
			t.Fatalf("an explicit ssoBinding: %q", got)
		}
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ssoUrl": "`+postIdP.SSOURL+`"}}`).Must(t, 200)
		if got := binding(t); got != "HTTP_POST" {
			t.Fatalf("the same ssoUrl again: %q", got)
		}

		// GraphQL: the redirect-only IdP's values without ssoBinding.
		updateGQL(t, moveTo(redirectIdP))
		if got := binding(t); got != "HTTP_REDIRECT" {
			t.Fatalf("GraphQL: a new ssoUrl kept ssoBinding %q", got)
		}
		if claims := signIn(t); claims["sign_in"] != "existing_identity" {
			t.Fatalf("claims %v", claims)
		}

		// The POST-only IdP's metadata pasted, with its SSO URL typed in as well: the
		// location's binding is the metadata's.
		updateGQL(t, map[string]any{"metadataXml": postIdP.Metadata(t), "ssoUrl": postIdP.SSOURL})
		if got := binding(t); got != "HTTP_POST" {
			t.Fatalf("metadataXml with its ssoUrl: %q", got)
		}
	})
}

// TestSAMLConnectionTestChecksSSOBinding: with a metadataUrl, the connection test checks that
// the IdP takes AuthnRequests at ssoUrl by the connection's ssoBinding when its metadata lists
// that URL: a POST-only IdP's URL typed in by hand (no ssoBinding: HTTP-Redirect), or a
// redirect-only IdP's set to http_post, fails the test saying which binding to set, where it
// passed before and every sign-in then failed at the IdP. A long URL is clipped where the
// refresh clips it. REST and GraphQL, both databases.
func TestSAMLConnectionTestChecksSSOBinding(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		postIdP := samltest.New(t)
		postIdP.PostOnly()
		w := newSAMLWorldAt(t, e, samlWorldOptions{idp: postIdP, samlConfig: map[string]any{"entityId": postIdP.EntityID,
			"ssoUrl": postIdP.SSOURL, "certificate": postIdP.CertificatePEM, "metadataUrl": postIdP.EntityID}})
		test := func(t *testing.T, success bool, problem string) {
			t.Helper()
			r := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
			if get(r.Body, "success") != success || get(r.Body, "details", "ssoUrlValid") != success ||
				!strings.Contains(fmt.Sprint(r.Body["problems"]), problem) {
				t.Fatalf("REST test: %s, want success %v, problem %q", r.Raw, success, problem)
			}
			d := e.MustGQL(w.tok, `mutation($id: ID!) { testConnection(input: {id: $id}) { success problems } }`, map[string]any{"id": w.conn})
			if get(d, "testConnection", "success") != success || !strings.Contains(fmt.Sprint(get(d, "testConnection", "problems")), problem) {
				t.Fatalf("GraphQL test: %v", d)
			}
		}
		test(t, false, `the metadata offers ssoUrl "`+postIdP.SSOURL+`" by other bindings than the connection's ssoBinding http_redirect: set ssoBinding to http_post`)
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ssoBinding": "http_post"}}`).Must(t, 200)
		test(t, true, "")

		redirectIdP := samltest.New(t)
		redirectIdP.RedirectOnly()
		body, _ := json.Marshal(map[string]any{"samlConfig": map[string]any{"entityId": redirectIdP.EntityID, "ssoUrl": redirectIdP.SSOURL,
			"ssoBinding": "http_post", "certificate": redirectIdP.CertificatePEM, "metadataUrl": redirectIdP.EntityID}})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, string(body)).Must(t, 200)
		test(t, false, "ssoBinding http_post: set ssoBinding to http_redirect")
		d := e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, samlConfig: {ssoBinding: HTTP_REDIRECT}}) { errors { message } } }`,
			map[string]any{"id": w.conn})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
			t.Fatalf("updateConnection: %v", errs)
		}
		test(t, true, "")

		// A URL the metadata does not list is not judged.
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ssoUrl": "`+redirectIdP.URL+`/other-sso", "ssoBinding": "http_post"}}`).Must(t, 200)
		test(t, true, "")

		// A URL the metadata lists only by bindings Gatehouse does not send by (SOAP, Artifact)
		// fails the test too, saying so.
		soap := redirectIdP.URL + "/soap"
		redirectIdP.ListSSO(saml.Endpoint{Binding: saml.SOAPBinding, Location: soap}, saml.Endpoint{Binding: saml.HTTPArtifactBinding, Location: soap},
			saml.Endpoint{Binding: saml.HTTPRedirectBinding, Location: redirectIdP.SSOURL})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ssoUrl": "`+soap+`", "ssoBinding": "http_redirect"}}`).Must(t, 200)
		test(t, false, `the metadata offers ssoUrl "`+soap+`" by other bindings than the connection's ssoBinding http_redirect, `+
			`none of which Gatehouse sends AuthnRequests by: set ssoUrl to the IdP's HTTP-Redirect (or HTTP-POST) location`)

		// A long URL is clipped as the metadata refresh clips it in metadataProblem (at 128
		// bytes): the two show the same URL the same way.
		long := redirectIdP.URL + "/" + strings.Repeat("l", 200)
		redirectIdP.ListSSO(saml.Endpoint{Binding: saml.HTTPPostBinding, Location: long},
			saml.Endpoint{Binding: saml.HTTPRedirectBinding, Location: redirectIdP.SSOURL})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ssoUrl": "`+long+`", "ssoBinding": "http_redirect"}}`).Must(t, 200)
		test(t, false, `the metadata offers ssoUrl "`+long[:128]+`…" by other bindings than the connection's ssoBinding http_redirect: set ssoBinding to http_post`)

		// A document a certificate refresh could take nothing from (a certificate that does
		// not parse) is still judged for where it lists ssoUrl.
		redirectIdP.ListSSO(saml.Endpoint{Binding: saml.HTTPPostBinding, Location: redirectIdP.SSOURL})
		redirectIdP.EditMetadata(func(ed *saml.EntityDescriptor) {
			ed.IDPSSODescriptors[0].KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data = "bm90IGEgY2VydGlmaWNhdGU="
		})
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ssoUrl": "`+redirectIdP.SSOURL+`", "ssoBinding": "http_redirect"}}`).Must(t, 200)
		test(t, false, "ssoBinding http_redirect: set ssoBinding to http_post")
	})
}
