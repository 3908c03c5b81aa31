package store

import (
	"context"

	"github.com/google/uuid"

	"gatehouse/models"
)

// DomainVerifiedFor reports whether name (normalised) is a verified domain of the connection.
// Errors: none of the contract.
func (s *Store) DomainVerifiedFor(ctx context.Context, ws, connectionID uuid.UUID, name string) (bool, error) {
	return exists(s.scoped(ctx, ws).Model(&models.Domain{}).
		Where("connection_id = ? AND name = ? AND status = ?", connectionID, name, models.DomainVerified))
}

// Domains lists a connection's domains, oldest first.
// Errors: none of the contract; no match is an empty result.
func (s *Store) Domains(ctx context.Context, ws, connectionID uuid.UUID) ([]*models.Domain, error) {
	var ds []*models.Domain
	err := s.scoped(ctx, ws).Where("connection_id = ?", connectionID).Order("id").Find(&ds).Error
	return ds, translate(err)
}
