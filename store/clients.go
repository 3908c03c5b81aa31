package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
)

// CountIntegrationClients counts clients in every workspace (bootstrap needs "is there any?").
// Errors: none of the contract.
func (s *Store) CountIntegrationClients(ctx context.Context) (int64, error) {
	var n int64
	err := s.db(ctx).Model(&models.IntegrationClient{}).Count(&n).Error
	return n, translate(err)
}

// HasIntegrationClients reports whether the database holds an integration client, reading
// only: one not migrated yet (no integration_clients table) holds none. A start asks it before
// it migrates or writes anything, to refuse at once bootstrap credentials that the bootstrap of
// a new database would refuse.
// Errors: none of the contract.
func (s *Store) HasIntegrationClients(ctx context.Context) (bool, error) {
	if migrated, err := s.hasColumn(ctx, "integration_clients", "client_id"); err != nil || !migrated {
		return false, err
	}
	n, err := s.CountIntegrationClients(ctx)
	return n > 0, err
}

// LockBootstrap makes the caller's transaction, until it ends, the only bootstrap: the
// CountIntegrationClients that follows it sees the client of any bootstrap committed before,
// so that replicas starting at once on an empty database create one default workspace and one
// platform admin client, and none of them fails. PostgreSQL: a transaction advisory lock;
// SQLite runs one write transaction at a time. Outside a transaction it locks nothing lasting.
// Errors: none of the contract.
func (s *Store) LockBootstrap(ctx context.Context) error {
	if s.dialect != Postgres {
		return nil
	}
	return translate(s.db(ctx).Exec("SELECT pg_advisory_xact_lock(7215341)").Error)
}

// PlatformAdminWorkspace returns the workspace of the oldest platform admin client: the one
// bootstrap created.
// Errors: ErrNotFound when there is no platform admin client.
func (s *Store) PlatformAdminWorkspace(ctx context.Context) (uuid.UUID, error) {
	var c models.IntegrationClient
	if err := first(s.db(ctx).Where("platform_admin = ?", true).Order("created_at, id"), &c); err != nil {
		return uuid.Nil, err
	}
	return c.WorkspaceID, nil
}

