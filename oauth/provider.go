package oauth

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/webpage"
)

// The OpenID Provider of brand applications (OpenID Connect Core 1.0, authorization code flow
// with PKCE): discovery, authorize, the authorization_code grant, userinfo. The decisions
// (routing, flow state, the sign-in, codes) are provision's; this file speaks HTTP and JOSE.

// Upstream sends the browser to a connection's identity provider for a routed flow. server.go
// registers one per protocol (package sso implements them); a transport never imports another.
type Upstream interface {
	StartSignIn(w http.ResponseWriter, r *http.Request, st *provision.FlowStart)
}

// SetUpstream registers the upstream sign-in of a protocol.
func (s *Server) SetUpstream(p models.Protocol, u Upstream) { s.upstreams[p] = u }

func (s *Server) registerProvider(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", cors(s.discovery))
	mux.HandleFunc("GET /oauth/authorize", s.authorize)
	mux.HandleFunc("POST /oauth/authorize", s.authorize)
	mux.HandleFunc("/oauth/userinfo", cors(s.userinfo))
	mux.HandleFunc("GET /oauth/logout", s.logout)
	mux.HandleFunc("POST /oauth/logout", s.logout)
}

// maxBrowserForm bounds a POSTed authorize or logout request: its parameters are a few KiB
// at most.
const maxBrowserForm = 64 << 10

// browserParams are the parameters of a browser's request to the authorization or the
// end_session endpoint (OIDC Core §3.1.2.1, RP-Initiated Logout §2): a GET's in the query, a
// POST's in a form body, never both mixed: a POST's query is ignored, as Keycloak does. A
// parameter sent without a value is left out, as not sent (RFC 6749 §3.1). A POST that is not
// a form gets a page titled title, and false.
func browserParams(w http.ResponseWriter, r *http.Request, title string) (url.Values, bool) {
	if r.Method != http.MethodPost {
		q := r.URL.Query()
		omitEmpty(q)
		return q, true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBrowserForm)
	if err := r.ParseForm(); err != nil || models.MediaType(r.Header.Get("Content-Type")) != "application/x-www-form-urlencoded" {
		webpage.Write(w, http.StatusBadRequest, title, "The request is not a form (application/x-www-form-urlencoded).", webpage.RequestID(w))
		return nil, false
	}
	omitEmpty(r.PostForm)
	return r.PostForm, true
}

// logout is the end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0), GET or POST:
// provision.SignOut ends the application's sign-in of the person, then the browser goes back
// to the application or sees Gatehouse's page.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	form, ok := browserParams(w, r, "Sign-out request is invalid")
	if !ok {
		return
	}
	for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
		if len(form[k]) > 1 {
			webpage.Write(w, http.StatusBadRequest, "Sign-out request is invalid", "The parameter "+k+" is repeated.", webpage.RequestID(w))
			return
		}
	}
	req := provision.SignOutRequest{ClientID: form.Get("client_id"), PostLogoutRedirectURI: form.Get("post_logout_redirect_uri"),
		State: form.Get("state"), RequestID: webpage.RequestID(w)}
	if raw := form.Get("id_token_hint"); raw != "" {
		req.IDTokenHint = s.idTokenHint(r, raw)
		req.IDTokenHintInvalid = req.IDTokenHint == nil
	}
	res, err := s.svc.SignOut(r.Context(), req)
	var bad *provision.SignOutError
	switch {
	case errors.As(err, &bad):
		webpage.Write(w, http.StatusBadRequest, "Sign-out request is invalid", bad.Public, req.RequestID)
	case models.ErrorCode(err) == models.EUNAVAILABLE: // the reload signs out (revoking twice is revoking once)
		s.log.WarnContext(r.Context(), "logout: database unavailable", "request_id", req.RequestID, "err", err)
		webpage.SignOutUnavailable(w)
	case err != nil:
		s.log.ErrorContext(r.Context(), "logout", "request_id", req.RequestID, "err", err)
		webpage.Write(w, http.StatusInternalServerError, "Sign-out failed", "Gatehouse could not process the sign-out.", req.RequestID)
	case res.Location != "":
		w.Header().Set("Cache-Control", "no-store")
		webpage.Redirect(w, r, res.Location)
	case res.Revoked:
		webpage.Write(w, http.StatusOK, "Signed out", "You are signed out of "+res.Application+". You may still be signed in at your "+
			"organisation's identity provider: on a shared computer, sign out there too, or close the browser.", req.RequestID)
	default: // nothing named a sign-in to end
		webpage.Write(w, http.StatusOK, "Sign-out", "Gatehouse keeps no sign-in of its own to end. You may still be signed in to the "+
			"application and at your organisation's identity provider: on a shared computer, sign out there too, or close the browser.", req.RequestID)
	}
}

