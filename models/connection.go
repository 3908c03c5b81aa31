package models

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"
)

// Protocol is the SSO protocol a connection speaks. Stored lower case (as REST spells it);
// GraphQL shows it upper case.
type Protocol string

const (
	ProtocolOIDC Protocol = "oidc"
	ProtocolSAML Protocol = "saml"
)

// ConnectionStatus is a connection's lifecycle state: inactive → testing → active, or error.
type ConnectionStatus string

const (
	StatusInactive ConnectionStatus = "inactive"
	StatusTesting  ConnectionStatus = "testing"
	StatusActive   ConnectionStatus = "active"
	StatusError    ConnectionStatus = "error"
)

// DefaultRole is the role of a user account nobody chose one for, and the default role of a
// new connection: the one definition of the default. The database column defaults
// (migrations 1 and 4) and UserAccount's gorm tag spell it too; a test holds them to this.
const DefaultRole = "viewer"

// Roles a connection can give to the users it provisions.
var Roles = []string{DefaultRole, "member", "admin"}

// RoleList is Roles for a message: "viewer, member, admin".
var RoleList = strings.Join(Roles, ", ")

// Connection is an identity provider configured for a workspace. Its Slug is the seed's
// authModule.
type Connection struct {
	ID          uuid.UUID        `gorm:"primaryKey" api:"-"`
	WorkspaceID uuid.UUID        `api:"-"`
	Name        string           `api:"name"`
	NameKey     string           `api:"-"`
	Slug        string           `api:"slug"`
	Protocol    Protocol         `api:"protocol"`
	Status      ConnectionStatus `api:"status"`

	OIDCIssuerURL       string `gorm:"column:oidc_issuer_url" api:"oidcConfig.issuerUrl"`
	OIDCClientID        string `gorm:"column:oidc_client_id" api:"oidcConfig.clientId"`
	OIDCClientSecretEnc []byte `gorm:"column:oidc_client_secret_enc" api:"oidcConfig.clientSecret"` // AES-GCM; never returned
	OIDCDiscoveryURL    string `gorm:"column:oidc_discovery_url" api:"oidcConfig.discoveryUrl"`
	OIDCScopes          string `gorm:"column:oidc_scopes" api:"oidcConfig.scopes"`
	// OIDCIdentifierClaim names the claim whose value is the person's identifier at the
	// connection ("" is sub): see IdentifierClaim.
	OIDCIdentifierClaim string `gorm:"column:oidc_identifier_claim" api:"oidcConfig.identifierClaim"`
	// OIDCOwnCallback: the connection's redirect URI is its own, <public URL>/sso/oidc/
	// callback/<id>, not the one every other connection shares (<public URL>/sso/oidc/
	// callback). An authorization response that arrives at another connection's redirect URI
	// (an IdP mix-up) then never reaches this connection's token endpoint, nor the other way.
	OIDCOwnCallback bool `gorm:"column:oidc_own_callback" api:"oidcConfig.ownCallback"`
	// OIDCRequireVerifiedEmail: the IdP's email is the person's only when the IdP says it
	// verified it (email_verified true). Otherwise (false, the default) it is unless the IdP
	// says it did not: Entra ID never sends email_verified, and OPs built on zitadel/oidc leave
	// it out when it is false. An email not taken is no email: it links no account, is no
	// identifier, and a JIT account gets one derived from the identifier.
	OIDCRequireVerifiedEmail bool `gorm:"column:oidc_require_verified_email" api:"oidcConfig.requireVerifiedEmail"`
	// OIDCClientAuthMethod is how Gatehouse authenticates to the IdP's token endpoint:
	// ClientAuthSecret ("" too: the client secret) or ClientAuthPrivateKeyJWT.
	OIDCClientAuthMethod string `gorm:"column:oidc_client_auth_method" api:"oidcConfig.clientAuthMethod"`

	SAMLEntityID string `gorm:"column:saml_entity_id" api:"samlConfig.entityId"`
	SAMLSSOURL   string `gorm:"column:saml_sso_url" api:"samlConfig.ssoUrl"`
	// SAMLSSOBinding is the binding Gatehouse sends AuthnRequests to SAMLSSOURL by: "" is
	// SAMLBindingRedirect; SAMLBindingPost for an IdP that offers only HTTP-POST. See SSOBinding.
	SAMLSSOBinding       string `gorm:"column:saml_sso_binding" api:"samlConfig.ssoBinding"`
	SAMLCertificate      string `gorm:"column:saml_certificate" api:"samlConfig.certificate"`
	SAMLSignRequests     bool   `gorm:"column:saml_sign_requests" api:"samlConfig.signRequests"`
	SAMLAttributeMapping string `gorm:"column:saml_attribute_mapping" api:"samlConfig.attributeMapping"` // JSON object
	SAMLMetadataURL      string `gorm:"column:saml_metadata_url" api:"samlConfig.metadataUrl"`
	// SAMLSharedEntityID: the connection is registered at its IdP as the installation-wide
	// service provider (<public URL>/saml/metadata), as every SAML connection was before
	// migration 20. Others have their own entity ID (<public URL>/saml/metadata/<id>), so
	// that an assertion issued for one connection's registration never passes another's
	// audience check. Only ever set false (samlConfig.ownEntityId), never back.
	SAMLSharedEntityID bool `gorm:"column:saml_shared_entity_id" api:"samlConfig.ownEntityId"`
	// SAMLMetadataRefresh: the IdP signing certificates are taken from SAMLMetadataURL, read
	// hourly (provision.RefreshSAMLMetadata), instead of only from an admin. SAMLMetadataCheckedAt
	// and SAMLMetadataProblem are the last read's time and what was wrong with it ("": nothing);
	// they are a report, written without a version bump, and reset when the setting changes.
	SAMLMetadataRefresh   bool       `gorm:"column:saml_metadata_refresh" api:"samlConfig.refreshCertificatesFromMetadata"`
	SAMLMetadataCheckedAt *time.Time `gorm:"column:saml_metadata_checked_at" api:"-"`
	SAMLMetadataProblem   string     `gorm:"column:saml_metadata_problem" api:"-"`
	// SAMLMetadataSSOListed: a read of the metadata since the admin last set SAMLSSOURL,
	// SAMLSSOBinding or SAMLMetadataURL listed SAMLSSOURL as a SingleSignOnService of that
	// binding. A read that no longer does then reports that the IdP moved its endpoint
	// (provision.ssoURLDrift); one that never did (a vanity alias, a load-balanced name the
	// metadata does not publish) reports nothing. A report too, written with the check.
	SAMLMetadataSSOListed bool `gorm:"column:saml_metadata_sso_listed" api:"-"`
	// SAMLAcceptSHA1: a response or assertion signed with SHA-1 (RSA-SHA1 or a SHA-1 digest)
	// is accepted. Off by default: SHA-1 is broken for collisions, and every IdP Gatehouse
	// documents signs with SHA-256 unless told otherwise (OneLogin's older connectors and
	// Lasso default to SHA-1). Migration 31 turned it on for the connections that existed.
	SAMLAcceptSHA1 bool `gorm:"column:saml_accept_sha1" api:"samlConfig.acceptSha1Signatures"`

	JITProvisioning bool   `gorm:"column:jit_provisioning" api:"jitProvisioning"`
	DefaultRole     string `gorm:"column:default_role" api:"defaultRole"`
	// JITVerifiedDomainsOnly: automatic provisioning through the connection (its
	// JITProvisioning, or a brand configuration's autoProvisionLearners) creates an account
	// only for an email the identity provider sent whose domain is verified for the
	// connection. Some identity providers authenticate people of other organisations too
	// (Google without an Internal audience; an Entra ID tenant's guests, who keep their own
	// organisation's address); this keeps them out. Off by default, as the engine's rules
	// were before it (migration 32).
	JITVerifiedDomainsOnly bool `gorm:"column:jit_verified_domains_only" api:"jitVerifiedDomainsOnly"`

	Version   int        `api:"-"`
	CreatedAt time.Time  `api:"-"`
	UpdatedAt time.Time  `api:"-"`
	DeletedAt *time.Time `api:"-"`

	// Domains are the connection's domains when loaded with it (nil: not loaded).
	Domains []*Domain `gorm:"-"`
}

