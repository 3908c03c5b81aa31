package provision

import (
	"context"
	"errors"

	"gatehouse/models"
	"gatehouse/store"
)

// ActorOperator is the audit actor type of a person running the gatehouse command line on
// the database directly (bootstrap and break-glass), as opposed to an API "client".
const ActorOperator = "operator"

// AsOperator returns ctx carrying the principal of an operator named name (recorded in the
// audit log as the actor id): the platform admin's powers with scope admin, in the platform
// admin's workspace (the one bootstrap created). The service's own rules then apply as to the
// platform admin client: another workspace is named per call, a client is found in any
// workspace, and each change is audited in the workspace it touches. Only code that holds the
// database itself can call this (the command line); no transport does.
func (s *Service) AsOperator(ctx context.Context, name string) (context.Context, error) {
	ws, err := s.store.PlatformAdminWorkspace(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, models.Errorf(models.ENOTFOUND, "the database has no platform admin client yet")
	}
	if err != nil {
		return nil, internal("operator", err)
	}
	return WithPrincipal(ctx, &Principal{ClientID: name, WorkspaceID: ws, Scopes: []string{models.ScopeAdmin},
		PlatformAdmin: true, ActorType: ActorOperator}), nil
}
