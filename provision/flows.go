package provision

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
)

// Browser sign-in: the flow between a brand application's authorize request and the code it
// gets back. The transports speak the protocols (oauth: the OpenID Provider; sso: the
// customer's identity provider); this file owns the state and every decision on the way:
//
//	Authorize     validate the application's request, route it to a connection, create the flow
//	ClaimFlow     the identity provider answered: find the flow, check the browser, use it once
//	CompleteFlow  run SignIn on the normalised identity, record the event, mint the code
//	FailFlow      the identity provider's answer is unusable: record the event, refuse
//	RedeemCode    the token endpoint: authenticate the application, redeem the code once
const (
	// FlowLifetime bounds a sign-in at the identity provider (the person may have to type a
	// password and a second factor).
	FlowLifetime = 10 * time.Minute
	// ExpiredFlowRetention is how long an expired flow is kept before it is pruned.
	ExpiredFlowRetention = FlowLifetime
	// CodeLifetime is how long an authorization code can be redeemed.
	CodeLifetime = 60 * time.Second
	// GrantRetention keeps redeemed grants as long as their access tokens live (revocation
	// of a replayed code must reach them).
	GrantRetention = 2 * time.Hour
	// maxStateLength bounds an application's state, which the flow stores and the answer
	// echoes. ASP.NET Core's OpenIdConnect handler sends its authentication properties,
	// encrypted, as the state, and they grow with the return URL: 1,024 bytes refused some of
	// its sign-ins; frameworks that bound it say 2,000.
	maxStateLength = 2048
	maxScope       = 1024
	maxNonce       = 512
	maxHint        = 320
)

// SignInCookie is the base of the names of the HttpOnly, SameSite=Lax cookies that bind flows
// to the browser that started them (cookie.go; the OpenID Provider sets them, the upstream
// callbacks read them).
const SignInCookie = "gatehouse_signin"

// OIDCCallbackPath is the callback OIDC connections share: the redirect URI an admin registers
// at the identity provider, unless the connection has its own (OIDCCallbackPathOf).
const OIDCCallbackPath = "/sso/oidc/callback"

// OIDCCallbackURL is the absolute callback URL OIDC connections share.
func (s *Service) OIDCCallbackURL() string { return s.sso.publicURL + OIDCCallbackPath }

// OIDCCallbackPathOf is the path of a connection's redirect URI: its own,
// OIDCCallbackPath/<id>, when it has one (models.Connection.OIDCOwnCallback), else the shared
// one. Both the authorization request and the code exchange of a flow send it, and the
// callback answers only there: an authorization response that arrives at another
// connection's redirect URI (an IdP mix-up) is refused before any token request.
func OIDCCallbackPathOf(c *models.Connection) string {
	if c.OIDCOwnCallback {
		return OIDCCallbackPath + "/" + c.ID.String()
	}
	return OIDCCallbackPath
}

// OIDCRedirectURL is the absolute redirect URI of a connection (OIDCCallbackPathOf).
func (s *Service) OIDCRedirectURL(c *models.Connection) string {
	return s.sso.publicURL + OIDCCallbackPathOf(c)
}

// OIDCClientJWKSPath publishes Gatehouse's public keys as a relying party (RelyingPartyKeys):
// the JWKS an IdP reads to verify the client assertions of connections on private_key_jwt.
const OIDCClientJWKSPath = "/sso/oidc/jwks.json"

// OIDCConfig returns a connection's OIDC settings with the redirect URI to register at the
// IdP and the URL of Gatehouse's public keys, or nil for a SAML connection.
func (s *Service) OIDCConfig(c *models.Connection) *models.OIDCConfig {
	cfg := c.OIDCConfig()
	if cfg != nil {
		cfg.CallbackURL = s.OIDCRedirectURL(c)
		cfg.ClientJWKSURL = s.sso.publicURL + OIDCClientJWKSPath
	}
	return cfg
}

// RelyingPartyKeys are Gatehouse's keys as a relying party, which are its SAML service
// provider keys (SPKeys): the current one signs AuthnRequests and the client assertions of OIDC
// connections on private_key_jwt, and the next one is published, for both, before it signs.
// IdP admins then learn one key, and one rotation (StartSPKeyRotation, PromoteSPKey,
// RetireSPKey) rolls it over for every protocol. The set is cached for spKeysTTL.
func (s *Service) RelyingPartyKeys(ctx context.Context) (*SPKeys, error) {
	keys, err := s.spKeys(ctx)
	if err != nil {
		return nil, internal("relying party keys", err)
	}
	return keys, nil
}

// OIDCScopes are the scopes the OpenID Provider knows; others are ignored (OIDC Core §3.1.2.1).
var OIDCScopes = []string{"openid", "email", "profile"}

// AuthorizeRequest is an application's authorization request as the OpenID Provider got it.
type AuthorizeRequest struct {
	ClientID, RedirectURI, ResponseType, Scope, State, Nonce string
	CodeChallenge, CodeChallengeMethod                       string
	// Routing: the connection's slug, else the email's or domain's verified connection.
	Connection, LoginHint, DomainHint string
	// Interaction (prompt.go): prompt and max_age as sent, and the id_token_hint as the
	// OpenID Provider verified it (nil: none sent; IDTokenHintInvalid: one that is not an
	// id_token of Gatehouse's was sent).
	Prompt, MaxAge, ACRValues string
	IDTokenHint               *IDTokenHint
	IDTokenHintInvalid        bool
	// Request and RequestURI are the request objects of OIDC Core §6, which Gatehouse does
	// not support: either answers request_not_supported or request_uri_not_supported.
	Request, RequestURI string
	// ResponseMode is the response_mode as sent: how the answers reach the redirect URI
	// (ResponseModes; "" is query).
	ResponseMode string
	// Repeated names a parameter the request repeats (RFC 6749 §3.1 forbids it); client_id
	// and redirect_uri must not be among them, for the error goes to the redirect_uri.
	Repeated string
	// Browser is the browser's sign-in cookies (SignInBrowser).
	Browser   Browser
	RequestID string
	// Test marks the flow of a connection test sign-in (testsignin.go), not an application's.
	Test bool
}

// AuthorizeKind says what the OpenID Provider answers an authorize request with.
type AuthorizeKind int

const (
	// AuthorizeBadClient: the client_id or redirect_uri is unknown. An HTML error page (400),
	// never a redirect: the redirect_uri cannot be trusted.
	AuthorizeBadClient AuthorizeKind = iota
	// AuthorizeEmailPage: Gatehouse's own page asking for the work email.
	AuthorizeEmailPage
	// AuthorizeRedirect: an error redirect to the application (Location).
	AuthorizeRedirect
	// AuthorizeUpstream: the flow is created; send the browser to the identity provider.
	AuthorizeUpstream
)

// AuthorizeResult is the answer to an authorize request.
type AuthorizeResult struct {
	Kind AuthorizeKind
	// Message is safe to show: why the client is bad, or why the email page shows again.
	Message string
	// Answer is the error answer to the application (AuthorizeRedirect).
	Answer *Answer
	Start  *FlowStart
}

