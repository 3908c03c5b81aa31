package sso

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- x5t, the certificate's SHA-1 thumbprint, is what Entra ID matches on
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"gatehouse/models"
	"gatehouse/provision"
)

// How an OIDC connection authenticates to its IdP's token endpoint (OAuth 2.0 §2.3, OpenID
// Connect Core §9), in one place for the sign-in's code exchange and the connection test's
// probe of the credentials.
//
// With its client secret: in the Authorization header or the form, as the discovery document
// says (tokenEndpointAuth.style).
//
// With private_key_jwt: a short-lived JWT that Gatehouse signs with its relying-party key
// (provision.RelyingPartyKeys, the SAML SP key: RSA-2048, RS256, which every IdP that takes
// private_key_jwt accepts), sent in the form with no secret (RFC 7523 §2.2). The IdP verifies
// it with the public key it read from OIDCClientJWKSPath (Okta: a JWKS URL or the key pasted) or
// was given as a certificate (Entra ID: certificate credentials, matched by x5t).

// tokenEndpointAuth is what an IdP's discovery document says of its token endpoint's client
// authentication (OpenID Connect Discovery 1.0 §3).
type tokenEndpointAuth struct {
	Methods    []string `json:"token_endpoint_auth_methods_supported"`
	Algorithms []string `json:"token_endpoint_auth_signing_alg_values_supported"`
}

// readTokenEndpointAuth reads the lists apart from the rest of the document: a list of the
// wrong type is taken as absent (an element of the wrong type as ""), and leaves the other one
// read (encoding/json goes on past a value of the wrong type).
func readTokenEndpointAuth(discovery []byte) tokenEndpointAuth {
	var a tokenEndpointAuth
	_ = json.Unmarshal(discovery, &a)
	return a
}