// GoogleIssuer is Google's OpenID Connect issuer.
const GoogleIssuer = "https://accounts.google.com"

// IsGoogle reports whether the connection's identity provider is Google (its OIDC issuer).
func (c *Connection) IsGoogle() bool {
	return c.Protocol == ProtocolOIDC && strings.TrimSuffix(c.OIDCIssuerURL, "/") == GoogleIssuer
}

// GoogleWorkspaceDomain is the hd claim Google sends for an account of a Google Workspace
// organisation (its primary domain), trimmed; "" for a personal Google account, which has
// none. The sign-in rules that tell the two apart read it here: whether Google vouches for the
// account's email (sso), and jitVerifiedDomainsOnly (provision).
func GoogleWorkspaceDomain(claims map[string]any) string {
	hd, _ := claims["hd"].(string)
	return strings.TrimSpace(hd)
}

// OIDCConfig is the OIDC half of a connection as the API shows it (no secret).
type OIDCConfig struct {
	IssuerURL    string
	ClientID     string
	DiscoveryURL *string
	Scopes       []string
	// HasClientSecret tells an admin a secret is set without revealing it.
	HasClientSecret bool
	// IdentifierClaim is the claim the person's identifier is read from (Connection.IdentifierClaim).
	IdentifierClaim string
	// OwnCallback: the connection has its own redirect URI (Connection.OIDCOwnCallback).
	OwnCallback bool
	// RequireVerifiedEmail is Connection.OIDCRequireVerifiedEmail.
	RequireVerifiedEmail bool
	// CallbackURL is the redirect URI to register at the IdP. Set by provision (it needs the
	// public URL).
	CallbackURL string
	// ClientAuthMethod is Connection.ClientAuthMethod.
	ClientAuthMethod ClientAuthMethod
	// ClientJWKSURL is where the IdP finds Gatehouse's public keys, which sign its client
	// assertions (private_key_jwt). Set by provision (it needs the public URL).
	ClientJWKSURL string
}

