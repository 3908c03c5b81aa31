package sso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/cache"
	"gatehouse/models"
	"gatehouse/netguard"
	"gatehouse/provision"
	"gatehouse/webpage"
)

// The upstream side of browser sign-in towards an OIDC identity provider (relying party, with
// golang.org/x/oauth2 and go-oidc): the redirect to the IdP and the callback, the one the
// connections share or a connection's own. The flow state and the decision are provision's.
//
// One redirect URI for many IdPs invites the IdP mix-up: a connection's IdP (anyone's, in
// any workspace) sends the browser to another IdP with the flow's state, and that IdP's code
// comes back to the shared callback, where it would be redeemed at the first IdP's token
// endpoint. So before any token request the callback checks that the answer came where the
// flow's connection expects it (its own redirect URI, when it has one) and, as RFC 9207 says,
// that its iss names the flow's connection's issuer.

// providerTTL bounds how long a provider's discovery document is trusted before it is fetched
// again (sooner for an id_token it does not verify: rediscover); its keys are cached (and
// refreshed on an unknown kid) by go-oidc's remote key set.
const providerTTL = time.Hour

// maxProviders bounds the provider cache.
const maxProviders = 10_000

// SignIn is the OIDC relying party of browser sign-in. It implements oauth.Upstream for OIDC
// connections (server.go registers it) and serves the callback.
type SignIn struct {
	svc    *provision.Service
	client *http.Client
	// keys is the client the providers' key sets are fetched with: client, refusing a set of
	// more than maxKeys keys (boundKeySets).
	keys      *http.Client
	allowPriv bool
	log       *slog.Logger
	// providers holds discovered providers by connection id and version, for providerTTL.
	providers *cache.Cache[string, *upstream]
	// waits runs the calls to an IdP outside the request's admission slot, and bounds the
	// requests of one connection waiting on its IdP (Options.UpstreamConcurrency).
	waits *waits
}

// upstream is a connection's discovered identity provider.
type upstream struct {
	*oidc.Provider
	// issuer is the discovery document's issuer (the connection's).
	issuer string
	// issParameter: the IdP says every authorization response carries iss
	// (authorization_response_iss_parameter_supported, RFC 9207 §3).
	issParameter bool
	// auth is what the discovery document says of the token endpoint's client authentication.
	auth tokenEndpointAuth
	// secretStyle is the oauth2.AuthStyle the token endpoint took the client secret in, where
	// auth names no secret method and exchange detected it (0: not yet).
	secretStyle atomic.Int32
	// read is when the discovery document was read (rediscover).
	read time.Time
}

// maxIdPBody bounds every response body of an identity provider (discovery, JWKS, token,
// userinfo): real ones are a few KiB.
const maxIdPBody = 1 << 20

// NewSignIn builds the relying party; its outbound requests use the Remote's guarded client.
func NewSignIn(svc *provision.Service, r *Remote, log *slog.Logger) *SignIn {
	c := netguard.NewClient(r.o.guard())
	if tr, ok := c.Transport.(*http.Transport); ok {
		// Every sign-in calls its IdP's token (and userinfo) endpoint: keep enough idle
		// connections per IdP that concurrent sign-ins reuse them instead of dialling (the
		// default keeps 2 per host).
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 64
	}
	c.Transport = netguard.LimitBodies(c.Transport, maxIdPBody)
	keys := *c
	keys.Transport = boundKeySets(c.Transport)
	return &SignIn{svc: svc, client: c, keys: &keys, allowPriv: r.o.AllowPrivateNetworks, waits: newWaits(r.o.UpstreamConcurrency),
		log: log, providers: cache.New[string, *upstream](svc.Caches(), "oidc_providers",
			cache.Options{MaxEntries: maxProviders, TTL: providerTTL, Clock: svc.Clock()})}
}

