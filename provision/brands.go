package provision

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// MaxClaimNameLength bounds a configuration's companyClaim.
const MaxClaimNameLength = 256

// BrandInput creates a brand (Name required) or changes one (nil fields stay unchanged).
// An empty PortalURL clears it.
type BrandInput struct {
	Name      *string
	Slug      *string
	PortalURL *string
}

// BrandPage is one page of brands in creation order.
type BrandPage struct {
	Nodes    []*models.Brand
	PageInfo *PageInfo
}

// CompanyPage is one page of companies in creation order.
type CompanyPage struct {
	Nodes    []*models.Company
	PageInfo *PageInfo
}

// AccountPage is one page of accounts in creation order.
type AccountPage struct {
	Nodes    []*models.Account
	PageInfo *PageInfo
}

// pageOf trims a result fetched with limit+1 rows to limit and describes the page.
func pageOf[T any](items []T, limit int, id func(T) uuid.UUID) ([]T, *PageInfo) {
	pi := &PageInfo{}
	if len(items) > limit {
		items, pi.HasNextPage = items[:limit], true
	}
	if n := len(items); n > 0 {
		c := cursorOf(id(items[n-1]))
		pi.EndCursor = &c
	}
	return items, pi
}

// pageArgs validates a cursor and clamps a page size.
func pageArgs(first int, after *string) (*uuid.UUID, int, error) {
	if after == nil || *after == "" {
		return nil, clampPage(first), nil
	}
	id, err := parseCursor(*after)
	if err != nil {
		return nil, 0, err
	}
	return &id, clampPage(first), nil
}

// finder reads one row of a workspace by id (store.ErrNotFound when there is none).
type finder[T any] func(ctx context.Context, ws, id uuid.UUID) (*T, error)

// loadByID finds the row of workspace ws that rawID names, reporting a malformed or unknown id
// as not found against field.
func loadByID[T any](ctx context.Context, ws uuid.UUID, field, rawID, what string, find finder[T]) (*T, error) {
	id, e := lookupID(field, rawID, what)
	if e != nil {
		return nil, e
	}
	v, err := find(ctx, ws, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(field, rawID, what)
	}
	return v, err
}

// readByID is a query for one row of the caller's workspace: nil when rawID names none.
func readByID[T any](s *Service, ctx context.Context, rawID, what string, find finder[T]) (*T, error) {
	p, err := s.authorize(ctx, accessRead)
	if err != nil {
		return nil, err
	}
	v, err := loadByID(ctx, p.WorkspaceID, "id", rawID, what, find)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return nil, nil
	}
	return v, internal(what, err)
}

// listPage is a query for one page (first ≤ 100 rows after a cursor) of the caller's
// workspace's rows in creation order; list fetches up to limit rows.
func listPage[T any](s *Service, ctx context.Context, first int, after *string, what string,
	list func(ctx context.Context, ws uuid.UUID, after *uuid.UUID, limit int) ([]*T, error), id func(*T) uuid.UUID) ([]*T, *PageInfo, error) {
	p, err := s.authorize(ctx, accessRead)
	if err != nil {
		return nil, nil, err
	}
	a, limit, err := pageArgs(first, after)
	if err != nil {
		return nil, nil, err
	}
	rows, err := list(ctx, p.WorkspaceID, a, limit+1)
	if err != nil {
		return nil, nil, internal(what, err)
	}
	rows, pi := pageOf(rows, limit, id)
	if rows == nil {
		rows = []*T{}
	}
	return rows, pi, nil
}

// ---- brands ----

// derivedSlug is the slug of a brand or connection created without one: the name's
// (models.Slugify: accents dropped, at most 64 bytes) or, for a name without ASCII letters or
// digits (東京オフィス, Εταιρεία), kind, a dash and the end of the row's id. The id's random
// end: its start is a timestamp (UUIDv7) that stays the same for 65 seconds, in which a
// second such name would derive the same slug and be refused as taken.
func derivedSlug(name, kind string, id uuid.UUID) string {
	slug := models.Slugify(name)
	if len(slug) > 64 {
		slug = strings.TrimRight(slug[:64], "-")
	}
	if slug == "" {
		s := id.String()
		slug = kind + "-" + s[len(s)-12:]
	}
	return slug
}