// style is how the client secret goes to the token endpoint: in the Authorization header
// (client_secret_basic) when the IdP lists it, in the form (client_secret_post) when it lists
// that and not basic, or lists both and the client ID or secret has characters that the header
// form-encodes first (RFC 6749 §2.3.1, which some IdPs do not decode). Without either it is
// AuthStyleAutoDetect, which exchange detects.
func (a tokenEndpointAuth) style(clientID, secret string) oauth2.AuthStyle {
	basic, post := slices.Contains(a.Methods, "client_secret_basic"), slices.Contains(a.Methods, "client_secret_post")
	encoded := url.QueryEscape(clientID) != clientID || url.QueryEscape(secret) != secret
	switch {
	case post && (!basic || encoded):
		return oauth2.AuthStyleInParams
	case basic:
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleAutoDetect
}

// methodProblems says why the IdP would not take the connection's client authentication, by
// its discovery document. The secret: it lists methods, but neither client_secret_basic nor
// client_secret_post. private_key_jwt: it does not list it (omitted, the list is
// client_secret_basic alone: OpenID Connect Discovery 1.0 §3), or lists signing algorithms
// without RS256.
func (a tokenEndpointAuth) methodProblems(method models.ClientAuthMethod) []string {
	var problems []string
	if method != models.ClientAuthPrivateKeyJWT {
		if a.Methods != nil && !slices.Contains(a.Methods, "client_secret_basic") && !slices.Contains(a.Methods, "client_secret_post") {
			problems = append(problems, fmt.Sprintf("the identity provider does not list a client secret method (its discovery document's "+
				"token_endpoint_auth_methods_supported is [%s]): it may not take a client secret; set clientAuthMethod to private_key_jwt "+
				"if it lists that", models.Clip(strings.Join(a.Methods, ", "), 256)))
		}
		return problems
	}
	if !slices.Contains(a.Methods, string(models.ClientAuthPrivateKeyJWT)) {
		methods := "not given, meaning client_secret_basic"
		if a.Methods != nil {
			methods = "[" + strings.Join(a.Methods, ", ") + "]"
		}
		problems = append(problems, fmt.Sprintf("the identity provider does not take private_key_jwt client authentication "+
			"(its discovery document's token_endpoint_auth_methods_supported is %s): set clientAuthMethod to client_secret, "+
			"or allow private_key_jwt for the client at the identity provider", models.Clip(methods, 256)))
	}
	if a.Algorithms != nil && !slices.Contains(a.Algorithms, "RS256") {
		problems = append(problems, fmt.Sprintf("the identity provider does not take RS256 client assertions (private_key_jwt), which Gatehouse signs "+
			"(token_endpoint_auth_signing_alg_values_supported is [%s])", models.Clip(strings.Join(a.Algorithms, ", "), 256)))
	}
	return problems
}

// authenticate makes cfg's token requests authenticate as connection c does: it sets the
// endpoint's AuthStyle and the client secret, or returns the parameters of a fresh client
// assertion signed with keys' current key (private_key_jwt: the client ID goes in the form
// beside it, and no secret at all, not even an empty Basic header).
func authenticate(cfg *oauth2.Config, method models.ClientAuthMethod, a tokenEndpointAuth, secret string, keys *provision.SPKeys, now time.Time) ([]oauth2.AuthCodeOption, error) {
	if method != models.ClientAuthPrivateKeyJWT {
		cfg.ClientSecret, cfg.Endpoint.AuthStyle = secret, a.style(cfg.ClientID, secret)
		return nil, nil
	}
	if keys == nil {
		return nil, errors.New("no relying-party key to sign a client assertion with")
	}
	cfg.ClientSecret, cfg.Endpoint.AuthStyle = "", oauth2.AuthStyleInParams
	return clientAssertionOptions(keys, cfg.ClientID, cfg.Endpoint.TokenURL, now)
}

// exchange redeems the IdP's code, authenticated as cfg says. Where the discovery document
// names no client secret method (AuthStyleAutoDetect), the secret goes in the Authorization
// header (client_secret_basic, the default when the list is omitted: OpenID Connect Discovery
// 1.0 §3), and again in the form only when the IdP refused it as sent (refusedAsSent); the
// style it took is kept with the discovered provider, so that the next sign-ins send the code
// once, the way that works. x/oauth2's own detection sends the code again after any failure
// (a timeout, a 5xx, invalid_grant): the IdP sees a second redemption of the code (a replay,
// RFC 6749 §4.1.2, and revokes what the first issued) and the cause reads as the second
// answer, "invalid_grant", not the first; and it remembers nothing, the configuration being
// built per sign-in.
func (p *upstream) exchange(ctx context.Context, cfg *oauth2.Config, code string, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	if cfg.Endpoint.AuthStyle != oauth2.AuthStyleAutoDetect {
		return cfg.Exchange(ctx, code, opts...)
	}
	styles := []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams}
	if oauth2.AuthStyle(p.secretStyle.Load()) == oauth2.AuthStyleInParams {
		styles[0], styles[1] = styles[1], styles[0]
	}
	var tok *oauth2.Token
	var err error
	for _, style := range styles {
		cfg.Endpoint.AuthStyle = style
		tok, err = cfg.Exchange(ctx, code, opts...)
		if !refusedAsSent(err) {
			if err == nil || errors.As(err, new(*oauth2.RetrieveError)) { // an answer, and no refusal of the client
				p.secretStyle.Store(int32(style))
			}
			return tok, err
		}
	}
	return tok, err
}

// refusedClient reports whether a token endpoint's error answer refused the client's
// authentication (invalid_client, or a 401 without an error code), not the grant: an
// authorization server authenticates the client first (RFC 6749 §3.2.1, §5.2), and one that
// refused it kept the code.
func refusedClient(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) &&
		(re.ErrorCode == "invalid_client" || re.ErrorCode == "" && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized)
}

// refusedAsSent reports whether a token endpoint's error answer refused the request as its
// client authentication was sent, leaving the code unredeemed: a refused client, or
// invalid_request (a request it did not take as made: a client_id it found missing, say, where
// it reads only the form). The other way of sending the secret may be taken.
func refusedAsSent(err error) bool {
	var re *oauth2.RetrieveError
	return refusedClient(err) || errors.As(err, &re) && re.ErrorCode == "invalid_request"
}

