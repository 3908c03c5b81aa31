package provision

import (
	"context"
	"crypto"
	"crypto/x509"

	"gatehouse/models"
)

// Remote is what provision needs from outside the process: checks that reach an identity
// provider or a domain over the network, and SAML metadata rendering. server.go injects the
// sso package's implementation, whose HTTP client is SSRF-guarded; provision itself never
// touches the network. Every method must respect ctx's deadline.
type Remote interface {
	// TestOIDC checks discovery and JWKS of an OIDC identity provider.
	TestOIDC(ctx context.Context, t OIDCTarget) TestReport
	// TestSAML checks a SAML identity provider's certificate, SSO URL and metadata URL, and
	// hands the metadata it read to the caller's rules (TestReport.SAMLMetadata).
	TestSAML(ctx context.Context, t SAMLTarget) TestReport
	// LookupTXT returns the TXT records at name; a name with no records is not an error.
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// SAMLMetadata fetches a SAML IdP's metadata document and reads its entity ID and its
	// signing certificates. The error says, in words for an admin, what is wrong.
	SAMLMetadata(ctx context.Context, url string) (SAMLMetadata, error)
	// ReadSAMLMetadata reads a SAML IdP's metadata document given as text, like SAMLMetadata.
	ReadSAMLMetadata(doc string) (SAMLMetadata, error)
	// FetchFile returns the (small) body of an https URL.
	FetchFile(ctx context.Context, url string) (string, error)
	// SPMetadataXML renders the service provider's SAML metadata, listing every key: the
	// current one for signing and encryption, a next or previous one beside it.
	SPMetadataXML(keys SPKeys, entityID, acsURL string) (string, error)
}

// OIDCTarget is what a connection test needs of an OIDC connection.
type OIDCTarget struct {
	IssuerURL    string
	DiscoveryURL string // empty: IssuerURL + /.well-known/openid-configuration
	// ClientID, ClientAuthMethod, ClientSecret (decrypted; "" on private_key_jwt) and Keys
	// (the relying-party keys; nil on the client secret) authenticate the test's token request
	// as a sign-in's code exchange does; RedirectURL is the connection's redirect URI. The test
	// also checks that the IdP says it takes the method.
	ClientID         string
	ClientAuthMethod models.ClientAuthMethod
	ClientSecret     string
	Keys             *SPKeys
	RedirectURL      string
}

// SAMLTarget is what a connection test needs of a SAML connection.
type SAMLTarget struct {
	EntityID    string
	SSOURL      string
	Certificate string // PEM
	MetadataURL string // optional
}

// TestReport is the outcome of a connection test. Each *Valid field is set for the checks that
// apply to the protocol; Problems lists every failed check in plain words.
type TestReport struct {
	Success          bool
	DiscoveryValid   *bool
	JWKSValid        *bool
	CertificateValid *bool
	SSOURLValid      *bool
	MetadataValid    *bool
	// ClientAuthenticationValid: the IdP's token endpoint took the OIDC connection's client
	// authentication (true), refused it (false), or did not say (nil).
	ClientAuthenticationValid *bool
	// SAMLMetadata is what the SAML test read of the metadata (nil: it read none), for the
	// rules TestConnection applies to it (ssoBindingProblem, followsMetadata); not shown.
	// SAMLMetadataProblem, when set, says why a certificate refresh could take nothing of it
	// (a certificate that does not parse): SAMLMetadata then holds only its entity ID and
	// SingleSignOnServices.
	SAMLMetadata        *SAMLMetadata
	SAMLMetadataProblem string
	LatencyMs           int64
	Problems            []string
	// Warnings are what an admin should change although the connection works
	// (connectionWarnings): they fail nothing.
	Warnings []string
}

// SPKeyPair is the SAML service provider's signing key and certificate.
type SPKeyPair struct {
	Key         crypto.Signer
	Certificate *x509.Certificate
}
