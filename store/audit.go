package store

import (
	"context"

	"github.com/google/uuid"

	"gatehouse/models"
)

// AuditEvents lists a workspace's audit events, newest first, before the given id.
// Errors: none of the contract; no match is an empty result.
func (s *Store) AuditEvents(ctx context.Context, ws uuid.UUID, before *uuid.UUID, limit int) ([]*models.AuditEvent, error) {
	q := s.scoped(ctx, ws)
	if before != nil {
		q = q.Where("id < ?", *before)
	}
	var es []*models.AuditEvent
	err := q.Order("id DESC").Limit(limit).Find(&es).Error
	return es, translate(err)
}
