package resolvers

import (
	"context"
	"encoding/json"
	"strings"

	"gatehouse/graph/model"
	"gatehouse/models"
	"gatehouse/provision"
)

// SCIM token, activity and statistics resolvers (issue 5). Each makes one provision call.

func (r *Resolver) createScimToken(ctx context.Context, in model.CreateScimTokenInput) (*model.CreateScimTokenPayload, error) {
	t, plain, err := r.Svc.CreateScimToken(ctx, provision.CreateScimTokenInput{Name: in.Name, Scopes: in.Scopes,
		ExpiresInDays: in.ExpiresInDays, ConnectionID: in.ConnectionID})
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.CreateScimTokenPayload{Token: t, Errors: errs}
	if t != nil {
		out.PlainValue = &plain
	}
	return out, nil
}

func (r *Resolver) revokeScimToken(ctx context.Context, in model.RevokeScimTokenInput) (*model.RevokeScimTokenPayload, error) {
	t, err := r.Svc.RevokeScimToken(ctx, in.ID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.RevokeScimTokenPayload{Token: t, Errors: errs}, nil
}

func (r *Resolver) deleteScimToken(ctx context.Context, in model.DeleteScimTokenInput) (*model.DeleteScimTokenPayload, error) {
	err := r.Svc.DeleteScimToken(ctx, in.ID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.DeleteScimTokenPayload{Errors: errs}
	if len(errs) == 0 {
		out.DeletedID = &in.ID
	}
	return out, nil
}

// pageArgs is the page a numbered list answers (models.ListPage).
func pageArgs(page, pageSize *int) (int, int) {
	p, ps := 1, 0
	if page != nil {
		p = *page
	}
	if pageSize != nil {
		ps = *pageSize
	}
	return models.ListPage(p, ps)
}

func (r *Resolver) scimTokens(ctx context.Context, status *model.ScimTokenStatus, name *string, page, pageSize *int) (*model.ScimTokenList, error) {
	f := provision.ScimTokenFilter{Name: optional(name)}
	if status != nil {
		f.Status = strings.ToLower(string(*status))
	}
	p, ps := pageArgs(page, pageSize)
	ts, total, err := r.Svc.ScimTokens(ctx, f, p, ps)
	if err != nil {
		return nil, err
	}
	return &model.ScimTokenList{Tokens: ts, Page: p, PageSize: ps, Total: total}, nil
}

func (r *Resolver) scimToken(ctx context.Context, id string) (*models.ScimToken, error) {
	t, err := r.Svc.ScimToken(ctx, id)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return nil, nil
	}
	return t, err
}

func (r *Resolver) scimActivities(ctx context.Context, f *model.ScimActivityFilter, page, pageSize *int) (*model.ScimActivityList, error) {
	var in provision.ScimActivityFilter
	if f != nil {
		in = provision.ScimActivityFilter{Operation: optional(f.Operation), ResourceType: optional(f.ResourceType),
			Status: optional(f.Status), StartDate: optional(f.StartDate), EndDate: optional(f.EndDate)}
	}
	p, ps := pageArgs(page, pageSize)
	as, total, err := r.Svc.ScimActivities(ctx, in, p, ps)
	if err != nil {
		return nil, err
	}
	return &model.ScimActivityList{Activities: as, Page: p, PageSize: ps, Total: total}, nil
}

func (r *Resolver) scimTokenStatus(t *models.ScimToken) model.ScimTokenStatus {
	return model.ScimTokenStatus(strings.ToUpper(t.Status(r.Svc.Clock().Now())))
}

func activityDetails(a *models.ScimActivity) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal([]byte(a.Details), &m)
	return m
}

func activityError(a *models.ScimActivity) *string {
	if a.ErrorMessage == "" {
		return nil
	}
	return &a.ErrorMessage
}