// discovery serves OpenID Connect Discovery 1.0 §3 metadata.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, s.providerMetadata())
}

// providerMetadata is the OpenID Provider's metadata (OIDC Discovery 1.0 §3). The
// authorization server metadata (RFC 8414, metadata in server.go) is the same document plus
// what integration clients use, so that the two never describe the issuer differently.
func (s *Server) providerMetadata() map[string]any {
	return map[string]any{
		"issuer":                   s.issuer,
		"authorization_endpoint":   s.issuer + "/oauth/authorize",
		"token_endpoint":           s.issuer + "/oauth/token",
		"userinfo_endpoint":        s.issuer + "/oauth/userinfo",
		"jwks_uri":                 s.issuer + "/.well-known/jwks.json",
		"end_session_endpoint":     s.issuer + "/oauth/logout",
		"response_types_supported": []string{"code"},
		"response_modes_supported": provision.ResponseModes,
		"grant_types_supported":    []string{"authorization_code"},
		"subject_types_supported":  []string{"public"},
		// ES256 is the default; Discovery 1.0 §3 requires RS256 in the list, and an application
		// may ask for it (models.IDTokenRS256).
		"id_token_signing_alg_values_supported": models.IDTokenSigningAlgs,
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      provision.OIDCScopes,
		"token_endpoint_auth_methods_supported": applicationAuthMethods,
		// An application revokes the access tokens it was issued (revokeForApplication).
		"revocation_endpoint":                        s.issuer + "/oauth/revoke",
		"revocation_endpoint_auth_methods_supported": applicationAuthMethods,
		// Discovery 1.0 §3 makes request_uri support the default: say there is none.
		"request_parameter_supported":     false,
		"request_uri_parameter_supported": false,
		"claims_parameter_supported":      false,
		// Every authorization response carries iss (RFC 9207 §2), errors included.
		"authorization_response_iss_parameter_supported": true,
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified",
			"name", "given_name", "family_name", "workspace_id", "account_id", "role", "connection", "sign_in", "acr", "amr"},
	}
}

// applicationAuthMethods are how applications authenticate at the token and revocation
// endpoints: none is a PUBLIC application's (PKCE and no secret).
var applicationAuthMethods = append(slices.Clone(clientAuthMethods), "none")

// authorizeParams are the authorization request's parameters that are sent at most once: those
// of OIDC Core §3.1.2.1 and RFC 7636, whether Gatehouse acts on them or ignores them (display,
// ui_locales, claims_locales, claims), the response mode, and Gatehouse's routing hints.
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "response_mode",
	"display", "prompt", "max_age", "ui_locales", "claims_locales", "id_token_hint", "login_hint", "acr_values", "claims",
	"request", "request_uri", "registration", "code_challenge", "code_challenge_method", "connection", "domain_hint"}

