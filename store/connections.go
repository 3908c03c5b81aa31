package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/google/uuid"

	"gatehouse/models"
)

// Connection finds a live (not deleted) connection by id within a workspace.
func (s *Store) Connection(ctx context.Context, ws, id uuid.UUID) (*models.Connection, error) {
	return s.queryConnection(ctx, "SELECT "+connectionList+" FROM connections WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL LIMIT 1", ws, id)
}

// connectionColumns are every column of a connection, in the order queryConnection scans them
// (TestSignInInsertsCoverTheModels checks them against the model).
var (
	connectionColumns = []string{"id", "workspace_id", "name", "name_key", "slug", "protocol", "status",
		"oidc_issuer_url", "oidc_client_id", "oidc_client_secret_enc", "oidc_discovery_url", "oidc_scopes",
		"saml_entity_id", "saml_sso_url", "saml_certificate", "saml_sign_requests", "saml_attribute_mapping",
		"saml_metadata_url", "jit_provisioning", "default_role", "version", "created_at", "updated_at", "deleted_at"}
	connectionList = strings.Join(connectionColumns, ", ")
)

// queryConnection runs a query of connectionColumns and scans its first row by hand: every
// sign-in decision reads its connection, and GORM's reflective Find cost more than the query.
// No row is ErrNotFound.
func (s *Store) queryConnection(ctx context.Context, q string, args ...any) (*models.Connection, error) {
	c := &models.Connection{}
	err := s.queryOne(ctx, func(rows *sql.Rows) error { return rows.Scan(connectionFields(c)...) }, q, args...)
	if err != nil {
		return nil, err
	}
	utcConnection(c)
	return c, nil
}

// connectionFields are the scan destinations of connectionColumns in c.
func connectionFields(c *models.Connection) []any {
	return []any{&c.ID, &c.WorkspaceID, &c.Name, &c.NameKey, &c.Slug, &c.Protocol, &c.Status,
		&c.OIDCIssuerURL, &c.OIDCClientID, &c.OIDCClientSecretEnc, &c.OIDCDiscoveryURL, &c.OIDCScopes,
		&c.SAMLEntityID, &c.SAMLSSOURL, &c.SAMLCertificate, &c.SAMLSignRequests, &c.SAMLAttributeMapping,
		&c.SAMLMetadataURL, &c.JITProvisioning, &c.DefaultRole, &c.Version, &c.CreatedAt, &c.UpdatedAt,
		&c.DeletedAt}
}

// utcConnection makes a scanned connection's times UTC.
func utcConnection(c *models.Connection) {
	c.CreatedAt, c.UpdatedAt, c.DeletedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), utcPtr(c.DeletedAt)
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
