package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
)

// ConnectionFilter selects connections in a list. Empty fields do not filter.
type ConnectionFilter struct {
	Protocol models.Protocol
	Status   models.ConnectionStatus
	NameKey  string // substring of the lower-cased name
}

// ConnectionsPage lists a workspace's live connections matching f, oldest first, with the
// total count of matches.
// Errors: none of the contract; no match is an empty result.
func (s *Store) ConnectionsPage(ctx context.Context, ws uuid.UUID, f ConnectionFilter, offset, limit int) ([]*models.Connection, int64, error) {
	q := func() *gorm.DB {
		q := s.scoped(ctx, ws).Model(&models.Connection{}).Where("deleted_at IS NULL")
		if f.Protocol != "" {
			q = q.Where("protocol = ?", f.Protocol)
		}
		if f.Status != "" {
			q = q.Where("status = ?", f.Status)
		}
		if f.NameKey != "" {
			q = q.Where(`name_key LIKE ? ESCAPE '\'`, "%"+likeEscape(f.NameKey)+"%")
		}
		return q
	}
	var total int64
	if err := q().Count(&total).Error; err != nil {
		return nil, 0, translate(err)
	}
	var cs []*models.Connection
	err := q().Order("id").Offset(offset).Limit(limit).Find(&cs).Error
	return cs, total, translate(err)
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ConnectionNameTaken reports whether another live connection of the workspace has the name key.
// Errors: none of the contract.
func (s *Store) ConnectionNameTaken(ctx context.Context, ws uuid.UUID, nameKey string, except uuid.UUID) (bool, error) {
	return exists(s.scoped(ctx, ws).Model(&models.Connection{}).
		Where("name_key = ? AND id <> ? AND deleted_at IS NULL", nameKey, except))
}

// DeleteConnection soft-deletes a live connection (its slug and name become free again) and
// removes its domains, so that their names can be verified elsewhere.
// Errors: ErrStale when the version moved or the connection is gone or deleted.
func (s *Store) DeleteConnection(ctx context.Context, c *models.Connection) error {
	now := s.now()
	res := s.scoped(ctx, c.WorkspaceID).Model(&models.Connection{}).
		Where("id = ? AND version = ? AND deleted_at IS NULL", c.ID, c.Version).
		Updates(map[string]any{"deleted_at": now, "status": models.StatusInactive, "updated_at": now, "version": c.Version + 1})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrStale
	}
	c.DeletedAt, c.Status, c.UpdatedAt = &now, models.StatusInactive, now
	c.Version++
	return translate(s.scoped(ctx, c.WorkspaceID).Where("connection_id = ?", c.ID).Delete(&models.Domain{}).Error)
}

