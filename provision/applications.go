package provision

import (
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
)

// Prefixes of generated application credentials, so a leaked value is recognisable.
const (
	applicationIDPrefix     = "gha_"
	applicationSecretPrefix = "ghas_"
)

// ApplicationInput creates or updates an application. Nil fields are left as they are on update.
type ApplicationInput struct {
	BrandID      *string
	Name         *string
	RedirectURIs []string
	// SetRedirectURIs tells an update that RedirectURIs was given (an empty list is an error).
	SetRedirectURIs bool
	// PostLogoutRedirectURIs replace the list when SetPostLogoutRedirectURIs (empty: none).
	PostLogoutRedirectURIs    []string
	SetPostLogoutRedirectURIs bool
	Type                      *models.ApplicationType
	// IDTokenSignedResponseAlg signs the application's id_tokens (nil: ES256 on create, unchanged on update).
	IDTokenSignedResponseAlg *models.IDTokenAlg
	// RequirePKCE makes a confidential application's authorization requests carry a PKCE
	// challenge (nil: not on create, unchanged on update); a public one's always must.
	RequirePKCE *bool
}

// CreateApplication creates an application of a brand. A confidential application's secret is
// returned here, the only time it is shown; a public one has none and must use PKCE.
func (s *Service) CreateApplication(ctx context.Context, in ApplicationInput) (*models.Application, string, error) {
	p, err := s.authorize(ctx, accessWrite)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	a := &models.Application{ID: store.NewID(), WorkspaceID: p.WorkspaceID, ClientID: secret.Token(applicationIDPrefix, 15),
		Type: models.ApplicationConfidential, PostLogoutRedirectURIsJSON: "[]", IDTokenSignedResponseAlg: models.IDTokenES256,
		Version: 1, CreatedAt: now, UpdatedAt: now}
	var errs models.Errors
	brandID := ""
	if in.BrandID != nil {
		brandID = *in.BrandID
	}
	b, err := s.loadBrand(ctx, p.WorkspaceID, "brandId", brandID)
	switch {
	case models.ErrorCode(err) == models.ENOTFOUND || models.ErrorCode(err) == models.EINVALID:
		errs = append(errs, err.(*models.Error))
	case err != nil:
		return nil, "", internal("create application", err)
	default:
		a.BrandID = b.ID
	}
	if in.Type != nil {
		a.Type = *in.Type
	}
	if in.Name == nil {
		empty := ""
		in.Name = &empty
	}
	in.SetRedirectURIs = true
	errs = append(errs, applyApplication(a, in)...)
	if len(errs) > 0 {
		return nil, "", errs
	}
	if err := s.ensureSigningKey(ctx, p, a.IDTokenSignedResponseAlg); err != nil {
		return nil, "", err
	}
	plain := ""
	if a.Type == models.ApplicationConfidential {
		plain = secret.Token(applicationSecretPrefix, 32)
		a.SecretHash = secret.Hash(plain)
	}
	m := mutation{action: "application.create", target: "application", op: "create application"}
	err = s.mutateAs(ctx, p, m, func(ctx context.Context, p *Principal) (audited, error) {
		return audited{id: a.ID.String(), summary: applicationSummary(a)}, s.store.Create(ctx, a)
	})
	if err != nil {
		return nil, "", err
	}
	return a, plain, nil
}

// applyApplication validates and sets the given fields.
func applyApplication(a *models.Application, in ApplicationInput) models.Errors {
	var errs models.Errors
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if err := validateName("name", name); err != nil {
			errs = append(errs, err)
		}
		a.Name = name
	}
	if in.SetRedirectURIs {
		if err := validateRedirectURIs("redirectUris", in.RedirectURIs, true); err != nil {
			errs = append(errs, err)
		}
		a.SetRedirectURIs(in.RedirectURIs)
	}
	if in.SetPostLogoutRedirectURIs {
		if err := validateRedirectURIs("postLogoutRedirectUris", in.PostLogoutRedirectURIs, false); err != nil {
			errs = append(errs, err)
		}
		a.SetPostLogoutRedirectURIs(in.PostLogoutRedirectURIs)
	}
	if alg := in.IDTokenSignedResponseAlg; alg != nil {
		if !slices.Contains(models.IDTokenSigningAlgs, *alg) {
			errs = append(errs, models.FieldError(models.EINVALID, "idTokenSignedResponseAlg", models.Clip(string(*alg), 16), "must be ES256 or RS256"))
		}
		a.IDTokenSignedResponseAlg = *alg
	}
	if in.RequirePKCE != nil {
		if !*in.RequirePKCE && a.Type == models.ApplicationPublic {
			errs = append(errs, models.FieldError(models.EINVALID, "requirePkce", "false",
				"cannot be false for a PUBLIC application: it has no secret, so PKCE is what binds its code to it"))
		}
		// A public application's requirement is its type's; the column stays false for it.
		a.RequirePKCE = *in.RequirePKCE && a.Type == models.ApplicationConfidential
	}
	return errs
}