// Register mounts the callbacks: the shared one and the connections' own.
func (s *SignIn) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+provision.OIDCCallbackPath, s.callback)
	mux.HandleFunc("GET "+provision.OIDCClientJWKSPath, s.clientJWKS)
	mux.HandleFunc("GET "+provision.OIDCCallbackPath+"/{id}", s.callback)
}

// provider returns the connection's provider from the cache, or discovers it through the
// guarded client. The key includes the connection's version, so an edited connection is
// discovered again.
func (s *SignIn) provider(ctx context.Context, c *models.Connection) (*upstream, error) {
	return s.providerWaiting(ctx, c, func(fn func()) error { return s.waits.do(ctx, c, fn) })
}

// inWait runs fn as it is: for a caller already waiting on the IdP outside its slot.
func inWait(fn func()) error { fn(); return nil }

// providerWaiting is provider with the discovery's read run by wait: waits.do, or, for a
// caller that already waits on the IdP outside its slot (rediscover, in the callback's
// identity), the read itself, so that the request counts once against the IdP's bound.
func (s *SignIn) providerWaiting(ctx context.Context, c *models.Connection, wait func(fn func()) error) (*upstream, error) {
	key := providerKey(c)
	if p, ok := s.providers.Get(key); ok {
		return p, nil
	}
	disc := c.DiscoveryURL()
	if !models.ValidIdPURL(disc, s.allowPriv) {
		return nil, fmt.Errorf("discovery URL %q is not an absolute https URL", disc)
	}
	var body []byte
	var err error
	if werr := wait(func() { body, err = netguard.Get(ctx, s.client, disc, maxDocument) }); werr != nil {
		return nil, fmt.Errorf("discovery %s: %w", disc, werr)
	}
	if err != nil {
		return nil, errors.New(upstreamCause(ctx, "discovery "+disc, err, describe(ctx, err)))
	}
	var pc oidc.ProviderConfig
	var extra struct {
		ISSParameter bool `json:"authorization_response_iss_parameter_supported"`
	}
	if json.Unmarshal(body, &pc) != nil || json.Unmarshal(body, &extra) != nil {
		return nil, fmt.Errorf("discovery %s: not valid JSON", disc)
	}
	switch {
	case pc.IssuerURL != c.OIDCIssuerURL:
		return nil, fmt.Errorf("discovery issuer %q does not match the connection's issuer %q", pc.IssuerURL, c.OIDCIssuerURL)
	case !models.ValidIdPURL(pc.AuthURL, s.allowPriv) || !models.ValidIdPURL(pc.TokenURL, s.allowPriv) || !models.ValidIdPURL(pc.JWKSURL, s.allowPriv):
		return nil, errors.New("discovery document lacks an https authorization_endpoint, token_endpoint or jwks_uri")
	case pc.UserInfoURL != "" && !models.ValidIdPURL(pc.UserInfoURL, s.allowPriv):
		pc.UserInfoURL = ""
	}
	pc.Algorithms = asymmetricAlgorithms(pc.Algorithms)
	// The context only carries the guarded client, which go-oidc fetches the key set with
	// (and nothing else): the key set outlives this request.
	p := &upstream{Provider: pc.NewProvider(oidc.ClientContext(context.Background(), s.keys)),
		issuer: pc.IssuerURL, issParameter: extra.ISSParameter, auth: readTokenEndpointAuth(body), read: s.svc.Clock().Now()}
	s.providers.Set(key, p)
	return p, nil
}

func providerKey(c *models.Connection) string { return c.ID.String() + "/" + strconv.Itoa(c.Version) }

// rediscoverAfter is how old a provider's discovery document must be before an id_token it
// does not verify has it read again (rediscover). Most such id_tokens fail for a cause no
// document changes (another audience, expired, a misconfigured or hostile IdP): each would
// otherwise cost a discovery, a fresh key set's fetch and the cache entry every other
// sign-in of the connection shares.
const rediscoverAfter = time.Minute

