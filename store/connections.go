package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
)

// Connection finds a live (not deleted) connection by id within a workspace.
// Errors: ErrNotFound when no live connection matches.
func (s *Store) Connection(ctx context.Context, ws, id uuid.UUID) (*models.Connection, error) {
	return s.queryConnection(ctx, "SELECT "+connectionList+" FROM connections WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL LIMIT 1", ws, id)
}

// ConnectionForShare is Connection that, on PostgreSQL, also holds a share lock on the row
// until the transaction ends. A write that must not outlive the connection (a SCIM token tied
// to it) then either waits for a concurrent DeleteConnection and finds the connection gone,
// or makes that delete wait and see the write. (The foreign key's own lock does not: it
// allows the delete's update, which changes no key.) SQLite runs one write at a time anyway.
// Errors: ErrNotFound when no live connection matches.
func (s *Store) ConnectionForShare(ctx context.Context, ws, id uuid.UUID) (*models.Connection, error) {
	q := "SELECT " + connectionList + " FROM connections WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL LIMIT 1"
	if s.dialect == Postgres {
		q += " FOR SHARE"
	}
	return s.queryConnection(ctx, q, ws, id)
}

// ConnectionForUpdate is Connection that, on PostgreSQL, also holds an exclusive lock on the
// row until the transaction ends: a write that decides from the connection and its domains
// together (activation needs a verified domain; removing the last verified domain of an
// active connection is refused) sees the other's commit, not its own earlier reads. The
// status it returns is the one committed last. SQLite runs one write at a time anyway.
// Errors: ErrNotFound when no live connection matches.
func (s *Store) ConnectionForUpdate(ctx context.Context, ws, id uuid.UUID) (*models.Connection, error) {
	q := "SELECT " + connectionList + " FROM connections WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL LIMIT 1"
	if s.dialect == Postgres {
		q += " FOR UPDATE"
	}
	return s.queryConnection(ctx, q, ws, id)
}

// SAMLConnection finds a live SAML connection by id in any workspace: the public SP metadata
// (GET /saml/metadata/{id}) names the connection alone, and shows nothing of it but its id.
// Errors: ErrNotFound when no live SAML connection has the id.
func (s *Store) SAMLConnection(ctx context.Context, id uuid.UUID) (*models.Connection, error) {
	return s.queryConnection(ctx, "SELECT "+connectionList+" FROM connections WHERE id = ? AND protocol = ? AND deleted_at IS NULL LIMIT 1", id, models.ProtocolSAML)
}

