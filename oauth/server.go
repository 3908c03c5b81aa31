package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"gatehouse/cache"
	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/route"
	"gatehouse/store"
	"gatehouse/telemetry"
)

// TokenLifetime is how long an access token is valid.
const TokenLifetime = time.Hour

// leeway tolerates clock skew between replicas when checking exp, nbf and iat.
const leeway = 30 * time.Second

// MaxTokenRequestBytes bounds a token request body.
const MaxTokenRequestBytes = 16 << 10

// Server is the OAuth surface.
type Server struct {
	svc    *provision.Service
	keys   *keySet
	issuer string
	log    *slog.Logger
	now    func() time.Time

	verified *cache.Cache[string, verifiedToken] // by raw token, until it expires
	metrics  *telemetry.Metrics                  // nil counts nothing
	// grants are the token endpoint's grant handlers by grant_type.
	grants map[string]grantHandler
	// upstreams start the identity provider's side of a browser sign-in, by protocol.
	upstreams map[models.Protocol]Upstream
}

// verifiedToken is what a verified access token says.
type verifiedToken struct {
	clientID  string
	workspace uuid.UUID
	scopes    []string
	expires   time.Time // exp plus leeway: when the cache entry ends
	jti       uuid.UUID
	exp, iat  time.Time
	kid       string // the key that signed it: once unpublished, the token no longer verifies
}

// maxVerifiedTokens bounds the cache of verified tokens: past it, the least recently used
// are verified again.
const maxVerifiedTokens = 10_000

// New loads (or creates) the signing keys and returns the OAuth server. issuer is the public
// base URL (GATEHOUSE_PUBLIC_URL); it is the tokens' iss and aud.
func New(ctx context.Context, svc *provision.Service, issuer string, log *slog.Logger) (*Server, error) {
	ks, err := newKeySet(ctx, svc, log)
	if err != nil {
		return nil, err
	}
	srv := &Server{svc: svc, keys: ks, issuer: strings.TrimRight(issuer, "/"), log: log, now: svc.Clock().Now,
		verified: cache.New[string, verifiedToken](svc.Caches(), "verified_tokens",
			cache.Options{MaxEntries: maxVerifiedTokens, Clock: svc.Clock()}),
		upstreams: map[models.Protocol]Upstream{}}
	srv.grants = map[string]grantHandler{
		"client_credentials": srv.clientCredentials,
		"authorization_code": srv.authorizationCode,
	}
	return srv, nil
}

// Register mounts the OAuth endpoints.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/oauth/token", cors(s.token))
	mux.HandleFunc("GET /.well-known/jwks.json", cors(s.jwks))
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", cors(s.metadata))
	mux.HandleFunc("/oauth/introspect", s.introspect)
	mux.HandleFunc("/oauth/revoke", cors(s.revoke)) // a PUBLIC application revokes its token on sign-out (RFC 7009 §2)
	s.registerProvider(mux)
	// Every other path and method under /oauth and /.well-known, and those roots themselves,
	// answer in RFC 6749's error shape, where the mux would answer in plain text (a 404, or a
	// 405 for POST to the key set) or redirect /oauth to /oauth/ with an HTML body.
	fallback := []string{"/oauth/", "/oauth", "/.well-known/", "/.well-known"}
	for _, pattern := range fallback {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if allow := route.Allowed(mux, r, fallback...); len(allow) > 0 {
				w.Header().Set("Allow", strings.Join(allow, ", "))
				writeJSON(w, http.StatusMethodNotAllowed, tokenError{Code: "invalid_request",
					Desc: r.Method + " is not allowed on " + r.URL.Path + ": use " + strings.Join(allow, " or ")})
				return
			}
			writeJSON(w, http.StatusNotFound, tokenError{Code: "invalid_request", Desc: "no such endpoint: " + r.Method + " " + r.URL.Path})
		})
	}
}

// accessClaims are the claims of an access token.
type accessClaims struct {
	jwt.Claims
	ClientID    string `json:"client_id"`
	Scope       string `json:"scope"`
	WorkspaceID string `json:"workspace_id"`
}