// rediscover forgets p, the connection's provider as held, and discovers it again: the IdP
// may have changed what its discovery document says (its signing algorithms, its key set's
// URL) since it was read, up to providerTTL ago. ok is false when p was read less than
// rediscoverAfter ago (a document that fresh is the one the IdP serves), or discovery fails.
// Concurrent callers forget p once; those that find the fresh one in the cache share it.
func (s *SignIn) rediscover(ctx context.Context, c *models.Connection, p *upstream) (*upstream, bool) {
	if s.svc.Clock().Now().Sub(p.read) < rediscoverAfter {
		return p, false
	}
	if held, ok := s.providers.Get(providerKey(c)); ok && held == p {
		s.providers.Delete(providerKey(c))
	}
	fresh, err := s.providerWaiting(ctx, c, inWait) // in the callback's identity, in waits.do
	if err != nil || fresh == p {
		return fresh, false
	}
	// The client secret's style, detected at this token endpoint (exchange), holds for it
	// whatever else the document changed: the fresh provider would detect it again, sending a
	// form-only IdP one more refused code.
	if fresh.Endpoint().TokenURL == p.Endpoint().TokenURL {
		fresh.secretStyle.CompareAndSwap(0, p.secretStyle.Load())
	}
	return fresh, true
}

// asymmetricAlgorithms keeps the public-key signature algorithms of a discovery document's list
// (as go-oidc's own discovery does): never "none" or an HMAC algorithm. Empty: go-oidc's
// default, RS256.
func asymmetricAlgorithms(algs []string) []string {
	var out []string
	for _, a := range algs {
		switch a {
		case oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA:
			out = append(out, a)
		}
	}
	return out
}

// config is the OAuth client of a connection. Its redirect URI is the connection's
// (provision.OIDCCallbackPathOf), in the authorization request and the code exchange alike:
// a flow whose connection changed its redirect URI meanwhile fails at the callback's check.
func (s *SignIn) config(p *upstream, c *models.Connection) *oauth2.Config {
	scopes := strings.Fields(c.OIDCScopes)
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	return &oauth2.Config{ClientID: c.OIDCClientID, Endpoint: p.Endpoint(), RedirectURL: s.svc.OIDCRedirectURL(c), Scopes: scopes}
}

