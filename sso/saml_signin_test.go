package sso_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"gatehouse/models"
	"gatehouse/sso/samltest"

	"github.com/crewjam/saml"
)

// samlWorld is signInWorld (a brand with a confidential application) with an active SAML
// connection (signed requests, JIT) at an in-process samlidp IdP that trusts the connection's
// SP metadata (spMetadataUrl), with example.com verified for it.
type samlWorld struct {
	*signInWorld
	idp *samltest.IdP
	// spEntityID is the connection's SP entity ID (samlConfig.spEntityId).
	spEntityID string
}

const samlSlug = "acme-saml"

// spMetadata is the connection's SP metadata, as its spMetadataUrl serves it to the IdP.
func (w *samlWorld) spMetadata(t *testing.T, e *testEnv) []byte {
	t.Helper()
	conn := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200).Body
	resp, err := http.Get(str(conn, "connection", "samlConfig", "spMetadataUrl"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	md, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return md
}

func newSAMLWorld(t *testing.T, e *testEnv) *samlWorld {
	t.Helper()
	return newSAMLWorldAt(t, e, samlWorldOptions{})
}

// samlWorldOptions vary a samlWorld.
type samlWorldOptions struct {
	tok    string        // the workspace's admin token ("": the platform admin's workspace)
	idp    *samltest.IdP // nil: a new IdP
	domain string        // the verified domain ("": example.com)
	// legacy: the connection is on the shared SP entity ID, as a connection created without
	// ownEntityId is (and migration 20 leaves the SAML connections that existed), and its IdP
	// trusts that one.
	legacy bool
	// samlConfig, when set, is how the connection is configured at the IdP instead of its
	// entity ID, SSO URL and certificate (say, its metadata URL alone).
	samlConfig map[string]any
}

func newSAMLWorldAt(t *testing.T, e *testEnv, o samlWorldOptions) *samlWorld {
	t.Helper()
	if o.tok == "" {
		o.tok = e.AdminToken()
	}
	if o.idp == nil {
		o.idp = samltest.New(t)
	}
	if o.domain == "" {
		o.domain = "example.com"
	}
	w := &samlWorld{signInWorld: &signInWorld{e: e, tok: o.tok, slug: samlSlug, redirect: "http://127.0.0.1:9/callback"},
		idp: o.idp}
	w.idp.SignIn(samltest.User{NameID: "00u-ada", Email: "ada@" + o.domain, GivenName: "Ada", Surname: "Lovelace",
		Attributes: map[string][]string{"companyName": {"Analytical Engines"}}})
	w.brand = e.CreateBrand(w.tok, "Acme Academy")
	cfg := o.samlConfig
	if cfg == nil {
		cfg = map[string]any{"entityId": w.idp.EntityID, "ssoUrl": w.idp.SSOURL, "certificate": w.idp.CertificatePEM, "signRequests": true}
	}
	cfg["attributeMapping"], cfg["ownEntityId"] = map[string]any{"company": "companyName"}, !o.legacy
	body, _ := json.Marshal(map[string]any{"name": "Acme SAML", "slug": samlSlug, "protocol": "saml", "samlConfig": cfg,
		"jitProvisioning": true, "defaultRole": "member"})
	created := e.REST(w.tok, "POST", "/api/v1/sso/connections", string(body)).Must(t, 201).Body
	w.conn = str(created, "connection", "id")
	w.spEntityID = trustSP(t, w.idp, created)
	w.activate(w.conn, o.domain)
	w.app = w.createApp(t, "Portal", "CONFIDENTIAL")
	return w
}

// trustSP registers a SAML connection at idp as its admin would: the metadata at the
// connection's spMetadataUrl (connection is a REST body holding it). It returns the
// connection's spEntityId, which the metadata names.
func trustSP(t *testing.T, idp *samltest.IdP, connection map[string]any) string {
	t.Helper()
	entityID, mdURL := str(connection, "connection", "samlConfig", "spEntityId"), str(connection, "connection", "samlConfig", "spMetadataUrl")
	resp, err := http.Get(mdURL)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(md), `entityID="`+entityID+`"`) {
		t.Fatalf("metadata at %s (entity ID %s): %d %s", mdURL, entityID, resp.StatusCode, md)
	}
	idp.TrustSP(t, md)
	return entityID
}

