package sso_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"gatehouse/models"
	"gatehouse/store"
)

// testIdP is an in-process OpenID Provider standing in for a customer's identity provider: it
// signs real RS256 id_tokens, checks Gatehouse's PKCE verifier and client secret, and signs in
// whoever the test says (the next person to arrive at /authorize).
type testIdP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	client string
	secret string

	mu     sync.Mutex
	person map[string]any // the claims of the person who signs in next
	// userinfoOnly moves every claim but sub to userinfo (many IdPs do that).
	userinfoOnly bool
	// userinfoExtra are claims only userinfo gives (the id_token has the others).
	userinfoExtra map[string]any
	// userinfoCalls counts the requests to userinfo.
	userinfoCalls int
	// Misbehaviour: a wrong nonce or audience in the id_token, or an error (this code) at
	// authorize.
	badNonce, badAudience bool
	authorizeError        string
	// authorizeErrorDescription goes with authorizeError, as error_description.
	authorizeErrorDescription string
	// jwksError, when set, is the body of a 500 the JWKS answers with.
	jwksError []byte
	codes     map[string]idpCode
	// seen records what Gatehouse sent to /authorize last.
	seen url.Values
	// discoveryHook, when set, runs as Gatehouse reads the discovery document, every time.
	discoveryHook func()
	// tokenHook, when set, runs once as Gatehouse calls /token: something an admin does while
	// the person is between the IdP and the callback's decision.
	tokenHook func()
	// tokenCalls counts the requests to /token that reach the code (their client
	// authenticated, no grantError); tokenRequests counts them all.
	tokenCalls, tokenRequests int
	// RFC 9207: issParameter advertises authorization_response_iss_parameter_supported;
	// iss, when set, is sent as the authorization response's iss ("-": none, though advertised;
	// issParameter alone sends the IdP's own issuer).
	issParameter bool
	iss          string
	// registered, when set, is the one redirect URI the client has: /authorize answers any
	// other with an error page, as IdPs do, never a redirect.
	registered string
	// authMethods, when set, is the IdP's token_endpoint_auth_methods_supported, and /token
	// refuses (invalid_client, the code kept) a client that authenticates otherwise, as it
	// refuses a wrong client ID or secret; clientAuthRefused counts those refusals. authMethodsJSON, when set, is advertised
	// instead (anything, malformed included), with no refusal. lastAuthMethod is the method
	// of the last token request.
	authMethods     []string
	authMethodsJSON any
	// refusalCode, when set, is /token's error for a client authenticating by a method it does
	// not take (400), instead of invalid_client (401).
	refusalCode       string
	clientAuthRefused int
	lastAuthMethod    string
	// idTokenClaims, when set, are put in the id_token over the usual ones.
	idTokenClaims map[string]any
	// clientJWKS, when set, is the URL of the client's public keys: /token then takes a
	// private_key_jwt client assertion (RFC 7523), verified as Okta and Entra ID do (checkAssertion).
	// assertionKids are the kids of the assertions it took; another client authentication
	// sent beside an assertion (Basic, even with an empty secret, or client_secret) is counted
	// in secretWithAssertion.
	// issuerOverride, when set, is the discovery document's issuer.
	issuerOverride string
	// grantError, when set, is /token's answer to an authenticated client (the code kept),
	// with grantStatus (0: 400).
	grantError  string
	grantStatus int
	// probes counts the token requests whose code is the connection test's (never issued).
	probes              int
	clientJWKS          string
	assertionAlgs       []string // token_endpoint_auth_signing_alg_values_supported, when set
	assertionJTIs       map[string]bool
	assertionKids       []string
	secretWithAssertion int
	// hostile, when set, wraps the IdP's answer at the paths it holds: a hostile or broken
	// IdP (signin_hostile_idp_test.go) answers in its stead, or edits its answer.
	hostile map[string]func(idp http.Handler) http.Handler
	// noKid signs id_tokens without a kid.
	noKid bool
	// keyID is the RSA key's kid ("": k1); a test that rolls the IdP's key over sets a new key
	// and kid.
	keyID string
	// ecKey, when set, signs id_tokens with ES256 (kid e1), which discovery then lists alone
	// and the key set publishes beside the RSA key: an IdP that changed its signing algorithm.
	ecKey *ecdsa.PrivateKey
	// discoveries counts the reads of the discovery document.
	discoveries int
	// publicURL, when set, is the IdP's URL (its issuer and endpoints) instead of srv's: a
	// stand-in for a real IdP's host, which Gatehouse and the browser reach at srv
	// (newGoogleIdP).
	publicURL string
}