// StartSignIn redirects the browser to the identity provider with Gatehouse's own state,
// nonce and PKCE challenge.
func (s *SignIn) StartSignIn(w http.ResponseWriter, r *http.Request, st *provision.FlowStart) {
	ctx := r.Context()
	p, err := s.provider(ctx, st.Connection)
	if err != nil {
		public := "The identity provider cannot be reached."
		switch {
		case waitFailed(err):
			public = publicOf(err)
		case strings.HasPrefix(err.Error(), notAnswering):
			public = busyPublic
		}
		ferr := s.svc.FailFlow(ctx, &provision.ClaimedFlow{Flow: st.Flow, Connection: st.Connection}, public, "start: "+err.Error())
		s.refuse(w, r, ferr)
		return
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(st.UpstreamNonce), oauth2.S256ChallengeOption(st.UpstreamVerifier)}
	// What the application asked of the person's interaction (provision/prompt.go).
	for k, v := range map[string]string{"prompt": st.Flow.Prompt, "max_age": st.Flow.MaxAge, "login_hint": st.LoginHint, "acr_values": st.ACRValues} {
		if v != "" {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	u := s.config(p, st.Connection).AuthCodeURL(st.UpstreamState, opts...)
	webpage.Redirect(w, r, u)
}

// refuse answers a refused sign-in: the error answer to the application when there is one,
// else a page with the safe message and the request id.
func (s *SignIn) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var fe *provision.FlowError
	switch {
	case errors.As(err, &fe) && fe.Answer != nil:
		webpage.Answer(w, r, fe.Answer)
	case fe != nil:
		webpage.Write(w, http.StatusBadRequest, "Sign-in failed", fe.Public, webpage.RequestID(w))
	case models.ErrorCode(err) == models.EUNAVAILABLE:
		// The database did not answer before the flow was claimed: the same answer reloaded
		// once it answers finishes the sign-in.
		s.log.WarnContext(r.Context(), "sign-in: database unavailable", "request_id", webpage.RequestID(w), "err", err)
		webpage.SignInUnavailable(w)
	default:
		s.log.ErrorContext(r.Context(), "sign-in", "request_id", webpage.RequestID(w), "err", err)
		webpage.Write(w, http.StatusInternalServerError, "Sign-in failed", "Gatehouse could not complete the sign-in.", webpage.RequestID(w))
	}
}

// callback is GET /sso/oidc/callback (the connections that share it) and GET
// /sso/oidc/callback/{id} (a connection's own): the identity provider's answer.
func (s *SignIn) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	f, err := s.svc.ClaimFlow(ctx, q.Get("state"), s.svc.SignInBrowser(webpage.Cookies(r)), webpage.RequestID(w))
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	cause, werr := s.mixUp(ctx, r, f)
	if werr != nil {
		s.refuse(w, r, s.svc.FailFlow(ctx, f, publicOf(werr), werr.Error()))
		return
	}
	if cause != "" {
		s.refuse(w, r, s.svc.FailFlow(ctx, f, answerPublic(cause), cause))
		return
	}
	if e := q.Get("error"); e != "" {
		s.refuse(w, r, s.svc.FailUpstreamError(ctx, f, e, "The identity provider did not sign you in.",
			"the identity provider answered error="+models.Clip(e, 64)+": "+models.Clip(q.Get("error_description"), 256)))
		return
	}
	var id provision.Identity
	var more func(context.Context) (provision.Identity, string)
	if err := s.waits.do(ctx, f.Connection, func() { id, more, cause = s.identity(ctx, f, q.Get("code")) }); err != nil {
		s.refuse(w, r, s.svc.FailFlow(ctx, f, publicOf(err), err.Error()))
		return
	}
	if cause != "" {
		s.refuse(w, r, s.svc.FailAnswer(ctx, f, id, answerPublic(cause), cause))
		return
	}
	ans, err := s.svc.CompleteFlow(ctx, f, id)
	if errors.Is(err, provision.ErrMoreClaims) && more != nil {
		if err := s.waits.do(ctx, f.Connection, func() { id, cause = more(ctx) }); err != nil {
			s.refuse(w, r, s.svc.FailFlow(ctx, f, publicOf(err), err.Error()))
			return
		}
		if cause != "" {
			s.refuse(w, r, s.svc.FailAnswer(ctx, f, id, answerPublic(cause), cause))
			return
		}
		ans, err = s.svc.CompleteFlow(ctx, f, id)
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	webpage.Answer(w, r, ans)
}

// mixUp checks that an authorization response is the flow's connection's, before anything
// is sent to its IdP (it may be another IdP's code, which that token endpoint must never
// see), and returns the private cause when it is not: it arrived at another redirect URI than
// the connection's (another connection's own, or the shared one for a connection that has its
// own, or the reverse after its setting changed), or its iss (RFC 9207) is not the
// connection's issuer, or it has none though the IdP says it always sends one. The discovery
// it may need (a cache miss) failing for a wait on the IdP (waits) is werr: the sign-in
// stops there, saying the IdP or the server is busy, not that the answer is suspect.
func (s *SignIn) mixUp(ctx context.Context, r *http.Request, f *provision.ClaimedFlow) (cause string, werr error) {
	if want := provision.OIDCCallbackPathOf(f.Connection); r.URL.Path != want {
		return fmt.Sprintf("the answer arrived at %s, not at the connection's redirect URI %s", models.Clip(r.URL.Path, 128), want), nil
	}
	iss, sent := r.URL.Query()["iss"]
	p, err := s.provider(ctx, f.Connection)
	switch {
	case waitFailed(err):
		return "", err
	case err != nil && sent:
		// The issuer to compare with is unknown: never take the answer on trust.
		return providerCause(err), nil
	case err != nil:
		// An error answer is still reported as such; a code fails at the exchange.
		return "", nil
	case sent && (len(iss) != 1 || iss[0] != p.issuer):
		return fmt.Sprintf("the answer's iss %q is not the connection's issuer %q (RFC 9207: another identity provider's answer)",
			models.Clip(strings.Join(iss, " "), 256), p.issuer), nil
	case !sent && p.issParameter:
		return fmt.Sprintf("the answer has no iss, though the connection's issuer %q says it always sends one (RFC 9207)", p.issuer), nil
	}
	return "", nil
}

// identity redeems the IdP's code, authenticating with the client secret or, given the
// relying-party keys, a client assertion (private_key_jwt), and verifies its id_token
// (signature, issuer, audience, expiry, nonce). A failure returns the private cause.
//
// Many IdPs put only sub in the id_token, so its claims are merged with userinfo's (the signed
// id_token's win). When the id_token already carries the identity's own claims (email with
// email_verified, given and family name) the identity is partial instead
// (Identity.ClaimsPartial), as many relying parties skip userinfo then: a returning person's
// sign-in reads nothing else, and saves a round trip to the IdP. more fetches and merges
// userinfo for CompleteFlow's ErrMoreClaims (a person not yet bound: placement may read any
// claim); it is nil when the identity is complete. A test sign-in always shows every claim.
func (s *SignIn) identity(ctx context.Context, f *provision.ClaimedFlow, code string) (id provision.Identity, more func(context.Context) (provision.Identity, string), cause string) {
	if code == "" || len(code) > 2048 {
		return provision.Identity{}, nil, "the callback carries no code, or one longer than 2048 characters"
	}
	p, err := s.providerWaiting(ctx, f.Connection, inWait) // the callback runs identity in waits.do
	if err != nil {
		return provision.Identity{}, nil, providerCause(err)
	}
	cfg := s.config(p, f.Connection)
	opts, err := authenticate(cfg, f.Connection.ClientAuthMethod(), p.auth, f.ClientSecret, f.Keys, s.svc.Clock().Now())
	if err != nil {
		return provision.Identity{}, nil, "client authentication: " + err.Error()
	}
	octx := context.WithValue(ctx, oauth2.HTTPClient, s.client)
	tok, err := p.exchange(octx, cfg, code, append(opts, oauth2.VerifierOption(f.UpstreamVerifier))...)
	if err != nil {
		return provision.Identity{}, nil, upstreamCause(ctx, "code exchange", err, describeOAuth(err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return provision.Identity{}, nil, "the token response has no id_token"
	}
	verify := func(p *upstream) (*oidc.IDToken, error) {
		return p.Verifier(&oidc.Config{ClientID: f.Connection.OIDCClientID}).Verify(oidc.ClientContext(ctx, s.client), raw)
	}
	idt, err := verify(p)
	if err != nil && !timedOut(ctx, err) {
		// Verified against the discovery document as read up to an hour ago: with the one the
		// IdP serves now, once (the connection test, which reads it afresh, passes meanwhile).
		if fresh, ok := s.rediscover(ctx, f.Connection, p); ok {
			p = fresh
			idt, err = verify(p)
		}
	}
	if err != nil {
		return provision.Identity{}, nil, upstreamCause(ctx, "id_token", err, models.Clip(err.Error(), maxErrorText))
	}
	if idt.Nonce != f.Flow.UpstreamNonce {
		return provision.Identity{}, nil, "id_token: nonce does not match the one Gatehouse sent"
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return provision.Identity{}, nil, "id_token claims: " + err.Error()
	}
	// The nonce, checked, is the flow's secret, not a claim about the person: a test sign-in
	// shows and keeps the identity's claims.
	delete(claims, "nonce")
	if cause := authorizedParty(idt.Audience, claims["azp"], f.Connection.OIDCClientID); cause != "" {
		return provision.Identity{}, nil, cause
	}
	rules := claimRulesOf(f.Connection)
	if p.UserInfoEndpoint() == "" {
		id, cause := identityOf(rules, idt.Subject, claims)
		return id, nil, cause
	}
	merge := func(ctx context.Context) (provision.Identity, string) {
		ui, err := p.UserInfo(oidc.ClientContext(ctx, s.client), oauth2.StaticTokenSource(tok))
		if err != nil {
			return provision.Identity{}, upstreamCause(ctx, "userinfo", err, describeOAuth(err))
		}
		if ui.Subject != idt.Subject {
			return provision.Identity{}, "userinfo: sub differs from the id_token's"
		}
		all := map[string]any{}
		if err := ui.Claims(&all); err != nil {
			all = map[string]any{}
		}
		for k, v := range claims { // the signed id_token wins
			all[k] = v
		}
		return identityOf(rules, idt.Subject, all)
	}
	if f.Flow.Test || !carriesIdentity(rules.identifier, claims) {
		id, cause := merge(ctx)
		return id, nil, cause
	}
	id, cause = identityOf(rules, idt.Subject, claims)
	id.ClaimsPartial = true
	return id, merge, cause
}

// notAnswering begins the private cause of a call to the identity provider that did not answer
// in time (the outbound timeout or the request's deadline), so that the person reads that the
// IdP is not answering (answerPublic), not that its answer could not be verified.
const notAnswering = "the identity provider did not answer in time: "

// upstreamCause is the private cause of a failed call to the IdP: what was called, then text,
// begun with notAnswering when the call timed out. go-oidc does not wrap the error of a key
// set's fetch, so the request's own context tells that one.
func upstreamCause(ctx context.Context, what string, err error, text string) string {
	if timedOut(ctx, err) {
		return notAnswering + what + ": " + text
	}
	return what + ": " + text
}

// timedOut reports whether a call to the IdP failed for want of time: the outbound timeout,
// or the request's deadline.
func timedOut(ctx context.Context, err error) bool {
	var ne net.Error
	return ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) || keySetTimedOut(err)
}

// keySetTimedOut reports whether err is a key set's fetch that the guarded client's timeout
// ended (10 s, before the request's deadline, 15 s by default). go-oidc formats that error into
// its own (%v), out of the chain, and fetches in a context of its own, which has no deadline:
// net/http's words for a timeout are all that is left of it.
func keySetTimedOut(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "fetching keys") && (strings.Contains(msg, "Client.Timeout") ||
		strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "timeout awaiting response headers"))
}