// connectionTable describes a connection: every sign-in decision reads its connection, and
// GORM's reflective Find cost more than the query.
var connectionTable = newTable("connections",
	col("id", func(c *models.Connection) *uuid.UUID { return &c.ID }),
	col("workspace_id", func(c *models.Connection) *uuid.UUID { return &c.WorkspaceID }),
	col("name", func(c *models.Connection) *string { return &c.Name }),
	col("name_key", func(c *models.Connection) *string { return &c.NameKey }),
	col("slug", func(c *models.Connection) *string { return &c.Slug }),
	col("protocol", func(c *models.Connection) *models.Protocol { return &c.Protocol }),
	col("status", func(c *models.Connection) *models.ConnectionStatus { return &c.Status }),
	col("oidc_issuer_url", func(c *models.Connection) *string { return &c.OIDCIssuerURL }),
	col("oidc_client_id", func(c *models.Connection) *string { return &c.OIDCClientID }),
	col("oidc_client_secret_enc", func(c *models.Connection) *[]byte { return &c.OIDCClientSecretEnc }),
	col("oidc_discovery_url", func(c *models.Connection) *string { return &c.OIDCDiscoveryURL }),
	col("oidc_scopes", func(c *models.Connection) *string { return &c.OIDCScopes }),
	col("oidc_identifier_claim", func(c *models.Connection) *string { return &c.OIDCIdentifierClaim }),
	col("oidc_own_callback", func(c *models.Connection) *bool { return &c.OIDCOwnCallback }),
	col("oidc_require_verified_email", func(c *models.Connection) *bool { return &c.OIDCRequireVerifiedEmail }),
	col("oidc_client_auth_method", func(c *models.Connection) *string { return &c.OIDCClientAuthMethod }),
	col("saml_entity_id", func(c *models.Connection) *string { return &c.SAMLEntityID }),
	col("saml_sso_url", func(c *models.Connection) *string { return &c.SAMLSSOURL }),
	col("saml_sso_binding", func(c *models.Connection) *string { return &c.SAMLSSOBinding }),
	col("saml_certificate", func(c *models.Connection) *string { return &c.SAMLCertificate }),
	col("saml_sign_requests", func(c *models.Connection) *bool { return &c.SAMLSignRequests }),
	col("saml_attribute_mapping", func(c *models.Connection) *string { return &c.SAMLAttributeMapping }),
	col("saml_metadata_url", func(c *models.Connection) *string { return &c.SAMLMetadataURL }),
	col("saml_shared_entity_id", func(c *models.Connection) *bool { return &c.SAMLSharedEntityID }),
	col("saml_metadata_refresh", func(c *models.Connection) *bool { return &c.SAMLMetadataRefresh }),
	col("saml_metadata_checked_at", func(c *models.Connection) **time.Time { return &c.SAMLMetadataCheckedAt }),
	col("saml_metadata_problem", func(c *models.Connection) *string { return &c.SAMLMetadataProblem }),
	col("saml_metadata_sso_listed", func(c *models.Connection) *bool { return &c.SAMLMetadataSSOListed }),
	col("saml_accept_sha1", func(c *models.Connection) *bool { return &c.SAMLAcceptSHA1 }),
	col("jit_provisioning", func(c *models.Connection) *bool { return &c.JITProvisioning }),
	col("default_role", func(c *models.Connection) *string { return &c.DefaultRole }),
	col("jit_verified_domains_only", func(c *models.Connection) *bool { return &c.JITVerifiedDomainsOnly }),
	col("version", func(c *models.Connection) *int { return &c.Version }),
	col("created_at", func(c *models.Connection) *time.Time { return &c.CreatedAt }),
	col("updated_at", func(c *models.Connection) *time.Time { return &c.UpdatedAt }),
	col("deleted_at", func(c *models.Connection) **time.Time { return &c.DeletedAt }),
)

var connectionList = connectionTable.list

// queryConnection runs a query of connectionList and scans its first row. No row is
// ErrNotFound.
func (s *Store) queryConnection(ctx context.Context, q string, args ...any) (*models.Connection, error) {
	return queryRow(ctx, s, connectionTable, q, args...)
}

