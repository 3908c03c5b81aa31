package resolvers

import (
	"context"
	"strings"

	"gatehouse/graph/model"
	"gatehouse/models"
	"gatehouse/provision"
)

// Helpers of the browser sign-in resolvers (issue 10): applications and sign-in events, so
// that each generated resolver body is one line.

func (r *Resolver) createApplication(ctx context.Context, in model.CreateApplicationInput) (*model.CreateApplicationPayload, error) {
	a, sec, err := r.Svc.CreateApplication(ctx, provision.ApplicationInput{BrandID: &in.BrandID, Name: &in.Name,
		RedirectURIs: in.RedirectURIs, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		SetPostLogoutRedirectURIs: in.PostLogoutRedirectURIs != nil, Type: in.Type, IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg,
		RequirePKCE: in.RequirePKCE})
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.CreateApplicationPayload{Application: a, ClientSecret: nonEmpty(sec), Errors: errs}, nil
}

func (r *Resolver) updateApplication(ctx context.Context, in model.UpdateApplicationInput) (*model.UpdateApplicationPayload, error) {
	a, err := r.Svc.UpdateApplication(ctx, in.ID, provision.ApplicationInput{Name: in.Name, RedirectURIs: in.RedirectURIs,
		SetRedirectURIs: in.RedirectURIs != nil, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		SetPostLogoutRedirectURIs: in.PostLogoutRedirectURIs != nil, IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg,
		RequirePKCE: in.RequirePKCE})
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.UpdateApplicationPayload{Application: a, Errors: errs}, nil
}

func (r *Resolver) rotateApplicationSecret(ctx context.Context, in model.RotateApplicationSecretInput) (*model.RotateApplicationSecretPayload, error) {
	a, sec, err := r.Svc.RotateApplicationSecret(ctx, in.ID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.RotateApplicationSecretPayload{Application: a, ClientSecret: nonEmpty(sec), Errors: errs}, nil
}

func (r *Resolver) deleteApplication(ctx context.Context, in model.DeleteApplicationInput) (*model.DeleteApplicationPayload, error) {
	a, err := r.Svc.DeleteApplication(ctx, in.ID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.DeleteApplicationPayload{Errors: errs}
	if a != nil {
		id := a.ID.String()
		out.DeletedID = &id
	}
	return out, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (r *Resolver) signInEvents(ctx context.Context, connectionID, brandID *string, outcome *model.SignInOutcome, page, pageSize *int) (*provision.SignInEventList, error) {
	f := provision.SignInEventFilter{}
	if connectionID != nil {
		f.ConnectionID = *connectionID
	}
	if brandID != nil {
		f.BrandID = *brandID
	}
	if outcome != nil {
		f.Outcome = strings.ToLower(string(*outcome))
	}
	return r.Svc.SignInEvents(ctx, f, page, pageSize)
}

func signInEventConnection(e *models.SignInEvent) *model.SignInEventConnection {
	if e.ConnectionID == nil {
		return nil
	}
	return &model.SignInEventConnection{ID: e.ConnectionID.String(), Slug: e.ConnectionSlug}
}

func signInEventApplication(e *models.SignInEvent) *model.SignInEventApplication {
	if e.ClientID == "" {
		return nil
	}
	return &model.SignInEventApplication{ClientID: e.ClientID}
}

// signInEventOutcome shows an event's outcome as the enum value (existing_identity → EXISTING_IDENTITY).
func signInEventOutcome(e *models.SignInEvent) model.SignInOutcome {
	return model.SignInOutcome(strings.ToUpper(e.Outcome))
}