// providerCause is the private cause of a callback whose discovery (a cache miss: another
// replica's sign-in, or an edited connection) failed: begun with notAnswering, as it is, when
// the IdP did not answer in time.
func providerCause(err error) string {
	if strings.HasPrefix(err.Error(), notAnswering) {
		return err.Error()
	}
	return "provider: " + err.Error()
}

// answerPublic is what the person reads of a callback that failed on the IdP's answer.
func answerPublic(cause string) string {
	if strings.HasPrefix(cause, notAnswering) {
		return busyPublic
	}
	return "The identity provider's answer could not be verified."
}

// authorizedParty checks what go-oidc does not: the party the id_token was issued to. go-oidc
// accepts any token whose audiences include the client; OpenID Connect Core 1.0 §3.1.3.7
// rejects one with audiences the client does not trust and, for several audiences, has the
// client require an azp naming it. So: an azp must be the client's ID, and a token with several
// audiences must carry one (a token issued to another client, with Gatehouse's among its
// audiences, is not Gatehouse's). It returns the private cause of a refusal, or "".
func authorizedParty(audiences []string, azp any, clientID string) string {
	switch v, present := azp.(string); {
	case azp != nil && (!present || v != clientID):
		return fmt.Sprintf("id_token: azp %q is not the connection's client ID", models.Clip(fmt.Sprint(azp), 100))
	case azp == nil && len(audiences) > 1:
		return fmt.Sprintf("id_token: %d audiences and no azp naming the connection's client", len(audiences))
	}
	return ""
}