// tokenError is an RFC 6749 §5.2 error response.
type tokenError struct {
	status int
	Code   string `json:"error"`
	Desc   string `json:"error_description,omitempty"`
	basic  bool
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, tokenError{Code: "invalid_request", Desc: "the token endpoint accepts POST only"})
		return
	}
	resp, terr := s.issue(r)
	s.count(r, terr)
	if terr != nil {
		writeTokenError(w, terr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	IDToken     string `json:"id_token,omitempty"`
}

func badRequest(desc string) *tokenError {
	return &tokenError{status: http.StatusBadRequest, Code: "invalid_request", Desc: desc}
}

func (s *Server) issue(r *http.Request) (*tokenResponse, *tokenError) {
	form, terr := readForm(r)
	if terr != nil {
		return nil, terr
	}
	grant := form.Get("grant_type")
	if grant == "" {
		return nil, badRequest("grant_type is required")
	}
	id, sec, basic, terr := clientCredentialsOf(r, form)
	if terr != nil {
		return nil, terr
	}
	h, ok := s.grants[grant]
	if !ok {
		return nil, &tokenError{status: http.StatusBadRequest, Code: "unsupported_grant_type",
			Desc: "supported grants: client_credentials, authorization_code"}
	}
	tr := tokenRequest{form: form, clientID: id, clientSecret: sec, basic: basic}
	resp, terr := h(r, tr)
	if terr != nil && terr.Code == "invalid_client" && s.clientOfOtherGrant(r, grant, tr) {
		return nil, &tokenError{status: http.StatusBadRequest, Code: "unauthorized_client", Desc: otherGrantHint(grant)}
	}
	return resp, terr
}

// clientOfOtherGrant reports whether a request the grant refused as invalid_client carries the
// valid credentials of the other kind of client: an application (a brand's OpenID Provider
// client) asking for client_credentials, or an integration client presenting an authorization
// code. RFC 6749 §5.2 calls that unauthorized_client, and saying so tells a developer who
// mixed up the two credentials what is wrong. Only a refusal pays for the second check.
func (s *Server) clientOfOtherGrant(r *http.Request, grant string, tr tokenRequest) bool {
	if tr.clientID == "" {
		return false
	}
	if provision.IsApplicationClientID(tr.clientID) {
		return grant != "authorization_code" && s.isApplication(r, tr)
	}
	if grant == "client_credentials" || tr.clientSecret == "" {
		return false
	}
	_, err := s.svc.AuthenticateClient(r.Context(), tr.clientID, tr.clientSecret)
	return err == nil
}

func otherGrantHint(grant string) string {
	if grant == "client_credentials" {
		return "this client is an application: it signs people in with the authorization_code grant; client_credentials is for integration clients"
	}
	return "this client is an integration client: it uses the client_credentials grant; authorization codes are redeemed by the application they were issued to"
}

// tokenRequest is a parsed token request: its form and the client credentials it carries
// (HTTP Basic or form; the secret is "" when none was sent).
type tokenRequest struct {
	form                   url.Values
	clientID, clientSecret string
	basic                  bool
}

// invalidApplication is the refusal of an application's failed client authentication: 401
// invalid_client, with a Basic challenge when the client tried Basic (RFC 6749 §5.2) or sent
// no secret at all, to name the authentication it lacks, as an integration client without
// credentials is told (authenticateClient). A wrong secret in the form is answered as an
// integration client's is, without one: the client knows its method, and RFC 6749 asks the
// challenge only of Basic.
func (tr tokenRequest) invalidApplication() *tokenError {
	return &tokenError{status: http.StatusUnauthorized, Code: "invalid_client", Desc: "client authentication failed", basic: tr.basic || tr.clientSecret == ""}
}

// grantHandler issues the tokens of one grant type. Each grant is its own handler (fosite's
// idea): a new grant never edits the endpoint.
type grantHandler func(r *http.Request, tr tokenRequest) (*tokenResponse, *tokenError)

// clientCredentials is the client-credentials grant (RFC 6749 §4.4) of integration clients.
func (s *Server) clientCredentials(r *http.Request, tr tokenRequest) (*tokenResponse, *tokenError) {
	form := tr.form
	client, terr := s.authenticateClient(r, tr)
	if terr != nil {
		return nil, terr
	}
	scopes, err := provision.GrantScopes(client, form.Get("scope"))
	if err != nil {
		return nil, &tokenError{status: http.StatusBadRequest, Code: "invalid_scope", Desc: "scope " + valueOf(err) + " " + models.PublicMessage(err)}
	}
	now := s.now()
	scope := strings.Join(scopes, " ")
	claims := accessClaims{
		Claims: jwt.Claims{Issuer: s.issuer, Subject: client.ClientID, Audience: jwt.Audience{s.issuer},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(TokenLifetime)), ID: store.NewID().String()},
		ClientID: client.ClientID, Scope: scope, WorkspaceID: client.WorkspaceID.String(),
	}
	signer := s.keys.accessSigner()
	var payload [320]byte // the claims of a token with every scope fit
	tok, err := signer.signPayload(claims.appendJSON(payload[:0]))
	if err != nil {
		s.log.ErrorContext(r.Context(), "token: sign", "err", err)
		return nil, &tokenError{status: http.StatusInternalServerError, Code: "server_error"}
	}
	return &tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(TokenLifetime.Seconds()), Scope: scope}, nil
}

