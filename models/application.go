package models

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ApplicationType tells a confidential application (it has a client secret) from a public one
// (a browser or native app that cannot keep a secret and must use PKCE).
type ApplicationType string

const (
	ApplicationConfidential ApplicationType = "confidential"
	ApplicationPublic       ApplicationType = "public"
)

// The algorithms an application's id_tokens may be signed with (its id_token_signed_response_alg,
// OpenID Connect Dynamic Client Registration §2). ES256 is Gatehouse's default; RS256 is the
// algorithm every relying party supports (OpenID Connect Core §15.1, Discovery §3), and the
// default of libraries such as openid-client 5 (NextAuth) and Spring Security.
type IDTokenAlg string

const (
	IDTokenES256 IDTokenAlg = "ES256"
	IDTokenRS256 IDTokenAlg = "RS256"
)

// IDTokenSigningAlgs are the id_token signing algorithms, the default first.
var IDTokenSigningAlgs = []IDTokenAlg{IDTokenES256, IDTokenRS256}

// MarshalGQL writes the algorithm as a GraphQL enum value (ES256, RS256).
func (a IDTokenAlg) MarshalGQL(w io.Writer) { fmt.Fprintf(w, "%q", string(a)) }

// UnmarshalGQL reads a GraphQL enum value.
func (a *IDTokenAlg) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok || !slices.Contains(IDTokenSigningAlgs, IDTokenAlg(s)) {
		return fmt.Errorf("%v is not a valid IdTokenSigningAlgorithm", v)
	}
	*a = IDTokenAlg(s)
	return nil
}

// MaxRedirectURIs bounds an application's registered redirect URIs.
const MaxRedirectURIs = 20

// Application is an OAuth authorization-code client of a brand's web application: people sign
// in to it through Gatehouse, the OpenID Provider. Only a hash of its secret is stored.
type Application struct {
	ID          uuid.UUID       `gorm:"primaryKey" api:"-"`
	WorkspaceID uuid.UUID       `api:"-"`
	BrandID     uuid.UUID       `api:"brandId"`
	ClientID    string          `api:"clientId"`
	Name        string          `api:"name"`
	Type        ApplicationType `api:"type"`
	SecretHash  string          `api:"clientSecret"` // empty for public applications
	// RedirectURIsJSON is the JSON array of the registered redirect URIs, in the order given.
	RedirectURIsJSON string `gorm:"column:redirect_uris" api:"redirectUris"`
	// PostLogoutRedirectURIsJSON is the JSON array of the URIs a sign-out may return to
	// (OpenID Connect RP-Initiated Logout §3), in the order given; none by default.
	PostLogoutRedirectURIsJSON string `gorm:"column:post_logout_redirect_uris" api:"postLogoutRedirectUris"`
	// IDTokenSignedResponseAlg signs its id_tokens: IDTokenES256 or IDTokenRS256.
	IDTokenSignedResponseAlg IDTokenAlg `api:"idTokenSignedResponseAlg"`
	// RequirePKCE: a confidential application's authorization requests must carry a PKCE
	// challenge (RFC 9700 §2.1.1), as a public one's always must (UsesPKCE).
	RequirePKCE bool      `gorm:"column:require_pkce" api:"requirePkce"`
	Version     int       `api:"-"`
	CreatedAt   time.Time `api:"-"`
	UpdatedAt   time.Time `api:"-"`
}

// UsesPKCE reports whether every authorization request of the application must carry a PKCE
// challenge: always for a public one (it has no secret to prove the code is its own), and for
// a confidential one that requires it.
func (a *Application) UsesPKCE() bool { return a.Type == ApplicationPublic || a.RequirePKCE }

// RedirectURIs returns the registered redirect URIs in the order given.
func (a *Application) RedirectURIs() []string { return uriList(a.RedirectURIsJSON) }

// SetRedirectURIs stores uris (already validated).
func (a *Application) SetRedirectURIs(uris []string) { a.RedirectURIsJSON = uriListJSON(uris) }

// RegisteredRedirect reports whether uri is one of the registered redirect URIs. URIs match
// exactly, never by prefix (RFC 9700 §2.1), with the one exception RFC 8252 §7.3 requires
// ("MUST allow any port"): a PUBLIC application's http redirect URI on a loopback IP literal,
// 127.0.0.1 or [::1], matches a registered one on the same address whatever its port. A native
// app listens on the port the operating system gives it at each sign-in; the rest of the URI
// (path, query) must still be equal. "localhost" is no such URI (RFC 8252 §8.3: a name may
// resolve elsewhere, and may be listened on by another program), so it matches exactly.
func (a *Application) RegisteredRedirect(uri string) bool {
	registered := a.RedirectURIs()
	if slices.Contains(registered, uri) {
		return true
	}
	if a.Type != ApplicationPublic {
		return false
	}
	want, ok := loopbackWithoutPort(uri)
	if !ok {
		return false
	}
	for _, r := range registered {
		if got, ok := loopbackWithoutPort(r); ok && got == want {
			return true
		}
	}
	return false
}