// checkClientAuthentication asks the IdP's token endpoint to redeem a code it never issued,
// authenticated as a sign-in's code exchange is. An authorization server authenticates the
// client before it looks at the grant (RFC 6749 §3.2.1, §5.2: invalid_client is the answer to
// a failed client authentication), so invalid_grant says the credentials were taken, and
// invalid_client or a 401 that they were not: a wrong or expired secret, or a key the IdP does
// not have, found by the connection test rather than by the first person who signs in.
// unauthorized_client (not allowed the authorization-code grant, or an unknown client at Entra
// ID) is a problem with no verdict. Any other answer says neither: nil, and no problem.
//
// Where the discovery names no secret method, the header and the form are each tried, as the
// sign-in's detection does; either taking the secret is enough, and a refused header followed
// by a form answer that says neither gives no verdict.
func (r *Remote) checkClientAuthentication(ctx context.Context, t provision.OIDCTarget, tokenURL string, a tokenEndpointAuth) (*bool, string) {
	cfg := &oauth2.Config{ClientID: t.ClientID, Endpoint: oauth2.Endpoint{TokenURL: tokenURL}, RedirectURL: t.RedirectURL}
	opts, err := authenticate(cfg, t.ClientAuthMethod, a, t.ClientSecret, t.Keys, r.o.Clock.Now())
	if err != nil {
		return nil, "client authentication: " + err.Error()
	}
	styles := []oauth2.AuthStyle{cfg.Endpoint.AuthStyle}
	if cfg.Endpoint.AuthStyle == oauth2.AuthStyleAutoDetect {
		styles = []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams}
	}
	code := make([]byte, 16)
	rand.Read(code)
	octx := context.WithValue(ctx, oauth2.HTTPClient, r.client)
	var refused *oauth2.RetrieveError
	for i, style := range styles {
		cfg.Endpoint.AuthStyle = style
		_, err := cfg.Exchange(octx, "gatehouse-connection-test-"+hex.EncodeToString(code), append(opts, oauth2.VerifierOption(oauth2.GenerateVerifier()))...)
		var re *oauth2.RetrieveError
		var ue *url.Error
		switch {
		case err == nil:
			return nil, "" // a token for a code never issued: nothing to conclude
		case errors.As(err, &ue):
			return nil, fmt.Sprintf("the token endpoint %s cannot be reached: %s", models.Clip(tokenURL, 256), describe(ctx, err))
		case !errors.As(err, &re):
			return nil, "" // an answer x/oauth2 could not read (a 2xx without a token): nothing to conclude
		case re.ErrorCode == "invalid_grant":
			// Past the client's authentication, whatever the status (some IdPs answer 401).
			return yes(), ""
		case refusedClient(err):
			refused = re
		case re.ErrorCode == "invalid_request" && i < len(styles)-1:
			// The header not taken as sent: the form says more.
			continue
		case re.ErrorCode == "unauthorized_client":
			// Authenticated but not allowed the grant (RFC 6749 §5.2), or, at Entra ID, a client
			// ID it does not know (AADSTS700016): no verdict on the credentials, but no sign-in
			// either.
			return nil, fmt.Sprintf("the identity provider answered unauthorized_client%s: it does not know client %q, or does not allow it "+
				"the authorization-code grant: check oidcConfig.clientId, and allow the grant for the client (Okta: Grant type Authorization Code; "+
				"Entra ID: a Web platform)", description(re), models.Clip(t.ClientID, 128))
		default:
			return nil, "" // an answer that does not say
		}
	}
	what := "check oidcConfig.clientId and oidcConfig.clientSecret (a client secret expires: Entra ID's after two years at most)"
	if t.ClientAuthMethod == models.ClientAuthPrivateKeyJWT {
		what = "check oidcConfig.clientId, and that Gatehouse's keys (clientJwksUrl, or its certificate) are registered for the client"
	}
	code2 := refused.ErrorCode
	if code2 == "" {
		code2 = "HTTP 401"
	}
	return no(), fmt.Sprintf("the identity provider refused Gatehouse's client authentication (%s%s): %s", code2, description(refused), what)
}

