package provision

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// MaxGroupMembersPerRequest bounds the member changes one request may carry.
const MaxGroupMembersPerRequest = 10_000

// GroupChange is what a SCIM request does to a group. Nil fields stay unchanged. Members:
// when ReplaceMembers is set every member not in Add is dropped; otherwise Remove and Add
// are applied (they are disjoint: the transport folds the operations in order).
type GroupChange struct {
	DisplayName    *string
	ExternalID     **string
	ReplaceMembers bool
	Add            []string
	Remove         []string
	// Details go into the activity row (e.g. operation counts).
	Details map[string]any
	// WithMembers loads the group's members after the change, in its transaction, for the
	// answer: part of the write, so groups:write is enough (no groups:read reload).
	WithMembers bool
}

func notFoundGroup(rawID string) error {
	return models.FieldError(models.ENOTFOUND, "id", rawID, "no group with this id")
}

// groupMutation is a SCIM group write, op naming it in internal errors; a clash reads as the
// displayName *name (as the write left it) being taken.
func groupMutation(op string, name *string) mutation {
	return mutation{op: op, stale: changedConcurrently("group"),
		taken: func(field string) error {
			if field != "display_name" {
				return nil
			}
			return &models.SCIMTypedError{Err: models.FieldError(models.ETAKEN, "displayName", *name,
				"a group with this displayName already exists"), Type: models.SCIMTypeUniqueness}
		}}
}

func validateGroupName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case models.CheckText("displayName", name) != nil:
		return "", models.CheckText("displayName", name)
	case name == "":
		return "", models.SCIMError(models.SCIMTypeInvalidValue, "displayName is required")
	case len([]rune(name)) > 256:
		return "", models.SCIMError(models.SCIMTypeInvalidValue, "displayName must be at most 256 characters")
	}
	return name, nil
}