type idpCode struct {
	claims    map[string]any
	nonce     string
	challenge string
	redirect  string
}

func newTestIdP(t *testing.T) *testIdP {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &testIdP{t: t, key: k, client: "gatehouse-at-idp", secret: "idp-client-secret", codes: map[string]idpCode{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// url is the IdP's URL, its issuer: publicURL, else srv's.
func (p *testIdP) url() string {
	if p.publicURL != "" {
		return p.publicURL
	}
	return p.srv.URL
}

// as sets who signs in next.
func (p *testIdP) as(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.person = claims
}

func (p *testIdP) set(f func(p *testIdP)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *testIdP) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	hostile := p.hostile[r.URL.Path]
	p.mu.Unlock()
	if hostile != nil {
		hostile(http.HandlerFunc(p.answer)).ServeHTTP(w, r)
		return
	}
	p.answer(w, r)
}

// answer is the IdP's own answer to a request.
func (p *testIdP) answer(w http.ResponseWriter, r *http.Request) {
	base := p.url()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		p.mu.Lock()
		hook := p.discoveryHook
		p.mu.Unlock()
		if hook != nil {
			hook()
		}
		p.mu.Lock()
		issParameter, authMethods, authMethodsJSON, algs := p.issParameter, p.authMethods, p.authMethodsJSON, []string{"RS256"}
		if p.ecKey != nil {
			algs = []string{"ES256"}
		}
		p.discoveries++
		p.mu.Unlock()
		issuer := base
		p.mu.Lock()
		if p.issuerOverride != "" {
			issuer = p.issuerOverride
		}
		p.mu.Unlock()
		doc := map[string]any{"issuer": issuer, "authorization_endpoint": base + "/authorize",
			"token_endpoint": base + "/token", "jwks_uri": base + "/jwks", "userinfo_endpoint": base + "/userinfo",
			"id_token_signing_alg_values_supported": algs}
		if issParameter {
			doc["authorization_response_iss_parameter_supported"] = true
		}
		if authMethods != nil {
			doc["token_endpoint_auth_methods_supported"] = authMethods
		}
		if authMethodsJSON != nil {
			doc["token_endpoint_auth_methods_supported"] = authMethodsJSON
		}
		p.mu.Lock()
		if p.assertionAlgs != nil {
			doc["token_endpoint_auth_signing_alg_values_supported"] = p.assertionAlgs
		}
		p.mu.Unlock()
		json.NewEncoder(w).Encode(doc)
	case "/jwks":
		p.mu.Lock()
		jwksError := p.jwksError
		p.mu.Unlock()
		if jwksError != nil {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write(jwksError)
			return
		}
		p.mu.Lock()
		keys := []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: p.rsaKid(), Algorithm: "RS256", Use: "sig"}}
		if p.ecKey != nil {
			keys = append(keys, jose.JSONWebKey{Key: &p.ecKey.PublicKey, KeyID: "e1", Algorithm: "ES256", Use: "sig"})
		}
		p.mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
	case "/authorize":
		q := r.URL.Query()
		p.mu.Lock()
		p.seen = q
		person, authErr, authDesc := p.person, p.authorizeError, p.authorizeErrorDescription
		iss, registered := p.iss, p.registered
		if iss == "" && p.issParameter {
			iss = base
		}
		p.mu.Unlock()
		if registered != "" && q.Get("redirect_uri") != registered {
			http.Error(w, "redirect_uri is not registered", http.StatusBadRequest)
			return
		}
		back, _ := url.Parse(q.Get("redirect_uri"))
		v := url.Values{"state": {q.Get("state")}}
		if iss != "" && iss != "-" {
			v.Set("iss", iss)
		}
		if authErr != "" {
			v.Set("error", authErr)
			if authDesc != "" {
				v.Set("error_description", authDesc)
			}
		} else if q.Get("client_id") != p.client || q.Get("code_challenge_method") != "S256" {
			v.Set("error", "access_denied")
		} else {
			code := uuid.NewString()
			p.mu.Lock()
			p.codes[code] = idpCode{claims: person, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
			p.mu.Unlock()
			v.Set("code", code)
		}
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	case "/token":
		r.ParseForm()
		p.mu.Lock()
		p.tokenRequests++
		p.mu.Unlock()
		method := "client_secret_basic"
		id, sec, _ := r.BasicAuth()
		if id == "" {
			method = "client_secret_post"
			id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if method == "client_secret_basic" { // RFC 6749 §2.3.1: form-encoded, then Basic
			id, _ = url.QueryUnescape(id)
			sec, _ = url.QueryUnescape(sec)
		}
		if r.PostForm.Has("client_assertion") || r.PostForm.Has("client_assertion_type") {
			method = "private_key_jwt"
			if problem := p.checkAssertion(r, base+"/token"); problem != "" {
				p.t.Logf("test IdP: client assertion refused: %s", problem)
				p.mu.Lock()
				p.clientAuthRefused++
				p.mu.Unlock()
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"invalid_client"}`))
				return
			}
			// RFC 6749 §2.3: one authentication method per request.
			if _, _, basic := r.BasicAuth(); basic || r.PostForm.Has("client_secret") {
				p.mu.Lock()
				p.secretWithAssertion++
				p.mu.Unlock()
			}
			id, sec = p.client, p.secret
		}
		p.mu.Lock()
		p.lastAuthMethod = method
		// The client is authenticated before the grant is looked at (RFC 6749 §3.2.1), and a
		// refused client keeps the code.
		if p.authMethods != nil && !slices.Contains(p.authMethods, method) || id != p.client || sec != p.secret {
			p.clientAuthRefused++
			refusal := p.refusalCode
			p.mu.Unlock()
			if refusal != "" { // as an IdP that reads the client_id where it takes it, finding none
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"error":"` + refusal + `"}`))
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		if strings.HasPrefix(r.PostForm.Get("code"), "gatehouse-connection-test-") {
			p.probes++
		}
		if grantError, status := p.grantError, p.grantStatus; grantError != "" {
			if status == 0 {
				status = http.StatusBadRequest
			}
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			if grantError == "-" { // no error code
				w.Write([]byte(`{}`))
				return
			}
			json.NewEncoder(w).Encode(map[string]string{"error": grantError, "error_description": "not for this client"})
			return
		}
		c, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		badNonce, badAud, uiOnly, extra := p.badNonce, p.badAudience, p.userinfoOnly, p.userinfoExtra
		hook := p.tokenHook
		p.tokenHook = nil
		p.tokenCalls++
		p.mu.Unlock()
		if hook != nil {
			hook()
		}
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || id != p.client || sec != p.secret || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge ||
			r.PostForm.Get("redirect_uri") != c.redirect {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		claims := map[string]any{"iss": base, "aud": p.client, "sub": c.claims["sub"], "nonce": c.nonce,
			"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()}
		if !uiOnly {
			for k, v := range c.claims {
				if _, only := extra[k]; !only {
					claims[k] = v
				}
			}
		}
		if badNonce {
			claims["nonce"] = "not-the-nonce"
		}
		if badAud {
			claims["aud"] = "someone-else"
		}
		p.mu.Lock()
		maps.Copy(claims, p.idTokenClaims)
		p.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + uuid.NewString(), "token_type": "Bearer",
			"expires_in": 300, "id_token": p.sign(claims)})
		p.mu.Lock()
		p.codes["userinfo"] = c
		p.mu.Unlock()
	case "/userinfo":
		p.mu.Lock()
		c := p.codes["userinfo"]
		all := maps.Clone(c.claims)
		maps.Copy(all, p.userinfoExtra)
		p.userinfoCalls++
		p.mu.Unlock()
		json.NewEncoder(w).Encode(all)
	default:
		http.NotFound(w, r)
	}
}