// Domain finds a domain of a connection.
// Errors: ErrNotFound when no row matches.
func (s *Store) Domain(ctx context.Context, ws, connectionID, id uuid.UUID) (*models.Domain, error) {
	var d models.Domain
	if err := first(s.scoped(ctx, ws).Where("connection_id = ? AND id = ?", connectionID, id), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// DomainsFor loads the domains of several connections in one query, grouped by connection.
// Errors: none of the contract; no match is an empty result.
func (s *Store) DomainsFor(ctx context.Context, ws uuid.UUID, connectionIDs []uuid.UUID) (map[uuid.UUID][]*models.Domain, error) {
	out := make(map[uuid.UUID][]*models.Domain, len(connectionIDs))
	if len(connectionIDs) == 0 {
		return out, nil
	}
	var ds []*models.Domain
	if err := s.scoped(ctx, ws).Where("connection_id IN ?", connectionIDs).Order("id").Find(&ds).Error; err != nil {
		return nil, translate(err)
	}
	for _, d := range ds {
		out[d.ConnectionID] = append(out[d.ConnectionID], d)
	}
	return out, nil
}

// CountDomains counts a connection's domains, all and verified.
// Errors: none of the contract.
func (s *Store) CountDomains(ctx context.Context, ws, connectionID uuid.UUID) (all, verified int64, err error) {
	if err = s.scoped(ctx, ws).Model(&models.Domain{}).Where("connection_id = ?", connectionID).Count(&all).Error; err != nil {
		return 0, 0, translate(err)
	}
	err = s.scoped(ctx, ws).Model(&models.Domain{}).Where("connection_id = ? AND status = ?", connectionID, models.DomainVerified).Count(&verified).Error
	return all, verified, translate(err)
}

// VerifiedDomainElsewhere reports whether name is verified at any connection other than
// connectionID, in any workspace (a domain belongs to one owner).
// Errors: none of the contract.
func (s *Store) VerifiedDomainElsewhere(ctx context.Context, connectionID uuid.UUID, name string) (bool, error) {
	return exists(s.db(ctx).Model(&models.Domain{}).
		Where("name = ? AND status = ? AND connection_id <> ?", name, models.DomainVerified, connectionID))
}

// SaveDomain writes every column of d.
// Errors: ErrNotFound when the domain is gone; ErrAlreadyExists "verified_name" or "primary".
func (s *Store) SaveDomain(ctx context.Context, d *models.Domain) error {
	return s.saveDomain(ctx, d, "id = ?", d.ID)
}

// SaveDomainUnlessVerified is SaveDomain for a check that did not verify d: nothing is written
// when the stored domain is verified, as a concurrent check may have left it after d was read
// (the condition is evaluated on the row as it is when written, on PostgreSQL too).
// Errors: ErrNotFound when the domain is gone or verified.
func (s *Store) SaveDomainUnlessVerified(ctx context.Context, d *models.Domain) error {
	return s.saveDomain(ctx, d, "id = ? AND status <> ?", d.ID, models.DomainVerified)
}

func (s *Store) saveDomain(ctx context.Context, d *models.Domain, where string, args ...any) error {
	d.UpdatedAt = s.now()
	res := s.scoped(ctx, d.WorkspaceID).Model(&models.Domain{}).Where(where, args...).
		Select("*").Omit("id", "workspace_id", "connection_id", "created_at").Updates(d)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// ClearPrimaryDomain unsets the primary flag of a connection's domains.
// Errors: none of the contract.
func (s *Store) ClearPrimaryDomain(ctx context.Context, ws, connectionID uuid.UUID) error {
	return translate(s.scoped(ctx, ws).Model(&models.Domain{}).
		Where("connection_id = ? AND is_primary", connectionID).Update("is_primary", false).Error)
}

// PromotePrimaryDomain makes the connection's domain verified first (by verified_at) its
// primary domain, in one statement, when it has none, and returns that domain's name; "" when
// it has a primary domain already or no verified one.
// Errors: ErrAlreadyExists "primary" when a concurrent write made another domain primary.
func (s *Store) PromotePrimaryDomain(ctx context.Context, ws, connectionID uuid.UUID) (string, error) {
	// On PostgreSQL the candidate is locked as it is chosen, skipping a domain a concurrent
	// removal holds: waiting for it would find it deleted and promote nothing. SQLite has one
	// writer.
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var name string
	err := s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(&name) },
		`UPDATE domains SET is_primary = ?, updated_at = ? WHERE id = (SELECT id FROM domains
			WHERE workspace_id = ? AND connection_id = ? AND status = ? ORDER BY verified_at, id LIMIT 1`+lock+`)
		AND NOT EXISTS (SELECT 1 FROM domains WHERE workspace_id = ? AND connection_id = ? AND is_primary) RETURNING name`,
		true, s.now(), ws, connectionID, models.DomainVerified, ws, connectionID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return name, err
}

// DeleteDomain removes a domain.
// Errors: ErrNotFound when the domain is gone.
func (s *Store) DeleteDomain(ctx context.Context, d *models.Domain) error {
	res := s.scoped(ctx, d.WorkspaceID).Where("id = ?", d.ID).Delete(&models.Domain{})
	if res.Error == nil && res.RowsAffected == 0 {
		return ErrNotFound
	}
	return translate(res.Error)
}

// SAMLSPKey loads the service provider key pair, or ErrNotFound.
// Errors: ErrNotFound when there is no current key.
func (s *Store) SAMLSPKey(ctx context.Context) (*models.SAMLSPKey, error) {
	var k models.SAMLSPKey
	if err := first(s.db(ctx).Where("id = ?", models.SPKeyCurrent), &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// CreateSAMLSPKey stores k unless one exists; either way it returns the stored key, so
// replicas racing on first use agree on one.
// Errors: none of the contract; an existing key is returned instead.
func (s *Store) CreateSAMLSPKey(ctx context.Context, k *models.SAMLSPKey) (*models.SAMLSPKey, error) {
	err := s.Create(ctx, k)
	var u *ErrAlreadyExists
	if err != nil && !errors.As(err, &u) {
		return nil, err
	}
	return s.SAMLSPKey(ctx)
}