// authorize is GET and POST /oauth/authorize (OIDC Core §3.1.2.1: both methods, the same
// parameters).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q, ok := browserParams(w, r, "Sign-in request is invalid")
	if !ok {
		return
	}
	// A POST from another site carries no SameSite=Lax cookie: a sign-in started from it
	// could not adopt the browser's sign-in cookie and would give the browser one more, a
	// cookie for each such sign-in. The browser sends it once more from Gatehouse's own page
	// (the form_post page, aimed at this endpoint): a same-origin POST, which carries the
	// cookies. Browsers name the site of a request (Sec-Fetch-Site); other clients are not
	// bounced, nor is a request with a sign-in cookie.
	browser := s.svc.SignInBrowser(webpage.Cookies(r))
	if r.Method == http.MethodPost && r.Header.Get("Sec-Fetch-Site") == "cross-site" && !browser.HasCookie() {
		webpage.Answer(w, r, &provision.Answer{RedirectURI: s.issuer + "/oauth/authorize", Params: q, Mode: provision.ResponseModeFormPost})
		return
	}
	// Repeated parameters are an error (RFC 6749 §3.1), those Gatehouse reads or OIDC Core
	// defines; any other is ignored, repeated or not (repeatedParam). A repeated client_id or
	// redirect_uri leaves no redirect_uri to trust, so the page says so; any other is an
	// invalid_request redirect once the client and redirect_uri are known
	// (provision.Authorize).
	repeated := repeatedParam(q, authorizeParams)
	if len(q["client_id"]) > 1 || len(q["redirect_uri"]) > 1 {
		which := "client_id"
		if len(q["client_id"]) < 2 {
			which = "redirect_uri"
		}
		webpage.Write(w, http.StatusBadRequest, "Sign-in request is invalid", "The parameter "+which+" is repeated.", webpage.RequestID(w))
		return
	}
	req := provision.AuthorizeRequest{Repeated: repeated, ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"),
		ResponseType: q.Get("response_type"), Scope: q.Get("scope"), State: q.Get("state"), Nonce: q.Get("nonce"),
		CodeChallenge: q.Get("code_challenge"), CodeChallengeMethod: q.Get("code_challenge_method"),
		Connection: q.Get("connection"), LoginHint: q.Get("login_hint"), DomainHint: q.Get("domain_hint"),
		Prompt: q.Get("prompt"), MaxAge: q.Get("max_age"), ACRValues: q.Get("acr_values"), Request: q.Get("request"), RequestURI: q.Get("request_uri"),
		ResponseMode: q.Get("response_mode"), RequestID: webpage.RequestID(w)}
	if len(q["response_mode"]) > 1 { // repeated, so refused: by redirect, the default mode
		req.ResponseMode = ""
	}
	if raw := q.Get("id_token_hint"); raw != "" {
		req.IDTokenHint = s.idTokenHint(r, raw)
		req.IDTokenHintInvalid = req.IDTokenHint == nil
	}
	req.Browser = browser
	res, err := s.svc.Authorize(r.Context(), req)
	if models.ErrorCode(err) == models.EUNAVAILABLE {
		// The application could not be read, so its redirect_uri cannot be trusted with an
		// error answer: a page, which the person reloads once the database answers.
		s.log.WarnContext(r.Context(), "authorize: database unavailable", "request_id", req.RequestID, "err", err)
		webpage.SignInUnavailable(w)
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "authorize", "request_id", req.RequestID, "err", err)
		webpage.Write(w, http.StatusInternalServerError, "Sign-in failed", "Gatehouse could not process the sign-in request.", req.RequestID)
		return
	}
	switch res.Kind {
	case provision.AuthorizeBadClient:
		webpage.Write(w, http.StatusBadRequest, "Sign-in request is invalid", res.Message, req.RequestID)
	case provision.AuthorizeEmailPage:
		s.emailPage(w, q, res.Message, req.LoginHint)
	case provision.AuthorizeRedirect:
		webpage.Answer(w, r, res.Answer)
	case provision.AuthorizeUpstream:
		st := res.Start
		up := s.upstreams[st.Connection.Protocol]
		if up == nil {
			// A protocol whose sign-in server.go did not register (SetUpstream) cannot sign
			// anyone in.
			webpage.Answer(w, r, s.svc.ErrorAnswer(st.Flow, "server_error", "SAML sign-in is not available"))
			return
		}
		webpage.SetSignInCookie(w, st, s.svc.SecureCookies())
		w.Header().Set("Cache-Control", "no-store")
		up.StartSignIn(w, r, st)
	}
}

// truncateString bounds text echoed on a page.
func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