// SAMLConfig is the SAML half of a connection as the API shows it.
type SAMLConfig struct {
	EntityID string
	SSOURL   string
	// SSOBinding is Connection.SSOBinding.
	SSOBinding       SAMLBinding
	Certificate      string
	SignRequests     bool
	AttributeMapping map[string]any
	MetadataURL      *string
	// OwnEntityID: the connection has its own SP entity ID (not Connection.SAMLSharedEntityID).
	OwnEntityID bool
	// SPEntityID, SPMetadataURL and ACSURL are what the admin registers at the IdP: the
	// service provider as this connection knows it. Set by provision (they need the public URL).
	SPEntityID    string
	SPMetadataURL string
	ACSURL        string
	// Certificates describe Certificate's certificates, in its order, and CertificateExpiresAt
	// is the latest of their NotAfter: after it the IdP's responses verify with none, and
	// nobody signs in through the connection. Set by provision (for administrators).
	Certificates         []SAMLCertificateInfo
	CertificateExpiresAt *time.Time
	// RefreshCertificatesFromMetadata: the certificates follow MetadataURL
	// (Connection.SAMLMetadataRefresh); MetadataCheckedAt and MetadataProblem report its last
	// read (nil and nil before the first, and whenever the refresh is off).
	RefreshCertificatesFromMetadata bool
	MetadataCheckedAt               *time.Time
	MetadataProblem                 *string
	// AcceptSHA1Signatures is Connection.SAMLAcceptSHA1.
	AcceptSHA1Signatures bool
}

// SAMLCertificateInfo describes one of a SAML connection's IdP certificates.
type SAMLCertificateInfo struct {
	// Subject is the certificate's subject, as X.509 prints it (CN=…, O=…).
	Subject string
	// FingerprintSHA256 is the SHA-256 fingerprint of the certificate (DER), lowercase hex
	// without separators.
	FingerprintSHA256   string
	NotBefore, NotAfter time.Time
}

// OIDCConfig returns the OIDC settings, or nil for a SAML connection.
func (c *Connection) OIDCConfig() *OIDCConfig {
	if c.Protocol != ProtocolOIDC {
		return nil
	}
	cfg := &OIDCConfig{IssuerURL: c.OIDCIssuerURL, ClientID: c.OIDCClientID,
		Scopes: strings.Fields(c.OIDCScopes), HasClientSecret: len(c.OIDCClientSecretEnc) > 0,
		IdentifierClaim: c.IdentifierClaim(), OwnCallback: c.OIDCOwnCallback, RequireVerifiedEmail: c.OIDCRequireVerifiedEmail,
		ClientAuthMethod: c.ClientAuthMethod()}
	if c.OIDCDiscoveryURL != "" {
		cfg.DiscoveryURL = &c.OIDCDiscoveryURL
	}
	return cfg
}

// ClientAuthMethod is how an OIDC connection authenticates to its IdP's token endpoint (OAuth
// 2.0 client authentication; OpenID Connect Core 1.0 §9).
type ClientAuthMethod string

const (
	// ClientAuthSecret sends the client secret, in the Authorization header
	// (client_secret_basic) or in the form (client_secret_post), as the IdP's discovery says.
	ClientAuthSecret ClientAuthMethod = "client_secret"
	// ClientAuthPrivateKeyJWT sends a JWT that Gatehouse signs with its relying-party key
	// (RFC 7523 §2.2), whose public half the IdP reads from Gatehouse's JWKS: no shared
	// secret to leak or to expire.
	ClientAuthPrivateKeyJWT ClientAuthMethod = "private_key_jwt"
)