// carriesIdentity reports whether an id_token's claims hold everything an identity reads
// besides Claims: the identifier claim, email with its verification, and both names
// (userinfo's given_name and family_name would otherwise win over a split name).
func carriesIdentity(identifierClaim string, claims map[string]any) bool {
	for _, k := range []string{identifierClaim, "email", "given_name", "family_name"} {
		if _, ok := claims[k].(string); !ok {
			return false
		}
	}
	switch emailVerified(claims).(type) {
	case bool, string:
		return true
	}
	return false
}

// claimRules is what an OIDC connection reads its identity provider's claims by.
type claimRules struct {
	// identifier is the connection's identifier claim (models.Connection.IdentifierClaim).
	identifier string
	// verifiedOnly is models.Connection.OIDCRequireVerifiedEmail.
	verifiedOnly bool
	// google: the identity provider is Google (models.Connection.IsGoogle), which vouches only
	// for some of the addresses it marks verified (googleVouches).
	google bool
}

// claimRulesOf is the claim rules of an OIDC connection.
func claimRulesOf(c *models.Connection) claimRules {
	return claimRules{identifier: c.IdentifierClaim(), verifiedOnly: c.OIDCRequireVerifiedEmail, google: c.IsGoogle()}
}

// emailLeftOut tells whether the identity provider's email must be left out, and why (for a
// cause): the IdP marks it unverified, or, with verifiedOnly, does not mark it verified
// (emailNotTaken); or the IdP is Google and does not vouch for it (googleVouches).
func (r claimRules) emailLeftOut(claims map[string]any) (bool, string) {
	switch v := emailVerified(claims); {
	case emailNotTaken(v, r.verifiedOnly) && r.verifiedOnly:
		return true, "is not marked verified (email_verified is not true, and the connection requires it)"
	case emailNotTaken(v, r.verifiedOnly):
		return true, "is marked unverified (email_verified=false)"
	case r.google && !googleVouches(claims):
		return true, "is one Google does not vouch for (not a Gmail address, and no hd claim: a personal Google account made with another provider's address)"
	}
	return false, ""
}

