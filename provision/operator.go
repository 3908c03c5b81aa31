package provision

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// ActorOperator is the audit actor type of a person running the gatehouse command line on
// the database directly (bootstrap and break-glass), as opposed to an API "client".
const ActorOperator = "operator"

// AsOperator returns ctx carrying the principal of an operator named name (recorded in the
// audit log) with the platform admin's powers over integration clients, acting in the given
// workspace, or, when workspaceID is empty, in the platform admin's workspace (the one
// bootstrap created). Only code that holds the database itself can call this (the command
// line); no transport does.
func (s *Service) AsOperator(ctx context.Context, name, workspaceID string) (context.Context, error) {
	var ws uuid.UUID
	if workspaceID != "" {
		id, err := parseID("workspace", workspaceID)
		if err != nil {
			return nil, err
		}
		if _, err := s.store.Workspace(ctx, id); errors.Is(err, store.ErrNotFound) {
			return nil, models.FieldError(models.ENOTFOUND, "workspace", workspaceID, "no such workspace")
		} else if err != nil {
			return nil, internal("operator", err)
		}
		ws = id
	} else {
		id, err := s.store.PlatformAdminWorkspace(ctx)
		if errors.Is(err, store.ErrNotFound) {
			return nil, models.Errorf(models.ENOTFOUND, "the database has no platform admin client yet")
		}
		if err != nil {
			return nil, internal("operator", err)
		}
		ws = id
	}
	return WithPrincipal(ctx, operator(name, ws)), nil
}

// AsOperatorOfClient is AsOperator in the workspace of the client whose client_id is clientID,
// for break-glass changes to a client whose workspace the operator need not know.
func (s *Service) AsOperatorOfClient(ctx context.Context, name, clientID string) (context.Context, error) {
	c, err := s.clientByID(ctx, clientID)
	if err != nil {
		return nil, internal("operator", err)
	}
	if c == nil {
		return nil, models.FieldError(models.ENOTFOUND, "clientId", clientID, "no such integration client")
	}
	return WithPrincipal(ctx, operator(name, c.WorkspaceID)), nil
}

func operator(name string, ws uuid.UUID) *Principal {
	return &Principal{ClientID: name, WorkspaceID: ws, Scopes: []string{models.ScopeAdmin},
		PlatformAdmin: true, ActorType: ActorOperator}
}
