package models

import (
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Limits on user-supplied text.
const (
	MaxNameLength       = 128 // characters; the name rule (models/text.go NameTooLong)
	MaxEmailLength      = 254
	MaxIdentifierLength = 255
	MaxSecretLength     = 1024
)

// SecretGiven reports whether a credential's secret is given: a blank one (empty, or white
// space only, as a CSV cell holding a space is) is none, and nothing is stored for it. A given
// secret is hashed as sent, spaces included: they may be part of a password.
func SecretGiven(secret string) bool { return strings.TrimSpace(secret) != "" }

// UserAccount is a person who signs in (World Manager "account", Administrate "contact",
// SCIM User).
type UserAccount struct {
	ID          uuid.UUID `gorm:"primaryKey" api:"-"`
	WorkspaceID uuid.UUID `api:"-"`
	Email       string    `api:"email"`
	EmailKey    string    `api:"-"` // lower-cased Email, the unique lookup key
	FirstName   string    `api:"firstName"`
	LastName    string    `api:"lastName"`
	ExternalID  *string   `api:"externalId"`
	Active      bool      `api:"active"`
	// ActivatedAt is when a deactivated account was last made active again (nil: never
	// deactivated and reactivated). Tokens and codes issued before it are void (SetActive).
	ActivatedAt *time.Time `api:"-"`
	// AccountID is the customer account the person belongs to (the contact's account).
	AccountID *uuid.UUID `api:"accountId"`
	// Role is what the person may do; JIT sign-in gives the connection's default role. The
	// tag's default is DefaultRole (TestDefaultRoleDefinedOnce).
	Role      string    `gorm:"default:viewer" api:"role"`
	Version   int       `api:"-"`
	CreatedAt time.Time `api:"-"`
	UpdatedAt time.Time `api:"-"`

	// SCIM attributes (migration 5). UserName is unique per workspace through UserNameKey;
	// accounts created outside SCIM get their email as userName (see store.Create).
	UserName       string `api:"userName"`
	UserNameKey    string `api:"-"`
	EmailType      string `api:"emailType"` // SCIM type of the primary email (work, home, …), as SetEmail stores it
	DisplayName    string `api:"displayName"`
	Title          string `api:"title"`
	UserType       string `api:"userType"`
	EmployeeNumber string `api:"employeeNumber"`
	Department     string `api:"department"`
	Organization   string `api:"organization"`
	CostCenter     string `api:"costCenter"`
	Division       string `api:"division"`
	ManagerID      string `api:"manager"`
	SCIMData       string `gorm:"column:scim_data" api:"scimData"` // JSON object: the other SCIM attributes as sent

	// Credentials, when not nil, were loaded together with the account (one query for a page).
	Credentials []*Credential `gorm:"-"`
}

// EmailTypeWork is the type of a primary email set outside SCIM (see SetEmail).
const EmailTypeWork = "work"

// SetEmail sets the account's primary email outside SCIM (GraphQL, sign-in) and the type SCIM
// shows for it, stored in EmailType when the email is written: on an account whose SCIM
// document holds no emails, a non-empty email is type "work" (so Entra's documented lookup
// emails[type eq "work"].value eq "…" finds people created or changed outside SCIM too) and
// an empty one has no type; otherwise the type the IdP sent for its primary email stays.
// SCIM writes the type it receives (SetSCIMEmail). Migration 15 stored this for older rows.
func (u *UserAccount) SetEmail(email string) {
	u.Email, u.EmailKey = email, Key(email)
	u.EmailType = EmailTypeFor(u.SCIMData, email, u.EmailType)
}

// ChangeEmail is SetEmail for a change of the email (an admin's, GraphQL updateUserAccount, or
// the refresh of a profile its identity provider owns at a sign-in), which the userName follows on an account whose userName is its own, not an IdP's: an account created
// outside SCIM got its email as userName (store.Create), and an IdP finds the people who exist
// already by it (Okta's userName eq "<email>" links them), so it must stay their email. An
// account a SCIM request wrote keeps the userName its IdP gave it (UserNameFromSCIM).
func (u *UserAccount) ChangeEmail(email string) {
	if !u.UserNameFromSCIM() {
		u.UserName, u.UserNameKey = email, Key(email)
	}
	u.SetEmail(email)
}

// UserNameFromSCIM reports whether a SCIM request wrote the account's userName: every SCIM
// document has one, kept in SCIMData with the attributes that have no column (the JSON
// encoding/json writes, so its key reads exactly "userName":); an account created outside
// SCIM has an empty document.
func (u *UserAccount) UserNameFromSCIM() bool {
	return strings.Contains(u.SCIMData, `"userName":`)
}

// SetSCIMEmail sets the primary email and its type as an IdP sent them through SCIM.
func (u *UserAccount) SetSCIMEmail(email, emailType string) {
	u.Email, u.EmailKey, u.EmailType = email, Key(email), emailType
}

// EmailTypeFor is SetEmail's rule: the type stored with email written outside SCIM on an account
// with the SCIM document scimData whose stored type is current. (The document is JSON written by
// encoding/json, so its emails key reads exactly "emails":.)
func EmailTypeFor(scimData, email, current string) string {
	switch {
	case strings.Contains(scimData, `"emails":`):
		return current
	case email == "":
		return ""
	}
	return EmailTypeWork
}

// ExternalIDOf is the externalId an input gives: an empty one is none (nil). IdPs send "" through
// SCIM for an attribute they have no value for, and SCIM shows no externalId then; a GraphQL ""
// clears it (null there leaves it as it is).
func ExternalIDOf(v *string) *string {
	if v == nil || *v == "" {
		return nil
	}
	return v
}

// UUID is the account's public identifier (the seed's accountUuid).
func (u *UserAccount) UUID() uuid.UUID { return u.ID }

// Credential binds a user account to an identity at one connection: (connection, identifier).
type Credential struct {
	ID            uuid.UUID `gorm:"primaryKey"`
	WorkspaceID   uuid.UUID
	UserAccountID uuid.UUID
	ConnectionID  uuid.UUID
	Identifier    string
	IdentifierKey string // lower-cased Identifier: identities compare case-insensitively
	SecretHash    string // bcrypt; empty when no secret was given
	CreatedAt     time.Time
	UpdatedAt     time.Time

	// AuthModule is the connection's slug, read through a join.
	AuthModule string `gorm:"->;-:migration"`
}

// HasSecret reports whether a secret was stored with the credential.
func (c *Credential) HasSecret() bool { return c.SecretHash != "" }

// Key normalises an identifier, email or name for case-insensitive comparison. Every unique
// "lower(...)" rule in the database is enforced on a column filled by this function, so Go and
// both SQL dialects agree on what "the same" means.
func Key(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidEmail reports whether s is a plain addr-spec email address.
func ValidEmail(s string) bool {
	if len(s) > MaxEmailLength || strings.ContainsAny(s, " <>") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".")
}

// SetActive activates or deactivates the account. Reactivating a deactivated one records when
// (ActivatedAt): what was issued to the person before the deactivation (access tokens, codes
// not redeemed yet) stays void after it, rather than working again.
func (u *UserAccount) SetActive(active bool, now time.Time) {
	if active && !u.Active {
		u.ActivatedAt = &now
	}
	u.Active = active
}

// IssuedBeforeReactivation reports whether something issued to the person at issued (a grant)
// predates their last reactivation, and is void (SetActive).
func (u *UserAccount) IssuedBeforeReactivation(issued time.Time) bool {
	return u.ActivatedAt != nil && issued.Before(*u.ActivatedAt)
}
