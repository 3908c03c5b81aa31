package provision

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// IdentityProviderConfigurationInput is the seed's createIdentityProviderConfiguration and
// updateIdentityProviderConfiguration input. IdentityProviderID is a connection id. On update,
// nil fields stay unchanged; DefaultAccountIDSet with a nil or empty DefaultAccountID clears
// the default account.
type IdentityProviderConfigurationInput struct {
	BrandID               string
	IdentityProviderID    string
	AutoProvisionLearners *bool
	DefaultAccountID      *string
	DefaultAccountIDSet   bool
	CompanyClaim          *string
}

// configTargets are the objects a configuration input names, loaded and checked together so
// that every bad reference is reported at once.
type configTargets struct {
	brand          *models.Brand
	conn           *models.Connection
	defaultAccount *models.Account
	setDefault     bool
}

func (s *Service) loadConfigTargets(ctx context.Context, ws uuid.UUID, in IdentityProviderConfigurationInput) (*configTargets, error) {
	var errs models.Errors
	collect := func(err error) error {
		if ue := models.UserErrors(err); ue != nil {
			errs = append(errs, ue...)
			return nil
		}
		return err
	}
	t := &configTargets{}
	var err error
	t.brand, err = s.loadBrand(ctx, ws, "brandId", in.BrandID)
	if err := collect(err); err != nil {
		return nil, err
	}
	t.conn, err = s.loadConnection(ctx, ws, "identityProviderId", strings.TrimSpace(in.IdentityProviderID))
	if models.ErrorCode(err) == models.ENOTFOUND {
		err = notFound("identityProviderId", in.IdentityProviderID, "identity provider (connection)")
	}
	if err := collect(err); err != nil {
		return nil, err
	}
	if in.DefaultAccountID != nil || in.DefaultAccountIDSet {
		t.setDefault = true
		if raw := strings.TrimSpace(optional(in.DefaultAccountID)); raw != "" {
			t.defaultAccount, err = s.loadAccount(ctx, ws, "defaultAccountId", raw)
			if err := collect(err); err != nil {
				return nil, err
			}
		}
	}
	if in.CompanyClaim != nil {
		c := strings.TrimSpace(*in.CompanyClaim)
		if e := models.CheckText("companyClaim", c); e != nil {
			errs = append(errs, e)
		} else if c == "" || len(c) > MaxClaimNameLength {
			errs = append(errs, models.FieldError(models.EINVALID, "companyClaim", *in.CompanyClaim, "must be a claim name of 1-256 characters"))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return t, nil
}

func (t *configTargets) apply(c *models.IdentityProviderConfiguration, in IdentityProviderConfigurationInput) {
	if in.AutoProvisionLearners != nil {
		c.AutoProvisionLearners = *in.AutoProvisionLearners
	}
	if t.setDefault {
		c.DefaultAccountID = nil
		if t.defaultAccount != nil {
			c.DefaultAccountID = &t.defaultAccount.ID
		}
	}
	if in.CompanyClaim != nil {
		c.CompanyClaim = strings.TrimSpace(*in.CompanyClaim)
	}
	c.IdentityProvider, c.DefaultAccount = t.conn, t.defaultAccount
}

func configSummary(c *models.IdentityProviderConfiguration, slug string) map[string]any {
	m := map[string]any{"brandId": c.BrandID.String(), "identityProviderId": c.ConnectionID.String(),
		"identityProvider": slug, "autoProvisionLearners": c.AutoProvisionLearners,
		"companyClaim": c.CompanyClaim, "defaultAccountId": nil}
	if c.DefaultAccountID != nil {
		m["defaultAccountId"] = c.DefaultAccountID.String()
	}
	return m
}

// configMutation is a change of a brand's configuration for a connection; its audit event
// targets the brand.
func configMutation(action, op string) mutation {
	return mutation{access: accessWrite, action: action, target: "brand", op: op}
}

func configExistsError(in IdentityProviderConfigurationInput) error {
	return models.FieldError(models.ETAKEN, "identityProviderId", in.IdentityProviderID,
		"this brand already has a configuration for this identity provider; update it instead")
}

func configMissingError(in IdentityProviderConfigurationInput) error {
	return models.FieldError(models.ENOTFOUND, "identityProviderId", in.IdentityProviderID,
		"this brand has no configuration for this identity provider; create it first")
}

// CreateIdentityProviderConfiguration configures how a brand treats first sign-ins through a
// connection. It returns the brand. A configuration that exists already is an error.
func (s *Service) CreateIdentityProviderConfiguration(ctx context.Context, in IdentityProviderConfigurationInput) (*models.Brand, *models.IdentityProviderConfiguration, error) {
	var t *configTargets
	var c *models.IdentityProviderConfiguration
	m := configMutation("identity_provider_configuration.create", "create identity provider configuration")
	m.taken = func(field string) error {
		if field == "brand_connection" {
			return configExistsError(in)
		}
		return nil
	}
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		if t, err = s.loadConfigTargets(ctx, p.WorkspaceID, in); err != nil {
			return audited{}, err
		}
		now := s.now()
		c = &models.IdentityProviderConfiguration{ID: store.NewID(), WorkspaceID: p.WorkspaceID,
			BrandID: t.brand.ID, ConnectionID: t.conn.ID, CompanyClaim: models.DefaultCompanyClaim,
			Version: 1, CreatedAt: now, UpdatedAt: now}
		t.apply(c, in)
		if err := s.store.Create(ctx, c); err != nil {
			return audited{}, err
		}
		return audited{id: t.brand.ID.String(), summary: configSummary(c, t.conn.Slug)}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return t.brand, c, nil
}

// UpdateIdentityProviderConfiguration changes the given fields of a brand's configuration for
// a connection. A missing configuration is an error.
func (s *Service) UpdateIdentityProviderConfiguration(ctx context.Context, in IdentityProviderConfigurationInput) (*models.Brand, *models.IdentityProviderConfiguration, error) {
	var t *configTargets
	var c *models.IdentityProviderConfiguration
	m := configMutation("identity_provider_configuration.update", "update identity provider configuration")
	m.stale = changedConcurrently("configuration")
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		if t, err = s.loadConfigTargets(ctx, p.WorkspaceID, in); err != nil {
			return audited{}, err
		}
		c, err = s.store.IdentityProviderConfiguration(ctx, p.WorkspaceID, t.brand.ID, t.conn.ID)
		if errors.Is(err, store.ErrNotFound) {
			return audited{}, configMissingError(in)
		}
		if err != nil {
			return audited{}, err
		}
		if !t.setDefault && c.DefaultAccountID != nil { // unchanged: still show it
			if t.defaultAccount, err = s.store.Account(ctx, p.WorkspaceID, *c.DefaultAccountID); err != nil {
				return audited{}, err
			}
		}
		changed, names, _ := edit(c, func(c *models.IdentityProviderConfiguration) error { t.apply(c, in); return nil })
		if !changed {
			return audited{unchanged: true}, nil // no write, no event (edit)
		}
		if err := s.store.UpdateIdentityProviderConfiguration(ctx, c); err != nil {
			return audited{}, err
		}
		summary := configSummary(c, t.conn.Slug)
		summary["changed"] = names
		return audited{id: t.brand.ID.String(), summary: summary}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return t.brand, c, nil
}

// RemoveIdentityProviderConfiguration deletes a brand's configuration for a connection.
// First sign-ins through it are then refused unless the connection itself has JIT
// provisioning.
func (s *Service) RemoveIdentityProviderConfiguration(ctx context.Context, brandID, identityProviderID string) (*models.Brand, error) {
	in := IdentityProviderConfigurationInput{BrandID: brandID, IdentityProviderID: identityProviderID}
	var t *configTargets
	m := configMutation("identity_provider_configuration.remove", "remove identity provider configuration")
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		if t, err = s.loadConfigTargets(ctx, p.WorkspaceID, in); err != nil {
			return audited{}, err
		}
		c, err := s.store.IdentityProviderConfiguration(ctx, p.WorkspaceID, t.brand.ID, t.conn.ID)
		if errors.Is(err, store.ErrNotFound) {
			return audited{}, configMissingError(in)
		}
		if err != nil {
			return audited{}, err
		}
		// A concurrent removal may have deleted it since it was read (PostgreSQL): then this
		// one removed nothing, records nothing, and says so, as it would after it.
		deleted, err := s.store.DeleteIdentityProviderConfiguration(ctx, p.WorkspaceID, c.ID)
		if err != nil {
			return audited{}, err
		}
		if !deleted {
			return audited{}, configMissingError(in)
		}
		return audited{id: t.brand.ID.String(), summary: configSummary(c, t.conn.Slug)}, nil
	})
	if err != nil {
		return nil, err
	}
	return t.brand, nil
}