// ClientAuthMethods are the methods an OIDC connection may use.
var ClientAuthMethods = []ClientAuthMethod{ClientAuthSecret, ClientAuthPrivateKeyJWT}

// ClientAuthMethod is how the OIDC connection authenticates to its IdP's token endpoint:
// ClientAuthSecret unless it was set to ClientAuthPrivateKeyJWT.
func (c *Connection) ClientAuthMethod() ClientAuthMethod {
	if c.OIDCClientAuthMethod == "" {
		return ClientAuthSecret
	}
	return ClientAuthMethod(c.OIDCClientAuthMethod)
}

// MarshalGQL writes the method as a GraphQL enum value (CLIENT_SECRET, PRIVATE_KEY_JWT).
func (m ClientAuthMethod) MarshalGQL(w io.Writer) { fmt.Fprintf(w, "%q", strings.ToUpper(string(m))) }

// UnmarshalGQL reads a GraphQL enum value.
func (m *ClientAuthMethod) UnmarshalGQL(v any) error {
	return unmarshalLowerEnum(m, v, ClientAuthMethods, "clientAuthMethod", "OidcClientAuthMethod")
}

// unmarshalLowerEnum reads into dst the GraphQL enum value v of a type whose values are stored
// in lower case (enum, the GraphQL type, names them in upper case): one of values.
func unmarshalLowerEnum[T ~string](dst *T, v any, values []T, field, enum string) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%s must be a string", field)
	}
	if want := T(strings.ToLower(s)); slices.Contains(values, want) {
		*dst = want
		return nil
	}
	return fmt.Errorf("%q is not a valid %s", s, enum)
}

// SAMLBinding is the SAML binding (SAML bindings §3) a connection's AuthnRequests are sent by.
type SAMLBinding string

const (
	// SAMLBindingRedirect sends the request in the query of a redirect (§3.4), signed over the
	// query string: every IdP offers it, and Gatehouse prefers it.
	SAMLBindingRedirect SAMLBinding = "http_redirect"
	// SAMLBindingPost sends it as a form the browser posts (§3.5), signed with an enveloped XML
	// signature: for an IdP whose metadata offers no HTTP-Redirect SingleSignOnService.
	SAMLBindingPost SAMLBinding = "http_post"
)

// SAMLBindings are the bindings a SAML connection may send AuthnRequests by.
var SAMLBindings = []SAMLBinding{SAMLBindingRedirect, SAMLBindingPost}

// SSOBinding is the binding the SAML connection sends AuthnRequests by: SAMLBindingRedirect
// unless it was set to SAMLBindingPost.
func (c *Connection) SSOBinding() SAMLBinding {
	if c.SAMLSSOBinding == "" {
		return SAMLBindingRedirect
	}
	return SAMLBinding(c.SAMLSSOBinding)
}

// MarshalGQL writes the binding as a GraphQL enum value (HTTP_REDIRECT, HTTP_POST).
func (b SAMLBinding) MarshalGQL(w io.Writer) { fmt.Fprintf(w, "%q", strings.ToUpper(string(b))) }

// UnmarshalGQL reads a GraphQL enum value.
func (b *SAMLBinding) UnmarshalGQL(v any) error {
	return unmarshalLowerEnum(b, v, SAMLBindings, "ssoBinding", "SamlBinding")
}

// DiscoveryURL is where the OIDC connection's discovery document is read: OIDCDiscoveryURL,
// else the issuer's /.well-known/openid-configuration. The document names the token endpoint
// the connection's credentials go to.
func (c *Connection) DiscoveryURL() string {
	if c.OIDCDiscoveryURL != "" {
		return c.OIDCDiscoveryURL
	}
	return strings.TrimRight(c.OIDCIssuerURL, "/") + "/.well-known/openid-configuration"
}

// IdentifierClaim is the claim of an OIDC connection's id_token (or userinfo) whose value is
// the person's identifier there, the one bindings name: sub by default, the one identifier
// every IdP keeps stable and unique. An admin who binds people ahead of time by what they know
// of them (an email or a user name, as SCIM's userName does) chooses the claim that carries
// it: preferred_username, email (used only when the IdP does not mark it unverified, and at
// Google only when Google vouches for it: sso's claimRules.emailLeftOut), or an IdP's own
// (Entra ID's oid).
func (c *Connection) IdentifierClaim() string {
	if c.OIDCIdentifierClaim == "" {
		return "sub"
	}
	return c.OIDCIdentifierClaim
}

