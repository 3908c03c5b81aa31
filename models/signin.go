package models

import (
	"time"

	"github.com/google/uuid"
)

// SignInFlow is one browser sign-in in progress: the application's authorize request, the
// connection it was routed to, and what Gatehouse sent to the identity provider. It lives in
// the database (any replica can finish it) until ExpiresAt, and is bound to the browser that
// started it by BrowserHash, the hash of a random value in an HttpOnly cookie.
type SignInFlow struct {
	ID            uuid.UUID `gorm:"primaryKey"`
	WorkspaceID   uuid.UUID
	ApplicationID uuid.UUID
	BrandID       uuid.UUID
	ConnectionID  uuid.UUID
	BrowserHash   string
	// The application's request.
	ClientID      string
	RedirectURI   string
	Scope         string
	State         string
	Nonce         string
	CodeChallenge string
	// Prompt is the application's prompt (OIDC Core §3.1.2.1) as Gatehouse understood it:
	// the values it knows, space-separated in a fixed order ("" when none). "none" changes
	// how an identity provider's refusal to sign in silently reaches the application.
	Prompt string
	// HintSubject is the sub of the application's id_token_hint ("" when none): the sign-in
	// must end with that user account, or it is refused with login_required.
	HintSubject string
	// MaxAge is the application's max_age in seconds, as sent ("" when none): the identity
	// provider must say the person authenticated within it.
	MaxAge string
	// ResponseMode is how the answers reach the redirect URI (provision.ResponseModes):
	// "form_post", or "" for query, the default.
	ResponseMode string
	// Upstream: what Gatehouse sent the identity provider. The state is stored as a hash (it
	// finds the flow at the callback); the PKCE verifier is encrypted at rest.
	UpstreamStateHash   string
	UpstreamNonce       string
	UpstreamVerifierEnc []byte
	// UpstreamRequestID is the SAML AuthnRequest ID (InResponseTo), empty for OIDC.
	UpstreamRequestID string
	RequestID         string
	Test              bool
	ClaimedAt         *time.Time // set once, when the IdP's answer arrived; a second answer is a replay
	// FailedAt is when a failure of the flow was recorded while it stayed open (an answer in a
	// browser without its cookie): its attempt has its event, so the prune records none.
	FailedAt  *time.Time
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Grant is an authorization code and what its redemption issues: the decided sign-in, the
// claims of the id_token and the access token (whose jti is the grant's ID). A code is
// redeemed once; a second redemption revokes the grant, and with it the access token.
type Grant struct {
	ID            uuid.UUID `gorm:"primaryKey"`
	WorkspaceID   uuid.UUID
	ApplicationID uuid.UUID
	ClientID      string
	CodeHash      string
	RedirectURI   string
	CodeChallenge string
	Scope         string
	Nonce         string
	UserAccountID uuid.UUID
	// ConnectionID and IdentifierKey are the binding the sign-in signed the account in by: its
	// connection and the key of the identifier there (migration 33). The grant holds while the
	// account is still bound to that identifier at that connection (store.grantStillBound);
	// nil and "" for a grant from before migration 33, which nothing checks.
	ConnectionID  *uuid.UUID
	IdentifierKey string
	// Claims is the JSON object of the id_token's identity claims as decided at sign-in.
	Claims     string
	AuthTime   time.Time
	ExpiresAt  time.Time // of the code
	RedeemedAt *time.Time
	RevokedAt  *time.Time
	CreatedAt  time.Time
}

// Sign-in event outcomes: the engine's outcomes, and "failed" for attempts that never reached
// a decision (identity provider errors, bad state, expired flows).
const (
	SignInOutcomeExistingIdentity = "existing_identity"
	SignInOutcomeLinkedByEmail    = "linked_by_email"
	SignInOutcomeProvisioned      = "provisioned"
	SignInOutcomeRefused          = "refused"
	SignInOutcomeFailed           = "failed"
)

// SignInEvent is one sign-in attempt, finished or failed (Polis "SSO Traces"). Reason is what
// the person was shown; Cause is the private detail for administrators and logs.
type SignInEvent struct {
	ID             uuid.UUID `gorm:"primaryKey"`
	WorkspaceID    uuid.UUID
	ApplicationID  *uuid.UUID
	ClientID       string
	BrandID        *uuid.UUID
	ConnectionID   *uuid.UUID
	ConnectionSlug string
	Identifier     string
	Outcome        string
	Reason         string
	Cause          string
	RequestID      string
	Test           bool
	CreatedAt      time.Time
}

// Time is when the attempt ended.
func (e *SignInEvent) Time() time.Time { return e.CreatedAt }
