package store

import (
	"context"

	"github.com/google/uuid"

	"gatehouse/models"
)

// Connection finds a live (not deleted) connection by id within a workspace.
func (s *Store) Connection(ctx context.Context, ws, id uuid.UUID) (*models.Connection, error) {
	var c models.Connection
	if err := first(s.scoped(ctx, ws).Where("id = ? AND deleted_at IS NULL", id), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// ConnectionBySlug finds a live connection by slug (the seed's authModule).
func (s *Store) ConnectionBySlug(ctx context.Context, ws uuid.UUID, slug string) (*models.Connection, error) {
	var c models.Connection
	if err := first(s.scoped(ctx, ws).Where("slug = ? AND deleted_at IS NULL", slug), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// ConnectionsBySlugs loads live connections by slug.
func (s *Store) ConnectionsBySlugs(ctx context.Context, ws uuid.UUID, slugs []string) ([]*models.Connection, error) {
	var cs []*models.Connection
	err := s.scoped(ctx, ws).Where("slug IN ? AND deleted_at IS NULL", slugs).Find(&cs).Error
	return cs, translate(err)
}

// Connections lists a workspace's live connections, oldest first.
func (s *Store) Connections(ctx context.Context, ws uuid.UUID) ([]*models.Connection, error) {
	var cs []*models.Connection
	err := s.scoped(ctx, ws).Where("deleted_at IS NULL").Order("id").Find(&cs).Error
	return cs, translate(err)
}

// UpdateConnection saves every column of c if its version is still c.Version, then bumps it.
func (s *Store) UpdateConnection(ctx context.Context, c *models.Connection) error {
	c.UpdatedAt = s.now()
	c.Version++
	res := s.scoped(ctx, c.WorkspaceID).Model(&models.Connection{}).
		Where("id = ? AND version = ?", c.ID, c.Version-1).
		Select("*").Omit("id", "workspace_id", "created_at").Updates(c)
	if res.Error != nil {
		c.Version--
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		c.Version--
		return ErrStale
	}
	return nil
}
