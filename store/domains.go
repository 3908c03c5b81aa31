package store

import (
	"context"
	"database/sql"

	"github.com/google/uuid"

	"gatehouse/models"
)

// DomainVerifiedFor reports whether name (normalised) is a verified domain of the connection.
// A plain read (not GORM's): a sign-in's decision reads it before its first write, and so
// begins no transaction for it (InTxFromFirstWrite).
// Errors: none of the contract.
func (s *Store) DomainVerifiedFor(ctx context.Context, ws, connectionID uuid.UUID, name string) (bool, error) {
	var verified bool
	err := s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(&verified) },
		"SELECT EXISTS (SELECT 1 FROM domains WHERE workspace_id = ? AND connection_id = ? AND name = ? AND status = ?)",
		ws, connectionID, name, string(models.DomainVerified))
	return verified, err
}

// Domains lists a connection's domains, oldest first.
// Errors: none of the contract; no match is an empty result.
func (s *Store) Domains(ctx context.Context, ws, connectionID uuid.UUID) ([]*models.Domain, error) {
	var ds []*models.Domain
	err := s.scoped(ctx, ws).Where("connection_id = ?", connectionID).Order("id").Find(&ds).Error
	return ds, translate(err)
}