var emailTemplate = template.Must(template.New("email").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in</title></head>
<body>
<main>
<h1>Sign in with your work email</h1>
{{if .Message}}<p role="alert">{{.Message}}</p>{{end}}
<form method="post" action="{{.Action}}">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<label>Work email <input type="email" name="login_hint" value="{{.Email}}" required autocomplete="email" autofocus></label>
<button type="submit">Continue</button>
</form>
</main>
</body></html>
`))

type hiddenField struct{ Name, Value string }

// emailPageCarries are the authorization request's parameters the email page's form repeats:
// those of authorizeParams that authorize reads, but the routing hints, which the form's email
// replaces (TestEmailPageCarriesWhatAuthorizeReads keeps the two lists in step).
var emailPageCarries = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
	"code_challenge_method", "prompt", "max_age", "acr_values", "id_token_hint", "response_mode"}

// emailPage asks for the work email; the form repeats the authorize request with login_hint,
// by POST: the request's parameters (an id_token_hint, the state) stay out of the URL, the
// history and the logs, whichever method brought them.
func (s *Server) emailPage(w http.ResponseWriter, q map[string][]string, message, email string) {
	var hidden []hiddenField
	for _, k := range emailPageCarries {
		if v := q[k]; len(v) == 1 && v[0] != "" {
			hidden = append(hidden, hiddenField{k, v[0]})
		}
	}
	// No form-action: browsers apply it to the redirects that follow the submission too, and
	// the authorization endpoint redirects to the identity provider (or the application). The
	// form's one action is the issuer's endpoint, fixed by the template.
	webpage.Headers(w, "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	// The authorization endpoint as discovery names it: behind a proxy that serves Gatehouse
	// under a path, a root-relative action would miss it.
	_ = emailTemplate.Execute(w, map[string]any{"Action": s.issuer + "/oauth/authorize", "Hidden": hidden, "Message": message,
		"Email": truncateString(email, 320)})
}

// idTokenClaims are the id_token's claims (OIDC Core §2) with Gatehouse's own.
type idTokenClaims struct {
	jwt.Claims
	AuthTime int64  `json:"auth_time"`
	Nonce    string `json:"nonce,omitempty"`
	provision.IDClaims
}

// userAccessClaims are the claims of an access token issued to an application for a person:
// its audience is the userinfo endpoint only, so it is never an API token.
type userAccessClaims struct {
	jwt.Claims
	ClientID    string `json:"client_id"`
	Scope       string `json:"scope"`
	WorkspaceID string `json:"workspace_id"`
}

// authorizationCode is the authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.5).
func (s *Server) authorizationCode(r *http.Request, tr tokenRequest) (*tokenResponse, *tokenError) {
	if tr.form.Get("code") == "" {
		return nil, &tokenError{status: http.StatusBadRequest, Code: "invalid_request", Desc: "code is required"}
	}
	red, err := s.svc.RedeemCode(r.Context(), provision.CodeRedemption{ClientID: tr.clientID, ClientSecret: tr.clientSecret,
		Code: tr.form.Get("code"), RedirectURI: tr.form.Get("redirect_uri"), CodeVerifier: tr.form.Get("code_verifier"),
		Ready: func(ctx context.Context, alg models.IDTokenAlg) error {
			_, _, err := s.keys.signers(ctx, alg)
			return err
		}})
	switch {
	case errors.Is(err, provision.ErrInvalidClient):
		return nil, tr.invalidApplication()
	case errors.Is(err, provision.ErrInvalidGrant):
		return nil, &tokenError{status: http.StatusBadRequest, Code: "invalid_grant", Desc: strings.TrimPrefix(err.Error(), provision.ErrInvalidGrant.Error()+": ")}
	case err != nil:
		return nil, s.serverFailure(r, "token: redeem code", err)
	}
	g, now := red.Grant, s.now()
	sub := g.UserAccountID.String()
	at := userAccessClaims{
		Claims: jwt.Claims{Issuer: s.issuer, Subject: sub, Audience: jwt.Audience{s.issuer + "/oauth/userinfo"},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(TokenLifetime)), ID: g.ID.String()},
		ClientID: g.ClientID, Scope: g.Scope, WorkspaceID: g.WorkspaceID.String(),
	}
	idt := idTokenClaims{
		Claims: jwt.Claims{Issuer: s.issuer, Subject: sub, Audience: jwt.Audience{g.ClientID},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(TokenLifetime))},
		AuthTime: g.AuthTime.Unix(), Nonce: g.Nonce, IDClaims: red.Claims,
	}
	signer, idSigner, err := s.keys.signers(r.Context(), red.IDTokenAlg)
	if err != nil {
		return nil, s.serverFailure(r, "token: signing keys", err)
	}
	access, err1 := signer.sign(at)
	id, err2 := idSigner.sign(idt)
	if err := errors.Join(err1, err2); err != nil {
		s.log.ErrorContext(r.Context(), "token: sign", "err", err)
		return nil, &tokenError{status: http.StatusInternalServerError, Code: "server_error"}
	}
	return &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(TokenLifetime.Seconds()),
		Scope: g.Scope, IDToken: id}, nil
}

// userinfo is the UserInfo endpoint (OIDC Core §5.3), GET or POST with the bearer token. Its
// answers, the person's data or a refusal, are never stored: no-store, and Pragma for HTTP/1.0
// caches, as the token endpoint's (RFC 6749 §5.1).
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, tokenError{Code: "invalid_request"})
		return
	}
	deny := func(code, desc string) {
		w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+desc+`"`)
		writeJSON(w, http.StatusUnauthorized, tokenError{Code: code, Desc: desc})
	}
	authz := r.Header.Get("Authorization")
	scheme, raw, _ := strings.Cut(authz, " ")
	raw = strings.TrimSpace(raw)
	switch {
	case authz == "" || !strings.EqualFold(scheme, "Bearer"):
		// No bearer credentials: none, or another scheme's (Basic), an authentication method
		// the endpoint does not take. The challenge names no error (RFC 6750 §3.1).
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		writeJSON(w, http.StatusUnauthorized, tokenError{Code: "invalid_token", Desc: "a bearer access token is required"})
		return
	case raw == "":
		// "Bearer" and no token: a malformed request (RFC 6750 §3.1: invalid_request, 400).
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request", error_description="the Authorization header has no token"`)
		writeJSON(w, http.StatusBadRequest, tokenError{Code: "invalid_request", Desc: "the Authorization header has no token"})
		return
	case len(raw) > 4096:
		deny("invalid_token", "the access token is invalid or expired")
		return
	}
	c, ok := s.verifyUserToken(r, raw)
	if !ok {
		deny("invalid_token", "the access token is invalid or expired")
		return
	}
	ws, err1 := uuid.Parse(c.WorkspaceID)
	gid, err2 := uuid.Parse(c.ID)
	if err1 != nil || err2 != nil {
		deny("invalid_token", "the access token is invalid or expired")
		return
	}
	info, err := s.svc.UserInfoOf(r.Context(), ws, gid)
	switch {
	case errors.Is(err, provision.ErrGrantRevoked):
		deny("invalid_token", "the access token is revoked")
		return
	case err != nil:
		s.writeServerError(w, r, "userinfo", err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// maxIDTokenHint bounds an id_token_hint: Gatehouse's id_tokens are well under 2 KiB.
const maxIDTokenHint = 8 << 10

// idTokenHint verifies an id_token_hint (OIDC Core §3.1.2.1): an id_token Gatehouse signed
// (ES256 or RS256, a published key, typ JWT: never an access token) with its issuer. It may have
// expired: an application sends the last one it has. Nil: it is not one. Whether it was issued
// to the requesting application is provision's to check.
func (s *Server) idTokenHint(r *http.Request, raw string) *provision.IDTokenHint {
	if len(raw) > maxIDTokenHint {
		return nil
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(tok.Headers) != 1 || tok.Headers[0].ExtraHeaders[jose.HeaderType] != "JWT" {
		return nil
	}
	// The key of the kid, whose algorithm go-jose holds to the header's: an RS256 header with
	// an ES256 key's kid fails.
	key := s.keys.idTokenKey(r.Context(), tok.Headers[0].KeyID)
	if key == nil {
		return nil
	}
	var c idTokenClaims
	if err := tok.Claims(key, &c); err != nil || c.Issuer != s.issuer {
		return nil
	}
	h := &provision.IDTokenHint{Subject: c.Subject, Audience: c.Audience, WorkspaceID: c.WorkspaceID,
		Connection: c.Connection, Email: c.Email}
	if c.IssuedAt != nil {
		h.IssuedAt = c.IssuedAt.Time()
	}
	return h
}

func (s *Server) verifyUserToken(r *http.Request, raw string) (*userAccessClaims, bool) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, false
	}
	key := s.keys.publicKey(r.Context(), tok.Headers[0].KeyID)
	if key == nil {
		return nil, false
	}
	var c userAccessClaims
	if err := tok.Claims(key, &c); err != nil {
		return nil, false
	}
	exp := jwt.Expected{Issuer: s.issuer, AnyAudience: jwt.Audience{s.issuer + "/oauth/userinfo"}, Time: s.now()}
	if err := c.ValidateWithLeeway(exp, leeway); err != nil || c.Expiry == nil {
		return nil, false
	}
	return &c, true
}