// IdentityProviderConfigurationsOf returns each brand's configurations (live connections
// only), with their identity provider (and its domains) and default account loaded, in four
// queries whatever the number of brands: a connection's domains are a field of it, read one
// query per connection otherwise.
func (s *Service) IdentityProviderConfigurationsOf(ctx context.Context, bs []*models.Brand) ([][]*models.IdentityProviderConfiguration, error) {
	out := make([][]*models.IdentityProviderConfiguration, len(bs))
	for i := range out {
		out[i] = []*models.IdentityProviderConfiguration{}
	}
	if len(bs) == 0 {
		return out, nil
	}
	ws := bs[0].WorkspaceID
	ids := make([]uuid.UUID, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	cs, err := s.store.IdentityProviderConfigurations(ctx, ws, ids)
	if err != nil {
		return nil, internal("identity provider configurations", err)
	}
	var connIDs, accIDs []uuid.UUID
	for _, c := range cs {
		connIDs = append(connIDs, c.ConnectionID)
		if c.DefaultAccountID != nil {
			accIDs = append(accIDs, *c.DefaultAccountID)
		}
	}
	conns, err := s.store.ConnectionsByIDs(ctx, ws, connIDs)
	if err != nil {
		return nil, internal("identity provider configurations", err)
	}
	if len(conns) > 0 {
		if err := s.attachDomains(ctx, ws, conns); err != nil {
			return nil, err
		}
	}
	accs, err := s.store.AccountsByIDs(ctx, ws, accIDs)
	if err != nil {
		return nil, internal("identity provider configurations", err)
	}
	connByID := make(map[uuid.UUID]*models.Connection, len(conns))
	for _, k := range conns {
		connByID[k.ID] = k
	}
	accByID := make(map[uuid.UUID]*models.Account, len(accs))
	for _, a := range accs {
		accByID[a.ID] = a
	}
	idx := make(map[uuid.UUID]int, len(bs))
	for i, b := range bs {
		if b.WorkspaceID == ws {
			idx[b.ID] = i
		}
	}
	for _, c := range cs {
		c.IdentityProvider = connByID[c.ConnectionID]
		if c.IdentityProvider == nil {
			continue
		}
		if c.DefaultAccountID != nil {
			c.DefaultAccount = accByID[*c.DefaultAccountID]
		}
		if i, ok := idx[c.BrandID]; ok {
			out[i] = append(out[i], c)
		}
	}
	return out, nil
}