// setStatus sets the connection's status directly in the store.
func (w *samlWorld) setStatus(t *testing.T, status models.ConnectionStatus) {
	t.Helper()
	ctx, st := context.Background(), w.e.App.Store()
	var wss []string
	id := uuid.MustParse(w.conn)
	if err := st.RawScan(ctx, &wss, "SELECT workspace_id FROM connections WHERE id = ?", id); err != nil || len(wss) != 1 {
		t.Fatal(err)
	}
	c, err := st.Connection(ctx, uuid.MustParse(wss[0]), id)
	if err != nil {
		t.Fatal(err)
	}
	c.Status = status
	if err := st.UpdateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// browser is a cookie-keeping client that follows redirects until the application's
// redirect URI, which it does not fetch.
func (w *samlWorld) browser() *http.Client { return newBrowser(w.e.T, w.redirect).c }

// toIdP starts a sign-in at the application's authorize URL and follows it to the IdP, whose
// auto-posting page it returns with the PKCE verifier.
// extra are more authorization parameters, as name, value pairs.
func (w *samlWorld) toIdP(t *testing.T, b *http.Client, extra ...string) (page, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oidc.Nonce("app-nonce"),
		oauth2.SetAuthURLParam("connection", samlSlug)}
	for i := 0; i+1 < len(extra); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
	}
	u := w.app.AuthCodeURL("app-state", opts...)
	resp, body := samltest.Follow(t, b, u)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.String(), w.idp.SSOURL) {
		t.Fatalf("authorize ended at %s with %d: %s", resp.Request.URL, resp.StatusCode, body)
	}
	return body, verifier
}

// post submits an IdP page's form to base's ACS (the public URL or a replica's address) and
// returns the last response (the application's redirect, or a Gatehouse page).
func (w *samlWorld) post(t *testing.T, b *http.Client, base, page string) (*http.Response, string) {
	t.Helper()
	return w.postEdited(t, b, base, page, nil)
}

// postEdited is post with the response of the IdP's form edited first (nil: as it is), as
// anyone may post it.
func (w *samlWorld) postEdited(t *testing.T, b *http.Client, base, page string, edit func(doc string) string) (*http.Response, string) {
	t.Helper()
	action, vals, err := samltest.Form(page)
	if err != nil {
		t.Fatal(err)
	}
	if action != w.e.URL+"/saml/acs" {
		t.Fatalf("the IdP posts to %s", action)
	}
	if edit != nil {
		raw, err := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
		if err != nil {
			t.Fatal(err)
		}
		vals.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(edit(string(raw)))))
	}
	resp, err := b.PostForm(base+"/saml/acs", vals)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// appResult reads the application's redirect: the code, or the error.
func (w *samlWorld) appResult(t *testing.T, resp *http.Response, body string) url.Values {
	t.Helper()
	loc := resp.Header.Get("Location")
	want := http.StatusFound // after a GET; after a POST (the ACS), 303
	if resp.Request.Method == http.MethodPost {
		want = http.StatusSeeOther
	}
	if resp.StatusCode != want || !strings.HasPrefix(loc, w.redirect) {
		t.Fatalf("no redirect to the application: %d %s %s", resp.StatusCode, loc, body)
	}
	u, _ := url.Parse(loc)
	if u.Query().Get("state") != "app-state" {
		t.Fatalf("state lost: %s", loc)
	}
	return u.Query()
}

// exchange redeems a code with the real oauth2 client and verifies the id_token with go-oidc.
func (w *samlWorld) exchange(t *testing.T, code, verifier string) map[string]any {
	t.Helper()
	ctx := context.Background()
	tok, err := w.app.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	p, err := oidc.NewProvider(ctx, w.e.URL)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: w.app.ClientID}).Verify(ctx, raw)
	if err != nil || idt.Nonce != "app-nonce" {
		t.Fatalf("id_token: %v", err)
	}
	claims := map[string]any{}
	idt.Claims(&claims)
	return claims
}