// FlowStart is a flow routed to a connection: what the upstream transport needs to send the
// browser to the identity provider. The upstream values are Gatehouse's own (never the
// application's), random, and returned in plain text only here.
type FlowStart struct {
	Flow       *models.SignInFlow
	Connection *models.Connection
	// BrowserSecret is the cookie value that binds the flow to the browser, and CookieNames the
	// names of the cookies the transport sets with it (newSignInCookieNames): none when the
	// flow adopted a cookie the browser sent, which needs setting no more.
	BrowserSecret string
	CookieNames   []string
	// State, Nonce and Verifier (PKCE, S256) for an OIDC identity provider.
	UpstreamState, UpstreamNonce, UpstreamVerifier string
	// UpstreamRequestID is the ID the SAML AuthnRequest must carry (InResponseTo comes back
	// with it); RelayState is UpstreamState.
	UpstreamRequestID string
	// What the application asked of the person's interaction, for the identity provider
	// (prompt.go; the prompt and max_age are Flow's): login_hint and acr_values to send an
	// OIDC IdP ("": none), and for a SAML IdP ForceAuthn (prompt=login or any max_age) and
	// IsPassive (prompt=none).
	LoginHint, ACRValues string
	ForceAuthn           bool
	Passive              bool
	// (No client secret: the authorization request carries none; ClaimFlow decrypts it for
	// the code exchange.)
}

// signInState marks ctx for the writes of a browser sign-in before the token endpoint hands
// anything out: the flow, the callback's claim, a SAML answer and its assertion ID, the
// decision (provisioning included) and failures. They commit asynchronously on PostgreSQL
// (store.AsyncCommit): no commit of a sign-in waits for the disk but the last. A crash of the
// database server (not of Gatehouse) can lose the last fraction of a second of them, which
// costs the people signing in at that moment a fresh start of their sign-in. RedeemCode,
// which hands out the tokens, commits synchronously, and with it everything the sign-in wrote
// before it (PostgreSQL writes its log in order): nothing an application was given can be
// lost, no account it was told of, no used code, no audit event of a completed sign-in.
func signInState(ctx context.Context) context.Context { return store.AsyncCommit(ctx) }

// randomValue is 256 bits of randomness, base64url.
func randomValue() string { return secret.Token("", 32) }

// Authorize validates an application's authorization request and routes it (OIDC Core §3.1.2).
func (s *Service) Authorize(ctx context.Context, req AuthorizeRequest) (*AuthorizeResult, error) {
	ctx = signInState(ctx)
	if req.ClientID == "" {
		return &AuthorizeResult{Kind: AuthorizeBadClient, Message: "The request names no application: its client_id is missing or empty."}, nil
	}
	app, err := s.applicationByClientID(ctx, req.ClientID)
	if err != nil {
		return nil, internal("authorize", err)
	}
	if app == nil {
		return &AuthorizeResult{Kind: AuthorizeBadClient, Message: "The application (client_id) is not registered with Gatehouse."}, nil
	}
	if req.RedirectURI == "" || !app.RegisteredRedirect(req.RedirectURI) {
		return &AuthorizeResult{Kind: AuthorizeBadClient, Message: "The redirect_uri is not registered for this application."}, nil
	}
	redirect := func(code, desc string) *AuthorizeResult {
		s.recordAuthorizeRefusal(ctx, app, req, code, desc, "")
		// An over-long state is not echoed: it would make a Location header beyond what
		// proxies in front of the application accept (a 20 KB state, 20 KB of header), and an
		// application that sent it cannot have meant it.
		state := req.State
		if len(state) > maxStateLength || models.CheckText("state", state) != nil {
			state = ""
		}
		return &AuthorizeResult{Kind: AuthorizeRedirect, Answer: s.errorAnswer(req.RedirectURI, req.responseMode(), state, code, desc)}
	}
	switch {
	// The response mode first: it says how every other answer is delivered. An unknown one
	// is answered in the default mode, query.
	case !slices.Contains(ResponseModes, req.ResponseMode) && req.ResponseMode != "":
		return redirect("invalid_request", "response_mode must be "+strings.Join(ResponseModes, " or ")), nil
	// Then request objects: what they would carry (PKCE, scope…) is missing from the query.
	case req.Request != "":
		return redirect("request_not_supported", "the request parameter (a request object) is not supported"), nil
	case req.RequestURI != "":
		return redirect("request_uri_not_supported", "the request_uri parameter is not supported"), nil
	case req.Repeated != "":
		return redirect("invalid_request", "the parameter "+models.Clip(req.Repeated, 32)+" is repeated"), nil
	case req.ResponseType == "": // a required parameter missing (RFC 6749 §4.1.2.1)
		return redirect("invalid_request", "response_type is required (code)"), nil
	case req.ResponseType != "code":
		return redirect("unsupported_response_type", "response_type must be code"), nil
	case !hasToken(req.Scope, "openid"):
		return redirect("invalid_scope", "scope must include openid"), nil
	case len(req.State) > maxStateLength || len(req.Nonce) > maxNonce || len(req.Scope) > maxScope:
		return redirect("invalid_request", "state, nonce or scope is too long"), nil
	// The flow stores both, and the id_token carries the nonce: text by the input rule (RFC 6749
	// Appendix A.5 has a state of printable ASCII), which every database stores alike.
	case models.CheckText("state", req.State) != nil || models.CheckText("nonce", req.Nonce) != nil:
		return redirect("invalid_request", "state and nonce must be text, without control characters"), nil
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return redirect("invalid_request", "code_challenge_method without code_challenge"), nil
	case req.CodeChallenge == "" && app.UsesPKCE():
		return redirect("invalid_request", "this application must use PKCE (code_challenge with code_challenge_method=S256)"), nil
	case req.CodeChallenge != "" && req.CodeChallengeMethod != "S256":
		return redirect("invalid_request", "code_challenge_method must be S256"), nil
	case req.CodeChallenge != "" && !validChallenge(req.CodeChallenge):
		return redirect("invalid_request", "code_challenge must be 43 base64url characters (RFC 7636)"), nil
	case len(req.LoginHint) > maxHint || len(req.DomainHint) > maxHint || len(req.Connection) > 64:
		return redirect("invalid_request", "login_hint, domain_hint or connection is too long"), nil
	}
	in, code, desc := parseInteraction(app, &req)
	if code != "" {
		return redirect(code, desc), nil
	}
	conn, page, err := s.route(ctx, app.WorkspaceID, req)
	if err != nil {
		return s.authorizeFailed(ctx, app, req, internal("authorize", err)), nil
	}
	if page != nil {
		switch {
		case in.routedByHint && hasToken(in.prompt, "none"): // the person's connection is gone: sign in afresh
			return redirect("login_required", "The connection the id_token_hint names is unknown or not active."), nil
		case in.routedByHint: // the email page, which keeps the hint
			return page, nil
		case req.Connection != "":
			return redirect("access_denied", page.Message), nil
		case hasToken(in.prompt, "none"): // the email page is a page: OIDC Core §3.1.2.6
			return redirect("login_required", "Gatehouse would have to ask for the work email (prompt=none): send the connection, login_hint or domain_hint of an active connection."), nil
		}
		return page, nil
	}
	res, err := s.startFlow(ctx, app, conn, req, in)
	if err != nil {
		return s.authorizeFailed(ctx, app, req, err), nil
	}
	return res, nil
}

