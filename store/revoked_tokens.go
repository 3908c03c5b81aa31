package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"gatehouse/models"
)

// RevokeToken records a revoked access token and reports whether it was not revoked before;
// revoking it again changes nothing.
// Errors: none of the contract; revoking twice is no error.
func (s *Store) RevokeToken(ctx context.Context, t *models.RevokedToken) (bool, error) {
	res := s.db(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(t)
	return res.RowsAffected > 0, translate(res.Error)
}

// RevokedToken finds a revoked token by jti (ErrNotFound when it is not revoked).
// Errors: ErrNotFound when no row matches.
func (s *Store) RevokedToken(ctx context.Context, jti uuid.UUID) (*models.RevokedToken, error) {
	var t models.RevokedToken
	if err := first(s.db(ctx).Where("jti = ?", jti), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// PruneRevokedTokens deletes the rows of tokens that expired before t: they are refused as
// expired anyway.
// Errors: none of the contract.
func (s *Store) PruneRevokedTokens(ctx context.Context, t time.Time) (int64, error) {
	res := s.db(ctx).Where("expires_at < ?", t).Delete(&models.RevokedToken{})
	return res.RowsAffected, translate(res.Error)
}
