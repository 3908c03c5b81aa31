package models

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Workspace is a tenant. Every other row belongs to exactly one workspace.
type Workspace struct {
	ID        uuid.UUID `gorm:"primaryKey"`
	Name      string
	CreatedAt time.Time
}

// Scopes an integration client can hold.
const (
	ScopeGraphQL     = "graphql"      // the full GraphQL API
	ScopeGraphQLRead = "graphql:read" // GraphQL queries only
	ScopeAdmin       = "admin"        // integration clients, workspaces and the REST admin API
)

// AllScopes lists every client scope, in the order they are documented.
var AllScopes = []string{ScopeGraphQL, ScopeGraphQLRead, ScopeAdmin}

// IntegrationClient is an OAuth confidential client. Only a hash of its secret is stored.
type IntegrationClient struct {
	ID          uuid.UUID `gorm:"primaryKey"`
	WorkspaceID uuid.UUID
	ClientID    string
	Name        string
	SecretHash  string
	ScopeString string `gorm:"column:scopes"`
	// PlatformAdmin marks the bootstrap client: it may create workspaces and act across them.
	PlatformAdmin   bool
	RevokedAt       *time.Time
	SecretRotatedAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Scopes returns the client's scopes as a list.
func (c *IntegrationClient) Scopes() []string { return SplitScopes(c.ScopeString) }

// Revoked reports whether the client has been revoked.
func (c *IntegrationClient) Revoked() bool { return c.RevokedAt != nil }

// SplitScopes splits a space-separated scope string (RFC 6749 §3.3), dropping duplicates.
func SplitScopes(s string) []string {
	fields := strings.Fields(s)
	out := fields[:0]
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// ValidScope reports whether s is a known integration-client scope.
func ValidScope(s string) bool {
	for _, k := range AllScopes {
		if s == k {
			return true
		}
	}
	return false
}

// SigningKey is a key pair that signs access tokens. The private half is encrypted at rest;
// the public half stays published in the JWKS until every token it signed has expired.
type SigningKey struct {
	ID            string `gorm:"primaryKey"` // the JWK "kid"
	Algorithm     string
	PublicKey     []byte // PKIX DER
	PrivateKeyEnc []byte // PKCS#8 DER, AES-GCM encrypted
	CreatedAt     time.Time
	RetiredAt     *time.Time // no longer signs new tokens
}

// AuditEvent records one administrative change: who, what, when, and a summary.
type AuditEvent struct {
	ID          uuid.UUID `gorm:"primaryKey"`
	WorkspaceID uuid.UUID
	ActorType   string // client, scim_token, sign_in, system
	ActorID     string
	Action      string // e.g. user_account.credentials.update
	TargetType  string
	TargetID    string
	Summary     string // JSON object: what changed, never secrets
	CreatedAt   time.Time
}