// route finds the active connection of the workspace the request names: its slug, else the
// verified domain of the login or domain hint. No hint, or one no active connection owns,
// answers with the email page.
func (s *Service) route(ctx context.Context, ws uuid.UUID, req AuthorizeRequest) (*models.Connection, *AuthorizeResult, error) {
	var conn *models.Connection
	var err error
	domain := ""
	switch {
	case req.Connection != "" && models.CheckText("connection", req.Connection) != nil: // no slug's text: unknown
		return nil, &AuthorizeResult{Kind: AuthorizeEmailPage, Message: "The sign-in connection is unknown or not active."}, nil
	case req.Connection != "":
		slug := models.SlugKey(req.Connection)
		conn, err = s.routeConnection(ctx, "slug:"+ws.String()+":"+slug, func(ctx context.Context) (*models.Connection, error) {
			return s.store.ConnectionBySlug(ctx, ws, slug)
		})
		if err == nil && (conn == nil || conn.Status != models.StatusActive) {
			return nil, &AuthorizeResult{Kind: AuthorizeEmailPage, Message: "The sign-in connection is unknown or not active."}, nil
		}
		return conn, nil, err
	case req.LoginHint != "":
		// A domain written as a fully qualified name (jane@contoso.com.) routes as
		// domain_hint=contoso.com. does.
		hint := strings.TrimSuffix(strings.TrimSpace(req.LoginHint), ".")
		if !models.ValidEmail(hint) {
			return nil, &AuthorizeResult{Kind: AuthorizeEmailPage, Message: "Enter a valid work email address."}, nil
		}
		domain = emailDomain(hint)
	case req.DomainHint != "":
		domain = domainKey(req.DomainHint)
	default:
		return nil, &AuthorizeResult{Kind: AuthorizeEmailPage}, nil
	}
	if models.CheckText("domain_hint", domain) == nil { // else no domain's text: owned by none
		conn, err = s.routeConnection(ctx, "domain:"+ws.String()+":"+domain, func(ctx context.Context) (*models.Connection, error) {
			return s.store.ConnectionByVerifiedDomain(ctx, ws, domain)
		})
	}
	if err == nil && (conn == nil || conn.Status != models.StatusActive) {
		return nil, &AuthorizeResult{Kind: AuthorizeEmailPage,
			Message: "Single sign-on is not set up for " + models.Clip(domain, 64) + ". Check the address, or ask your administrator."}, nil
	}
	return conn, nil, err
}

// startFlow creates the flow of an authorization request routed to conn, with what the
// request asks of the interaction (parseInteraction).
func (s *Service) startFlow(ctx context.Context, app *models.Application, conn *models.Connection, req AuthorizeRequest, in interaction) (*AuthorizeResult, error) {
	now := s.now()
	st := &FlowStart{Connection: conn, UpstreamState: randomValue(),
		UpstreamNonce: randomValue(), UpstreamVerifier: randomValue(),
		LoginHint: in.loginHint, ACRValues: in.acrValues,
		ForceAuthn: hasToken(in.prompt, "login") || in.maxAge != "", Passive: hasToken(in.prompt, "none")}
	if b := req.Browser.secrets; len(b) > 0 {
		st.BrowserSecret = b[len(b)-1] // any of them: the browser sends them all
	} else {
		st.BrowserSecret, st.CookieNames = randomValue(), s.newSignInCookieNames()
	}
	if conn.Protocol == models.ProtocolSAML {
		st.UpstreamRequestID = "_" + randomValue() // an xs:ID: base64url after "_" is an NCName
	}
	st.Flow = &models.SignInFlow{ID: store.NewID(), WorkspaceID: app.WorkspaceID, ApplicationID: app.ID, BrandID: app.BrandID,
		ConnectionID: conn.ID, BrowserHash: secret.Hash(st.BrowserSecret), ClientID: app.ClientID, RedirectURI: req.RedirectURI,
		Scope: grantedScope(req.Scope), State: req.State, Nonce: req.Nonce, CodeChallenge: req.CodeChallenge, ResponseMode: req.responseMode(),
		Prompt: in.prompt, MaxAge: in.maxAge, HintSubject: in.hintSubject, UpstreamStateHash: secret.Hash(st.UpstreamState), UpstreamNonce: st.UpstreamNonce,
		UpstreamVerifierEnc: s.box.Seal([]byte(st.UpstreamVerifier)), UpstreamRequestID: st.UpstreamRequestID,
		RequestID: models.Clip(req.RequestID, 64), Test: req.Test, ExpiresAt: now.Add(FlowLifetime), CreatedAt: now}
	if err := s.store.CreateFlow(ctx, st.Flow); err != nil {
		return nil, internal("authorize: create flow", err)
	}
	return &AuthorizeResult{Kind: AuthorizeUpstream, Start: st}, nil
}

// routeConnection reads a connection for routing and for talking to its identity provider
// through a short-lived cache (the client cache's TTL, 2 s by default): a browser sign-in reads
// it at authorize and again at the callback. Nil: no such connection. The cache only routes;
// the decision reads the connection again in its transaction, so a deactivated connection
// never signs anyone in, and other changes reach routing within the TTL. Cached connections
// are shared: callers must not modify them.
func (s *Service) routeConnection(ctx context.Context, key string, load func(ctx context.Context) (*models.Connection, error)) (*models.Connection, error) {
	return s.connections.get(ctx, key, load)
}

// hasToken reports whether a space-separated list (a scope, a prompt) has the value want.
func hasToken(list, want string) bool { return slices.Contains(strings.Fields(list), want) }

// grantedScope keeps the known scopes of a request, in the documented order.
func grantedScope(requested string) string {
	var out []string
	for _, s := range OIDCScopes {
		if hasToken(requested, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// notUnreserved reports a rune outside RFC 3986's unreserved set, the alphabet of PKCE
// verifiers (RFC 7636 §4.1).
func notUnreserved(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' || r == '~')
}

func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

// Response modes (OAuth 2.0 Multiple Response Type Encoding Practices §2.1, OAuth 2.0 Form
// Post Response Mode): how an answer reaches the application's redirect URI.
const (
	// ResponseModeQuery redirects the browser with the parameters in the query: the default
	// of the code flow.
	ResponseModeQuery = "query"
	// ResponseModeFormPost has the browser POST the parameters there, from a page whose form
	// submits itself.
	ResponseModeFormPost = "form_post"
)

// ResponseModes are the response modes the OpenID Provider supports.
var ResponseModes = []string{ResponseModeQuery, ResponseModeFormPost}

// responseMode is the request's response mode as a flow keeps it: ResponseModeFormPost, else
// "" (query: asked for, or by default, or to answer an unsupported mode invalid_request).
func (r AuthorizeRequest) responseMode() string {
	if r.ResponseMode == ResponseModeFormPost {
		return ResponseModeFormPost
	}
	return ""
}

// Answer is an authorization response to an application (RFC 6749 §4.1.2 and §4.1.2.1): the
// parameters (a code, or an error with its description; and the state) for its redirect URI,
// in the response mode its request asked for. The transports deliver every answer that goes
// to an application with webpage.Answer: a redirect for query, a page POSTing a form for
// form_post.
type Answer struct {
	RedirectURI string
	Params      url.Values
	// Mode is ResponseModeFormPost or "" (query).
	Mode string
}

// FormPost reports whether the answer goes by the Form Post Response Mode.
func (a *Answer) FormPost() bool { return a.Mode == ResponseModeFormPost }

// Location is the redirect URI with the parameters in its query (the query response mode).
func (a *Answer) Location() string {
	if len(a.Params) == 0 { // a test sign-in's page
		return a.RedirectURI
	}
	return withQuery(a.RedirectURI, a.Params, "")
}

// answer is the answer v to an authorization request, with the state when the request had
// one (RFC 6749 §4.1.2) and Gatehouse's issuer (RFC 9207: an application that signs people in
// through more than one provider learns which one answered, and cannot be mixed up).
func (s *Service) answer(redirectURI, mode, state string, v url.Values) *Answer {
	if state != "" {
		v.Set("state", state)
	}
	v.Set("iss", s.sso.publicURL)
	return &Answer{RedirectURI: redirectURI, Params: v, Mode: mode}
}

// errorAnswer is an OAuth error for the application (RFC 6749 §4.1.2.1).
func (s *Service) errorAnswer(redirectURI, mode, state, code, desc string) *Answer {
	return s.answer(redirectURI, mode, state, url.Values{"error": {code}, "error_description": {ErrorDescription(desc)}})
}

// ErrorAnswer is an OAuth error for the application of flow fl, in the flow's response mode.
func (s *Service) ErrorAnswer(fl *models.SignInFlow, code, desc string) *Answer {
	return s.errorAnswer(fl.RedirectURI, fl.ResponseMode, fl.State, code, desc)
}

// ErrorDescription keeps an error_description within the characters RFC 6749 allows
// (printable ASCII without '"' and '\': §4.1.2.1 for the authorization endpoint's errors, §5.2
// for the token endpoint's and those of the endpoints built like it): a message that quotes a
// request's or a person's input (a scope, a domain, a name) or ends with "…" has any other
// character replaced.
func ErrorDescription(desc string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '…':
			return '.'
		case r < 0x20 || r > 0x7e || r == '\\':
			return '?'
		}
		return r
	}, desc)
}