func (w *samlWorld) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := w.e.App.Store().RawScan(context.Background(), &n, "SELECT count(*) FROM "+table); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSAMLSignIn: SP-initiated sign-in through the brand application, end to end: a signed
// AuthnRequest, the IdP's cross-site POST, the browser's cookie bound on the GET that follows,
// JIT provisioning, then a returning sign-in.
func TestSAMLSignIn(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		b := w.browser()
		page, verifier := w.toIdP(t, b)

		// The AuthnRequest was signed; the signature verifies with the use="signing"
		// certificate of /saml/metadata.
		reqs := w.idp.Requests()
		sent := reqs[len(reqs)-1].URL
		signing, _ := spMetadataCerts(t, e.URL)
		der, _ := base64.StdEncoding.DecodeString(signing[0])
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		signed := sent.RawQuery[:strings.Index(sent.RawQuery, "&Signature=")]
		sig, _ := base64.StdEncoding.DecodeString(sent.Query().Get("Signature"))
		sum := sha256.Sum256([]byte(signed))
		if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
			t.Fatalf("AuthnRequest signature: %v", err)
		}

		resp, body := w.post(t, b, e.URL, page)
		q := w.appResult(t, resp, body)
		if q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
		claims := w.exchange(t, q.Get("code"), verifier)
		if claims["sign_in"] != "provisioned" || claims["email"] != "ada@example.com" || claims["given_name"] != "Ada" ||
			claims["family_name"] != "Lovelace" || claims["connection"] != samlSlug || claims["role"] != "member" || claims["email_verified"] != true {
			t.Fatalf("claims %v", claims)
		}
		// The company claim placed the new person (no company of that name: an individual
		// account named after them).
		if claims["account_id"] == nil {
			t.Fatalf("no account placed: %v", claims)
		}

		// Returning: the same identity signs in to the same account.
		page, verifier = w.toIdP(t, b)
		resp, body = w.post(t, b, e.URL, page)
		again := w.exchange(t, w.appResult(t, resp, body).Get("code"), verifier)
		if again["sign_in"] != "existing_identity" || again["sub"] != claims["sub"] {
			t.Fatalf("returning: %v", again)
		}
	})
}

