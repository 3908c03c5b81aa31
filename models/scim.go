package models

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SCIM token scopes: what an identity provider holding the token may do over /scim/v2.
const (
	SCIMUsersRead   = "users:read"
	SCIMUsersWrite  = "users:write"
	SCIMGroupsRead  = "groups:read"
	SCIMGroupsWrite = "groups:write"
)

// SCIMScopes lists every SCIM token scope, in the order the document gives them.
var SCIMScopes = []string{SCIMUsersRead, SCIMUsersWrite, SCIMGroupsRead, SCIMGroupsWrite}

// DefaultSCIMScopes are a new token's scopes when none are given.
var DefaultSCIMScopes = []string{SCIMUsersRead, SCIMUsersWrite}

// SCIM token statuses; status is derived from revokedAt and expiresAt, never stored.
const (
	SCIMTokenActive  = "active"
	SCIMTokenRevoked = "revoked"
	SCIMTokenExpired = "expired"
)

// SCIMToken is a bearer token an identity provider uses for SCIM. Only a hash of the value
// is stored; MaskedValue keeps its first characters so admins can tell tokens apart.
type SCIMToken struct {
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
func (t *SCIMToken) Scopes() []string { return SplitScopes(t.ScopeString) }

// Status is active, revoked or expired at the given time.
func (t *SCIMToken) Status(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return SCIMTokenRevoked
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return SCIMTokenExpired
	}
	return SCIMTokenActive
}

// Group is a set of user accounts pushed by an identity provider (SCIM Group).
type Group struct {
	ID             uuid.UUID `gorm:"primaryKey" api:"-"`
	WorkspaceID    uuid.UUID `api:"-"`
	DisplayName    string    `api:"displayName"`
	DisplayNameKey string    `api:"-"` // Key(DisplayName): display names are unique per workspace, case-insensitively
	ExternalID     *string   `api:"externalId"`
	Version        int       `api:"-"`
	CreatedAt      time.Time `api:"-"`
	UpdatedAt      time.Time `api:"-"`

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

// SCIMActivity is one SCIM operation as the server saw it.
type SCIMActivity struct {
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
	SCIMOpCreate = "create"
	SCIMOpUpdate = "update"
	SCIMOpDelete = "delete"
	SCIMOpRead   = "read"

	SCIMResourceUser  = "user"
	SCIMResourceGroup = "group"

	SCIMStatusSuccess = "success"
	SCIMStatusError   = "error"
)

// ParseSCIMBool reads a boolean written as text: "true" or "false" in any case, or one of the
// other spellings strconv.ParseBool takes ("1", "t", "T", "0", "f", "F"), spaces around
// ignored (ok is false for any other text). It is SCIM's one rule for such text wherever a
// boolean is read: attribute values (Entra's "active": "False"), PATCH value filters (Entra's
// role mapping roles[primary eq "True"].value) and GET filters, so none of them accepts a text
// another refuses. The filter grammar reads its unquoted literals in any case too (active eq
// True). The spellings of strconv.ParseBool were what values took before filters read text,
// and an IdP's mapping that sends "1" for true is better read than refused mid-provisioning.
func ParseSCIMBool(s string) (value, ok bool) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	b, err := strconv.ParseBool(s)
	return b, err == nil
}

// SCIMStatistics summarises a workspace's SCIM sync health.
type SCIMStatistics struct {
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
	SCIMTypeUniqueness    = "uniqueness"
	SCIMTypeInvalidFilter = "invalidFilter"
	SCIMTypeInvalidValue  = "invalidValue"
	SCIMTypeMutability    = "mutability"
	SCIMTypeInvalidPath   = "invalidPath"
	SCIMTypeNoTarget      = "noTarget"
	SCIMTypeInvalidSyntax = "invalidSyntax"
	SCIMTypeTooMany       = "tooMany"
)

// SCIMTypedError is a domain error tagged with the scimType the SCIM transport reports. It
// unwraps to the *Error, so every other transport treats it as that error.
type SCIMTypedError struct {
	Err  *Error
	Type string
}

func (e *SCIMTypedError) Error() string { return e.Err.Error() }
func (e *SCIMTypedError) Unwrap() error { return e.Err }

// SCIMError builds an EINVALID error with a scimType.
func SCIMError(scimType, format string, args ...any) error {
	return &SCIMTypedError{Err: Errorf(EINVALID, format, args...), Type: scimType}
}

// SCIMTypeOf returns the scimType carried by err, or "".
func SCIMTypeOf(err error) string {
	var t *SCIMTypedError
	if errors.As(err, &t) {
		return t.Type
	}
	return ""
}