func withQuery(redirectURI string, v url.Values, state string) string {
	if state != "" {
		v.Set("state", state)
	}
	u, err := url.Parse(redirectURI)
	if err != nil { // registered URIs were validated; this cannot happen
		return redirectURI
	}
	// The registered URI's own query is kept as registered (RFC 6749 §3.1.2), the answer's
	// parameters appended after it.
	if u.RawQuery != "" {
		u.RawQuery += "&" + v.Encode()
	} else {
		u.RawQuery = v.Encode()
	}
	return u.String()
}

// FlowError is a refused identity-provider answer: Public is safe to show, with the request
// id; the cause went to the log and the sign-in event. Answer, when set, is the error answer
// to the application; otherwise the answer is an HTML page.
type FlowError struct {
	Public string
	Answer *Answer
	cause  string
}

func (e *FlowError) Error() string { return "provision: sign-in refused: " + e.cause }

// ClaimedFlow is a flow whose identity provider answered, claimed once by the transport that
// received the answer.
type ClaimedFlow struct {
	Flow       *models.SignInFlow
	Connection *models.Connection
	// UpstreamVerifier is the PKCE verifier Gatehouse sent the IdP the challenge of.
	UpstreamVerifier string
	// ClientSecret and Keys are what the OIDC connection authenticates to its IdP's token
	// endpoint with (clientCredentials): its client secret, decrypted, or, on private_key_jwt,
	// the relying-party keys that sign its client assertion.
	ClientSecret string
	Keys         *SPKeys
	// RequestID is the id of the request that carried the answer (the one a page shows);
	// empty: the flow's own (its authorize request's).
	RequestID string
	// notBound: CompleteFlow answered ErrMoreClaims, having found nobody bound to the identity.
	notBound bool
	// samlAnswer is the sealed identity ClaimSAMLFlow took with the flow (nil: none).
	samlAnswer []byte
	// warnings are those AcceptSAMLAnswer kept with samlAnswer (SAMLIdentity): a test
	// sign-in's result shows them.
	warnings []string
	// lookup is the person bound to samlAnswer's identity, which ClaimSAMLFlow looked up with
	// the claim (nil: it did not); the decision's fast path uses it (liveIdentity).
	lookup *store.IdentityLookup
	// learned is what a test sign-in learned before its flow failed (FailAnswer: the claims of
	// an answer whose identity could not be used): the failed test shows it.
	learned *TestSignInResult
	// keepOpen: a failure of this unclaimed flow does not finish it (finishUnclaimed). The
	// ACS refused a second answer to it, and the first one, kept, may still be continued by
	// the browser that started it.
	keepOpen bool
}

// requestID is the request id events of the claimed flow record.
func (f *ClaimedFlow) requestID() string {
	if f.RequestID != "" {
		return f.RequestID
	}
	return f.Flow.RequestID
}

// ClaimFlow finds the flow of an identity provider's answer by the state Gatehouse sent
// (OIDC state, SAML RelayState) and claims it for the browser holding the flow's cookie (one
// of its sign-in cookies: SignInBrowser). A missing cookie, cookies of other flows only, an
// unknown, replayed or expired state is a *FlowError with no redirect: the answer may be an
// attacker's, and no code is ever minted.
func (s *Service) ClaimFlow(ctx context.Context, upstreamState string, browser Browser, requestID string) (*ClaimedFlow, error) {
	return s.claimFlow(ctx, upstreamState, browser, requestID, s.store.ClaimFlow)
}

// ClaimSAMLFlow is ClaimFlow for the browser's continuation of a SAML flow: the claim also
// takes the answer AcceptSAMLAnswer kept (one statement on PostgreSQL), which SAMLIdentity
// then opens.
func (s *Service) ClaimSAMLFlow(ctx context.Context, upstreamState string, browser Browser, requestID string) (*ClaimedFlow, error) {
	var answer []byte
	var lookup *store.IdentityLookup
	cf, err := s.claimFlow(ctx, upstreamState, browser, requestID,
		func(ctx context.Context, stateHash string, browserHashes []string, now time.Time) (*models.SignInFlow, error) {
			f, enc, l, err := s.store.ClaimSAMLFlow(ctx, stateHash, browserHashes, now)
			answer, lookup = enc, l
			return f, err
		})
	if cf != nil {
		cf.samlAnswer, cf.lookup = answer, lookup
	}
	return cf, err
}

func (s *Service) claimFlow(ctx context.Context, upstreamState string, browser Browser, requestID string,
	claim func(ctx context.Context, stateHash string, browserHashes []string, now time.Time) (*models.SignInFlow, error)) (*ClaimedFlow, error) {
	ctx = signInState(ctx)
	refuse := func(cause string, f *models.SignInFlow) error {
		// An answer refused while its flow stayed open has its event (failed_at): the same
		// answer again (the refusal page reloaded, the link opened again by anyone holding it,
		// late or not) adds none, as a finished flow's replay adds none.
		if f != nil && f.FailedAt == nil {
			s.recordFailure(ctx, f, nil, "", "Sign-in failed: the answer of the identity provider could not be matched to this browser's sign-in.", cause, requestID, nil)
		}
		s.log.WarnContext(ctx, "sign-in: identity provider answer refused", "request_id", requestID, "cause", cause)
		return &FlowError{Public: "This sign-in link is invalid, expired or was already used, or it was opened in another browser. Start again from the application.", cause: cause}
	}
	if upstreamState == "" || len(upstreamState) > 128 {
		return nil, refuse("missing or malformed state", nil)
	}
	h := secret.Hash(upstreamState)
	now := s.now()
	noCookie := !browser.HasCookie()
	var f *models.SignInFlow
	err := store.ErrNotFound
	if !noCookie {
		// One statement whichever of the browser's cookies is the flow's.
		f, err = claim(ctx, h, browser.hashes(), now)
	}
	if errors.Is(err, store.ErrNotFound) {
		f, err := s.store.FlowByUpstreamState(ctx, h)
		switch {
		case err != nil:
			return nil, refuse("unknown state", nil)
		case f.ClaimedAt != nil:
			// Its attempt has its event: the same answer again adds none, whoever sends it.
			return nil, refuse("replayed state: the flow was answered already", nil)
		case !now.Before(f.ExpiresAt):
			// An expired flow can no longer finish: it is finished now, once, so that the
			// same answer again is a replay.
			if !s.finishUnclaimed(ctx, f, requestID) {
				f = nil
			}
			return nil, refuse("expired flow", f)
		case noCookie:
			// The flow stays open for the browser that started it, which may still come.
			return nil, refuse("the browser sent no sign-in cookie", f)
		default:
			// Another browser's, or this browser's for its other sign-ins: the cookie that
			// started this one may have been lost (cleared, or past maxSignInCookies).
			return nil, refuse("none of the browser's sign-in cookies is this flow's", f)
		}
	}
	if err != nil && f != nil {
		// Claimed, then the rest of the claim failed (ClaimSAMLFlow on SQLite: the answer not
		// taken): the flow cannot be claimed again, so it fails as a claimed flow does.
		return nil, s.ServerFailure(ctx, &ClaimedFlow{Flow: f, RequestID: requestID}, internal("claim flow", err))
	}
	if err != nil {
		return nil, internal("claim flow", err)
	}
	conn, err := s.routeConnection(ctx, "id:"+f.ConnectionID.String(), func(ctx context.Context) (*models.Connection, error) {
		return s.store.Connection(ctx, f.WorkspaceID, f.ConnectionID)
	})
	if err == nil && conn == nil {
		return nil, s.FailFlow(ctx, &ClaimedFlow{Flow: f, RequestID: requestID}, "The identity provider is no longer configured.", "the connection was deleted during the sign-in")
	}
	if err != nil {
		return nil, s.ServerFailure(ctx, &ClaimedFlow{Flow: f, RequestID: requestID}, internal("claim flow", err))
	}
	cf := &ClaimedFlow{Flow: f, Connection: conn, RequestID: models.Clip(requestID, 64)}
	if v, err := s.box.Open(f.UpstreamVerifierEnc); err == nil {
		cf.UpstreamVerifier = string(v)
	} else {
		return nil, s.ServerFailure(ctx, cf, internal("claim flow: verifier", err))
	}
	if conn.Protocol == models.ProtocolOIDC {
		if cf.ClientSecret, cf.Keys, err = s.clientCredentials(ctx, conn); err != nil {
			return nil, s.ServerFailure(ctx, cf, internal("claim flow: client credentials", err))
		}
	}
	return cf, nil
}

