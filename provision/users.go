package provision

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// CreateUserAccountInput creates a user account.
type CreateUserAccountInput struct {
	Email      string
	FirstName  string
	LastName   string
	ExternalID *string
}

// UpdateUserAccountInput changes only the fields that are not nil.
type UpdateUserAccountInput struct {
	Email      *string
	FirstName  *string
	LastName   *string
	ExternalID *string
}

func validateEmail(field, email string) *models.Error {
	if e := models.CheckText(field, email); e != nil {
		return e
	}
	if !models.ValidEmail(email) {
		return models.FieldError(models.EINVALID, field, email, "is not a valid email address")
	}
	return nil
}

func validatePersonName(field, v string) *models.Error {
	return models.CheckName(field, v)
}

// CreateUserAccount creates an active user account. The email is unique per workspace,
// compared case-insensitively (code TAKEN).
func (s *Service) CreateUserAccount(ctx context.Context, in CreateUserAccountInput) (*models.UserAccount, error) {
	p, err := s.authorize(ctx, accessWrite)
	if err != nil {
		return nil, err
	}
	in.Email = strings.TrimSpace(in.Email)
	var errs models.Errors
	for _, e := range append([]*models.Error{validateEmail("email", in.Email),
		validatePersonName("firstName", in.FirstName), validatePersonName("lastName", in.LastName)},
		checkExternalID(in.ExternalID)...) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	now := s.now()
	u := &models.UserAccount{ID: store.NewID(), WorkspaceID: p.WorkspaceID, UserName: in.Email, UserNameKey: models.Key(in.Email), FirstName: strings.TrimSpace(in.FirstName),
		LastName: strings.TrimSpace(in.LastName), ExternalID: models.ExternalIDOf(in.ExternalID), Active: true, Version: 1,
		CreatedAt: now, UpdatedAt: now}
	u.SetEmail(in.Email)
	err = s.mutateAs(ctx, p, userMutation("user_account.create", "create user account", &in.Email), func(ctx context.Context, p *Principal) (audited, error) {
		return audited{id: u.ID.String(), summary: map[string]any{"email": u.Email}}, s.store.Create(ctx, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// checkExternalID applies the input text rule and SCIM's length limit (the same attribute, the
// same index) to an account's externalId.
func checkExternalID(v *string) models.Errors {
	if errs := models.CheckTexts("externalId", v); len(errs) > 0 {
		return errs
	}
	if v != nil && len(*v) > models.MaxIdentifierLength {
		return models.Errors{models.FieldError(models.EINVALID, "externalId", models.Clip(*v, 64), "must be at most 255 bytes")}
	}
	return nil
}

// userMutation is a change of a user account whose email is *email once the write ran; a
// clash on it (or on the userName it doubles as) is reported against "email", saying which.
func userMutation(action, op string, email *string) mutation {
	return mutation{access: accessWrite, action: action, target: "user_account", op: op,
		stale: changedConcurrently("user account"),
		taken: func(field string) error {
			switch field {
			case "email":
				return models.FieldError(models.ETAKEN, "email", *email, "another user account already has this email")
			case "user_name":
				// No account has the email, but one has it as userName (its IdP's, through
				// SCIM), which this account's would become (models.UserAccount.ChangeEmail).
				return models.FieldError(models.ETAKEN, "email", *email, "another user account has this email as its userName")
			}
			return nil
		}}
}

// loadUser finds a user account of the caller's workspace, reporting a missing one against field.
func (s *Service) loadUser(ctx context.Context, ws uuid.UUID, field, rawID string) (*models.UserAccount, error) {
	id, e := lookupID(field, rawID, "user account")
	if e != nil {
		return nil, noSuchAccount(field, rawID)
	}
	u, err := s.store.UserAccount(ctx, ws, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noSuchAccount(field, rawID)
	}
	return u, err
}

// UpdateUserAccount changes the given fields of an account.
func (s *Service) UpdateUserAccount(ctx context.Context, rawID string, in UpdateUserAccountInput) (*models.UserAccount, error) {
	return s.changeUser(ctx, rawID, "user_account.update", func(u *models.UserAccount) (map[string]any, error) {
		var errs models.Errors
		if in.Email != nil {
			email := strings.TrimSpace(*in.Email)
			if e := validateEmail("email", email); e != nil {
				errs = append(errs, e)
			}
			u.ChangeEmail(email)
		}
		if in.FirstName != nil {
			if e := validatePersonName("firstName", *in.FirstName); e != nil {
				errs = append(errs, e)
			}
			u.FirstName = strings.TrimSpace(*in.FirstName)
		}
		if in.LastName != nil {
			if e := validatePersonName("lastName", *in.LastName); e != nil {
				errs = append(errs, e)
			}
			u.LastName = strings.TrimSpace(*in.LastName)
		}
		if in.ExternalID != nil {
			errs = append(errs, checkExternalID(in.ExternalID)...)
			u.ExternalID = models.ExternalIDOf(in.ExternalID) // "" clears it
		}
		// The values stored; changeUser keeps those of the fields that changed.
		return map[string]any{"email": u.Email, "emailType": u.EmailType, "userName": u.UserName, "firstName": u.FirstName,
			"lastName": u.LastName, "externalId": u.ExternalID}, errs.Err()
	})
}

// DeactivateUserAccount blocks an account from signing in; it keeps its credentials.
// Deactivating a deactivated account changes nothing.
func (s *Service) DeactivateUserAccount(ctx context.Context, rawID string) (*models.UserAccount, error) {
	return s.setActive(ctx, rawID, "user_account.deactivate", false)
}

// ReactivateUserAccount lets a deactivated account sign in again. Reactivating an active
// account changes nothing.
func (s *Service) ReactivateUserAccount(ctx context.Context, rawID string) (*models.UserAccount, error) {
	return s.setActive(ctx, rawID, "user_account.reactivate", true)
}

// setActive is DeactivateUserAccount and ReactivateUserAccount.
func (s *Service) setActive(ctx context.Context, rawID, action string, active bool) (*models.UserAccount, error) {
	return s.changeUser(ctx, rawID, action, func(u *models.UserAccount) (map[string]any, error) {
		u.SetActive(active, s.now())
		return nil, nil
	})
}

// changeUser loads an account of the caller's workspace, applies change and saves it with an
// audit event. A change that leaves the account as it was (deactivating a deactivated account,
// an update to the values it has) is answered with the account, with no write and no event, as
// a revoked client revoked again: a write would move its version, the ETag its IdP's
// conditional SCIM writes name, and record a change that was none. change returns the stored
// values of the fields it sets, by API name; the event keeps those of the fields that changed.
func (s *Service) changeUser(ctx context.Context, rawID, action string, change func(*models.UserAccount) (map[string]any, error)) (*models.UserAccount, error) {
	var u *models.UserAccount
	var email string
	err := s.mutate(ctx, userMutation(action, action, &email), func(ctx context.Context, p *Principal) (_ audited, err error) {
		if u, err = s.loadUser(ctx, p.WorkspaceID, "uuid", rawID); err != nil {
			return audited{}, err
		}
		var summary map[string]any
		changed, names, err := edit(u, func(u *models.UserAccount) (err error) {
			summary, err = change(u)
			return err
		})
		if err != nil || !changed {
			return audited{unchanged: true}, err // !changed: no write, no event (edit)
		}
		email = u.Email
		if err := s.store.UpdateUserAccount(ctx, u); err != nil {
			return audited{}, err
		}
		// The event lists the fields that changed, each with its stored value: an entry of
		// change's summary for a field given but left as it was is no change.
		maps.DeleteFunc(summary, func(k string, _ any) bool { return !slices.Contains(names, k) })
		if summary == nil {
			summary = map[string]any{}
		}
		summary["changed"] = names
		return audited{id: u.ID.String(), summary: summary}, nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// UserAccount returns one account of the caller's workspace, or nil when there is none.
func (s *Service) UserAccount(ctx context.Context, rawID string) (*models.UserAccount, error) {
	p, err := s.authorize(ctx, accessRead)
	if err != nil {
		return nil, err
	}
	id, e := lookupID("uuid", rawID, "user account")
	if e != nil {
		return nil, nil
	}
	u, err := s.store.UserAccount(ctx, p.WorkspaceID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return u, internal("user account", err)
}

// UserAccountFilter narrows UserAccounts; empty fields do not filter.
type UserAccountFilter struct {
	Email      string
	AuthModule string
	Identifier string
	ExternalID string
	Active     *bool
}

// UserAccountPage is one page of a user account listing (a Relay connection).
type UserAccountPage struct {
	Nodes       []*models.UserAccount
	HasNextPage bool
	filter      store.UserAccountFilter
	workspace   uuid.UUID
}

// Edge pairs an account with its cursor.
type Edge struct {
	Cursor string
	Node   *models.UserAccount
}

// Edges returns the page as Relay edges.
func (pg *UserAccountPage) Edges() []*Edge {
	es := make([]*Edge, len(pg.Nodes))
	for i, n := range pg.Nodes {
		es[i] = &Edge{Cursor: cursorOf(n.ID), Node: n}
	}
	return es
}

// PageInfo is Relay's page info.
type PageInfo struct {
	HasNextPage bool
	EndCursor   *string
}

// PageInfo returns the page's Relay page info.
func (pg *UserAccountPage) PageInfo() *PageInfo {
	pi := &PageInfo{HasNextPage: pg.HasNextPage}
	if n := len(pg.Nodes); n > 0 {
		c := cursorOf(pg.Nodes[n-1].ID)
		pi.EndCursor = &c
	}
	return pi
}

func cursorOf(id uuid.UUID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func parseCursor(c string) (uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 16 {
		return uuid.Nil, models.FieldError(models.EINVALID, "after", c, "is not a valid cursor")
	}
	return uuid.UUID(b), nil
}

// UserAccounts lists accounts in creation order, first at a time (≤ 100), after a cursor. The
// accounts come with their credentials loaded (one query per page, not per account).
func (s *Service) UserAccounts(ctx context.Context, f UserAccountFilter, first int, after *string) (*UserAccountPage, error) {
	p, err := s.authorize(ctx, accessRead)
	if err != nil {
		return nil, err
	}
	if errs := models.CheckTexts("email", f.Email, "authModule", f.AuthModule, "identifier", f.Identifier,
		"externalId", f.ExternalID); len(errs) > 0 {
		return nil, errs
	}
	sf := store.UserAccountFilter{EmailKey: models.Key(f.Email), AuthModule: models.SlugKey(f.AuthModule),
		IdentifierKey: models.Key(f.Identifier), ExternalID: f.ExternalID, Active: f.Active}
	var afterID *uuid.UUID
	if after != nil && *after != "" {
		id, err := parseCursor(*after)
		if err != nil {
			return nil, err
		}
		afterID = &id
	}
	limit := clampPage(first)
	us, err := s.store.UserAccounts(ctx, p.WorkspaceID, sf, afterID, limit+1)
	if err != nil {
		return nil, internal("user accounts", err)
	}
	pg := &UserAccountPage{filter: sf, workspace: p.WorkspaceID}
	if len(us) > limit {
		us, pg.HasNextPage = us[:limit], true
	}
	if err := s.attachCredentials(ctx, p.WorkspaceID, us); err != nil {
		return nil, err
	}
	pg.Nodes = us
	return pg, nil
}

// TotalCount counts every account matching the page's filter.
func (s *Service) TotalCount(ctx context.Context, pg *UserAccountPage) (int, error) {
	n, err := s.store.CountUserAccounts(ctx, pg.workspace, pg.filter)
	return int(n), internal("count user accounts", err)
}

// attachCredentials loads the credentials of many accounts in one query.
func (s *Service) attachCredentials(ctx context.Context, ws uuid.UUID, us []*models.UserAccount) error {
	ids := make([]uuid.UUID, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	byUser, err := s.store.CredentialsForAccounts(ctx, ws, ids)
	if err != nil {
		return internal("load credentials", err)
	}
	for _, u := range us {
		u.Credentials = byUser[u.ID]
		if u.Credentials == nil {
			u.Credentials = []*models.Credential{}
		}
	}
	return nil
}

// Credentials returns an account's live credentials, using those loaded with it when present.
func (s *Service) Credentials(ctx context.Context, u *models.UserAccount) ([]*models.Credential, error) {
	if u.Credentials != nil {
		return u.Credentials, nil
	}
	if err := s.attachCredentials(ctx, u.WorkspaceID, []*models.UserAccount{u}); err != nil {
		return nil, err
	}
	return u.Credentials, nil
}

// emailTaken reports whether err is a clash on an account's email. Accounts created outside
// SCIM take their email as SCIM userName, so the clash can surface on either unique index.
func emailTaken(err error) bool {
	return store.IsAlreadyExists(err, "email") || store.IsAlreadyExists(err, "user_name")
}