// TestSAMLSignInRefusals: a replayed assertion on a second replica, an IdP-initiated response,
// a browser without the flow's cookie, an IdP answer that fails the checks.
func TestSAMLSignInRefusals(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		replica := e.Replica()

		// The same response posted again, to another replica, before the browser continued:
		// the assertion ID was used.
		b := w.browser()
		continuation, page, verifier := w.answeredNotContinued(t, b)
		resp, body := w.post(t, b, replica, page)
		if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" || q.Get("code") != "" ||
			!strings.Contains(q.Get("error_description"), "already used") {
			t.Fatalf("replay on the replica: %v", q)
		}
		var causes []string
		if err := e.App.Store().RawScan(context.Background(), &causes, "SELECT cause FROM sign_in_events WHERE outcome = 'failed'"); err != nil {
			t.Fatal(err)
		}
		if len(causes) != 1 || !strings.Contains(causes[0], "replay") {
			t.Fatalf("events: %v", causes)
		}
		// The browser that started the flow still finishes it, on the first replica's ACS
		// answer: the continuation binds its cookie.
		cont, err := b.Get(e.URL + continuation)
		if err != nil {
			t.Fatal(err)
		}
		cont.Body.Close()
		if code := w.appResult(t, cont, "").Get("code"); code == "" {
			t.Fatal("the legitimate browser got no code")
		} else {
			w.exchange(t, code, verifier)
		}

		// The browser continues before the IdP's answer reached the ACS (a forged or hand-made
		// continuation): the claim finds no answer, and the flow fails; the answer that comes
		// afterwards finds the flow answered.
		b = w.browser()
		page, _ = w.toIdP(t, b)
		_, vals, _ := samltest.Form(page)
		early, err := b.Get(e.URL + "/saml/continue?" + url.Values{"state": {vals.Get("RelayState")}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		early.Body.Close()
		if q := w.appResult(t, early, ""); q.Get("error") != "access_denied" || q.Get("code") != "" ||
			q.Get("error_description") != "The identity provider's answer is missing." {
			t.Fatalf("continuation before the answer: %v", q)
		}
		if resp, body := w.post(t, b, e.URL, page); resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.Request.URL.RawQuery, "code=") {
			t.Fatalf("the answer after a failed continuation: %d %s", resp.StatusCode, body)
		}

		// IdP-initiated: a page explaining how to start from the application, not a redirect.
		for _, relay := range []string{"", "https://portal.example.com/"} {
			resp, body = w.post(t, w.browser(), e.URL, w.idp.InitiatedResponse(t, w.spEntityID, relay))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "did not ask for") ||
				!strings.Contains(body, "start at the application") {
				t.Fatalf("IdP-initiated (RelayState %q): %d %s", relay, resp.StatusCode, body)
			}
		}

		// An oversized POST is refused before it is parsed.
		big, err := http.PostForm(e.URL+"/saml/acs", url.Values{"SAMLResponse": {strings.Repeat("A", 300<<10)}, "RelayState": {"x"}})
		if err != nil {
			t.Fatal(err)
		}
		big.Body.Close()
		if big.StatusCode != http.StatusBadRequest {
			t.Fatalf("oversized ACS POST: %d", big.StatusCode)
		}

		// The IdP's POST arrives, but the browser that continues has not the flow's cookie
		// (another browser, or a forged POST): a page, no code.
		page, _ = w.toIdP(t, w.browser())
		resp, body = w.post(t, &http.Client{}, e.URL, page)
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.Request.URL.RawQuery, "code=") ||
			!strings.Contains(body, "another browser") {
			t.Fatalf("no cookie: %d %s", resp.StatusCode, body)
		}

		// An assertion that fails a check (expired): access_denied with a safe message.
		w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
			req.Assertion.IssueInstant = req.Assertion.IssueInstant.Add(-10 * time.Minute)
		})
		defer w.idp.Tamper(nil)
		b = w.browser()
		page, _ = w.toIdP(t, b)
		resp, body = w.post(t, b, e.URL, page)
		q := w.appResult(t, resp, body)
		if q.Get("error") != "access_denied" || strings.Contains(q.Get("error_description"), "expired on") {
			t.Fatalf("expired assertion: %v", q)
		}
		// The IdP did not sign the person in (cancelled, not assigned): a status, not an
		// assertion.
		w.idp.Tamper(nil)
		w.idp.FailWith(saml.StatusRequester)
		b = w.browser()
		page, _ = w.toIdP(t, b)
		resp, body = w.post(t, b, e.URL, page)
		w.idp.FailWith("")
		if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" || q.Get("error_description") != "The identity provider did not sign you in." {
			t.Fatalf("IdP status: %v", q)
		}
		if n := w.count(t, "user_accounts"); n != 1 {
			t.Fatalf("%d accounts after one successful sign-in", n)
		}
	})
}

// answeredNotContinued starts a sign-in in b and posts the IdP's form to the ACS from a client
// that does not follow its redirect: the answer is accepted, and the flow waits for b's
// continuation, whose path it returns with the IdP's page and the PKCE verifier.
func (w *samlWorld) answeredNotContinued(t *testing.T, b *http.Client) (continuation, page, verifier string) {
	t.Helper()
	page, verifier = w.toIdP(t, b)
	_, vals, err := samltest.Form(page)
	if err != nil {
		t.Fatal(err)
	}
	first, err := w.browserNoFollow().PostForm(w.e.URL+"/saml/acs", vals)
	if err != nil {
		t.Fatal(err)
	}
	first.Body.Close()
	if first.StatusCode != http.StatusSeeOther || !strings.HasPrefix(first.Header.Get("Location"), "/saml/continue?") {
		t.Fatalf("ACS: %d %s", first.StatusCode, first.Header.Get("Location"))
	}
	return first.Header.Get("Location"), page, verifier
}

