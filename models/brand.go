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
	ID          uuid.UUID `gorm:"primaryKey" api:"-"`
	WorkspaceID uuid.UUID `api:"-"`
	Name        string    `api:"name"`
	NameKey     string    `api:"-"`
	// Slug names the brand in sign-in URLs, unique per workspace.
	Slug string `api:"slug"`
	// Portal is the URL browser sign-in returns people to; empty when not set.
	Portal    string    `gorm:"column:portal_url" api:"portalUrl"`
	Version   int       `api:"-"`
	CreatedAt time.Time `api:"-"`
	UpdatedAt time.Time `api:"-"`
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
	ID          uuid.UUID `gorm:"primaryKey" api:"-"`
	WorkspaceID uuid.UUID `api:"-"`
	Name        string    `api:"name"` // compared exactly (case-sensitive) by placement's company match
	NameKey     string    `api:"-"`    // unique per workspace, so "Acme" and "ACME" cannot both exist
	CreatedAt   time.Time `api:"-"`
	UpdatedAt   time.Time `api:"-"`
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
	ID          uuid.UUID   `gorm:"primaryKey" api:"-"`
	WorkspaceID uuid.UUID   `api:"-"`
	Name        string      `api:"name"`
	Type        AccountType `api:"type"`
	CompanyID   *uuid.UUID  `api:"companyId"`
	CreatedAt   time.Time   `api:"-"`
	UpdatedAt   time.Time   `api:"-"`
}

// DefaultCompanyClaim is the claim placement reads the company name from unless a
// configuration names another one.
const DefaultCompanyClaim = "company"

// IdentityProviderConfiguration says, for one brand and one connection (identity provider),
// whether first sign-ins create learners automatically and where they are placed.
type IdentityProviderConfiguration struct {
	ID                    uuid.UUID  `gorm:"primaryKey" api:"-"`
	WorkspaceID           uuid.UUID  `api:"-"`
	BrandID               uuid.UUID  `api:"brandId"`
	ConnectionID          uuid.UUID  `api:"identityProviderId"`
	AutoProvisionLearners bool       `api:"autoProvisionLearners"`
	DefaultAccountID      *uuid.UUID `api:"defaultAccountId"`
	CompanyClaim          string     `api:"companyClaim"`
	Version               int        `api:"-"`
	CreatedAt             time.Time  `api:"-"`
	UpdatedAt             time.Time  `api:"-"`

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
