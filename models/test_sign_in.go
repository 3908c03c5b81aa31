package models

import (
	"time"

	"github.com/google/uuid"
)

// Test sign-in statuses.
const (
	TestSignInPending   = "pending"
	TestSignInSucceeded = "succeeded"
	TestSignInFailed    = "failed"
)

// TestSignIn is an administrator's test of a connection: a real sign-in at the identity
// provider, opened from a public URL (whose random token is stored hashed), that ends in a
// dry run of the decision and writes no user, credential or account.
type TestSignIn struct {
	ID           uuid.UUID `gorm:"primaryKey"`
	WorkspaceID  uuid.UUID
	ConnectionID uuid.UUID
	// BrandID is the brand whose configuration the decision reads; nil: the connection's
	// settings alone.
	BrandID   *uuid.UUID
	TokenHash string
	Status    string
	// Result is the JSON of the identity and the decision (provision.TestSignInResult).
	Result string
	// Error says what failed: the public message, what a person signing in would be shown.
	Error string
	// Cause is the private cause of the failure, for administrators only (provision composes
	// what each reader sees). A test that failed before migration 43 has its whole error,
	// public message and cause in one text, here, and Error empty.
	Cause string
	// BrowserHash is the hash of the sign-in cookie of the browser that ran the test: only
	// that browser is shown the result page ("": not run by any browser).
	BrowserHash string
	ExpiresAt   time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}