// browserNoFollow is a client that keeps no cookies and follows no redirects (the IdP's POST
// seen on its own).
func (w *samlWorld) browserNoFollow() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// A connection deleted while the person was at the IdP signs nobody in: the ACS, which finds
// the flow and its connection in one query, tells this from an unknown flow (no page for an
// unsolicited response: the application gets access_denied, the event the cause).
func TestSAMLConnectionDeletedDuringSignIn(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		b := w.browser()
		page, _ := w.toIdP(t, b)
		e.REST(w.tok, "DELETE", "/api/v1/sso/connections/"+w.conn, "").Must(t, 204)
		b.Transport = idAtPath{path: "/saml/acs", id: "the-acs", next: http.DefaultTransport}
		resp, body := w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" || q.Get("code") != "" {
			t.Fatalf("connection deleted during the sign-in: %v", q)
		}
		var causes, ids []string
		if err := e.App.Store().RawScan(context.Background(), &causes, "SELECT cause FROM sign_in_events WHERE outcome = 'failed'"); err != nil {
			t.Fatal(err)
		}
		if len(causes) != 1 || !strings.Contains(causes[0], "connection was deleted") {
			t.Fatalf("causes %v", causes)
		}
		// The event names the ACS request, whose log line says what happened.
		if err := e.App.Store().RawScan(context.Background(), &ids, "SELECT request_id FROM sign_in_events"); err != nil || len(ids) != 1 || ids[0] != "the-acs" {
			t.Fatalf("the event's request id: %v %v", ids, err)
		}
		if n := w.count(t, "user_accounts"); n != 0 {
			t.Fatalf("%d accounts", n)
		}
	})
}

// An IdP that does not send the RelayState back: the ACS finds the flow by the response's
// InResponseTo, gives it a new continuation state, and the person is signed in; the same
// response posted again finds the finished flow and signs nobody in.
func TestSAMLSignInWithoutRelayState(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		b := w.browser()
		page, verifier := w.toIdP(t, b)
		_, vals, err := samltest.Form(page)
		if err != nil || vals.Get("RelayState") == "" {
			t.Fatalf("the IdP's form: %v %v", vals, err)
		}
		vals.Del("RelayState")
		post := func(c *http.Client) (*http.Response, string) {
			resp, err := c.PostForm(e.URL+"/saml/acs", vals)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, string(body)
		}
		resp, body := post(b)
		q := w.appResult(t, resp, body)
		if q.Get("code") == "" || q.Get("state") != "app-state" {
			t.Fatalf("sign-in without RelayState: %v", q)
		}
		if claims := w.exchange(t, q.Get("code"), verifier); claims["sub"] == "" || claims["sign_in"] != "provisioned" {
			t.Fatalf("claims: %v", claims)
		}
		resp, body = post(w.browserNoFollow())
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.Header.Get("Location"), "code=") ||
			!strings.Contains(body, "finished already") {
			t.Fatalf("the response again: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	})
}

// The IdP's form posted again after the sign-in finished (the back button, a resubmission) is
// refused with a page, and adds no event: the attempt has its own already, as an OIDC
// callback's replay.
func TestSAMLRepostAddsNoEvent(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		b := w.browser()
		page, _ := w.toIdP(t, b)
		resp, body := w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, body); q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
		for range 3 {
			if resp, body := w.post(t, b, e.URL, page); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "finished already") {
				t.Fatalf("re-post: %d %.300s", resp.StatusCode, body)
			}
		}
		var outcomes []string
		if err := e.App.Store().RawScan(context.Background(), &outcomes, "SELECT outcome FROM sign_in_events"); err != nil {
			t.Fatal(err)
		}
		if len(outcomes) != 1 || outcomes[0] != "provisioned" {
			t.Fatalf("events: %v", outcomes)
		}
	})
}

// A response the ACS refuses (here: an expired assertion) finishes its flow, so the same form
// posted again (the back button, or anyone holding it) is refused as finished and adds no
// event, as a finished flow's re-post adds none.
func TestSAMLRefusedRepostAddsNoEvent(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		w.idp.Tamper(func(req *saml.IdpAuthnRequest) {
			req.Assertion.IssueInstant = req.Assertion.IssueInstant.Add(-10 * time.Minute)
		})
		defer w.idp.Tamper(nil)
		b := w.browser()
		page, _ := w.toIdP(t, b)
		resp, body := w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, body); q.Get("error") != "access_denied" || q.Get("code") != "" {
			t.Fatalf("expired assertion: %v", q)
		}
		for range 3 {
			if resp, body := w.post(t, b, e.URL, page); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "finished already") {
				t.Fatalf("re-post: %d %.300s", resp.StatusCode, body)
			}
		}
		var outcomes []string
		if err := e.App.Store().RawScan(context.Background(), &outcomes, "SELECT outcome FROM sign_in_events"); err != nil {
			t.Fatal(err)
		}
		if len(outcomes) != 1 || outcomes[0] != "failed" {
			t.Fatalf("events: %v", outcomes)
		}
	})
}