// googleVouches tells whether Google is authoritative for the email of the account it signed
// in, as Google's guidance for linking accounts by email puts it: a Gmail address, or the
// account of a Google Workspace organisation (hd), whose domains Google verified. Any other
// Google account is a personal one made with another provider's address, which Google checked
// once, when the account was made: its owner may since have left the organisation whose
// address it is, or made it before that organisation came to Google Workspace (a "conflicting
// account"), and it still says email_verified: true.
func googleVouches(claims map[string]any) bool {
	if models.GoogleWorkspaceDomain(claims) != "" {
		return true
	}
	email, _ := claims["email"].(string)
	at := strings.LastIndexByte(email, '@')
	return at >= 0 && strings.EqualFold(strings.TrimSpace(email[at+1:]), "gmail.com")
}

// identityOf normalises the claims of an OIDC identity provider. The identifier is the value
// of the connection's identifier claim (claimRules.identifier): subject for sub, else a string
// claim, which must be there; an email left out (claimRules.emailLeftOut) is no identifier, as
// it is no email below. A failure returns the private cause, and an identity holding only the
// claims (a test sign-in shows them: provision.FailAnswer).
func identityOf(rules claimRules, subject string, claims map[string]any) (_ provision.Identity, cause string) {
	str := func(k string) string { v, _ := claims[k].(string); return v }
	leftOut, why := rules.emailLeftOut(claims)
	identifier := subject
	if rules.identifier != "sub" {
		identifier = strings.TrimSpace(str(rules.identifier))
		switch {
		case identifier == "":
			return provision.Identity{Claims: claims}, "the IdP's answer has no " + rules.identifier + " claim (a non-empty string), the connection's identifier claim"
		case rules.identifier == "email" && leftOut:
			return provision.Identity{Claims: claims}, "the email claim, the connection's identifier claim, " + why
		}
	}
	id := provision.Identity{Identifier: identifier, Email: str("email"), FirstName: str("given_name"),
		LastName: str("family_name"), Claims: claims}
	if t, ok := claims["auth_time"].(float64); ok && t > 0 && t < 1<<40 {
		id.AuthTime = time.Unix(int64(t), 0)
	}
	id.ACR = str("acr")
	if amr, ok := claims["amr"].([]any); ok {
		for _, v := range amr {
			if s, ok := v.(string); ok {
				id.AMR = append(id.AMR, s)
			}
		}
	}
	if leftOut {
		// An address the IdP has not verified (self-service registration, an editable email
		// attribute) or does not vouch for must not link the person to the account that owns
		// it, nor be reported to the application as theirs: the engine sees no email.
		if id.Email != "" {
			id.EmailLeftOut = why
		}
		id.Email = ""
	}
	if id.FirstName == "" && id.LastName == "" {
		id.FirstName, id.LastName = nameParts(str("name"))
	}
	return id, ""
}