// idpClockBehind is how far the test IdP's clock runs behind Gatehouse's when it checks a
// client assertion's iat and nbf, with no leeway: Gatehouse dates its assertions back for it.
const idpClockBehind = 25 * time.Second

// checkAssertion verifies a private_key_jwt client assertion as Okta and Entra ID do: the
// jwt-bearer type; RS256, signed by the key its kid names in the client's JWKS (read at each
// request, as an IdP does on an unknown kid); its x5t that key's certificate's; iss and sub the
// client ID; aud the token endpoint; not expired, not before its time, at most an hour long;
// its jti never seen before.
func (p *testIdP) checkAssertion(r *http.Request, tokenURL string) string {
	p.mu.Lock()
	jwksURL := p.clientJWKS
	p.mu.Unlock()
	if jwksURL == "" {
		return "this IdP does not take client assertions"
	}
	if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return "client_assertion_type " + r.PostForm.Get("client_assertion_type")
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return "parse: " + err.Error()
	}
	res, err := http.Get(jwksURL)
	if err != nil {
		return "JWKS: " + err.Error()
	}
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		return "JWKS: " + err.Error()
	}
	h := tok.Headers[0]
	keys := set.Key(h.KeyID)
	if len(keys) != 1 || len(keys[0].Certificates) != 1 {
		return fmt.Sprintf("kid %q names %d keys of the JWKS", h.KeyID, len(keys))
	}
	sum := sha1.Sum(keys[0].Certificates[0].Raw)
	if h.ExtraHeaders["x5t"] != base64.RawURLEncoding.EncodeToString(sum[:]) || h.ExtraHeaders["typ"] != "JWT" {
		return fmt.Sprintf("header %v does not name the key's certificate", h.ExtraHeaders)
	}
	var c jwt.Claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return "signature: " + err.Error()
	}
	now := time.Now()
	switch {
	case c.Issuer != p.client || c.Subject != p.client || r.PostForm.Has("client_id") && r.PostForm.Get("client_id") != p.client:
		return fmt.Sprintf("iss %q, sub %q, client_id %q", c.Issuer, c.Subject, r.PostForm.Get("client_id"))
	case len(c.Audience) != 1 || c.Audience[0] != tokenURL:
		return fmt.Sprintf("aud %v", c.Audience)
	case c.Expiry == nil || c.IssuedAt == nil || c.Expiry.Time().Before(now) || c.Expiry.Time().Sub(c.IssuedAt.Time()) > time.Hour:
		return "expired, or longer than an hour"
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(-idpClockBehind)) || c.IssuedAt.Time().After(now.Add(-idpClockBehind)):
		return "not valid yet, by this IdP's clock (25 s behind)"
	case len(c.ID) < 16:
		return "jti " + c.ID
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.assertionJTIs[c.ID] {
		return "jti replayed"
	}
	if p.assertionJTIs == nil {
		p.assertionJTIs = map[string]bool{}
	}
	p.assertionJTIs[c.ID] = true
	p.assertionKids = append(p.assertionKids, h.KeyID)
	return ""
}

