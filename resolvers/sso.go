package resolvers

import (
	"context"

	"gatehouse/graph/model"
	"gatehouse/models"
	"gatehouse/provision"
)

// SSO resolvers (issue 3): each is one provision call, so GraphQL and REST never disagree.

func (r *Resolver) connectionDomains(ctx context.Context, c *models.Connection) ([]*models.Domain, error) {
	return r.Svc.ConnectionDomains(ctx, c)
}

func (r *Resolver) testConnection(ctx context.Context, in model.TestConnectionInput) (*model.TestConnectionPayload, error) {
	t, err := r.Svc.TestConnection(ctx, in.ID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.TestConnectionPayload{Problems: []string{}, Warnings: []string{}, Errors: errs}
	if t != nil {
		out.Success, out.Details, out.Problems, out.Connection = t.Success, &t.TestReport, t.Problems, t.Connection
		out.Warnings = t.Warnings
	}
	return out, nil
}

func (r *Resolver) activateConnection(ctx context.Context, in model.ActivateConnectionInput) (*model.ConnectionPayload, error) {
	return connectionPayload(r.Svc.ActivateConnection(ctx, in.ID))
}

func (r *Resolver) deactivateConnection(ctx context.Context, in model.DeactivateConnectionInput) (*model.ConnectionPayload, error) {
	return connectionPayload(r.Svc.DeactivateConnection(ctx, in.ID))
}

func (r *Resolver) refreshSamlCertificates(ctx context.Context, in model.RefreshSAMLCertificatesInput) (*model.RefreshSAMLCertificatesPayload, error) {
	res, err := r.Svc.RefreshSAMLCertificates(ctx, in.ID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.RefreshSAMLCertificatesPayload{Added: []string{}, Removed: []string{}, Errors: errs}
	if res != nil {
		out.Connection, out.Changed = res.Connection, res.Changed
		out.Added, out.Removed = append(out.Added, res.Added...), append(out.Removed, res.Removed...)
		if p := res.Reported(); p != "" {
			out.Problem = &p
		}
	}
	return out, nil
}

func (r *Resolver) deleteConnection(ctx context.Context, in model.DeleteConnectionInput) (*model.DeleteConnectionPayload, error) {
	c, err := r.Svc.DeleteConnection(ctx, in.ID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.DeleteConnectionPayload{Errors: errs}
	if c != nil {
		id := c.ID.String()
		out.DeletedConnectionID = &id
	}
	return out, nil
}

func domainPayload(d *models.Domain, err error) (*model.DomainPayload, error) {
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.DomainPayload{Domain: d, Errors: errs}, nil
}

func (r *Resolver) addDomain(ctx context.Context, in model.AddDomainInput) (*model.DomainPayload, error) {
	return domainPayload(r.Svc.AddDomain(ctx, in.ConnectionID, provision.DomainInput{Domain: in.Domain,
		VerificationMethod: optional(in.VerificationMethod)}))
}

func (r *Resolver) verifyDomain(ctx context.Context, in model.VerifyDomainInput) (*model.VerifyDomainPayload, error) {
	d, ok, err := r.Svc.VerifyDomain(ctx, in.ConnectionID, in.DomainID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.VerifyDomainPayload{Success: ok, Domain: d, Errors: errs}, nil
}

func (r *Resolver) setPrimaryDomain(ctx context.Context, in model.SetPrimaryDomainInput) (*model.DomainPayload, error) {
	return domainPayload(r.Svc.SetPrimaryDomain(ctx, in.ConnectionID, in.DomainID))
}

func (r *Resolver) removeDomain(ctx context.Context, in model.RemoveDomainInput) (*model.RemoveDomainPayload, error) {
	d, err := r.Svc.RemoveDomain(ctx, in.ConnectionID, in.DomainID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.RemoveDomainPayload{Errors: errs}
	if d != nil {
		id := d.ID.String()
		out.RemovedDomainID = &id
	}
	return out, nil
}

func (r *Resolver) spMetadata(ctx context.Context) (*provision.SPMetadata, error) {
	return r.Svc.SPMetadata(ctx)
}