// validateRedirectURIs applies models.ValidRedirectURI to each URI of the list field, and the
// list's bounds; required: an empty list is an error.
func validateRedirectURIs(field string, uris []string, required bool) *models.Error {
	switch {
	case len(uris) == 0 && required:
		return models.FieldError(models.EINVALID, field, "", "at least one redirect URI is required")
	case len(uris) > models.MaxRedirectURIs:
		return models.FieldError(models.EINVALID, field, "", "at most 20 redirect URIs are allowed")
	}
	seen := map[string]bool{}
	for _, u := range uris {
		if problem := models.ValidRedirectURI(u); problem != "" {
			return models.FieldError(models.EINVALID, field, models.Clip(u, 256), problem)
		}
		if seen[u] {
			return models.FieldError(models.EINVALID, field, models.Clip(u, 256), "is listed twice")
		}
		seen[u] = true
	}
	return nil
}

func applicationSummary(a *models.Application) map[string]any {
	return map[string]any{"name": a.Name, "clientId": a.ClientID, "brandId": a.BrandID.String(),
		"type": string(a.Type), "redirectUris": a.RedirectURIs(), "postLogoutRedirectUris": a.PostLogoutRedirectURIs(),
		"idTokenSignedResponseAlg": string(a.IDTokenSignedResponseAlg), "requirePkce": a.UsesPKCE()}
}

// UpdateApplication changes an application's name, redirect URIs, post-logout redirect URIs,
// id_token signing algorithm or PKCE requirement.
func (s *Service) UpdateApplication(ctx context.Context, rawID string, in ApplicationInput) (*models.Application, error) {
	if in.IDTokenSignedResponseAlg != nil {
		// Before the transaction: the key's first load must not wait for it (SQLite has one
		// connection). Only for an application of the caller's that exists; a key made for an
		// update that then fails (a concurrent change) is simply unused.
		p, err := s.authorize(ctx, accessWrite)
		if err != nil {
			return nil, err
		}
		if _, err := s.loadApplication(ctx, p.WorkspaceID, "id", rawID); err != nil {
			return nil, err
		}
		if err := s.ensureSigningKey(ctx, p, *in.IDTokenSignedResponseAlg); err != nil {
			return nil, err
		}
	}
	return s.changeApplication(ctx, rawID, "application.update", func(a *models.Application) error {
		return applyApplication(a, ApplicationInput{Name: in.Name, RedirectURIs: in.RedirectURIs, SetRedirectURIs: in.SetRedirectURIs,
			PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, SetPostLogoutRedirectURIs: in.SetPostLogoutRedirectURIs,
			IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg, RequirePKCE: in.RequirePKCE}).Err()
	})
}

