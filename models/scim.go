package models

import (
	"errors"
	"time"

	"github.com/google/uuid"
)

// SCIM token scopes: what an identity provider holding the token may do over /scim/v2.
const (
	ScimUsersRead   = "users:read"
	ScimUsersWrite  = "users:write"
	ScimGroupsRead  = "groups:read"
	ScimGroupsWrite = "groups:write"
)

// ScimScopes lists every SCIM token scope, in the order the document gives them.
var ScimScopes = []string{ScimUsersRead, ScimUsersWrite, ScimGroupsRead, ScimGroupsWrite}

// DefaultScimScopes are a new token's scopes when none are given.
var DefaultScimScopes = []string{ScimUsersRead, ScimUsersWrite}

// SCIM token statuses; status is derived from revokedAt and expiresAt, never stored.
const (
	ScimTokenActive  = "active"
	ScimTokenRevoked = "revoked"
	ScimTokenExpired = "expired"
)

// ScimToken is a bearer token an identity provider uses for SCIM. Only a hash of the value
// is stored; MaskedValue keeps its first characters so admins can tell tokens apart.
type ScimToken struct {
	ID           uuid.UUID `gorm:"primaryKey"`
	WorkspaceID  uuid.UUID
	Name         string
	TokenHash    string
	MaskedValue  string
	ScopeString  string     `gorm:"column:scopes"`
	ConnectionID *uuid.UUID // users provisioned with the token are bound to this connection
	ExpiresAt    *time.Time
	RevokedAt    *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Scopes returns the token's scopes as a list.
func (t *ScimToken) Scopes() []string { return SplitScopes(t.ScopeString) }

// Status is active, revoked or expired at the given time.
func (t *ScimToken) Status(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return ScimTokenRevoked
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return ScimTokenExpired
	}
	return ScimTokenActive
}

// Group is a set of user accounts pushed by an identity provider (SCIM Group).
type Group struct {
	ID             uuid.UUID `gorm:"primaryKey"`
	WorkspaceID    uuid.UUID
	DisplayName    string
	DisplayNameKey string // Key(DisplayName): display names are unique per workspace, case-insensitively
	ExternalID     *string
	Version        int
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// Members, when not nil, were loaded with the group.
	Members []*GroupMember `gorm:"-"`
}

// GroupMember is one membership of a user account in a group.
type GroupMember struct {
	GroupID       uuid.UUID `gorm:"primaryKey"`
	UserAccountID uuid.UUID `gorm:"primaryKey"`
	WorkspaceID   uuid.UUID
	CreatedAt     time.Time

	// Display is the member's userName, read through a join.
	Display string `gorm:"->;-:migration"`
}

// GroupRef is a group a user account belongs to, as a user's SCIM groups show it.
type GroupRef struct {
	UserAccountID uuid.UUID
	GroupID       uuid.UUID
	DisplayName   string
}

// ScimActivity is one SCIM operation as the server saw it.
type ScimActivity struct {
	ID           uuid.UUID `gorm:"primaryKey"`
	WorkspaceID  uuid.UUID
	TokenID      *uuid.UUID
	Operation    string // create, update, delete, read
	ResourceType string // user, group
	ResourceID   string
	Status       string // success, error
	ErrorMessage string
	Details      string // JSON object
	CreatedAt    time.Time
}

// SCIM activity vocabulary.
const (
	ScimOpCreate = "create"
	ScimOpUpdate = "update"
	ScimOpDelete = "delete"
	ScimOpRead   = "read"

	ScimResourceUser  = "user"
	ScimResourceGroup = "group"

	ScimStatusSuccess = "success"
	ScimStatusError   = "error"
)

// ScimStatistics summarises a workspace's SCIM sync health.
type ScimStatistics struct {
	TotalUsers       int64      `json:"totalUsers"`
	TotalGroups      int64      `json:"totalGroups"`
	UsersAdded24h    int64      `json:"usersAdded24h"`
	UsersRemoved24h  int64      `json:"usersRemoved24h"`
	GroupsAdded24h   int64      `json:"groupsAdded24h"`
	GroupsRemoved24h int64      `json:"groupsRemoved24h"`
	LastSyncAt       *time.Time `json:"lastSyncAt"`
	ErrorCount24h    int64      `json:"errorCount24h"`
	ActiveTokens     int64      `json:"activeTokens"`
}

// SCIM error types (RFC 7644 §3.12 scimType) a domain error can carry.
const (
	ScimTypeUniqueness    = "uniqueness"
	ScimTypeInvalidFilter = "invalidFilter"
	ScimTypeInvalidValue  = "invalidValue"
	ScimTypeMutability    = "mutability"
	ScimTypeInvalidPath   = "invalidPath"
	ScimTypeNoTarget      = "noTarget"
	ScimTypeInvalidSyntax = "invalidSyntax"
	ScimTypeTooMany       = "tooMany"
)

// ScimTypedError is a domain error tagged with the scimType the SCIM transport reports. It
// unwraps to the *Error, so every other transport treats it as that error.
type ScimTypedError struct {
	Err  *Error
	Type string
}

func (e *ScimTypedError) Error() string { return e.Err.Error() }
func (e *ScimTypedError) Unwrap() error { return e.Err }

// ScimError builds an EINVALID error with a scimType.
func ScimError(scimType, format string, args ...any) error {
	return &ScimTypedError{Err: Errorf(EINVALID, format, args...), Type: scimType}
}

// ScimTypeOf returns the scimType carried by err, or "".
func ScimTypeOf(err error) string {
	var t *ScimTypedError
	if errors.As(err, &t) {
		return t.Type
	}
	return ""
}