// discoveryCount is how many times the discovery document was read since discoveries was reset.
func (p *testIdP) discoveryCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discoveries
}

func (p *testIdP) refusedClientAuthentications() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.clientAuthRefused
}

// rsaKid is the RSA key's kid; p.mu is held.
func (p *testIdP) rsaKid() string {
	if p.keyID != "" {
		return p.keyID
	}
	return "k1"
}

func (p *testIdP) sign(claims map[string]any) string {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	p.mu.Lock()
	key := jose.SigningKey{Algorithm: jose.RS256, Key: p.key}
	kid := p.rsaKid()
	if p.ecKey != nil {
		key, kid = jose.SigningKey{Algorithm: jose.ES256, Key: p.ecKey}, "e1"
	}
	if !p.noKid {
		opts = opts.WithHeader("kid", kid)
	}
	p.mu.Unlock()
	s, err := jose.NewSigner(key, opts)
	if err != nil {
		p.t.Errorf("idp: signer: %v", err)
		return ""
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		p.t.Errorf("idp: sign: %v", err)
	}
	return raw
}

// signInWorld is a workspace set up for browser sign-in: a brand, an active OIDC connection
// at the test IdP with a verified domain, and a confidential and a public application.
type signInWorld struct {
	e        *testEnv
	idp      *testIdP
	tok      string
	brand    string
	conn     string
	slug     string
	app      *oauth2.Config // confidential
	pub      *oauth2.Config // public (PKCE, no secret)
	redirect string
}

const signInDomain = "example.com"

