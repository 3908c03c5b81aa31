package models

import (
	"time"

	"github.com/google/uuid"
)

// RevokedToken is an access token revoked before its expiry, known by its jti. The row is
// kept until the token would have expired anyway.
type RevokedToken struct {
	JTI         uuid.UUID `gorm:"column:jti;primaryKey"`
	WorkspaceID uuid.UUID
	ClientID    string
	ExpiresAt   time.Time
	RevokedAt   time.Time
}
