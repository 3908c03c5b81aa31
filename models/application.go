package models

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ApplicationType tells a confidential application (it has a client secret) from a public one
// (a browser or native app that cannot keep a secret and must use PKCE).
type ApplicationType string

const (
	ApplicationConfidential ApplicationType = "confidential"
	ApplicationPublic       ApplicationType = "public"
)

// MaxRedirectURIs bounds an application's registered redirect URIs.
const MaxRedirectURIs = 20

// Application is an OAuth authorization-code client of a brand's web application: people sign
// in to it through Gatehouse, the OpenID Provider. Only a hash of its secret is stored.
type Application struct {
	ID          uuid.UUID `gorm:"primaryKey"`
	WorkspaceID uuid.UUID
	BrandID     uuid.UUID
	ClientID    string
	Name        string
	Type        ApplicationType
	SecretHash  string // empty for public applications
	// RedirectURIsJSON is the JSON array of the registered redirect URIs, in the order given.
	RedirectURIsJSON string `gorm:"column:redirect_uris"`
	// PostLogoutRedirectURIsJSON is the JSON array of the URIs a sign-out may return to
	// (OpenID Connect RP-Initiated Logout §3), in the order given; none by default.
	PostLogoutRedirectURIsJSON string `gorm:"column:post_logout_redirect_uris"`
	Version                    int
	CreatedAt                  time.Time
	UpdatedAt                  time.Time
}

// RedirectURIs returns the registered redirect URIs in the order given.
func (a *Application) RedirectURIs() []string { return uriList(a.RedirectURIsJSON) }

// SetRedirectURIs stores uris (already validated).
func (a *Application) SetRedirectURIs(uris []string) { a.RedirectURIsJSON = uriListJSON(uris) }

// RegisteredRedirect reports whether uri is one of the registered redirect URIs. URIs match
// exactly, never by prefix (OAuth 2.0 Security BCP §4.1.3).
func (a *Application) RegisteredRedirect(uri string) bool {
	return slices.Contains(a.RedirectURIs(), uri)
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
// It returns the problem in words, or "" when the URI is acceptable.
func ValidRedirectURI(raw string) string {
	if len(raw) > 2048 {
		return "must be at most 2048 characters"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "must be an absolute URL"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not contain a fragment"
	}
	if u.User != nil {
		return "must not contain user information"
	}
	for _, k := range []string{"code", "state", "error", "error_description", "iss"} {
		if u.Query().Has(k) {
			return "must not use the query parameter " + k + ": Gatehouse adds it to the answer"
		}
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback() {
			return ""
		}
		return "must use https (http is allowed only for loopback hosts)"
	}
	return "must use https (http is allowed only for loopback hosts)"
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
