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

func (r *Resolver) createSCIMToken(ctx context.Context, in model.CreateSCIMTokenInput) (*model.CreateSCIMTokenPayload, error) {
	t, plain, err := r.Svc.CreateSCIMToken(ctx, provision.CreateSCIMTokenInput{Name: in.Name, Scopes: in.Scopes,
		ExpiresInDays: in.ExpiresInDays, ConnectionID: in.ConnectionID})
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.CreateSCIMTokenPayload{Token: t, Errors: errs}
	if t != nil {
		out.PlainValue = &plain
	}
	return out, nil
}

func (r *Resolver) revokeSCIMToken(ctx context.Context, in model.RevokeSCIMTokenInput) (*model.RevokeSCIMTokenPayload, error) {
	t, err := r.Svc.RevokeSCIMToken(ctx, in.ID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	return &model.RevokeSCIMTokenPayload{Token: t, Errors: errs}, nil
}

func (r *Resolver) deleteSCIMToken(ctx context.Context, in model.DeleteSCIMTokenInput) (*model.DeleteSCIMTokenPayload, error) {
	err := r.Svc.DeleteSCIMToken(ctx, in.ID)
	errs, err := payloadErrors(err)
	if err != nil {
		return nil, err
	}
	out := &model.DeleteSCIMTokenPayload{Errors: errs}
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

func (r *Resolver) scimTokens(ctx context.Context, status *model.SCIMTokenStatus, name *string, page, pageSize *int) (*model.SCIMTokenList, error) {
	f := provision.SCIMTokenFilter{Name: optional(name)}
	if status != nil {
		f.Status = strings.ToLower(string(*status))
	}
	p, ps := pageArgs(page, pageSize)
	ts, total, err := r.Svc.SCIMTokens(ctx, f, p, ps)
	if err != nil {
		return nil, err
	}
	return &model.SCIMTokenList{Tokens: ts, Page: p, PageSize: ps, Total: total}, nil
}

func (r *Resolver) scimToken(ctx context.Context, id string) (*models.SCIMToken, error) {
	t, err := r.Svc.SCIMToken(ctx, id)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return nil, nil
	}
	return t, err
}

func (r *Resolver) scimActivities(ctx context.Context, f *model.SCIMActivityFilter, page, pageSize *int) (*model.SCIMActivityList, error) {
	var in provision.SCIMActivityFilter
	if f != nil {
		in = provision.SCIMActivityFilter{Operation: optional(f.Operation), ResourceType: optional(f.ResourceType),
			Status: optional(f.Status), StartDate: optional(f.StartDate), EndDate: optional(f.EndDate)}
	}
	p, ps := pageArgs(page, pageSize)
	as, total, err := r.Svc.SCIMActivities(ctx, in, p, ps)
	if err != nil {
		return nil, err
	}
	return &model.SCIMActivityList{Activities: as, Page: p, PageSize: ps, Total: total}, nil
}

func (r *Resolver) scimTokenStatus(t *models.SCIMToken) model.SCIMTokenStatus {
	return model.SCIMTokenStatus(strings.ToUpper(t.Status(r.Svc.Clock().Now())))
}

func activityDetails(a *models.SCIMActivity) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal([]byte(a.Details), &m)
	return m
}

func activityError(a *models.SCIMActivity) *string {
	if a.ErrorMessage == "" {
		return nil
	}
	return &a.ErrorMessage
}