// description is an OAuth error's error_description, clipped, for a problem.
func description(re *oauth2.RetrieveError) string {
	if re.ErrorDescription == "" {
		return ""
	}
	return ": " + models.Clip(re.ErrorDescription, 256)
}

// clientAssertionType is the client_assertion_type of a JWT client assertion (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientAssertionLifetime is how long an assertion is valid: it is sent at once, and IdPs
// refuse long-lived ones (Okta: at most an hour).
const clientAssertionLifetime = 5 * time.Minute

// clientAssertionSkew is how far before now an assertion says it was issued.
const clientAssertionSkew = 30 * time.Second

// clientAssertionOptions are the token request's parameters that authenticate the client
// with a fresh assertion signed by the current relying-party key. The audience is the IdP's
// token endpoint (OpenID Connect Core 1.0 §9, what Okta and Entra ID require).
func clientAssertionOptions(keys *provision.SPKeys, clientID, tokenURL string, now time.Time) ([]oauth2.AuthCodeOption, error) {
	key, ok := keys.Current.Key.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the relying-party key is not an RSA key")
	}
	cert := keys.Current.Certificate
	kid := certificateKeyID(cert)
	sha1Sum := sha1.Sum(cert.Raw) // #nosec G401 -- a thumbprint, not a signature
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid).
		WithHeader("x5t", base64.RawURLEncoding.EncodeToString(sha1Sum[:])).
		WithHeader("x5t#S256", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		return nil, err
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	// Dated a little in the past, so that an IdP whose clock is behind Gatehouse's does not
	// find it not yet valid.
	issued := now.Add(-clientAssertionSkew)
	claims := jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{tokenURL},
		ID: hex.EncodeToString(jti), IssuedAt: jwt.NewNumericDate(issued), NotBefore: jwt.NewNumericDate(issued),
		Expiry: jwt.NewNumericDate(now.Add(clientAssertionLifetime))}
	assertion, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return nil, err
	}
	return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("client_assertion_type", clientAssertionType),
		oauth2.SetAuthURLParam("client_assertion", assertion)}, nil
}

// certificateKeyID is a relying-party key's kid: its certificate's SHA-256 thumbprint,
// base64url, which is also its x5t#S256. Stable across replicas and restarts, and new with
// each key.
func certificateKeyID(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// clientJWKS is GET /sso/oidc/jwks.json: the public relying-party keys that sign client
// assertions, each with its certificate (x5c) for IdPs that take a certificate: the current
// one, the next one of a rotation under way (published before it signs, so that IdPs which
// read the set once have it), and the previous one until it is retired (other replicas sign
// with it for up to the SP key cache's 10 seconds after a promotion). Public, as the SAML SP
// metadata is: it holds public keys only.
func (s *SignIn) clientJWKS(w http.ResponseWriter, r *http.Request) {
	keys, err := s.svc.RelyingPartyKeys(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "sso: relying party keys", "err", err)
		http.Error(w, "The keys cannot be read now; try again.", http.StatusServiceUnavailable)
		return
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, kp := range []*provision.SPKeyPair{&keys.Current, keys.Next, keys.Previous} {
		if kp == nil {
			continue
		}
		sha1Sum := sha1.Sum(kp.Certificate.Raw) // #nosec G401 -- a thumbprint
		sha256Sum := sha256.Sum256(kp.Certificate.Raw)
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: kp.Key.Public(), KeyID: certificateKeyID(kp.Certificate),
			Algorithm: string(jose.RS256), Use: "sig",
			Certificates: []*x509.Certificate{kp.Certificate}, CertificateThumbprintSHA1: sha1Sum[:],
			CertificateThumbprintSHA256: sha256Sum[:]})
	}
	body, err := json.Marshal(set)
	if err != nil {
		s.log.ErrorContext(r.Context(), "sso: relying party JWKS", "err", err)
		http.Error(w, "The keys cannot be read now; try again.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// A rotation publishes the next key ahead of its use, so a copy a few minutes old still
	// verifies every assertion; an IdP that meets an unknown kid reads the set again.
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(body)
}