// memberIDs parses member values; on add every one must be a user of the workspace.
func (s *Service) memberIDs(ctx context.Context, ws uuid.UUID, raw []string, mustExist bool) ([]uuid.UUID, error) {
	if len(raw) > MaxGroupMembersPerRequest {
		return nil, models.SCIMError(models.SCIMTypeTooMany, "at most %d member changes per request", MaxGroupMembersPerRequest)
	}
	ids := make([]uuid.UUID, 0, len(raw))
	seen := make(map[uuid.UUID]bool, len(raw))
	for _, r := range raw {
		id, err := models.ParseID(r) // members.value is not case-exact (the schema served)
		if err != nil {
			if mustExist {
				return nil, models.SCIMError(models.SCIMTypeInvalidValue, "each member value must be the id of a user")
			}
			continue
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if !mustExist || len(ids) == 0 {
		return ids, nil
	}
	found, err := s.store.ExistingUserIDs(ctx, ws, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !found[id] {
			return nil, models.SCIMError(models.SCIMTypeInvalidValue, "member %s is not a user of this workspace", id)
		}
	}
	return ids, nil
}

// CreateSCIMGroup creates a group with its members and activity row in one transaction; with
// withMembers the answer carries the members as stored (part of the write: groups:write is
// enough).
func (s *Service) CreateSCIMGroup(ctx context.Context, name string, externalID *string, members []string, withMembers bool) (*models.Group, error) {
	c, err := s.authorizeSCIM(ctx, models.SCIMGroupsWrite)
	if err != nil {
		return nil, err
	}
	name, err = validateGroupName(name)
	if err != nil {
		return nil, err
	}
	if errs := models.CheckTexts("externalId", externalID); len(errs) > 0 {
		return nil, errs
	}
	if err := checkSCIMExternalIDLength(externalID); err != nil {
		return nil, err
	}
	now := s.now()
	g := &models.Group{ID: store.NewID(), WorkspaceID: c.Token.WorkspaceID, DisplayName: name,
		DisplayNameKey: models.Key(name), ExternalID: models.ExternalIDOf(externalID), Version: 1, CreatedAt: now, UpdatedAt: now}
	err = s.scimWrite(ctx, groupMutation("scim group", &name), func(ctx context.Context) (*models.SCIMActivity, error) {
		ids, err := s.memberIDs(ctx, g.WorkspaceID, members, true)
		if err != nil {
			return nil, err
		}
		if err := s.store.Create(ctx, g); err != nil {
			return nil, err
		}
		if _, err := s.store.ChangeMembers(ctx, g.WorkspaceID, g.ID, false, nil, ids); err != nil {
			return nil, err
		}
		if withMembers {
			if err := s.attachMembers(ctx, []*models.Group{g}); err != nil {
				return nil, err
			}
		}
		return s.scimActivity(c, models.SCIMOpCreate, models.SCIMResourceGroup, g.ID.String(), nil,
			map[string]any{"displayName": name, "membersAdded": len(ids)}), nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// SCIMGroup returns a group; with members it also loads them (one query).
func (s *Service) SCIMGroup(ctx context.Context, rawID string, withMembers bool) (*models.Group, error) {
	c, err := s.authorizeSCIM(ctx, models.SCIMGroupsRead)
	if err != nil {
		return nil, err
	}
	id, err := models.ParseExactID(rawID)
	if err != nil {
		return nil, notFoundGroup(rawID)
	}
	g, err := s.store.Group(ctx, c.Token.WorkspaceID, id, false)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFoundGroup(rawID)
	}
	if err != nil {
		return nil, internal("scim group", err)
	}
	if withMembers {
		if err := s.attachMembers(ctx, []*models.Group{g}); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (s *Service) attachMembers(ctx context.Context, gs []*models.Group) error {
	if len(gs) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
	}
	m, err := s.store.GroupMembers(ctx, gs[0].WorkspaceID, ids)
	if err != nil {
		return internal("group members", err)
	}
	for _, g := range gs {
		g.Members = m[g.ID]
		if g.Members == nil {
			g.Members = []*models.GroupMember{}
		}
	}
	return nil
}

// SCIMGroups lists groups matching a SCIM filter; withMembers loads members in one query.
func (s *Service) SCIMGroups(ctx context.Context, in SCIMListInput, withMembers bool) ([]*models.Group, int, error) {
	c, err := s.authorizeSCIM(ctx, models.SCIMGroupsRead)
	if err != nil {
		return nil, 0, err
	}
	if in.FilterError != nil {
		return nil, 0, in.FilterError
	}
	gs, total, err := s.store.SCIMGroups(ctx, c.Token.WorkspaceID, s.scimList(in))
	if err != nil {
		return nil, 0, internal("scim groups", err)
	}
	if withMembers {
		if err := s.attachMembers(ctx, gs); err != nil {
			return nil, 0, err
		}
	}
	return gs, int(total), nil
}

// ChangeSCIMGroup applies a PUT or PATCH to a group in one transaction, with its activity row.
func (s *Service) ChangeSCIMGroup(ctx context.Context, rawID string, ifMatch models.IfMatch, ch GroupChange) (*models.Group, error) {
	c, err := s.authorizeSCIM(ctx, models.SCIMGroupsWrite)
	if err != nil {
		return nil, err
	}
	id, err := models.ParseExactID(rawID)
	if err != nil {
		return nil, notFoundGroup(rawID)
	}
	if ch.ExternalID != nil {
		if errs := models.CheckTexts("externalId", *ch.ExternalID); len(errs) > 0 {
			return nil, errs
		}
		if err := checkSCIMExternalIDLength(*ch.ExternalID); err != nil {
			return nil, err
		}
	}
	if len(ch.Add)+len(ch.Remove) > MaxGroupMembersPerRequest {
		return nil, models.SCIMError(models.SCIMTypeTooMany, "at most %d member changes per request", MaxGroupMembersPerRequest)
	}
	var g *models.Group
	name := ""
	m := groupMutation("scim group", &name)
	m.pinned = ifMatch.Pinned()
	err = s.scimWrite(ctx, m, func(ctx context.Context) (*models.SCIMActivity, error) {
		g, err = s.store.Group(ctx, c.Token.WorkspaceID, id, true)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFoundGroup(rawID)
		}
		if err != nil {
			return nil, err
		}
		if !ifMatch.Allows(g.Version) {
			return nil, errPreconditionFailed
		}
		name = g.DisplayName
		if ch.DisplayName != nil {
			if name, err = validateGroupName(*ch.DisplayName); err != nil {
				return nil, err
			}
		}
		renamed := name != g.DisplayName // its case too: the members' groups show it as written
		changed, _, _ := edit(g, func(g *models.Group) error {
			g.DisplayName, g.DisplayNameKey = name, models.Key(name)
			if ch.ExternalID != nil {
				g.ExternalID = models.ExternalIDOf(*ch.ExternalID)
			}
			return nil
		})
		add, err := s.memberIDs(ctx, g.WorkspaceID, ch.Add, true)
		if err != nil {
			return nil, err
		}
		remove, err := s.memberIDs(ctx, g.WorkspaceID, ch.Remove, false)
		if err != nil {
			return nil, err
		}
		moved, err := s.store.ChangeMembers(ctx, g.WorkspaceID, g.ID, ch.ReplaceMembers, remove, add)
		if err != nil {
			return nil, err
		}
		// A request that leaves the group as it was (an IdP's periodic PUT of the same
		// displayName and members) keeps its version, the ETag the IdP's If-Match names, and
		// its updatedAt (edit); the activity row still records the request.
		if changed || moved {
			if err := s.store.SaveGroup(ctx, g); err != nil {
				return nil, err
			}
		}
		// The members' SCIM groups show the displayName: their versions move too (the
		// members ChangeMembers just added or removed have moved already, and move again).
		if renamed {
			if err := s.store.TouchMembersOf(ctx, g.WorkspaceID, g.ID); err != nil {
				return nil, err
			}
		}
		if ch.WithMembers {
			if err := s.attachMembers(ctx, []*models.Group{g}); err != nil {
				return nil, err
			}
		}
		details := map[string]any{"displayName": g.DisplayName, "membersAdded": len(add), "membersRemoved": len(remove)}
		if ch.ReplaceMembers {
			details["membersReplaced"] = true
		}
		for k, v := range ch.Details {
			details[k] = v
		}
		return s.scimActivity(c, models.SCIMOpUpdate, models.SCIMResourceGroup, g.ID.String(), nil, details), nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// DeleteSCIMGroup deletes a group and its memberships.
func (s *Service) DeleteSCIMGroup(ctx context.Context, rawID string, ifMatch models.IfMatch) error {
	c, err := s.authorizeSCIM(ctx, models.SCIMGroupsWrite)
	if err != nil {
		return err
	}
	id, err := models.ParseExactID(rawID)
	if err != nil {
		return notFoundGroup(rawID)
	}
	m := mutation{op: "delete scim group", pinned: ifMatch.Pinned()}
	return s.scimWrite(ctx, m, func(ctx context.Context) (*models.SCIMActivity, error) {
		g, err := s.store.Group(ctx, c.Token.WorkspaceID, id, true)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFoundGroup(rawID)
		}
		if err != nil {
			return nil, err
		}
		if !ifMatch.Allows(g.Version) {
			return nil, errPreconditionFailed
		}
		if _, err := s.store.DeleteGroup(ctx, c.Token.WorkspaceID, id); err != nil {
			return nil, err
		}
		return s.scimActivity(c, models.SCIMOpDelete, models.SCIMResourceGroup, rawID, nil,
			map[string]any{"displayName": g.DisplayName}), nil
	})
}