// clientCredentials are what OIDC connection c authenticates to its IdP's token endpoint with
// (models.Connection.ClientAuthMethod), for a sign-in's code exchange and the connection
// test's probe alike: on private_key_jwt the relying-party keys (a stored secret is kept for a
// switch back, never sent), else its client secret, decrypted ("" when it has none).
func (s *Service) clientCredentials(ctx context.Context, c *models.Connection) (secret string, keys *SPKeys, err error) {
	if c.ClientAuthMethod() == models.ClientAuthPrivateKeyJWT {
		keys, err = s.RelyingPartyKeys(ctx)
		return "", keys, err
	}
	if len(c.OIDCClientSecretEnc) == 0 {
		return "", nil, nil
	}
	sec, err := s.box.Open(c.OIDCClientSecretEnc)
	if err != nil {
		return "", nil, fmt.Errorf("the connection's secret: %w", err)
	}
	return string(sec), nil, nil
}

// FailFlow ends a flow whose identity provider failed or answered something unusable:
// the event records the private cause; the returned *FlowError redirects the application
// access_denied with the public message.
func (s *Service) FailFlow(ctx context.Context, f *ClaimedFlow, public, cause string) error {
	return s.failFlow(ctx, f, "", "access_denied", public, cause)
}

// FailAnswer is FailFlow for an identity provider's answer that was verified but whose
// identity cannot be used (no identifier claim, say): sent is what the transport read of it,
// its claims at least, which a test sign-in shows beside the error, since they say what the
// identity provider should send instead.
func (s *Service) FailAnswer(ctx context.Context, f *ClaimedFlow, sent Identity, public, cause string) error {
	if f.Flow.Test && sent.Claims != nil {
		f.learned, _ = s.testResult(ctx, f.Flow.ConnectionID, sent, f.warnings)
	}
	return s.FailFlow(ctx, f, public, cause)
}

func (s *Service) failFlow(ctx context.Context, f *ClaimedFlow, identifier, code, public, cause string) error {
	ctx = signInState(ctx)
	cause = models.Clip(cause, maxEventCause) // the log's, the event's and a test's
	// A flow kept open records its first failure (failed_at): the same answer posted again
	// adds none, as a finished flow's does.
	if f.Flow.ClaimedAt != nil || (f.keepOpen && f.Flow.FailedAt == nil) || (!f.keepOpen && s.finishUnclaimed(ctx, f.Flow, f.requestID())) {
		s.recordFailure(ctx, f.Flow, f.Connection, identifier, public, cause, f.requestID(), f.learned)
	}
	s.log.WarnContext(ctx, "sign-in failed", "request_id", f.requestID(), "connection_id", f.Flow.ConnectionID, "cause", cause)
	return &FlowError{Public: public, cause: cause, Answer: s.ErrorAnswer(f.Flow, code, public)}
}

// finishUnclaimed finishes a flow that failed before any browser claimed it (an answer the ACS
// refused, an answer to an expired flow, a sign-in that failed at its start), and reports
// whether this request did: only that request records the attempt's event. The same answer
// again (a form posted again, by anyone holding it) then finds the flow finished and adds no
// event, as a claimed flow's replay adds none. A flow claimed already is finished (false).
// When the write fails, the event is still recorded. A callback without the flow's cookie, or
// with another browser's, does not finish it: the browser that started it may still come.
func (s *Service) finishUnclaimed(ctx context.Context, f *models.SignInFlow, requestID string) bool {
	if f.ClaimedAt != nil {
		return false
	}
	now := s.now()
	done, err := s.store.FinishFlow(ctx, f.ID, now)
	switch {
	case err != nil:
		s.logWriteFailure(ctx, "sign-in: finish a failed flow", err, "request_id", requestID, "flow_id", f.ID)
		return true
	case !done:
		s.log.InfoContext(ctx, "sign-in: failed flow finished already; no second event", "request_id", requestID, "flow_id", f.ID)
		return false
	}
	f.ClaimedAt = &now
	return true
}

// recordFailure writes a failed sign-in event; a failure to write it is logged, not returned
// (the person's refusal must not turn into a server error). A test flow's test fails too
// (failTest), keeping result, what the test learned before it failed (nil: what the flow's
// kept answer says, if anything).
func (s *Service) recordFailure(ctx context.Context, f *models.SignInFlow, conn *models.Connection, identifier, public, cause, requestID string, result *TestSignInResult) {
	if requestID == "" {
		requestID = f.RequestID
	}
	// Every attempt is an event, also one that failed because its request ended (its deadline
	// passed while the IdP was slow, or the browser went away): the event is written on a
	// context of its own, bounded as a statement is.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failureRecordTimeout)
	defer cancel()
	if f.Test {
		s.failTest(ctx, f, public, cause, result)
	}
	if conn == nil { // the event names the connection's slug (through the routing cache)
		conn, _ = s.routeConnection(ctx, "id:"+f.ConnectionID.String(), func(ctx context.Context) (*models.Connection, error) {
			return s.store.Connection(ctx, f.WorkspaceID, f.ConnectionID)
		})
	}
	ev := s.event(f, conn, identifier, models.SignInOutcomeFailed, public, cause, requestID)
	write := func(ctx context.Context) error { return s.store.CreateSignInEvent(ctx, ev) }
	if f.ClaimedAt == nil {
		// The flow stays open (the browser that started it may still come): the event and the
		// mark that the prune must not record the attempt again as abandoned commit together,
		// and only for the first failure, so that the same answer refused twice at once (a
		// double submission, two reloads) is one event.
		write = func(ctx context.Context) error {
			return s.store.InTx(ctx, func(ctx context.Context) error {
				marked, err := s.store.MarkFlowFailed(ctx, f.ID, s.now())
				if err != nil || !marked {
					return err
				}
				return s.store.CreateSignInEvent(ctx, ev)
			})
		}
	}
	if err := write(ctx); err != nil {
		s.logWriteFailure(ctx, "sign-in: record event", err, "request_id", requestID, "flow_id", f.ID)
	}
}