func newSignInWorld(t *testing.T, e *testEnv, idp *testIdP) *signInWorld {
	t.Helper()
	w := &signInWorld{e: e, idp: idp, tok: e.AdminToken(), slug: "acme-idp", redirect: "http://127.0.0.1:9/callback"}
	w.brand = e.CreateBrand(w.tok, "Acme Academy")
	d := e.MustGQL(w.tok, `mutation($n: String!, $s: String, $i: String!, $c: String!, $sec: String!) { createConnection(input: {name: $n, slug: $s, protocol: OIDC,
		oidcConfig: {issuerUrl: $i, clientId: $c, clientSecret: $sec, scopes: ["openid", "email", "profile"]}, jitProvisioning: true, defaultRole: "member"}) {
		connection { id slug oidcConfig { callbackUrl } } errors { label message code } } }`,
		map[string]any{"n": "Acme IdP", "s": w.slug, "i": idp.url(), "c": idp.client, "sec": idp.secret})
	if errs := payloadErrors(t, d, "createConnection"); len(errs) > 0 {
		t.Fatalf("createConnection: %v", errs)
	}
	if got := str(d, "createConnection", "connection", "oidcConfig", "callbackUrl"); got != e.Config.PublicURL+"/sso/oidc/callback" {
		t.Fatalf("callbackUrl = %q", got)
	}
	w.conn = str(d, "createConnection", "connection", "id")
	w.activate(w.conn, signInDomain)
	w.app = w.createApp(t, "Portal", "CONFIDENTIAL")
	w.pub = w.createApp(t, "SPA", "PUBLIC")
	return w
}

// activate makes a connection active with a verified (primary) domain, directly in the store:
// the test-and-verify lifecycle has its own tests.
func (w *signInWorld) activate(connID, domain string) {
	t, ctx, st := w.e.T, context.Background(), w.e.App.Store()
	t.Helper()
	var wsText string
	id := uuid.MustParse(connID)
	if err := st.RawScan(ctx, &wsText, "SELECT workspace_id FROM connections WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	ws := uuid.MustParse(wsText)
	c, err := st.Connection(ctx, ws, id)
	if err != nil {
		t.Fatal(err)
	}
	c.Status = models.StatusActive
	if err := st.UpdateConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if domain == "" {
		return
	}
	now := time.Now().UTC()
	if err := st.Create(ctx, &models.Domain{ID: store.NewID(), WorkspaceID: ws, ConnectionID: id, Name: domain,
		Status: models.DomainVerified, VerificationMethod: models.VerifyDNSTXT, VerificationToken: "t", VerifiedAt: &now,
		IsPrimary: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
}

func (w *signInWorld) createApp(t *testing.T, name, typ string) *oauth2.Config {
	t.Helper()
	d := w.e.MustGQL(w.tok, `mutation($b: ID!, $n: String!, $r: [String!]!, $t: ApplicationType) { createApplication(input: {brandId: $b, name: $n, redirectUris: $r, type: $t}) {
		application { id clientId name type redirectUris brand { id } createdAt } clientSecret errors { label message value code } } }`,
		map[string]any{"b": w.brand, "n": name, "r": []string{w.redirect, "https://portal.example.com/cb"}, "t": typ})
	if errs := payloadErrors(t, d, "createApplication"); len(errs) > 0 {
		t.Fatalf("createApplication: %v", errs)
	}
	a := get(d, "createApplication", "application")
	if str(a, "brand", "id") != w.brand || str(a, "type") != typ {
		t.Fatalf("createApplication: %v", d)
	}
	return &oauth2.Config{ClientID: str(a, "clientId"), ClientSecret: str(d, "createApplication", "clientSecret"),
		Endpoint:    oauth2.Endpoint{AuthURL: w.e.URL + "/oauth/authorize", TokenURL: w.e.URL + "/oauth/token"},
		RedirectURL: w.redirect, Scopes: []string{"openid", "email", "profile"}}
}

// browser is a cookie-keeping client that follows redirects until the application's redirect
// URI, and can send the IdP's callback to another replica.
type browser struct {
	c        *http.Client
	callback string // base URL the /sso/oidc/callback goes to instead ("" : as redirected)
}

func newBrowser(t *testing.T, stopAt string) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{}
	b.c = &http.Client{Jar: jar, Timeout: 10 * time.Second}
	b.c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), stopAt) {
			return http.ErrUseLastResponse
		}
		if b.callback != "" && req.URL.Path == "/sso/oidc/callback" {
			u, _ := url.Parse(b.callback)
			req.URL.Host = u.Host
			req.Host = u.Host
		}
		return nil
	}
	return b
}

// result is where a browser sign-in ended.
type result struct {
	status   int
	query    url.Values // of the application's redirect URI, when it ended there
	body     string
	location string
	header   http.Header
}

func (b *browser) get(t *testing.T, u string) result {
	t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resultOf(resp)
}

// post submits a form (application/x-www-form-urlencoded) and follows the redirects as get does.
func (b *browser) post(t *testing.T, u string, form url.Values) result {
	t.Helper()
	resp, err := b.c.PostForm(u, form)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	return resultOf(resp)
}