// TestSAMLSignInHostileResponses: a response that would cost the ACS far more than a real one
// to read (nested too deep, too many elements, several assertions, many EncryptedKeys) and an
// assertion one of whose AudienceRestrictions names another SP fail the sign-in as any
// malformed response does: access_denied with the safe message, the cause in the sign-in
// event, nobody signed in. Plain and encrypted responses around them still sign in.
func TestSAMLSignInHostileResponses(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		md := w.spMetadata(t, e)
		encrypted := func(want bool) func(string) string {
			return func(doc string) string {
				if strings.Contains(doc, "<saml:EncryptedAssertion") != want {
					t.Fatalf("the IdP's assertion is not as expected (encrypted: %v)", want)
				}
				return doc
			}
		}
		unsigned := samltest.DropResponseSignature // the assertion is signed
		for _, c := range []struct {
			name   string
			plain  bool
			tamper func(*saml.IdpAuthnRequest)
			edit   func(doc string) string
			cause  string // "": signed in
		}{
			{name: "encrypted", edit: encrypted(true)},
			{name: "plain", plain: true, edit: encrypted(false)},
			{name: "nested", plain: true, edit: func(doc string) string { return samltest.Nest(unsigned(doc), 40) },
				cause: "nested more than 32 deep"},
			{name: "many elements", plain: true, edit: func(doc string) string { return samltest.Spread(unsigned(doc), 2500) },
				cause: "more than 2000 elements"},
			{name: "a second assertion", plain: true, edit: func(doc string) string { return samltest.SecondAssertion(unsigned(doc), "00u-eve") },
				cause: "2 Assertion and"},
			{name: "many EncryptedAssertions", edit: func(doc string) string { return samltest.EncryptedAssertions(unsigned(doc), 20) },
				cause: "0 Assertion and 2 EncryptedAssertion"},
			{name: "many EncryptedKeys", edit: func(doc string) string { return samltest.EncryptedKeys(unsigned(doc), 20) },
				cause: "3 EncryptedKeys"},
			{name: "another SP's AudienceRestriction", cause: "AudienceRestriction 2 of 2", tamper: func(req *saml.IdpAuthnRequest) {
				req.Assertion.Conditions.AudienceRestrictions = append(req.Assertion.Conditions.AudienceRestrictions,
					saml.AudienceRestriction{Audience: saml.Audience{Value: "https://other.example.com/saml/metadata"}})
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				if c.plain {
					w.idp.TrustSP(t, samltest.WithoutEncryption(md))
				} else {
					w.idp.TrustSP(t, md)
				}
				w.idp.Tamper(c.tamper)
				defer w.idp.Tamper(nil)
				b := w.browser()
				page, verifier := w.toIdP(t, b)
				resp, body := w.postEdited(t, b, e.URL, page, c.edit)
				q := w.appResult(t, resp, body)
				if c.cause == "" {
					if claims := w.exchange(t, q.Get("code"), verifier); claims["email"] != "ada@example.com" {
						t.Fatalf("claims %v", claims)
					}
					return
				}
				if q.Get("error") != "access_denied" || q.Get("code") != "" ||
					q.Get("error_description") != "The identity provider's response could not be accepted." {
					t.Fatalf("refusal: %v", q)
				}
				var n int
				if err := e.App.Store().RawScan(context.Background(), &n,
					"SELECT count(*) FROM sign_in_events WHERE outcome = 'failed' AND cause LIKE ?", "%"+c.cause+"%"); err != nil || n != 1 {
					t.Fatalf("%d failed events for %q (%v)", n, c.cause, err)
				}
			})
		}
		if n := w.count(t, "user_accounts"); n != 1 {
			t.Fatalf("%d accounts", n)
		}
	})
}