// failureRecordTimeout bounds writing a failed attempt's records once its request has ended.
const failureRecordTimeout = 5 * time.Second

// Bounds, in bytes, of the texts of a sign-in event: its private cause, and the others.
const (
	maxEventCause = 2000
	maxEventText  = 512
)

func (s *Service) event(f *models.SignInFlow, conn *models.Connection, identifier, outcome, reason, cause, requestID string) *models.SignInEvent {
	appID, brandID, connID := f.ApplicationID, f.BrandID, f.ConnectionID
	// Every text of the event may come from outside (an identity provider's error description,
	// an asserted identifier, a library's error quoting a response): each is clipped, so the
	// event always stores (PostgreSQL refuses invalid UTF-8 and NUL) and stays bounded.
	ev := &models.SignInEvent{ID: store.NewID(), WorkspaceID: f.WorkspaceID, ApplicationID: &appID, ClientID: models.Clip(f.ClientID, maxEventText),
		BrandID: &brandID, ConnectionID: &connID, Identifier: models.Clip(identifier, models.MaxIdentifierLength),
		Outcome: outcome, Reason: models.Clip(reason, maxEventText), Cause: models.Clip(cause, maxEventCause),
		RequestID: models.Clip(requestID, maxEventText), Test: f.Test, CreatedAt: s.now()}
	if conn != nil {
		ev.ConnectionSlug = conn.Slug
	}
	if appID == uuid.Nil { // a test sign-in: no application, maybe no brand
		ev.ApplicationID = nil
	}
	if brandID == uuid.Nil {
		ev.BrandID = nil
	}
	return ev
}

// IDClaims are the identity claims of the id_token, decided at sign-in (OIDC Core §5.1 and
// Gatehouse's own).
type IDClaims struct {
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	WorkspaceID   string `json:"workspace_id"`
	AccountID     string `json:"account_id,omitempty"`
	Role          string `json:"role,omitempty"`
	Connection    string `json:"connection"`
	SignIn        string `json:"sign_in"`
	// ACR and AMR are the identity provider's (upstreamAuthn), for an application that
	// requires a strength of authentication (OIDC Core §2).
	ACR string   `json:"acr,omitempty"`
	AMR []string `json:"amr,omitempty"`
}

// CompleteFlow decides the sign-in of a claimed flow for the identity its identity provider
// asserted, records the event and returns the answer to the application: a code, or
// access_denied and the engine's reason (a test sign-in's: its page, with no parameters). For
// a partial identity (Identity.ClaimsPartial) it may answer ErrMoreClaims, having written
// nothing: call it again with the complete identity.
func (s *Service) CompleteFlow(ctx context.Context, f *ClaimedFlow, id Identity) (*Answer, error) {
	ctx = signInState(ctx)
	fl := f.Flow
	if id.ClaimsPartial && fl.Test { // a test shows every claim
		return nil, ErrMoreClaims
	}
	if fl.Test {
		page, err := s.completeTest(ctx, f, id)
		if err != nil { // as every server failure of a claimed flow: its event, and the test fails
			return nil, s.ServerFailure(ctx, f, err)
		}
		return &Answer{RedirectURI: page}, nil
	}
	if err := s.applicationStillRegisters(ctx, f, id.Identifier); err != nil {
		return nil, err
	}
	if public, cause := staleAuthentication(fl, id.AuthTime, s.now()); public != "" {
		code := "access_denied"
		if hasToken(fl.Prompt, "none") { // the IdP could not authenticate the person afresh silently
			code = "login_required"
		}
		return nil, s.failFlow(ctx, f, id.Identifier, code, public, cause)
	}
	var code, other string
	// The provisioned rows, the audit event, the grant and the sign-in event commit with the
	// decision: one transaction per sign-in at most, and one statement for the rows on
	// PostgreSQL (decideOptions.thenWrites).
	record := func(ctx context.Context, res *SignInResult) error {
		if who, elsewhere := hintedElsewhere(fl.HintSubject, res); elsewhere {
			other = who
			return errHintMismatch // nothing of this decision is written
		}
		a, p := res.audit, res.provisioned
		res.audit, res.provisioned = nil, nil // written here, with the event (and the grant)
		if res.Outcome == SignInRefused {
			return s.store.RecordSignIn(ctx, nil, a, nil, s.event(fl, f.Connection, id.Identifier, models.SignInOutcomeRefused, res.Reason, res.cause, f.requestID()))
		}
		g, plain, err := s.newGrant(ctx, f, res, id)
		if err != nil {
			return err
		}
		code = plain
		return s.store.RecordSignIn(ctx, p, a, g, s.event(fl, f.Connection, id.Identifier, string(res.Outcome), res.Reason, "", f.requestID()))
	}
	res, err := s.decide(ctx, fl.BrandID, fl.ConnectionID, id, decideOptions{known: f.Connection, lookup: f.lookup, notBound: f.notBound, then: record, thenWrites: true})
	if errors.Is(err, ErrMoreClaims) {
		f.notBound = true // the decision looked: nobody is bound to the identity
		return nil, ErrMoreClaims
	}
	if errors.Is(err, errHintMismatch) {
		s.observer.SignIn(string(SignInRefused))
	} else {
		s.observeSignIn(res, err)
	}
	switch {
	case errors.Is(err, errHintMismatch):
		return nil, s.failFlow(ctx, f, id.Identifier, "login_required", hintMismatch,
			"the identity provider signed in "+other+"; the id_token_hint names "+fl.HintSubject)
	case err != nil && res != nil && res.Outcome == SignInRefused:
		return s.ErrorAnswer(fl, "access_denied", res.Reason), nil
	case models.UserErrors(err) != nil: // the identity's problem; an unavailable database is not
		return nil, s.failFlow(ctx, f, id.Identifier, "access_denied", "Sign-in failed: "+models.FieldMessage(err)+".", err.Error())
	case err != nil:
		return nil, s.failFlow(ctx, f, id.Identifier, "server_error", "Sign-in failed because of a server error.", err.Error())
	}
	return s.answer(fl.RedirectURI, fl.ResponseMode, fl.State, url.Values{"code": {code}}), nil
}

// applicationStillRegisters checks, before the decision, that the flow's application still
// exists and still registers its redirect URI: an admin may have deleted it, or removed a
// compromised redirect URI, while the person was at the IdP. Otherwise nothing is decided and
// no code is made; the person gets a page (the redirect URI is no longer to be trusted), and
// the attempt its event. The application is read through the cache authorize uses (2 s).
func (s *Service) applicationStillRegisters(ctx context.Context, f *ClaimedFlow, identifier string) error {
	fl := f.Flow
	app, err := s.applicationByClientID(ctx, fl.ClientID)
	if err != nil { // as every server failure of a claimed flow: server_error, and its event
		return s.ServerFailure(ctx, f, internal("sign-in: application", err))
	}
	cause := ""
	switch {
	case app == nil || app.ID != fl.ApplicationID:
		cause = "the application was deleted during the sign-in"
	case !app.RegisteredRedirect(fl.RedirectURI):
		cause = "the application no longer registers the redirect URI " + fl.RedirectURI
	default:
		return nil
	}
	const public = "The application changed while you were signing in. Start again from the application."
	s.recordFailure(ctx, fl, f.Connection, identifier, public, cause, f.requestID(), nil)
	return &FlowError{Public: public, cause: cause}
}