func resultOf(resp *http.Response) result {
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	r := result{status: resp.StatusCode, body: sb.String(), location: resp.Header.Get("Location"), header: resp.Header}
	if loc, err := url.Parse(r.location); err == nil && r.location != "" {
		r.query = loc.Query()
	}
	return r
}

// toCallback runs a sign-in of app (authorize with extra parameters) up to the IdP's redirect
// to Gatehouse's callback, and returns a func that follows it from the same browser (its
// cookies) to where the sign-in ends: a test changes something in between.
func (w *signInWorld) toCallback(t *testing.T, app *oauth2.Config, extra ...string) (finish func() result) {
	t.Helper()
	stop := newBrowser(t, w.e.URL+"/sso/oidc/callback")
	r, _ := w.signIn(t, stop, app, extra...)
	if !strings.HasPrefix(r.location, w.e.URL+"/sso/oidc/callback?") {
		t.Fatalf("expected the IdP's redirect to the callback: %+v", r)
	}
	return func() result {
		fin := newBrowser(t, w.redirect)
		fin.c.Jar = stop.c.Jar
		return fin.get(t, r.location)
	}
}

// janeAtCallback runs a sign-in of Jane up to the IdP's redirect to Gatehouse's callback, and
// returns that URL and the browser that started the sign-in (its cookies), which follows it to
// the application.
func (w *signInWorld) janeAtCallback(t *testing.T) (callback string, owner *browser) {
	t.Helper()
	w.idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com"})
	stop := newBrowser(t, w.e.URL+"/sso/oidc/callback")
	r, _ := w.signIn(t, stop, w.app, "login_hint", "jane@example.com")
	owner = newBrowser(t, w.redirect)
	owner.c.Jar = stop.c.Jar
	return r.location, owner
}

// answerInAnotherBrowser runs a sign-in of Jane up to the IdP's answer and opens the callback
// in another browser, without the flow's cookie: refused (400), and the flow stays open.
func (w *signInWorld) answerInAnotherBrowser(t *testing.T) {
	t.Helper()
	callback, _ := w.janeAtCallback(t)
	if r := newBrowser(t, w.redirect).get(t, callback); r.status != 400 {
		t.Fatalf("callback without the cookie: %+v", r)
	}
}

// signIn runs a browser sign-in of app through authorize with extra parameters and returns
// where it ended, with the PKCE verifier used.
func (w *signInWorld) signIn(t *testing.T, b *browser, app *oauth2.Config, extra ...string) (result, string) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oidc.Nonce("app-nonce"), oauth2.S256ChallengeOption(verifier)}
	for i := 0; i+1 < len(extra); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
	}
	return b.get(t, app.AuthCodeURL("app-state", opts...)), verifier
}

// claimsAs signs in through the world's connection as the person of claims at its IdP, with
// the confidential application, and returns the id_token's claims.
func (w *signInWorld) claimsAs(t *testing.T, claims map[string]any) map[string]any {
	t.Helper()
	w.idp.as(claims)
	r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
	if r.query.Get("code") == "" {
		t.Fatalf("sign-in as %v: %+v", claims, r)
	}
	got, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier)
	return got
}

// claimsOf redeems a code with the application's real client and verifies the id_token with
// go-oidc against Gatehouse's discovery.
func (w *signInWorld) claimsOf(t *testing.T, app *oauth2.Config, code, verifier string) (map[string]any, *oauth2.Token) {
	t.Helper()
	ctx := context.Background()
	tok, err := app.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	prov, err := oidc.NewProvider(ctx, w.e.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := prov.Verifier(&oidc.Config{ClientID: app.ClientID, SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims["nonce"] != "app-nonce" {
		t.Fatalf("nonce = %v", claims["nonce"])
	}
	return claims, tok
}

// userinfoStatus is the status of GET /oauth/userinfo with tok's access token.
func userinfoStatus(t *testing.T, e *testEnv, tok *oauth2.Token) int {
	t.Helper()
	req, _ := http.NewRequest("GET", e.URL+"/oauth/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// discoveryOf reads Gatehouse's OpenID Provider metadata.
func discoveryOf(t *testing.T, e *testEnv) map[string]any {
	t.Helper()
	resp, err := http.Get(e.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// postToken POSTs form to Gatehouse's token endpoint, with HTTP Basic client authentication
// when id is set (RFC 6749 §2.3.1: each part form-encoded), and returns the status and the
// JSON body.
func postToken(t *testing.T, e *testEnv, id, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := map[string]any{}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}