// loopbackWithoutPort returns what of raw must match when it is an http URI on a loopback IP
// literal (127.0.0.1 or [::1]) of scheme, host, optional port, path and query alone, written
// as such (lower-case scheme, a port of digits in 1–65535): the address and what follows the
// port. Anything else is no such URI.
func loopbackWithoutPort(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") ||
		!strings.HasPrefix(raw, "http://"+u.Host) {
		return "", false
	}
	host := u.Hostname()
	if host != "127.0.0.1" && host != "::1" {
		return "", false
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return "", false
		}
	}
	return host + " " + raw[len("http://"+u.Host):], true
}

// PostLogoutRedirectURIs returns the registered post-logout redirect URIs in the order given.
func (a *Application) PostLogoutRedirectURIs() []string { return uriList(a.PostLogoutRedirectURIsJSON) }

// SetPostLogoutRedirectURIs stores uris (already validated).
func (a *Application) SetPostLogoutRedirectURIs(uris []string) {
	a.PostLogoutRedirectURIsJSON = uriListJSON(uris)
}

// RegisteredPostLogoutRedirect reports whether uri is one of the registered post-logout
// redirect URIs, matched exactly like redirect URIs.
func (a *Application) RegisteredPostLogoutRedirect(uri string) bool {
	return slices.Contains(a.PostLogoutRedirectURIs(), uri)
}

func uriList(stored string) []string {
	var out []string
	_ = json.Unmarshal([]byte(stored), &out)
	if out == nil {
		out = []string{}
	}
	return out
}

func uriListJSON(uris []string) string {
	if uris == nil {
		uris = []string{}
	}
	b, _ := json.Marshal(uris)
	return string(b)
}

// ValidRedirectURI is THE rule for an application's redirect URI: an absolute https URL
// without a fragment or user info; plain http only for loopback hosts (a developer's machine).
// Redirect URIs are compared byte for byte with what a client sends, so a URI no client could
// send or no browser could follow (a space, a wildcard host, port 99999) is refused here with
// what is wrong, not stored to fail every sign-in later. It returns the problem in words, or
// "" when the URI is acceptable.
func ValidRedirectURI(raw string) string {
	if len(raw) > 2048 {
		return "must be at most 2048 characters"
	}
	if i := strings.IndexFunc(raw, func(r rune) bool { return !uriChar(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(raw[i:])
		if unicode.IsSpace(r) {
			return "must not contain spaces or line breaks (percent-encode a space as %20)"
		}
		return fmt.Sprintf("must not contain %q: only the characters of RFC 3986 (ASCII; percent-encode the rest, "+
			"and write an international host name in punycode)", r)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "must be an absolute URL"
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "must use https (http is allowed only for loopback hosts)"
	}
	if u.Host == "" || u.Opaque != "" {
		return "must be an absolute URL with a host (https://host/path)"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not contain a fragment"
	}
	if u.User != nil {
		return "must not contain user information"
	}
	if problem := validHost(u.Hostname()); problem != "" {
		return problem
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "must have a port between 1 and 65535"
		}
	}
	for _, k := range []string{"code", "state", "error", "error_description", "iss"} {
		if u.Query().Has(k) {
			return "must not use the query parameter " + k + ": Gatehouse adds it to the answer"
		}
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			return "must use https (http is allowed only for loopback hosts)"
		}
	}
	return ""
}

// URIText reports whether raw is written with URI characters only, as a URL a browser or an
// HTTP client sends is.
func URIText(raw string) bool {
	return strings.IndexFunc(raw, func(r rune) bool { return !uriChar(r) }) < 0
}

// uriChar reports whether r may appear in a URI as written (RFC 3986 §2: unreserved,
// reserved and the percent sign).
func uriChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("-._~:/?#[]@!$&'()*+,;=%", r)
}

// validHost refuses a redirect URI's host that is neither an IP address nor a DNS name (labels
// of letters, digits, hyphens and underscores, not starting or ending with a hyphen): a
// wildcard or a typo would never match a browser's request.
func validHost(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	const problem = "must name a host by its DNS name or IP address (no wildcards)"
	if len(host) > 253 {
		return problem
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return problem
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return problem
			}
		}
	}
	return ""
}

// MarshalGQL writes the type as a GraphQL enum value (CONFIDENTIAL, PUBLIC).
func (t ApplicationType) MarshalGQL(w io.Writer) { fmt.Fprintf(w, "%q", strings.ToUpper(string(t))) }

// UnmarshalGQL reads a GraphQL enum value.
func (t *ApplicationType) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("application type must be a string")
	}
	switch ApplicationType(strings.ToLower(s)) {
	case ApplicationConfidential, ApplicationPublic:
		*t = ApplicationType(strings.ToLower(s))
		return nil
	}
	return fmt.Errorf("%q is not a valid ApplicationType", s)
}