// emailDomainVerified tells whether the email's domain is verified for the connection: the
// id_token's email_verified. It is read through a short-lived cache (a claim, not a decision:
// a domain's verification reaches it within the cache's TTL).
func (s *Service) emailDomainVerified(ctx context.Context, ws, connectionID uuid.UUID, email string) (bool, error) {
	domain := emailDomain(email)
	v, err := s.verifiedDomains.get(ctx, connectionID.String()+":"+domain, func(ctx context.Context) (*bool, error) {
		ok, err := s.store.DomainVerifiedFor(ctx, ws, connectionID, domain)
		return &ok, err
	})
	if err != nil || v == nil {
		return false, err
	}
	return *v, nil
}

// newGrant builds the grant of an accepted sign-in, with the id_token's claims as the account
// reads after the decision, and returns it with the plain code (only its hash is stored).
// up is the identity the identity provider asserted: when and how the person authenticated.
func (s *Service) newGrant(ctx context.Context, f *ClaimedFlow, res *SignInResult, up Identity) (*models.Grant, string, error) {
	fl, u := f.Flow, res.UserAccount
	verified := false
	if u.Email != "" && !res.EmailDerived {
		var err error
		if verified, err = s.emailDomainVerified(ctx, fl.WorkspaceID, fl.ConnectionID, u.Email); err != nil {
			return nil, "", err
		}
	}
	claims := IDClaims{Email: u.Email, EmailVerified: verified, GivenName: u.FirstName, FamilyName: u.LastName,
		Name: strings.TrimSpace(u.FirstName + " " + u.LastName), WorkspaceID: fl.WorkspaceID.String(), Role: u.Role,
		Connection: f.Connection.Slug, SignIn: string(res.Outcome)}
	claims.ACR, claims.AMR = upstreamAuthn(up.ACR, up.AMR)
	if u.AccountID != nil {
		claims.AccountID = u.AccountID.String()
	}
	cb, _ := json.Marshal(claims)
	now := s.now()
	code := secret.Token("", 32)
	return &models.Grant{ID: store.NewID(), WorkspaceID: fl.WorkspaceID, ApplicationID: fl.ApplicationID, ClientID: fl.ClientID,
		CodeHash: secret.Hash(code), RedirectURI: fl.RedirectURI, CodeChallenge: fl.CodeChallenge, Scope: fl.Scope,
		Nonce: fl.Nonce, UserAccountID: u.ID, ConnectionID: &fl.ConnectionID, IdentifierKey: res.identifierKey,
		Claims: string(cb), AuthTime: authTime(up.AuthTime, now), ExpiresAt: now.Add(CodeLifetime), CreatedAt: now}, code, nil
}

// CodeRedemption is a token request of the authorization_code grant (RFC 6749 §4.1.3).
type CodeRedemption struct {
	ClientID     string
	ClientSecret string // "" when the client did not authenticate
	Code         string
	RedirectURI  string
	CodeVerifier string
	// Ready, when set, readies what will sign the application's id_token, before the code is
	// spent: a failure there leaves the code to be redeemed again.
	Ready func(ctx context.Context, alg models.IDTokenAlg) error
}

// Redeemed is what a redeemed code issues tokens for.
type Redeemed struct {
	Grant  *models.Grant
	Claims IDClaims
	// IDTokenAlg signs the id_token: the application's choice.
	IDTokenAlg models.IDTokenAlg
}

// Errors of RedeemCode, mapped by the token endpoint to RFC 6749 errors.
var (
	// ErrInvalidClient: unknown application or failed authentication (invalid_client).
	ErrInvalidClient = errors.New("provision: client authentication failed")
	// ErrInvalidGrant: the code is unknown, expired, used, or was issued for another client,
	// redirect URI or verifier (invalid_grant).
	ErrInvalidGrant = errors.New("provision: invalid authorization code")
)

// RedeemCode authenticates the application (a confidential one with its secret) and redeems
// the code once. A second redemption of a code revokes the grant: the access token the first
// one issued stops working at userinfo. It commits synchronously (its ctx is never
// signInState's): that commit makes what the sign-in wrote before it durable before any token
// leaves.
func (s *Service) RedeemCode(ctx context.Context, in CodeRedemption) (*Redeemed, error) {
	app, err := s.AuthenticateApplication(ctx, in.ClientID, in.ClientSecret)
	if err != nil {
		return nil, err
	}
	if in.Ready != nil {
		if err := in.Ready(ctx, app.IDTokenSignedResponseAlg); err != nil {
			return nil, internal("redeem code: signing key", err)
		}
	}
	if len(in.Code) > 128 { // none at all is the transport's invalid_request
		return nil, fmt.Errorf("%w: the code is unknown, expired or void, or was issued to another client", ErrInvalidGrant)
	}
	now := s.now()
	g, err := s.store.RedeemGrant(ctx, secret.Hash(in.Code), app.ClientID, now)
	switch {
	case errors.Is(err, store.ErrStale):
		s.log.WarnContext(ctx, "token: authorization code replayed; its grant is revoked", "client_id", in.ClientID)
		return nil, fmt.Errorf("%w: the code was already used", ErrInvalidGrant)
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("%w: the code is unknown, expired or void, or was issued to another client", ErrInvalidGrant)
	case err != nil:
		return nil, internal("redeem code", err)
	}
	problem := ""
	switch {
	case g.RedirectURI != in.RedirectURI:
		problem = "redirect_uri differs from the one authorized"
	case !app.RegisteredRedirect(g.RedirectURI):
		// An admin removed it after the sign-in began (a compromised URI, say): its codes
		// issue nothing.
		problem = "redirect_uri is no longer registered for the application"
	case g.CodeChallenge == "" && app.UsesPKCE():
		// The application came to require PKCE (requirePkce) after this sign-in began without
		// it: a code is what PKCE protects, so none issues anything once it is required.
		problem = "the application requires PKCE, and the authorization request (made before it did) sent no code_challenge"
	case g.CodeChallenge != "" && in.CodeVerifier == "":
		problem = "code_verifier is missing: the authorization request sent a code_challenge"
	case g.CodeChallenge != "" && !wellFormedVerifier(in.CodeVerifier):
		problem = "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~' (RFC 7636 section 4.1)"
	case g.CodeChallenge != "" && !verifierMatches(in.CodeVerifier, g.CodeChallenge):
		problem = "code_verifier does not match the code_challenge"
	case g.CodeChallenge == "" && in.CodeVerifier != "":
		problem = "code_verifier sent, but the authorization request had no code_challenge"
	}
	if problem != "" {
		// The code is spent (a second try is not let to guess again), but nothing was issued.
		// A wrong verifier for a live code is what PKCE is there to stop (an intercepted code):
		// the log says so, never with the code.
		if err := s.store.VoidGrant(ctx, g.ID, now); err != nil {
			return nil, internal("redeem code", err)
		}
		s.log.WarnContext(ctx, "token: code redemption refused; the code is void", "client_id", in.ClientID, "problem", problem)
		return nil, fmt.Errorf("%w: %s", ErrInvalidGrant, problem)
	}
	var c IDClaims
	if err := json.Unmarshal([]byte(g.Claims), &c); err != nil {
		return nil, internal("redeem code: claims", err)
	}
	return &Redeemed{Grant: g, Claims: c, IDTokenAlg: app.IDTokenSignedResponseAlg}, nil
}

