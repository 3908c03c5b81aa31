package store

import (
	"context"
	"time"

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

// auditTable describes an audit event: every sign-in and binding writes one, in statements
// built from it (RecordSignIn, bindAccountSQL).
var auditTable = newTable("audit_events",
	col("id", func(e *models.AuditEvent) *uuid.UUID { return &e.ID }),
	col("workspace_id", func(e *models.AuditEvent) *uuid.UUID { return &e.WorkspaceID }),
	col("actor_type", func(e *models.AuditEvent) *string { return &e.ActorType }),
	col("actor_id", func(e *models.AuditEvent) *string { return &e.ActorID }),
	col("action", func(e *models.AuditEvent) *string { return &e.Action }),
	col("target_type", func(e *models.AuditEvent) *string { return &e.TargetType }),
	col("target_id", func(e *models.AuditEvent) *string { return &e.TargetID }),
	col("summary", func(e *models.AuditEvent) *string { return &e.Summary }),
	col("created_at", func(e *models.AuditEvent) *time.Time { return &e.CreatedAt }),
)

var auditInsert = auditTable.plainInsert()