func valueOf(err error) string {
	var e *models.Error
	if errors.As(err, &e) && e.Value != nil {
		return *e.Value
	}
	return ""
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	set := s.keys.published()
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, set)
}

// metadata is the authorization server metadata (RFC 8414): the OpenID Provider's, with the
// client-credentials grant, the integration clients' scopes and introspection added.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	m := s.providerMetadata()
	m["grant_types_supported"] = []string{"client_credentials", "authorization_code"}
	m["scopes_supported"] = append(slices.Clone(provision.OIDCScopes), models.AllScopes...)
	// RFC 7662 (introspect.go): integration clients only.
	m["introspection_endpoint"] = s.issuer + "/oauth/introspect"
	m["introspection_endpoint_auth_methods_supported"] = clientAuthMethods
	w.Header().Set("Cache-Control", "public, max-age=300") // as the discovery document (provider.go)
	writeJSON(w, http.StatusOK, m)
}

// Authenticate verifies the request's bearer token (signature, issuer, audience, time) and
// returns the caller, refusing revoked tokens and tokens of revoked clients. A refusal is a
// models.Error with code EUNAUTHENTICATED and a message safe to show; any other error is a
// server fault.
func (s *Server) Authenticate(r *http.Request) (*provision.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, models.Errorf(models.EUNAUTHENTICATED, "an access token is required (Authorization: Bearer <token>)")
	}
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, models.Errorf(models.EUNAUTHENTICATED, "the Authorization header must be \"Bearer <access token>\"")
	}
	return s.Verify(r.Context(), strings.TrimSpace(raw))
}

// Verify checks an access token and returns its caller. A token whose signature was already
// verified is remembered until it expires (an ES256 verification costs ~90 µs here, more than
// the rest of a small GraphQL request); the revocation checks (token and client, each cached
// for seconds) run on every call.
func (s *Server) Verify(ctx context.Context, raw string) (*provision.Principal, error) {
	v, ok := s.verifySignature(ctx, raw)
	if !ok {
		return nil, models.Errorf(models.EUNAUTHENTICATED, "the access token is invalid or expired")
	}
	return s.principal(ctx, v)
}

// verifySignature checks an access token's signature, issuer, audience and time, without
// asking whether it or its client has been revoked.
func (s *Server) verifySignature(ctx context.Context, raw string) (verifiedToken, bool) {
	if len(raw) > 4096 {
		return verifiedToken{}, false
	}
	if v, ok := s.verified.Get(raw); ok && s.keys.publishes(v.kid) {
		return v, true
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return verifiedToken{}, false
	}
	key := s.keys.publicKey(ctx, tok.Headers[0].KeyID)
	if key == nil {
		return verifiedToken{}, false
	}
	var c accessClaims
	if err := tok.Claims(key, &c); err != nil {
		return verifiedToken{}, false
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: s.issuer, AnyAudience: jwt.Audience{s.issuer}, Time: s.now()}, leeway); err != nil {
		return verifiedToken{}, false
	}
	ws, err := uuid.Parse(c.WorkspaceID)
	if err != nil || c.Subject == "" || c.Expiry == nil || c.IssuedAt == nil {
		return verifiedToken{}, false
	}
	jti, err := uuid.Parse(c.ID) // every token we issue has one; revocation needs it
	if err != nil {
		return verifiedToken{}, false
	}
	v := verifiedToken{clientID: c.Subject, workspace: ws, scopes: models.SplitScopes(c.Scope),
		expires: c.Expiry.Time().Add(leeway), jti: jti, exp: c.Expiry.Time(), iat: c.IssuedAt.Time(), kid: tok.Headers[0].KeyID}
	s.verified.SetUntil(raw, v, v.expires)
	return v, true
}

// principal is the caller a verified token stands for, refusing revoked tokens and tokens
// of revoked clients.
func (s *Server) principal(ctx context.Context, v verifiedToken) (*provision.Principal, error) {
	if err := s.svc.CheckTokenRevoked(ctx, v.jti); err != nil {
		return nil, err
	}
	return s.svc.Authenticate(ctx, v.clientID, v.workspace, v.scopes)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