// ConnectionBySlug finds a live connection by slug (the seed's authModule).
// Errors: ErrNotFound when no live connection matches.
func (s *Store) ConnectionBySlug(ctx context.Context, ws uuid.UUID, slug string) (*models.Connection, error) {
	var c models.Connection
	if err := first(s.scoped(ctx, ws).Where("slug = ? AND deleted_at IS NULL", slug), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// ConnectionsBySlugs loads live connections by slug.
// Errors: none of the contract; no match is an empty result.
func (s *Store) ConnectionsBySlugs(ctx context.Context, ws uuid.UUID, slugs []string) ([]*models.Connection, error) {
	var cs []*models.Connection
	err := s.scoped(ctx, ws).Where("slug IN ? AND deleted_at IS NULL", slugs).Find(&cs).Error
	return cs, translate(err)
}

// Connections lists a workspace's live connections, oldest first.
// Errors: none of the contract; no match is an empty result.
func (s *Store) Connections(ctx context.Context, ws uuid.UUID) ([]*models.Connection, error) {
	var cs []*models.Connection
	err := s.scoped(ctx, ws).Where("deleted_at IS NULL").Order("id").Find(&cs).Error
	return cs, translate(err)
}

// metadataReportColumns are the metadata refresh's report on a connection
// (RecordSAMLMetadataCheck), which UpdateConnection leaves as stored.
var metadataReportColumns = []string{"saml_metadata_checked_at", "saml_metadata_problem", "saml_metadata_sso_listed"}

// UpdateConnection saves every column of c if its version is still c.Version, then bumps it,
// but for the metadata refresh's report (metadataReportColumns): the refresh records it without
// moving the version (RecordSAMLMetadataCheck), so a caller that read the connection before a
// refresh and writes it after would put back the report it read, and could lose a report the
// admin has yet to see. A caller that changes the report writes it with SetSAMLMetadataReport.
// Errors: ErrStale when the version moved or the connection is gone; ErrAlreadyExists "slug" or "name".
func (s *Store) UpdateConnection(ctx context.Context, c *models.Connection) error {
	c.UpdatedAt = s.now()
	c.Version++
	res := s.scoped(ctx, c.WorkspaceID).Model(&models.Connection{}).
		Where("id = ? AND version = ?", c.ID, c.Version-1).
		Select("*").Omit(append([]string{"id", "workspace_id", "created_at"}, metadataReportColumns...)...).Updates(c)
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

// SAMLCertificateRow is a live SAML connection's IdP certificate text, and whether it accepts
// responses signed with SHA-1.
type SAMLCertificateRow struct {
	ConnectionID uuid.UUID
	WorkspaceID  uuid.UUID
	Certificate  string
	AcceptSHA1   bool
}

// SAMLCertificates lists, by id, at most limit live SAML connections in status whose id is
// after after (uuid.Nil: from the first), in every workspace, with their IdP certificates:
// the expiry watch of the operator (provision.SAMLCertificateExpiry) reads them a batch at a
// time.
// Errors: none of the contract; no match is an empty result.
func (s *Store) SAMLCertificates(ctx context.Context, after uuid.UUID, limit int, status ...models.ConnectionStatus) ([]SAMLCertificateRow, error) {
	var rows []SAMLCertificateRow
	err := s.db(ctx).Raw("SELECT id AS connection_id, workspace_id, saml_certificate AS certificate, saml_accept_sha1 AS accept_sha1 FROM connections "+
		"WHERE protocol = ? AND status IN ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?",
		models.ProtocolSAML, status, after, limit).Scan(&rows).Error
	return rows, translate(err)
}

// SAMLMetadataRow is a live SAML connection that takes its IdP certificates from its
// metadata URL, with the report of its last read.
type SAMLMetadataRow struct {
	ConnectionID uuid.UUID
	WorkspaceID  uuid.UUID
	MetadataURL  string
	CheckedAt    *time.Time // nil: never read
	Problem      string
}

// samlMetadataFollowing selects the live SAML connections whose certificates follow their
// metadata URL (saml_metadata_refresh, with a URL): the ones the hourly refresh reads.
const samlMetadataFollowing = "protocol = ? AND saml_metadata_refresh AND saml_metadata_url <> '' AND deleted_at IS NULL"

// samlMetadataDue selects, of those, the ones not read since the time it is given (never read,
// or read before it).
const samlMetadataDue = " AND (saml_metadata_checked_at IS NULL OR saml_metadata_checked_at < ?)"

// SAMLMetadataWorkspaces lists the workspaces that have connections following their metadata
// not read since since, least recently read first (one never read before any read one, then
// by the oldest read): the hourly refresh (provision.RefreshSAMLMetadata) takes turns among
// them, starting with the one left waiting longest.
// Errors: none of the contract; no match is an empty result.
func (s *Store) SAMLMetadataWorkspaces(ctx context.Context, since time.Time) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.db(ctx).Raw("SELECT workspace_id FROM connections WHERE "+samlMetadataFollowing+samlMetadataDue+
		" GROUP BY workspace_id ORDER BY MIN(CASE WHEN saml_metadata_checked_at IS NULL THEN 0 ELSE 1 END), MIN(saml_metadata_checked_at), workspace_id",
		models.ProtocolSAML, since).Scan(&ids).Error
	return ids, translate(err)
}

// SAMLMetadataRefreshes lists at most limit connections of workspace ws that follow their
// metadata and were not read since since, least recently read first (never read first, then
// by the time of their last read, then by id): the hourly refresh reads the ones left
// waiting longest first, so that those a run had no time for come first in the next.
// Errors: none of the contract; no match is an empty result.
func (s *Store) SAMLMetadataRefreshes(ctx context.Context, ws uuid.UUID, since time.Time, limit int) ([]SAMLMetadataRow, error) {
	var rows []SAMLMetadataRow
	err := s.db(ctx).Raw("SELECT id AS connection_id, workspace_id, saml_metadata_url AS metadata_url, "+
		"saml_metadata_checked_at AS checked_at, saml_metadata_problem AS problem FROM connections "+
		"WHERE workspace_id = ? AND "+samlMetadataFollowing+samlMetadataDue+
		" ORDER BY CASE WHEN saml_metadata_checked_at IS NULL THEN 0 ELSE 1 END, saml_metadata_checked_at, id LIMIT ?",
		ws, models.ProtocolSAML, since, limit).Scan(&rows).Error
	return rows, translate(err)
}

// SAMLMetadataReads counts the connections that follow their metadata by their last read:
// read since since without a problem (unchanged) or with one (failed), and the rest (due:
// never read, or read before since).
// Errors: none of the contract.
func (s *Store) SAMLMetadataReads(ctx context.Context, since time.Time) (due, unchanged, failed int, err error) {
	var row struct{ Due, Unchanged, Failed int }
	err = s.db(ctx).Raw("SELECT "+
		"COALESCE(SUM(CASE WHEN saml_metadata_checked_at IS NULL OR saml_metadata_checked_at < ? THEN 1 ELSE 0 END), 0) AS due, "+
		"COALESCE(SUM(CASE WHEN saml_metadata_checked_at >= ? AND saml_metadata_problem = '' THEN 1 ELSE 0 END), 0) AS unchanged, "+
		"COALESCE(SUM(CASE WHEN saml_metadata_checked_at >= ? AND saml_metadata_problem <> '' THEN 1 ELSE 0 END), 0) AS failed "+
		"FROM connections WHERE "+samlMetadataFollowing, since, since, since, models.ProtocolSAML).Scan(&row).Error
	return row.Due, row.Unchanged, row.Failed, translate(err)
}

// SAMLMetadataCheck is the report of one read of a connection's metadata
// (RecordSAMLMetadataCheck), with what it was read for: the metadata URL, and the SSO URL and
// binding SSOListed was judged against.
type SAMLMetadataCheck struct {
	MetadataURL string
	// SSOURL and SSOBinding are the connection's saml_sso_url and saml_sso_binding as read
	// (the binding as stored: "" is HTTP-Redirect).
	SSOURL, SSOBinding string
	At                 time.Time
	Problem            string // "": nothing wrong
	// SSOListed is saml_metadata_sso_listed after the read
	// (models.Connection.SAMLMetadataSSOListed).
	SSOListed bool
}

// SetSAMLMetadataReport writes c's metadata report (SAMLMetadataCheckedAt, SAMLMetadataProblem,
// SAMLMetadataSSOListed) as it is: an admin's change that starts the report afresh
// (provision.applyMetadataRefresh), in the transaction of its UpdateConnection, which leaves
// the report as stored.
// Errors: ErrNotFound when no live connection matches.
func (s *Store) SetSAMLMetadataReport(ctx context.Context, c *models.Connection) error {
	res := s.db(ctx).Exec("UPDATE connections SET saml_metadata_checked_at = ?, saml_metadata_problem = ?, saml_metadata_sso_listed = ? "+
		"WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL",
		c.SAMLMetadataCheckedAt, c.SAMLMetadataProblem, c.SAMLMetadataSSOListed, c.WorkspaceID, c.ID)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// RecordSAMLMetadataCheck records when a connection's metadata was last read, what was wrong
// with it ("": nothing) and whether it has listed the connection's SSO URL. It is a report,
// not a change of the connection: the version and updated_at stay, so that it never makes an
// admin's If-Match update stale.
// Errors: ErrNotFound when no live connection matches, or its metadata URL, SSO URL or SSO
// binding is another now than chk's (the report would be of a document it no longer follows,
// or judged against an endpoint it no longer has).
func (s *Store) RecordSAMLMetadataCheck(ctx context.Context, ws, id uuid.UUID, chk SAMLMetadataCheck) error {
	res := s.db(ctx).Exec("UPDATE connections SET saml_metadata_checked_at = ?, saml_metadata_problem = ?, saml_metadata_sso_listed = ? "+
		"WHERE workspace_id = ? AND id = ? AND saml_metadata_url = ? AND saml_sso_url = ? AND saml_sso_binding = ? AND deleted_at IS NULL",
		chk.At, chk.Problem, chk.SSOListed, ws, id, chk.MetadataURL, chk.SSOURL, chk.SSOBinding)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