// AuthenticateApplication authenticates an application at the token and revocation
// endpoints: a confidential one with its secret, a public one by its client_id alone (it has
// no secret to present, and presenting one fails). Errors: ErrInvalidClient.
func (s *Service) AuthenticateApplication(ctx context.Context, clientID, clientSecret string) (*models.Application, error) {
	app, err := s.applicationByClientID(ctx, clientID)
	if err != nil {
		return nil, internal("authenticate application", err)
	}
	if app == nil {
		secret.Equal(clientSecret, secret.Hash("")) // same work as a real comparison
		return nil, ErrInvalidClient
	}
	switch app.Type {
	case models.ApplicationConfidential:
		if clientSecret == "" || len(clientSecret) > 256 || !secret.Equal(clientSecret, app.SecretHash) {
			return nil, ErrInvalidClient
		}
	default:
		if clientSecret != "" {
			return nil, ErrInvalidClient
		}
	}
	return app, nil
}

// RevokeApplicationToken revokes, for the application that authenticated, an access token it
// was issued (RFC 7009): the token's grant, so userinfo refuses it from then on, as after a
// sign-out. A token of another application is EFORBIDDEN.
func (s *Service) RevokeApplicationToken(ctx context.Context, app *models.Application, tokenClientID string, grantID uuid.UUID) error {
	if tokenClientID != app.ClientID {
		return models.Errorf(models.EFORBIDDEN, "this client may not revoke this token")
	}
	if err := s.store.RevokeGrant(ctx, grantID, s.now()); err != nil {
		return internal("revoke token", err)
	}
	return nil
}

// verifierMatches checks a PKCE verifier against an S256 challenge (RFC 7636 §4.6): 43–128
// unreserved characters (§4.1), then its hash.
func verifierMatches(verifier, challenge string) bool {
	if !wellFormedVerifier(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
}

// wellFormedVerifier reports whether verifier has RFC 7636 §4.1's form: 43 to 128 unreserved
// characters.
func wellFormedVerifier(verifier string) bool {
	return len(verifier) >= 43 && len(verifier) <= 128 && strings.IndexFunc(verifier, notUnreserved) < 0
}

// UserInfo is what the userinfo endpoint returns (OIDC Core §5.3).
type UserInfo struct {
	Sub           string `json:"sub"`
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
}

// ErrGrantRevoked: the access token's grant was revoked (a replayed code) or is gone.
var ErrGrantRevoked = errors.New("provision: the grant is revoked")

// UserInfoOf returns the signed-in person for an access token of grant grantID (already
// verified by the transport), refusing revoked grants and deactivated people.
func (s *Service) UserInfoOf(ctx context.Context, ws, grantID uuid.UUID) (*UserInfo, error) {
	g, err := s.store.BoundGrant(ctx, ws, grantID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrGrantRevoked
	}
	if err != nil {
		return nil, internal("userinfo", err)
	}
	if g.RevokedAt != nil {
		return nil, ErrGrantRevoked
	}
	u, err := s.store.UserAccount(ctx, ws, g.UserAccountID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrGrantRevoked
	}
	if err != nil {
		return nil, internal("userinfo", err)
	}
	if !u.Active || u.IssuedBeforeReactivation(g.CreatedAt) {
		return nil, ErrGrantRevoked
	}
	var c IDClaims
	_ = json.Unmarshal([]byte(g.Claims), &c)
	return &UserInfo{Sub: u.ID.String(), Email: u.Email, EmailVerified: c.EmailVerified && c.Email == u.Email,
		Name: strings.TrimSpace(u.FirstName + " " + u.LastName), GivenName: u.FirstName, FamilyName: u.LastName}, nil
}

// PruneSignInState deletes flows expired for a while and old grants; the server runs it
// every 10 minutes (app.signInPruneInterval). A flow is kept ExpiredFlowRetention past its
// expiry so that a late answer to it reads "expired" (and is an event) whatever the pruner's
// timing, rather than, once pruned, an unknown state (or, at the ACS, an answer nobody asked
// for). A pruned flow that no answer ever finished (claimed_at unset: the person gave up at
// the identity provider, or its answer never came) is an attempt too: the prune records its
// failed event, timed at the flow's expiry, with the deletion (store.PruneSignInState). A
// flow that was claimed, or finished by a late or refused answer (finishUnclaimed), has its
// event already and gets none.
func (s *Service) PruneSignInState(ctx context.Context) (int64, error) {
	now := s.now()
	n, err := s.store.PruneSignInState(ctx, now.Add(-ExpiredFlowRetention), now.Add(-GrantRetention), abandonedReason, abandonedCause)
	if err == nil {
		var m int64
		m, err = s.pruneSAMLState(ctx, now)
		n += m
	}
	return n, internal("prune sign-in state", err)
}

// The public reason and the private cause of the event of an abandoned flow (PruneSignInState).
const (
	abandonedReason = "Sign-in failed: the sign-in was not finished at the identity provider in time."
	abandonedCause  = "the flow expired unanswered: abandoned at the identity provider, or its answer never reached Gatehouse " +
		"(SAML: or the browser did not continue after the identity provider's answer)"
)

// PruneSignInEvents deletes sign-in events older than the retention period; the server runs
// it hourly (GATEHOUSE_SIGN_IN_EVENT_RETENTION_DAYS). Unauthenticated requests can cause
// events (a refused authorize request records one), so the log must not grow without bound.
func (s *Service) PruneSignInEvents(ctx context.Context, retention time.Duration) (int64, error) {
	return s.pruneLog(ctx, "sign-in event", retention, s.store.PruneSignInEvents)
}

// SignInEventFilter selects sign-in events; empty fields do not filter.
type SignInEventFilter struct {
	ConnectionID, BrandID, Outcome string
}

// SignInEventList is one page of sign-in events.
type SignInEventList struct {
	Events         []*models.SignInEvent
	Page, PageSize int
	Total          int
}

// SignInEvents lists the caller's workspace's sign-in events matching f, newest first, one page
// (bounded like the other lists: page ≥ 1, pageSize 1..100, default 20).
func (s *Service) SignInEvents(ctx context.Context, f SignInEventFilter, page, pageSize *int) (*SignInEventList, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, err
	}
	var errs models.Errors
	var sf store.SignInEventFilter
	for _, c := range []struct {
		field, raw string
		dst        **uuid.UUID
	}{{"connectionId", f.ConnectionID, &sf.ConnectionID}, {"brandId", f.BrandID, &sf.BrandID}} {
		if c.raw == "" {
			continue
		}
		id, err := filterID(c.field, c.raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*c.dst = &id
	}
	switch f.Outcome {
	case "", models.SignInOutcomeExistingIdentity, models.SignInOutcomeLinkedByEmail, models.SignInOutcomeProvisioned,
		models.SignInOutcomeRefused, models.SignInOutcomeFailed:
		sf.Outcome = f.Outcome
	default:
		errs = append(errs, models.FieldError(models.EINVALID, "outcome", f.Outcome, "is not a sign-in outcome"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	pg, size := 1, 0
	if page != nil {
		pg = *page
	}
	if pageSize != nil {
		size = *pageSize
	}
	pg, size = models.ListPage(pg, size)
	es, total, err := s.store.SignInEventsPage(ctx, p.WorkspaceID, sf, models.PageOffset(pg, size), size)
	if err != nil {
		return nil, internal("sign-in events", err)
	}
	// The private cause is for administrators (seesCauses): a read-only client reads what the
	// person was shown and the request id.
	if !seesCauses(p) {
		for _, e := range es {
			e.Cause = ""
		}
	}
	return &SignInEventList{Events: es, Page: pg, PageSize: size, Total: int(total)}, nil
}
