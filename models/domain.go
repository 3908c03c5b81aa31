package models

import (
	"time"

	"github.com/google/uuid"
)

// DomainStatus is a domain's verification state: pending → verified or failed.
type DomainStatus string

const (
	DomainPending  DomainStatus = "pending"
	DomainVerified DomainStatus = "verified"
	DomainFailed   DomainStatus = "failed"
)

// Verification methods of a domain.
const (
	VerifyDNSTXT    = "dns-txt"
	VerifyHTTPSFile = "https-file"
)

// Domain is an email domain routed to a connection. A domain name can be verified in one
// workspace only; a connection has at most one primary domain.
type Domain struct {
	ID                 uuid.UUID `gorm:"primaryKey"`
	WorkspaceID        uuid.UUID
	ConnectionID       uuid.UUID
	Name               string // normalised: lower case, IDNA (punycode), no trailing dot
	Status             DomainStatus
	VerificationMethod string
	VerificationToken  string
	IsPrimary          bool
	FailureReason      string
	VerifiedAt         *time.Time
	LastCheckedAt      *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}
