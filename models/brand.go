package models

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Brand is a portal or application users sign in to (Administrate "brand"). Its identity
// provider configurations decide what happens when someone signs in to it for the first time.
type Brand struct {
	ID          uuid.UUID `gorm:"primaryKey"`
	WorkspaceID uuid.UUID
	Name        string
	NameKey     string
	// Slug names the brand in sign-in URLs, unique per workspace.
	Slug string
	// Portal is the URL browser sign-in returns people to; empty when not set.
	Portal    string `gorm:"column:portal_url"`
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PortalURL returns the portal URL, or nil when none is set.
func (b *Brand) PortalURL() *string {
	if b.Portal == "" {
		return nil
	}
	return &b.Portal
}

// Company is an organisation; it has many accounts.
type Company struct {
	ID          uuid.UUID `gorm:"primaryKey"`
	WorkspaceID uuid.UUID
	Name        string // compared exactly (case-sensitive) by placement's company match
	NameKey     string // unique per workspace, so "Acme" and "ACME" cannot both exist
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// AccountType tells a company's account from an individual's.
type AccountType string

const (
	AccountCompany    AccountType = "company"
	AccountIndividual AccountType = "individual"
)

// Account is a customer account (Administrate "account"): a company's account, or an
// individual account that holds one person. User accounts (contacts) belong to one.
type Account struct {
	ID          uuid.UUID `gorm:"primaryKey"`
	WorkspaceID uuid.UUID
	Name        string
	Type        AccountType
	CompanyID   *uuid.UUID
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// DefaultCompanyClaim is the claim placement reads the company name from unless a
// configuration names another one.
const DefaultCompanyClaim = "company"

// IdentityProviderConfiguration says, for one brand and one connection (identity provider),
// whether first sign-ins create learners automatically and where they are placed.
type IdentityProviderConfiguration struct {
	ID                    uuid.UUID `gorm:"primaryKey"`
	WorkspaceID           uuid.UUID
	BrandID               uuid.UUID
	ConnectionID          uuid.UUID
	AutoProvisionLearners bool
	DefaultAccountID      *uuid.UUID
	CompanyClaim          string
	Version               int
	CreatedAt             time.Time
	UpdatedAt             time.Time

	// Loaded with the configuration for the API.
	IdentityProvider *Connection `gorm:"-"`
	DefaultAccount   *Account    `gorm:"-"`
}

// MarshalGQL writes the type as a GraphQL enum value (COMPANY, INDIVIDUAL).
func (t AccountType) MarshalGQL(w io.Writer) { fmt.Fprintf(w, "%q", strings.ToUpper(string(t))) }

// UnmarshalGQL reads a GraphQL enum value.
func (t *AccountType) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("account type must be a string")
	}
	switch AccountType(strings.ToLower(s)) {
	case AccountCompany, AccountIndividual:
		*t = AccountType(strings.ToLower(s))
		return nil
	}
	return fmt.Errorf("%q is not a valid AccountType", s)
}
