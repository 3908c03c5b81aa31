package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"gatehouse/models"
)

// Brand finds a brand by id within a workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) Brand(ctx context.Context, ws, id uuid.UUID) (*models.Brand, error) {
	var b models.Brand
	if err := first(s.scoped(ctx, ws).Where("id = ?", id), &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// BrandByID finds a brand by id in any workspace: a browser sign-in knows the brand it signs
// in to before it knows the workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) BrandByID(ctx context.Context, id uuid.UUID) (*models.Brand, error) {
	var b models.Brand
	if err := first(s.db(ctx).Where("id = ?", id), &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Brands lists up to limit brands after the given id, in creation order.
// Errors: none of the contract; no match is an empty result.
func (s *Store) Brands(ctx context.Context, ws uuid.UUID, after *uuid.UUID, limit int) ([]*models.Brand, error) {
	q := s.scoped(ctx, ws)
	if after != nil {
		q = q.Where("id > ?", *after)
	}
	var bs []*models.Brand
	err := q.Order("id").Limit(limit).Find(&bs).Error
	return bs, translate(err)
}

// UpdateBrand saves a brand if its version is still b.Version, then bumps it.
// Errors: ErrStale when the version moved or the brand is gone; ErrAlreadyExists "name" or "slug".
func (s *Store) UpdateBrand(ctx context.Context, b *models.Brand) error {
	now := s.now()
	res := s.scoped(ctx, b.WorkspaceID).Model(&models.Brand{}).Where("id = ? AND version = ?", b.ID, b.Version).
		Updates(map[string]any{"name": b.Name, "name_key": b.NameKey, "slug": b.Slug, "portal_url": b.Portal,
			"version": b.Version + 1, "updated_at": now})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrStale
	}
	b.Version++
	b.UpdatedAt = now
	return nil
}

// Company finds a company by id within a workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) Company(ctx context.Context, ws, id uuid.UUID) (*models.Company, error) {
	var c models.Company
	if err := first(s.scoped(ctx, ws).Where("id = ?", id), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// CompanyByName finds the company whose name is exactly name (case-sensitive). The lookup
// goes through the unique name_key index.
// Errors: ErrNotFound when no row matches.
func (s *Store) CompanyByName(ctx context.Context, ws uuid.UUID, name string) (*models.Company, error) {
	// A plain read, not GORM's: placement reads it before a first sign-in's first write
	// (InTxFromFirstWrite).
	return queryRow(ctx, s, companyTable, "SELECT "+companyTable.list+
		" FROM companies WHERE workspace_id = ? AND name_key = ? AND name = ? LIMIT 1", ws, models.Key(name), name)
}

// CompaniesByIDs loads companies by id within a workspace, in no particular order.
// Errors: none of the contract; missing ids are left out.
func (s *Store) CompaniesByIDs(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) ([]*models.Company, error) {
	var cs []*models.Company
	if len(ids) == 0 {
		return cs, nil
	}
	err := s.scoped(ctx, ws).Where("id IN ?", ids).Find(&cs).Error
	return cs, translate(err)
}

// Companies lists up to limit companies after the given id, in creation order.
// Errors: none of the contract; no match is an empty result.
func (s *Store) Companies(ctx context.Context, ws uuid.UUID, after *uuid.UUID, limit int) ([]*models.Company, error) {
	var cs []*models.Company
	err := companiesPage(s.db(ctx), ws, after, limit, &cs).Error
	return cs, translate(err)
}

// companiesPage reads a page of Companies into cs on db, through ix_companies_workspace
// (migration 35).
func companiesPage(db *gorm.DB, ws uuid.UUID, after *uuid.UUID, limit int, cs *[]*models.Company) *gorm.DB {
	q := db.Where("workspace_id = ?", ws)
	if after != nil {
		q = q.Where("id > ?", *after)
	}
	return q.Order("id").Limit(limit).Find(cs)
}

// UpdateCompany saves a company's name.
// Errors: ErrNotFound when the company is gone; ErrAlreadyExists "name".
func (s *Store) UpdateCompany(ctx context.Context, c *models.Company) error {
	c.UpdatedAt = s.now()
	res := s.scoped(ctx, c.WorkspaceID).Model(&models.Company{}).Where("id = ?", c.ID).
		Updates(map[string]any{"name": c.Name, "name_key": c.NameKey, "updated_at": c.UpdatedAt})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// Account finds an account by id within a workspace.
// Errors: ErrNotFound when no row matches.
func (s *Store) Account(ctx context.Context, ws, id uuid.UUID) (*models.Account, error) {
	// A plain read, not GORM's: placement reads it before a first sign-in's first write
	// (InTxFromFirstWrite).
	return queryRow(ctx, s, accountTable, "SELECT "+accountTable.list+" FROM accounts WHERE workspace_id = ? AND id = ? LIMIT 1", ws, id)
}

// AccountForUpdate is Account that, on PostgreSQL, also locks the row until the transaction
// ends: UpdateAccount saves every field of the account, so a concurrent update of other fields
// waits and reads this one's. SQLite runs one write at a time anyway.
// Errors: ErrNotFound when no row matches.
func (s *Store) AccountForUpdate(ctx context.Context, ws, id uuid.UUID) (*models.Account, error) {
	q := "SELECT " + accountTable.list + " FROM accounts WHERE workspace_id = ? AND id = ? LIMIT 1"
	if s.dialect == Postgres {
		q += " FOR UPDATE"
	}
	return queryRow(ctx, s, accountTable, q, ws, id)
}

// AccountsByIDs loads accounts by id within a workspace, in no particular order.
// Errors: none of the contract; missing ids are left out.
func (s *Store) AccountsByIDs(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) ([]*models.Account, error) {
	var as []*models.Account
	if len(ids) == 0 {
		return as, nil
	}
	err := s.scoped(ctx, ws).Where("id IN ?", ids).Find(&as).Error
	return as, translate(err)
}

// OldestAccountOf finds the first account created for a company.
// Errors: ErrNotFound when the company has no account.
func (s *Store) OldestAccountOf(ctx context.Context, ws, companyID uuid.UUID) (*models.Account, error) {
	return queryRow(ctx, s, accountTable, "SELECT "+accountTable.list+
		" FROM accounts WHERE workspace_id = ? AND company_id = ? ORDER BY created_at, id LIMIT 1", ws, companyID)
}

// AccountFilter narrows an account listing; nil fields do not filter.
type AccountFilter struct {
	CompanyID *uuid.UUID
	Type      *models.AccountType
}

// Accounts lists up to limit accounts after the given id, in creation order.
// Errors: none of the contract; no match is an empty result.
func (s *Store) Accounts(ctx context.Context, ws uuid.UUID, f AccountFilter, after *uuid.UUID, limit int) ([]*models.Account, error) {
	q := s.scoped(ctx, ws)
	if f.CompanyID != nil {
		q = q.Where("company_id = ?", *f.CompanyID)
	}
	if f.Type != nil {
		q = q.Where("type = ?", *f.Type)
	}
	if after != nil {
		q = q.Where("id > ?", *after)
	}
	var as []*models.Account
	err := q.Order("id").Limit(limit).Find(&as).Error
	return as, translate(err)
}

// UpdateAccount saves an account's name, type and company.
// Errors: ErrNotFound when the account is gone; ErrMissingReference when its company is.
func (s *Store) UpdateAccount(ctx context.Context, a *models.Account) error {
	a.UpdatedAt = s.now()
	res := s.scoped(ctx, a.WorkspaceID).Model(&models.Account{}).Where("id = ?", a.ID).
		Updates(map[string]any{"name": a.Name, "type": a.Type, "company_id": a.CompanyID, "updated_at": a.UpdatedAt})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// SetUserAccountAccount places a user account in an account (nil: none) and bumps its version.
// Errors: ErrStale when the version moved or the user account is gone; ErrMissingReference when the account is.
func (s *Store) SetUserAccountAccount(ctx context.Context, u *models.UserAccount, accountID *uuid.UUID) error {
	now := s.now()
	res := s.scoped(ctx, u.WorkspaceID).Model(&models.UserAccount{}).Where("id = ? AND version = ?", u.ID, u.Version).
		Updates(map[string]any{"account_id": accountID, "version": u.Version + 1, "updated_at": now})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrStale
	}
	u.AccountID, u.Version, u.UpdatedAt = accountID, u.Version+1, now
	return nil
}

// UserAccountByEmail finds the account with this email key.
// Errors: ErrNotFound when no row matches.
func (s *Store) UserAccountByEmail(ctx context.Context, ws uuid.UUID, emailKey string) (*models.UserAccount, error) {
	// Scanned by hand (user_rows.go): a first sign-in asks it once or twice.
	us, _, err := s.queryUsers(ctx, "WHERE workspace_id = ? AND email_key = ? LIMIT 1", []any{ws, emailKey}, false)
	if err != nil {
		return nil, err
	}
	if len(us) == 0 {
		return nil, ErrNotFound
	}
	return us[0], nil
}

// ConnectionsByIDs loads live connections by id within a workspace.
// Errors: none of the contract; missing or deleted ids are left out.
func (s *Store) ConnectionsByIDs(ctx context.Context, ws uuid.UUID, ids []uuid.UUID) ([]*models.Connection, error) {
	var cs []*models.Connection
	if len(ids) == 0 {
		return cs, nil
	}
	err := s.scoped(ctx, ws).Where("id IN ? AND deleted_at IS NULL", ids).Find(&cs).Error
	return cs, translate(err)
}

// IdentityProviderConfiguration finds the configuration of a brand for a connection.
// Errors: ErrNotFound when no row matches.
func (s *Store) IdentityProviderConfiguration(ctx context.Context, ws, brandID, connectionID uuid.UUID) (*models.IdentityProviderConfiguration, error) {
	// Scanned by hand: every first sign-in asks it, and GORM's reflective scan cost more than
	// the query.
	return queryRow(ctx, s, idpConfigurationTable, idpConfigurationSQL, ws, brandID, connectionID)
}

var (
	idpConfigurationTable = newTable("identity_provider_configurations",
		col("id", func(c *models.IdentityProviderConfiguration) *uuid.UUID { return &c.ID }),
		col("workspace_id", func(c *models.IdentityProviderConfiguration) *uuid.UUID { return &c.WorkspaceID }),
		col("brand_id", func(c *models.IdentityProviderConfiguration) *uuid.UUID { return &c.BrandID }),
		col("connection_id", func(c *models.IdentityProviderConfiguration) *uuid.UUID { return &c.ConnectionID }),
		col("auto_provision_learners", func(c *models.IdentityProviderConfiguration) *bool { return &c.AutoProvisionLearners }),
		col("default_account_id", func(c *models.IdentityProviderConfiguration) **uuid.UUID { return &c.DefaultAccountID }),
		col("company_claim", func(c *models.IdentityProviderConfiguration) *string { return &c.CompanyClaim }),
		col("version", func(c *models.IdentityProviderConfiguration) *int { return &c.Version }),
		col("created_at", func(c *models.IdentityProviderConfiguration) *time.Time { return &c.CreatedAt }),
		col("updated_at", func(c *models.IdentityProviderConfiguration) *time.Time { return &c.UpdatedAt }),
	)
	idpConfigurationSQL = "SELECT " + idpConfigurationTable.list +
		" FROM identity_provider_configurations WHERE workspace_id = ? AND brand_id = ? AND connection_id = ? LIMIT 1"
)

// companyTable describes a company, which placement reads by name (CompanyByName).
var companyTable = newTable("companies",
	col("id", func(c *models.Company) *uuid.UUID { return &c.ID }),
	col("workspace_id", func(c *models.Company) *uuid.UUID { return &c.WorkspaceID }),
	col("name", func(c *models.Company) *string { return &c.Name }),
	col("name_key", func(c *models.Company) *string { return &c.NameKey }),
	col("created_at", func(c *models.Company) *time.Time { return &c.CreatedAt }),
	col("updated_at", func(c *models.Company) *time.Time { return &c.UpdatedAt }),
)

// accountTable describes an account, which a first sign-in may create (CreateProvisionedUser).
var accountTable = newTable("accounts",
	col("id", func(a *models.Account) *uuid.UUID { return &a.ID }),
	col("workspace_id", func(a *models.Account) *uuid.UUID { return &a.WorkspaceID }),
	col("name", func(a *models.Account) *string { return &a.Name }),
	col("type", func(a *models.Account) *models.AccountType { return &a.Type }),
	col("company_id", func(a *models.Account) **uuid.UUID { return &a.CompanyID }),
	col("created_at", func(a *models.Account) *time.Time { return &a.CreatedAt }),
	col("updated_at", func(a *models.Account) *time.Time { return &a.UpdatedAt }),
)

// IdentityProviderConfigurations lists the configurations of the given brands whose
// connection is live, oldest first.
// Errors: none of the contract; no match is an empty result.
func (s *Store) IdentityProviderConfigurations(ctx context.Context, ws uuid.UUID, brandIDs []uuid.UUID) ([]*models.IdentityProviderConfiguration, error) {
	var cs []*models.IdentityProviderConfiguration
	if len(brandIDs) == 0 {
		return cs, nil
	}
	err := s.db(ctx).Table("identity_provider_configurations AS c").Select("c.*").
		Joins("JOIN connections AS k ON k.id = c.connection_id AND k.deleted_at IS NULL").
		Where("c.workspace_id = ? AND c.brand_id IN ?", ws, brandIDs).Order("c.id").Find(&cs).Error
	return cs, translate(err)
}

// UpdateIdentityProviderConfiguration saves a configuration if its version is still
// c.Version, then bumps it.
// Errors: ErrStale when the version moved or the configuration is gone; ErrMissingReference when its default account is.
func (s *Store) UpdateIdentityProviderConfiguration(ctx context.Context, c *models.IdentityProviderConfiguration) error {
	now := s.now()
	res := s.scoped(ctx, c.WorkspaceID).Model(&models.IdentityProviderConfiguration{}).
		Where("id = ? AND version = ?", c.ID, c.Version).
		Updates(map[string]any{"auto_provision_learners": c.AutoProvisionLearners,
			"default_account_id": c.DefaultAccountID, "company_claim": c.CompanyClaim,
			"version": c.Version + 1, "updated_at": now})
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrStale
	}
	c.Version++
	c.UpdatedAt = now
	return nil
}

// DeleteIdentityProviderConfiguration removes a configuration; it reports whether one existed.
// Errors: none of the contract; a missing one reports false.
func (s *Store) DeleteIdentityProviderConfiguration(ctx context.Context, ws, id uuid.UUID) (bool, error) {
	res := s.scoped(ctx, ws).Where("id = ?", id).Delete(&models.IdentityProviderConfiguration{})
	return res.RowsAffected > 0, translate(res.Error)
}