// ValidClaimName reports whether name can name an identifier claim: 1–64 characters of
// letters, digits and _ . : - , starting with a letter or _ (every registered and common
// private claim name).
func ValidClaimName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '.' || r == ':' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// notIdentifyingClaims are claims an OIDC connection may not read as a person's identifier:
// the same for everyone at the IdP (iss, aud, azp), new in every token (nonce, jti, iat, exp,
// at_hash…), or names, flags and profile fields many people share or change at will. Read as
// the identifier, they would sign everyone in as one account, or create one per sign-in.
var notIdentifyingClaims = map[string]bool{
	"iss": true, "aud": true, "azp": true, "exp": true, "iat": true, "nbf": true, "jti": true,
	"nonce": true, "auth_time": true, "at_hash": true, "c_hash": true, "s_hash": true, "acr": true,
	"amr": true, "sid": true, "typ": true, "cnf": true,
	"name": true, "given_name": true, "family_name": true, "middle_name": true, "nickname": true,
	"picture": true, "profile": true, "website": true, "gender": true, "birthdate": true,
	"zoneinfo": true, "locale": true, "updated_at": true, "address": true,
	"email_verified": true, "phone_number_verified": true,
}

// IdentifyingClaim reports whether claim may be read as a person's identifier (it is not one
// of notIdentifyingClaims). The name's syntax is ValidClaimName's.
func IdentifyingClaim(claim string) bool { return !notIdentifyingClaims[claim] }

// Slugify derives a slug from a name: lower-case ASCII letters and digits joined by single
// hyphens ("Contoso Entra ID" → "contoso-entra-id"). Latin letters lose their accents
// ("Société Générale" → "societe-generale"; compatibility forms are folded too: "ﬁ" → "fi"),
// and the few that do not decompose are spelled out (ß → ss, æ → ae, ø → o, ł → l). Letters
// of other scripts give nothing.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	// Lower-cased after the decomposition too: a capital whose compatibility form is an ASCII
	// capital has no lower case of its own (mathematical bold 𝐀 → A, ℍ → H).
	for _, r := range strings.ToLower(norm.NFKD.String(strings.ToLower(name))) {
		if unicode.Is(unicode.Mn, r) { // an accent, decomposed off its letter
			continue
		}
		spelled, ok := latinSpelled[r]
		if !ok {
			spelled = string(r)
		}
		for _, r := range spelled {
			switch {
			case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
				dash = false
			case b.Len() > 0 && !dash:
				b.WriteByte('-')
				dash = true
			}
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// latinSpelled spells in ASCII the lower-case Latin letters that Unicode does not decompose
// into a letter and an accent.
var latinSpelled = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'đ': "d", 'ð': "d", 'ł': "l", 'þ': "th", 'ı': "i", 'ħ': "h", 'ŧ': "t",
}

// ValidSlug reports whether s is a well-formed slug: 1-64 of [a-z0-9_-], starting alphanumeric.
func ValidSlug(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '-' && r != '_') {
			return false
		}
	}
	return true
}

// MarshalGQL writes the protocol as a GraphQL enum value (OIDC, SAML).
func (p Protocol) MarshalGQL(w io.Writer) { fmt.Fprintf(w, "%q", strings.ToUpper(string(p))) }

// UnmarshalGQL reads a GraphQL enum value.
func (p *Protocol) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("protocol must be a string")
	}
	switch Protocol(strings.ToLower(s)) {
	case ProtocolOIDC, ProtocolSAML:
		*p = Protocol(strings.ToLower(s))
		return nil
	}
	return fmt.Errorf("%q is not a valid ConnectionProtocol", s)
}

// MarshalGQL writes the status as a GraphQL enum value (INACTIVE, …).
func (s ConnectionStatus) MarshalGQL(w io.Writer) { fmt.Fprintf(w, "%q", strings.ToUpper(string(s))) }

// UnmarshalGQL reads a GraphQL enum value.
func (s *ConnectionStatus) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("status must be a string")
	}
	switch ConnectionStatus(strings.ToLower(str)) {
	case StatusInactive, StatusTesting, StatusActive, StatusError:
		*s = ConnectionStatus(strings.ToLower(str))
		return nil
	}
	return fmt.Errorf("%q is not a valid ConnectionStatus", str)
}

// SlugKey is how a connection slug a caller gives (authModule, the bulk binding's items, the
// authorize request's connection) is looked up: slugs are stored lower case (ValidSlug), so
// "Okta-Main" and " okta-main " name the connection okta-main. Only ASCII letters are folded:
// a slug is ASCII, and Unicode folding would let other characters ('K', the Kelvin sign) stand
// for its letters.
func SlugKey(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, strings.TrimSpace(s))
}