// IntegrationClientByClientID finds a client by its public client_id in any workspace: token
// requests do not know their workspace until the client is found.
// Errors: ErrNotFound when no row matches.
func (s *Store) IntegrationClientByClientID(ctx context.Context, clientID string) (*models.IntegrationClient, error) {
	var c models.IntegrationClient
	if err := first(s.db(ctx).Where("client_id = ?", clientID), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// IntegrationClient finds a client by client_id within a workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) IntegrationClient(ctx context.Context, ws uuid.UUID, clientID string) (*models.IntegrationClient, error) {
	var c models.IntegrationClient
	if err := first(s.scoped(ctx, ws).Where("client_id = ?", clientID), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// IntegrationClients lists a workspace's clients, oldest first.
// Errors: none of the contract; no match is an empty result.
func (s *Store) IntegrationClients(ctx context.Context, ws uuid.UUID) ([]*models.IntegrationClient, error) {
	var cs []*models.IntegrationClient
	err := s.scoped(ctx, ws).Order("created_at, id").Find(&cs).Error
	return cs, translate(err)
}

// UpdateIntegrationClient saves a client's mutable fields, unless the client was revoked since
// it was read: a revoked client is never written again, so that a write racing a revocation
// (a secret rotation read before it, saved after it) cannot save the client's old, unrevoked
// state over it and bring it back to life. The caller reads again (ErrStale).
// Errors: ErrNotFound when the client is gone; ErrStale when it was revoked.
func (s *Store) UpdateIntegrationClient(ctx context.Context, c *models.IntegrationClient) error {
	c.UpdatedAt = s.now()
	res := s.scoped(ctx, c.WorkspaceID).Model(&models.IntegrationClient{}).Where("id = ? AND revoked_at IS NULL", c.ID).
		Updates(map[string]any{"name": c.Name, "secret_hash": c.SecretHash, "scopes": c.ScopeString,
			"revoked_at": c.RevokedAt, "secret_rotated_at": c.SecretRotatedAt, "updated_at": c.UpdatedAt})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		var n int64
		if err := s.scoped(ctx, c.WorkspaceID).Model(&models.IntegrationClient{}).Where("id = ?", c.ID).Count(&n).Error; err != nil {
			return translate(err)
		}
		if n > 0 {
			return ErrStale
		}
		return ErrNotFound
	}
	return nil
}

// Workspace finds a workspace by id.
// Errors: ErrNotFound when no row matches.
func (s *Store) Workspace(ctx context.Context, id uuid.UUID) (*models.Workspace, error) {
	var w models.Workspace
	if err := first(s.db(ctx).Where("id = ?", id), &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// Workspaces lists up to limit workspaces after the given id, in creation order. Listing
// every tenant is the platform admin's view; the caller decides who may.
// Errors: none of the contract; no match is an empty result.
func (s *Store) Workspaces(ctx context.Context, after *uuid.UUID, limit int) ([]*models.Workspace, error) {
	q := s.db(ctx)
	if after != nil {
		q = q.Where("id > ?", *after)
	}
	var ws []*models.Workspace
	err := q.Order("id").Limit(limit).Find(&ws).Error
	return ws, translate(err)
}

// RetireSigningKeysExcept marks every signing key still in use, other than those of keep
// (at least one), retired at at: it no longer signs, and stays published until
// DeleteRetiredSigningKeys.
// Errors: none of the contract.
func (s *Store) RetireSigningKeysExcept(ctx context.Context, keep []string, at time.Time) error {
	err := s.db(ctx).Model(&models.SigningKey{}).Where("retired_at IS NULL AND id NOT IN ?", keep).
		Update("retired_at", at.UTC()).Error
	return translate(err)
}

// DeleteRetiredSigningKeys deletes the retired signing keys, which unpublishes them.
// Errors: ErrNotFound when there is none.
func (s *Store) DeleteRetiredSigningKeys(ctx context.Context) error {
	res := s.db(ctx).Where("retired_at IS NOT NULL").Delete(&models.SigningKey{})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// LockSigningKeys makes the caller's transaction, until it ends, the only one that changes the
// signing keys by what it read of them (a rotation step, AddSigningKeyIfNone): the reads that
// follow it see every other such change committed. PostgreSQL: a transaction advisory lock;
// SQLite runs one write transaction at a time. Outside a transaction it locks nothing lasting.
// Errors: none of the contract.
func (s *Store) LockSigningKeys(ctx context.Context) error {
	if s.dialect != Postgres {
		return nil
	}
	return translate(s.db(ctx).Exec("SELECT pg_advisory_xact_lock(7215340)").Error)
}

// AddSigningKeyIfNone stores k unless a key of its algorithm is in use (not retired), and
// reports whether it did: replicas that each make the first key of an algorithm at once store
// one. The check and the insert hold a lock that serializes them (PostgreSQL: an advisory
// transaction lock; SQLite: its one writer).
// Errors: none of the contract.
func (s *Store) AddSigningKeyIfNone(ctx context.Context, k *models.SigningKey) (bool, error) {
	added := false
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.LockSigningKeys(ctx); err != nil {
			return err
		}
		var n int64
		if err := s.db(ctx).Model(&models.SigningKey{}).Where("algorithm = ? AND retired_at IS NULL", k.Algorithm).
			Count(&n).Error; err != nil || n > 0 {
			return translate(err)
		}
		added = true
		return translate(s.db(ctx).Create(k).Error)
	})
	return added && err == nil, err
}

// SigningKeys lists every signing key, newest first.
// Errors: none of the contract; no match is an empty result.
func (s *Store) SigningKeys(ctx context.Context) ([]*models.SigningKey, error) {
	var ks []*models.SigningKey
	err := s.db(ctx).Order("created_at DESC").Find(&ks).Error
	return ks, translate(err)
}