// CreateBrand creates a brand. The slug defaults to one derived from the name.
func (s *Service) CreateBrand(ctx context.Context, in BrandInput) (*models.Brand, error) {
	p, err := s.authorize(ctx, accessWrite)
	if err != nil {
		return nil, err
	}
	now := s.now()
	b := &models.Brand{ID: store.NewID(), WorkspaceID: p.WorkspaceID, Version: 1, CreatedAt: now, UpdatedAt: now}
	if in.Name == nil {
		empty := ""
		in.Name = &empty
	}
	derived := in.Slug == nil
	if derived {
		slug := derivedSlug(*in.Name, "brand", b.ID)
		in.Slug = &slug
	}
	if errs := s.applyBrand(b, in); len(errs) > 0 {
		if derived && len(errs) > 1 { // the derived slug is only wrong because the name is
			errs = errs[:1]
		} else if derived && errs[0].Field == "slug" {
			errs[0].Message = "cannot be derived from this name; give one"
		}
		return nil, errs
	}
	err = s.mutateAs(ctx, p, brandMutation("brand.create", &b), func(ctx context.Context, p *Principal) (audited, error) {
		return audited{id: b.ID.String(), summary: brandSummary(b)}, s.store.Create(ctx, b)
	})
	if derived {
		derivedSlugTaken(err, "brand")
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// UpdateBrand changes the given fields of a brand.
func (s *Service) UpdateBrand(ctx context.Context, rawID string, in BrandInput) (*models.Brand, error) {
	var b *models.Brand
	err := s.mutate(ctx, brandMutation("brand.update", &b), func(ctx context.Context, p *Principal) (_ audited, err error) {
		if b, err = s.loadBrand(ctx, p.WorkspaceID, "id", rawID); err != nil {
			return audited{}, err
		}
		changed, names, err := edit(b, func(b *models.Brand) error { return s.applyBrand(b, in).Err() })
		if err != nil || !changed {
			return audited{unchanged: true}, err // !changed: no write, no event (edit)
		}
		if err := s.store.UpdateBrand(ctx, b); err != nil {
			return audited{}, err
		}
		summary := brandSummary(b)
		summary["changed"] = names
		return audited{id: b.ID.String(), summary: summary}, nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (s *Service) applyBrand(b *models.Brand, in BrandInput) models.Errors {
	var errs models.Errors
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if e := validateName("name", name); e != nil {
			errs = append(errs, e)
		}
		b.Name, b.NameKey = name, models.Key(name)
	}
	if in.Slug != nil {
		slug := strings.TrimSpace(*in.Slug)
		if !models.ValidSlug(slug) {
			errs = append(errs, models.FieldError(models.EINVALID, "slug", slug, "must be 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"))
		}
		b.Slug = slug
	}
	if in.PortalURL != nil {
		u := strings.TrimSpace(*in.PortalURL)
		if u != "" {
			if e := s.validateIdPURL("portalUrl", u); e != nil {
				errs = append(errs, e)
			}
		}
		b.Portal = u
	}
	return errs
}

// brandMutation is a change of the brand *b (set by the write).
func brandMutation(action string, b **models.Brand) mutation {
	return mutation{access: accessWrite, action: action, target: "brand", op: "save brand",
		stale: changedConcurrently("brand"),
		taken: func(field string) error {
			switch field {
			case "name":
				return models.FieldError(models.ETAKEN, "name", (*b).Name, "another brand in this workspace has this name")
			case "slug":
				return models.FieldError(models.ETAKEN, "slug", (*b).Slug, "another brand in this workspace has this slug")
			}
			return nil
		}}
}

func brandSummary(b *models.Brand) map[string]any {
	return map[string]any{"name": b.Name, "slug": b.Slug, "portalUrl": b.Portal}
}

func (s *Service) loadBrand(ctx context.Context, ws uuid.UUID, field, rawID string) (*models.Brand, error) {
	return loadByID(ctx, ws, field, rawID, "brand", s.store.Brand)
}

// Brand returns one brand of the caller's workspace, or nil.
func (s *Service) Brand(ctx context.Context, rawID string) (*models.Brand, error) {
	return readByID(s, ctx, rawID, "brand", s.store.Brand)
}

// Brands lists the caller's workspace's brands, first at a time (≤ 100), after a cursor.
func (s *Service) Brands(ctx context.Context, first int, after *string) (*BrandPage, error) {
	bs, pi, err := listPage(s, ctx, first, after, "brands", s.store.Brands, func(b *models.Brand) uuid.UUID { return b.ID })
	if err != nil {
		return nil, err
	}
	return &BrandPage{Nodes: bs, PageInfo: pi}, nil
}

// ---- companies ----

// CreateCompany creates a company. Names are unique per workspace, compared case-insensitively,
// so that the exact (case-sensitive) company match of placement can never be ambiguous.
func (s *Service) CreateCompany(ctx context.Context, name string) (*models.Company, error) {
	p, err := s.authorize(ctx, accessWrite)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if e := validateName("name", name); e != nil {
		return nil, e
	}
	now := s.now()
	c := &models.Company{ID: store.NewID(), WorkspaceID: p.WorkspaceID, Name: name, NameKey: models.Key(name),
		CreatedAt: now, UpdatedAt: now}
	err = s.mutateAs(ctx, p, companyMutation("company.create", name), func(ctx context.Context, p *Principal) (audited, error) {
		return audited{id: c.ID.String(), summary: map[string]any{"name": name}}, s.store.Create(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// UpdateCompany renames a company.
func (s *Service) UpdateCompany(ctx context.Context, rawID string, name *string) (*models.Company, error) {
	n := ""
	if name != nil {
		n = strings.TrimSpace(*name)
	}
	var c *models.Company
	err := s.mutate(ctx, companyMutation("company.update", n), func(ctx context.Context, p *Principal) (_ audited, err error) {
		if c, err = s.loadCompany(ctx, p.WorkspaceID, "id", rawID); err != nil || name == nil {
			return audited{unchanged: true}, err // nothing to change: no write, no event
		}
		if e := validateName("name", n); e != nil {
			return audited{}, e
		}
		before := c.Name
		changed, names, _ := edit(c, func(c *models.Company) error { c.Name, c.NameKey = n, models.Key(n); return nil })
		if !changed {
			return audited{unchanged: true}, nil // its name already: no write, no event (edit)
		}
		if err := s.store.UpdateCompany(ctx, c); err != nil {
			return audited{}, err
		}
		return audited{id: c.ID.String(), summary: map[string]any{"name": n, "previousName": before, "changed": names}}, nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// companyMutation is a change that names a company name.
func companyMutation(action, name string) mutation {
	return mutation{access: accessWrite, action: action, target: "company", op: "save company",
		taken: func(field string) error {
			if field == "name" {
				return models.FieldError(models.ETAKEN, "name", name, "another company in this workspace has this name (compared case-insensitively)")
			}
			return nil
		}}
}

func (s *Service) loadCompany(ctx context.Context, ws uuid.UUID, field, rawID string) (*models.Company, error) {
	return loadByID(ctx, ws, field, rawID, "company", s.store.Company)
}

// Company returns one company of the caller's workspace, or nil.
func (s *Service) Company(ctx context.Context, rawID string) (*models.Company, error) {
	return readByID(s, ctx, rawID, "company", s.store.Company)
}

// Companies lists the caller's workspace's companies in creation order.
func (s *Service) Companies(ctx context.Context, first int, after *string) (*CompanyPage, error) {
	cs, pi, err := listPage(s, ctx, first, after, "companies", s.store.Companies, func(c *models.Company) uuid.UUID { return c.ID })
	if err != nil {
		return nil, err
	}
	return &CompanyPage{Nodes: cs, PageInfo: pi}, nil
}

// CompaniesOfAccounts returns each account's company (nil for none), in order, with one query.
func (s *Service) CompaniesOfAccounts(ctx context.Context, as []*models.Account) ([]*models.Company, error) {
	out := make([]*models.Company, len(as))
	if len(as) == 0 {
		return out, nil
	}
	var ids []uuid.UUID
	for _, a := range as {
		if a.CompanyID != nil {
			ids = append(ids, *a.CompanyID)
		}
	}
	cs, err := s.store.CompaniesByIDs(ctx, as[0].WorkspaceID, ids)
	if err != nil {
		return nil, internal("companies of accounts", err)
	}
	byID := make(map[uuid.UUID]*models.Company, len(cs))
	for _, c := range cs {
		byID[c.ID] = c
	}
	for i, a := range as {
		if a.CompanyID != nil && a.WorkspaceID == as[0].WorkspaceID {
			out[i] = byID[*a.CompanyID]
		}
	}
	return out, nil
}

// ---- accounts ----

// AccountInput creates an account (Name and Type required) or changes one (nil fields stay
// unchanged). A COMPANY account needs CompanyID; an INDIVIDUAL one has none.
type AccountInput struct {
	Name      *string
	Type      *models.AccountType
	CompanyID *string
}

// CreateAccount creates an account.
func (s *Service) CreateAccount(ctx context.Context, in AccountInput) (*models.Account, error) {
	p, err := s.authorize(ctx, accessWrite)
	if err != nil {
		return nil, err
	}
	now := s.now()
	a := &models.Account{ID: store.NewID(), WorkspaceID: p.WorkspaceID, CreatedAt: now, UpdatedAt: now}
	if in.Name == nil {
		empty := ""
		in.Name = &empty
	}
	if in.Type == nil {
		return nil, models.FieldError(models.EINVALID, "type", "", "is required: COMPANY or INDIVIDUAL")
	}
	m := mutation{action: "account.create", target: "account", op: "create account"}
	err = s.mutateAs(ctx, p, m, func(ctx context.Context, p *Principal) (audited, error) {
		if err := s.applyAccount(ctx, a, in); err != nil {
			return audited{}, err
		}
		return audited{id: a.ID.String(), summary: accountSummary(a)}, s.store.Create(ctx, a)
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// UpdateAccount changes the given fields of an account.
func (s *Service) UpdateAccount(ctx context.Context, rawID string, in AccountInput) (*models.Account, error) {
	var a *models.Account
	m := mutation{access: accessWrite, action: "account.update", target: "account", op: "update account"}
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		// Locked: the update saves every field, so a concurrent update of other fields (a
		// rename, a move into a company) must be read, not written over.
		if a, err = loadByID(ctx, p.WorkspaceID, "id", rawID, "account", s.store.AccountForUpdate); err != nil {
			return audited{}, err
		}
		changed, names, err := edit(a, func(a *models.Account) error { return s.applyAccount(ctx, a, in) })
		if err != nil || !changed {
			return audited{unchanged: true}, err // !changed: no write, no event (edit)
		}
		if err := s.store.UpdateAccount(ctx, a); err != nil {
			return audited{}, err
		}
		summary := accountSummary(a)
		summary["changed"] = names
		return audited{id: a.ID.String(), summary: summary}, nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// applyAccount validates in against a (and the workspace's companies) and copies it onto a.
func (s *Service) applyAccount(ctx context.Context, a *models.Account, in AccountInput) error {
	var errs models.Errors
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if e := validateName("name", name); e != nil {
			errs = append(errs, e)
		}
		a.Name = name
	}
	if in.Type != nil {
		a.Type = *in.Type
		if a.Type == models.AccountIndividual && in.CompanyID == nil {
			a.CompanyID = nil // becoming individual leaves the company
		}
	}
	if in.CompanyID != nil {
		a.CompanyID = nil
		if raw := strings.TrimSpace(*in.CompanyID); raw != "" {
			c, err := s.loadCompany(ctx, a.WorkspaceID, "companyId", raw)
			switch {
			case models.ErrorCode(err) == models.ENOTFOUND:
				errs = append(errs, err.(*models.Error))
			case err != nil:
				return err
			default:
				a.CompanyID = &c.ID
			}
		}
	}
	if len(errs) == 0 {
		switch {
		case a.Type == models.AccountCompany && a.CompanyID == nil:
			errs = append(errs, models.FieldError(models.EINVALID, "companyId", optional(in.CompanyID), "is required for a COMPANY account"))
		case a.Type == models.AccountIndividual && a.CompanyID != nil:
			errs = append(errs, models.FieldError(models.EINVALID, "companyId", optional(in.CompanyID), "must be empty for an INDIVIDUAL account"))
		}
	}
	return errs.Err()
}

func optional(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func accountSummary(a *models.Account) map[string]any {
	m := map[string]any{"name": a.Name, "type": a.Type}
	if a.CompanyID != nil {
		m["companyId"] = a.CompanyID.String()
	}
	return m
}

func (s *Service) loadAccount(ctx context.Context, ws uuid.UUID, field, rawID string) (*models.Account, error) {
	return loadByID(ctx, ws, field, rawID, "account", s.store.Account)
}

// Account returns one account of the caller's workspace, or nil.
func (s *Service) Account(ctx context.Context, rawID string) (*models.Account, error) {
	return readByID(s, ctx, rawID, "account", s.store.Account)
}

// AccountFilter narrows Accounts; nil fields do not filter.
type AccountFilter struct {
	CompanyID *string
	Type      *models.AccountType
}

// Accounts lists the caller's workspace's accounts in creation order.
func (s *Service) Accounts(ctx context.Context, f AccountFilter, first int, after *string) (*AccountPage, error) {
	sf := store.AccountFilter{Type: f.Type}
	as, pi, err := listPage(s, ctx, first, after, "accounts", func(ctx context.Context, ws uuid.UUID, a *uuid.UUID, limit int) ([]*models.Account, error) {
		if f.CompanyID != nil {
			id, err := filterID("companyId", *f.CompanyID)
			if err != nil {
				return nil, err
			}
			sf.CompanyID = &id
		}
		return s.store.Accounts(ctx, ws, sf, a, limit)
	}, func(a *models.Account) uuid.UUID { return a.ID })
	if err != nil {
		return nil, err
	}
	return &AccountPage{Nodes: as, PageInfo: pi}, nil
}

// AccountsOfUsers returns each user account's account (nil for none), in order, with one query.
func (s *Service) AccountsOfUsers(ctx context.Context, us []*models.UserAccount) ([]*models.Account, error) {
	out := make([]*models.Account, len(us))
	if len(us) == 0 {
		return out, nil
	}
	ws := us[0].WorkspaceID
	var ids []uuid.UUID
	for _, u := range us {
		if u.AccountID != nil {
			ids = append(ids, *u.AccountID)
		}
	}
	as, err := s.store.AccountsByIDs(ctx, ws, ids)
	if err != nil {
		return nil, internal("accounts of users", err)
	}
	byID := make(map[uuid.UUID]*models.Account, len(as))
	for _, a := range as {
		byID[a.ID] = a
	}
	for i, u := range us {
		if u.AccountID != nil && u.WorkspaceID == ws {
			out[i] = byID[*u.AccountID]
		}
	}
	return out, nil
}

// SetUserAccountAccount places a user account (contact) in an account; an empty or nil
// accountID removes it from its account.
func (s *Service) SetUserAccountAccount(ctx context.Context, rawUserID string, accountID *string) (*models.UserAccount, error) {
	var u *models.UserAccount
	m := mutation{access: accessWrite, action: "user_account.account.set", target: "user_account", op: "set user account account",
		stale: changedConcurrently("user account")}
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		var errs models.Errors
		u, err = s.loadUser(ctx, p.WorkspaceID, "uuid", rawUserID)
		if e := models.UserErrors(err); e != nil {
			errs = append(errs, e...)
		} else if err != nil {
			return audited{}, err
		}
		var target *uuid.UUID
		if raw := strings.TrimSpace(optional(accountID)); raw != "" {
			a, err := s.loadAccount(ctx, p.WorkspaceID, "accountId", raw)
			if e := models.UserErrors(err); e != nil {
				errs = append(errs, e...)
			} else if err != nil {
				return audited{}, err
			} else {
				target = &a.ID
			}
		}
		if len(errs) > 0 {
			return audited{}, errs
		}
		if (target == nil && u.AccountID == nil) || (target != nil && u.AccountID != nil && *target == *u.AccountID) {
			return audited{unchanged: true}, nil // in that account already: no write, no event (changeUser)
		}
		if err := s.store.SetUserAccountAccount(ctx, u, target); err != nil {
			return audited{}, err
		}
		sum := map[string]any{"accountId": nil}
		if target != nil {
			sum["accountId"] = target.String()
		}
		return audited{id: u.ID.String(), summary: sum}, nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}
