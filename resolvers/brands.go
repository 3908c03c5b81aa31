package resolvers

import (
	"context"

	"gatehouse/graph/model"
	"gatehouse/models"
	"gatehouse/provision"
)

// Helpers of the brands, companies, accounts and auto-provisioning resolvers (issue 4), so
// that each generated resolver body is one line.

func brandPayload(b *models.Brand, err error) (*model.BrandPayload, error) {
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.BrandPayload{Brand: b, Errors: errs}, nil
}

func companyPayload(c *models.Company, err error) (*model.CompanyPayload, error) {
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.CompanyPayload{Company: c, Errors: errs}, nil
}

func accountPayload(a *models.Account, err error) (*model.AccountPayload, error) {
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.AccountPayload{Account: a, Errors: errs}, nil
}

func idpConfigurationPayload(b *models.Brand, c *models.IdentityProviderConfiguration, err error) (*model.IdentityProviderConfigurationPayload, error) {
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.IdentityProviderConfigurationPayload{Brand: b, IdentityProviderConfiguration: c, Errors: errs}, nil
}

// firstOrZero passes an omitted page size on as 0 (provision applies its default).
func firstOrZero(first *int) int {
	if first == nil {
		return 0
	}
	return *first
}

func (r *Resolver) createBrand(ctx context.Context, in model.CreateBrandInput) (*model.BrandPayload, error) {
	return brandPayload(r.Svc.CreateBrand(ctx, provision.BrandInput{Name: &in.Name, Slug: in.Slug, PortalURL: in.PortalURL}))
}

func (r *Resolver) updateBrand(ctx context.Context, in model.UpdateBrandInput) (*model.BrandPayload, error) {
	return brandPayload(r.Svc.UpdateBrand(ctx, in.ID, provision.BrandInput{Name: in.Name, Slug: in.Slug, PortalURL: in.PortalURL}))
}

func (r *Resolver) createAccount(ctx context.Context, in model.CreateAccountInput) (*model.AccountPayload, error) {
	return accountPayload(r.Svc.CreateAccount(ctx, provision.AccountInput{Name: &in.Name, Type: &in.Type, CompanyID: in.CompanyID}))
}

func (r *Resolver) updateAccount(ctx context.Context, in model.UpdateAccountInput) (*model.AccountPayload, error) {
	return accountPayload(r.Svc.UpdateAccount(ctx, in.ID, provision.AccountInput{Name: in.Name, Type: in.Type, CompanyID: in.CompanyID}))
}

func (r *Resolver) createIdentityProviderConfiguration(ctx context.Context, in model.CreateIdentityProviderConfigurationInput) (*model.IdentityProviderConfigurationPayload, error) {
	return idpConfigurationPayload(r.Svc.CreateIdentityProviderConfiguration(ctx, provision.IdentityProviderConfigurationInput{
		BrandID: in.BrandID, IdentityProviderID: in.IdentityProviderID, AutoProvisionLearners: in.AutoProvisionLearners,
		DefaultAccountID: in.DefaultAccountID, CompanyClaim: in.CompanyClaim}))
}

func (r *Resolver) updateIdentityProviderConfiguration(ctx context.Context, in model.UpdateIdentityProviderConfigurationInput) (*model.IdentityProviderConfigurationPayload, error) {
	return idpConfigurationPayload(r.Svc.UpdateIdentityProviderConfiguration(ctx, provision.IdentityProviderConfigurationInput{
		BrandID: in.BrandID, IdentityProviderID: in.IdentityProviderID, AutoProvisionLearners: in.AutoProvisionLearners,
		DefaultAccountID: in.DefaultAccountID.Value(), DefaultAccountIDSet: in.DefaultAccountID.IsSet(),
		CompanyClaim: in.CompanyClaim}))
}

func (r *Resolver) removeIdentityProviderConfiguration(ctx context.Context, in model.RemoveIdentityProviderConfigurationInput) (*model.IdentityProviderConfigurationPayload, error) {
	b, err := r.Svc.RemoveIdentityProviderConfiguration(ctx, in.BrandID, in.IdentityProviderID)
	return idpConfigurationPayload(b, nil, err)
}

func (r *Resolver) accounts(ctx context.Context, companyID *string, typ *models.AccountType, first *int, after *string) (*provision.AccountPage, error) {
	return r.Svc.Accounts(ctx, provision.AccountFilter{CompanyID: companyID, Type: typ}, firstOrZero(first), after)
}