// RotateApplicationSecret replaces a confidential application's secret and returns the new one
// once. Codes and tokens already issued stay valid until they expire.
func (s *Service) RotateApplicationSecret(ctx context.Context, rawID string) (*models.Application, string, error) {
	var plain string
	a, err := s.changeApplication(ctx, rawID, "application.rotate_secret", func(a *models.Application) error {
		if a.Type != models.ApplicationConfidential {
			return models.FieldError(models.EINVALIDSTATE, "id", rawID, "a public application has no secret")
		}
		plain = secret.Token(applicationSecretPrefix, 32)
		a.SecretHash = secret.Hash(plain)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return a, plain, nil
}

// DeleteApplication deletes an application: its pending sign-ins and its codes and tokens stop
// working. Its sign-in events stay.
func (s *Service) DeleteApplication(ctx context.Context, rawID string) (*models.Application, error) {
	return s.writeApplication(ctx, rawID, "application.delete", func(ctx context.Context, a *models.Application) (bool, []string, error) {
		return true, nil, s.store.DeleteApplication(ctx, a)
	})
}

// changeApplication applies change to an application of the caller's workspace and saves it;
// a change that leaves it as it was writes nothing (edit).
func (s *Service) changeApplication(ctx context.Context, rawID, action string, change func(*models.Application) error) (*models.Application, error) {
	return s.writeApplication(ctx, rawID, action, func(ctx context.Context, a *models.Application) (bool, []string, error) {
		changed, names, err := edit(a, change)
		if err != nil || !changed {
			return false, nil, err
		}
		return true, names, s.store.UpdateApplication(ctx, a)
	})
}

// writeApplication loads an application of the caller's workspace, writes it and records the
// audit event, in one transaction; this replica forgets its cached copy. write reports
// whether it wrote (when not, there is no event) and, for an update, the settings it changed
// (edit), which the event lists as "changed".
func (s *Service) writeApplication(ctx context.Context, rawID, action string, write func(context.Context, *models.Application) (bool, []string, error)) (*models.Application, error) {
	var a *models.Application
	m := mutation{access: accessWrite, action: action, target: "application", op: action,
		stale: func() error {
			return models.FieldError(models.ECONFLICT, "id", rawID, "the application was changed concurrently; try again")
		}}
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		if a, err = s.loadApplication(ctx, p.WorkspaceID, "id", rawID); err != nil {
			return audited{}, err
		}
		wrote, names, err := write(ctx, a)
		if err != nil || !wrote {
			return audited{unchanged: true}, err
		}
		summary := applicationSummary(a)
		if names != nil {
			summary["changed"] = names
		}
		return audited{id: a.ID.String(), summary: summary}, nil
	})
	if err != nil {
		return nil, err
	}
	s.applications.forget(a.ClientID)
	return a, nil
}

func (s *Service) loadApplication(ctx context.Context, ws uuid.UUID, field, rawID string) (*models.Application, error) {
	return loadByID(ctx, ws, field, rawID, "application", s.store.Application)
}

// Application returns one application of the caller's workspace, or nil.
func (s *Service) Application(ctx context.Context, rawID string) (*models.Application, error) {
	return readByID(s, ctx, rawID, "application", s.store.Application)
}

// Applications lists a brand's applications, oldest first; an unknown brand has none.
func (s *Service) Applications(ctx context.Context, rawBrandID string) ([]*models.Application, error) {
	p, err := s.authorize(ctx, accessRead)
	if err != nil {
		return nil, err
	}
	id, e := filterID("brandId", rawBrandID)
	if e != nil {
		return nil, e
	}
	as, err := s.store.Applications(ctx, p.WorkspaceID, id)
	return as, internal("applications", err)
}

// BrandOfApplication returns the brand an application of the caller's workspace belongs to.
func (s *Service) BrandOfApplication(ctx context.Context, a *models.Application) (*models.Brand, error) {
	p, err := s.authorize(ctx, accessRead)
	if err != nil {
		return nil, err
	}
	b, err := s.store.Brand(ctx, p.WorkspaceID, a.BrandID)
	return b, internal("brand of application", err)
}

// IsApplicationClientID reports whether clientID is in an application's form (not an
// integration client's): which kind of client a request authenticates as.
func IsApplicationClientID(clientID string) bool {
	return strings.HasPrefix(clientID, applicationIDPrefix)
}

// applicationByClientID reads an application through the short-lived cache; nil when none. A
// client_id no application can have (NUL, invalid UTF-8, control characters: the input text
// rule, as AuthenticateClient applies it) is none without a read: PostgreSQL cannot even compare
// it, and whoever sends one must get the answer to an unknown client, not a server error, on
// either database.
func (s *Service) applicationByClientID(ctx context.Context, clientID string) (*models.Application, error) {
	if clientID == "" || len(clientID) > 256 || models.CheckText("client_id", clientID) != nil {
		return nil, nil
	}
	return s.applications.get(ctx, clientID, func(ctx context.Context) (*models.Application, error) {
		return s.store.ApplicationByClientID(ctx, clientID)
	})
}