// nameParts splits a full name, which stands in for missing given and family names, at its
// first space; the same for OIDC's name claim and a SAML attribute mapped to name. An address
// is no name: Entra ID's …/claims/name attribute, which the WorldFlow document maps to name,
// holds the user principal name (jane@contoso.com), and Auth0 sets name to the email address
// of a user who gave none.
func nameParts(full string) (first, last string) {
	full = strings.TrimSpace(full)
	if strings.Contains(full, "@") {
		return "", ""
	}
	first, last, _ = strings.Cut(full, " ")
	return first, strings.TrimSpace(last)
}

// maxErrorText bounds the text of an error from x/oauth2 or go-oidc kept in a cause: go-oidc
// quotes whole response bodies (a JWKS or discovery document answered with an error, up to
// 1 MiB) in its errors.
const maxErrorText = 300

// describeOAuth shortens an x/oauth2 or go-oidc error: the IdP's error code, never its body.
func describeOAuth(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return "the identity provider answered " + re.ErrorCode
		}
		return fmt.Sprintf("the identity provider answered HTTP %d", re.Response.StatusCode)
	}
	return models.Clip(err.Error(), maxErrorText)
}

// emailVerified is what the IdP says of its email claim's verification: email_verified, else
// Entra ID's xms_edov (an optional claim: the email's domain is verified by the user's tenant,
// which Microsoft gives as the signal to trust the email by; Entra never sends
// email_verified), else nil.
func emailVerified(claims map[string]any) any {
	if v, ok := claims["email_verified"]; ok {
		return v
	}
	return claims["xms_edov"]
}

// emailNotTaken reports whether the IdP's email must be left out, by its email_verified claim
// v: when it says no (false, or the string "false" that some IdPs send), and, for a connection
// that requires verified emails (models.Connection.OIDCRequireVerifiedEmail), when it does not
// say yes (true or "true"). Without that, an absent claim is not a denial: Entra ID sends no
// email_verified (emailVerified reads its xms_edov where the admin added it).
func emailNotTaken(v any, verifiedOnly bool) bool {
	says := func(want bool) bool {
		switch v := v.(type) {
		case bool:
			return v == want
		case string:
			return strings.EqualFold(strings.TrimSpace(v), strconv.FormatBool(want))
		}
		return false
	}
	if verifiedOnly {
		return !says(true)
	}
	return says(false)
}
