package provision

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// WorkspacePage is one page of workspaces in creation order.
type WorkspacePage struct {
	Nodes    []*models.Workspace
	PageInfo *PageInfo
}

// authorizePlatform returns the caller if it is the platform admin client with the admin
// scope; what names the operation in the refusal.
func (s *Service) authorizePlatform(ctx context.Context, what string) (*Principal, error) {
	p, err := s.authorize(ctx, accessAdmin)
	if err != nil {
		return nil, err
	}
	if !p.PlatformAdmin {
		return nil, models.Errorf(models.EFORBIDDEN, "only the platform admin client may %s", what)
	}
	return p, nil
}

// workspaceFor resolves the workspace an admin operation names (input field workspaceId):
// the caller's own when raw is nil or empty; another one only for the platform admin, and
// only if it exists. A malformed or unknown id is a field error; a tenant admin naming
// another workspace is EFORBIDDEN.
func (s *Service) workspaceFor(ctx context.Context, p *Principal, raw *string, what string) (uuid.UUID, error) {
	if raw == nil || *raw == "" {
		return p.WorkspaceID, nil
	}
	id, e := filterID("workspaceId", *raw) // a typo said as such: the exception of ids.go
	if e != nil {
		return uuid.Nil, e
	}
	if id == p.WorkspaceID {
		return id, nil
	}
	if !p.PlatformAdmin {
		return uuid.Nil, models.Errorf(models.EFORBIDDEN, "only the platform admin client may %s in another workspace", what)
	}
	if _, err := s.store.Workspace(ctx, id); errors.Is(err, store.ErrNotFound) {
		return uuid.Nil, models.FieldError(models.ENOTFOUND, "workspaceId", *raw, "no such workspace")
	} else if err != nil {
		return uuid.Nil, internal(what, err)
	}
	return id, nil
}

// Workspaces lists every workspace, first at a time (≤ 100) after a cursor. Only the platform
// admin may.
func (s *Service) Workspaces(ctx context.Context, first int, after *string) (*WorkspacePage, error) {
	if _, err := s.authorizePlatform(ctx, "list workspaces"); err != nil {
		return nil, err
	}
	a, limit, err := pageArgs(first, after)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.Workspaces(ctx, a, limit+1)
	if err != nil {
		return nil, internal("list workspaces", err)
	}
	rows, pi := pageOf(rows, limit, func(w *models.Workspace) uuid.UUID { return w.ID })
	if rows == nil {
		rows = []*models.Workspace{}
	}
	return &WorkspacePage{Nodes: rows, PageInfo: pi}, nil
}
