package provision

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
)

// CredentialInput binds an account to an identity: the seed's updateUserAccountCredentials.
// Secret may be blank (models.SecretGiven); a given one is stored only as a password hash.
type CredentialInput struct {
	AccountUUID string
	AuthModule  string
	Identifier  string
	Secret      string
}

// validate checks the input on its own and returns the normalised identifier and, when hash
// is set, the secret's hash (a dry run checks the secret without paying for its hash). It
// does not touch the database.
func (in CredentialInput) validate(hash bool) (identifier, secretHash string, errs models.Errors) {
	if errs = models.CheckTexts("authModule", in.AuthModule, "identifier", in.Identifier); len(errs) > 0 {
		return "", "", errs
	}
	if _, e := lookupID("accountUuid", in.AccountUUID, "user account"); e != nil {
		errs = append(errs, noSuchAccount("accountUuid", in.AccountUUID)) // names none (ids.go)
	}
	if strings.TrimSpace(in.AuthModule) == "" {
		errs = append(errs, models.FieldError(models.EINVALID, "authModule", in.AuthModule, "is required: the slug of a connection (e.g. microsoft)"))
	}
	identifier = strings.TrimSpace(in.Identifier)
	switch {
	case identifier == "":
		errs = append(errs, models.FieldError(models.EINVALID, "identifier", in.Identifier, "is required"))
	case len(identifier) > models.MaxIdentifierLength:
		errs = append(errs, models.FieldError(models.EINVALID, "identifier", models.Clip(in.Identifier, 64), "must be at most 255 bytes"))
	}
	if len(in.Secret) > models.MaxSecretLength {
		errs = append(errs, models.SecretFieldError(models.EINVALID, "secret", "must be at most 1,024 bytes"))
	}
	if len(errs) > 0 {
		return "", "", errs
	}
	if models.SecretGiven(in.Secret) && hash {
		h, err := secret.HashPassword(in.Secret)
		if err != nil {
			return "", "", models.Errors{models.SecretFieldError(models.EINTERNAL, "secret", "could not be hashed")}
		}
		secretHash = h
	}
	return identifier, secretHash, nil
}

// noSuchAccount and noSuchConnection are the NOT_FOUND errors of what a binding names; like the
// other field errors, their messages complete "<field> …".
func noSuchAccount(field, raw string) *models.Error {
	return models.FieldError(models.ENOTFOUND, field, raw, "matches no user account in this workspace")
}

func noSuchConnection(authModule string) *models.Error {
	return models.FieldError(models.ENOTFOUND, "authModule", authModule, "matches no connection's slug in this workspace")
}

func takenError(identifier string) *models.Error {
	return models.FieldError(models.ETAKEN, "identifier", identifier, "is already bound to another user account at this connection")
}

// UpdateUserAccountCredentials binds an account to identifier at the connection whose slug is
// authModule, replacing the account's previous binding there. On any error nothing changes.
func (s *Service) UpdateUserAccountCredentials(ctx context.Context, in CredentialInput) (*models.UserAccount, error) {
	p, err := s.authorize(ctx, accessWrite)
	if err != nil {
		return nil, err
	}
	identifier, secretHash, errs := in.validate(true)
	if len(errs) > 0 {
		return nil, errs
	}
	id, e := lookupID("accountUuid", in.AccountUUID, "user account")
	if e != nil {
		return nil, noSuchAccount("accountUuid", in.AccountUUID)
	}
	slug := models.SlugKey(in.AuthModule)
	// One store call finds the account and the connection and binds as the identity rule
	// (models/binding.go) decides: one statement on PostgreSQL.
	c := s.newCredential(&models.UserAccount{ID: id, WorkspaceID: p.WorkspaceID}, uuid.Nil, identifier, secretHash)
	ev := s.auditEvent(p, "user_account.credentials.update", "user_account", id.String(),
		bindSummary(slug, identifier, secretHash != ""))
	u, bound, err := s.store.BindAccountCredential(ctx, slug, c, ev)
	switch {
	case errors.Is(err, store.ErrMissingReference), err == nil && u == nil:
		return nil, noSuchAccount("accountUuid", in.AccountUUID)
	case err != nil:
		return nil, s.bindError(err, identifier)
	case !bound:
		return nil, noSuchConnection(in.AuthModule)
	}
	return u, nil
}

// loadBindingTargets finds the account and the id of the live connection a binding names (one
// query), reporting a missing one against its input field.
func (s *Service) loadBindingTargets(ctx context.Context, ws uuid.UUID, in CredentialInput) (*models.UserAccount, uuid.UUID, error) {
	id, e := lookupID("accountUuid", in.AccountUUID, "user account")
	if e != nil {
		return nil, uuid.Nil, noSuchAccount("accountUuid", in.AccountUUID)
	}
	slug := models.SlugKey(in.AuthModule)
	u, connID, err := s.store.BindingTargets(ctx, ws, id, slug)
	switch {
	case err != nil:
		return nil, uuid.Nil, err
	case u == nil:
		return nil, uuid.Nil, noSuchAccount("accountUuid", in.AccountUUID)
	case connID == nil:
		return nil, uuid.Nil, noSuchConnection(in.AuthModule)
	}
	return u, *connID, nil
}

// bindIdentity binds u to identifier at conn for SCIM, as the identity rule
// (models/binding.go) decides: the identity (connection, identifier), compared
// case-insensitively, binds to at most one user account per workspace, and an account has at
// most one identity per connection, which a new binding replaces. store.UpsertCredential
// applies the rule (inside its upsert on PostgreSQL, after reading the owner on SQLite); the
// unique indexes behind it make a binding that lost a race to a concurrent one fail too.
// Either refusal is TAKEN. Ahead-of-time binding (store.BindAccountCredential) and bulk
// binding decide by the same rule.
func (s *Service) bindIdentity(ctx context.Context, u *models.UserAccount, conn *models.Connection, identifier, secretHash string) error {
	if err := s.store.UpsertCredential(ctx, s.newCredential(u, conn.ID, identifier, secretHash)); err != nil {
		if store.IsAlreadyExists(err, "identity") {
			return takenError(identifier)
		}
		return err
	}
	u.Credentials = nil // stale now; reloaded on demand
	return nil
}

// linkIdentity binds u, which has no identity at conn, to identifier there: the link a first
// sign-in makes by email. Unlike bindIdentity it never replaces a binding, so of two
// identities linking u at once one wins and the other's decision fails with the "account"
// clash (or TAKEN, when the identity was bound elsewhere meanwhile), which the sign-in takes
// for a lost race and decides again.
func (s *Service) linkIdentity(ctx context.Context, u *models.UserAccount, conn *models.Connection, identifier string) error {
	if err := s.store.CreateCredential(ctx, s.newCredential(u, conn.ID, identifier, "")); err != nil {
		if store.IsAlreadyExists(err, "identity") {
			return takenError(identifier)
		}
		return err
	}
	u.Credentials = nil // stale now; reloaded on demand
	return nil
}

// newCredential is the binding of u to identifier at conn; its key is the case-insensitive
// form the identity rule compares.
func (s *Service) newCredential(u *models.UserAccount, connID uuid.UUID, identifier, secretHash string) *models.Credential {
	now := s.now()
	return &models.Credential{ID: store.NewID(), WorkspaceID: u.WorkspaceID, UserAccountID: u.ID,
		ConnectionID: connID, Identifier: identifier, IdentifierKey: models.Key(identifier), SecretHash: secretHash,
		CreatedAt: now, UpdatedAt: now}
}

// bindError maps a failed binding transaction to the error the caller sees.
func (s *Service) bindError(err error, identifier string) error {
	switch {
	case store.IsAlreadyExists(err, "identity"):
		return takenError(identifier)
	case store.IsAlreadyExists(err, "account"):
		return models.Errorf(models.ECONFLICT, "the account's credentials were changed concurrently; retry")
	}
	return internal("bind credentials", err)
}

// RemoveUserAccountCredentials unbinds an account from the connection whose slug is authModule.
func (s *Service) RemoveUserAccountCredentials(ctx context.Context, accountUUID, authModule string) (*models.UserAccount, error) {
	p, err := s.authorize(ctx, accessWrite)
	if err != nil {
		return nil, err
	}
	if e := models.CheckText("authModule", authModule); e != nil {
		return nil, e
	}
	var u *models.UserAccount
	err = s.mutateAs(ctx, p, mutation{action: "user_account.credentials.remove", target: "user_account", op: "remove credentials"},
		func(ctx context.Context, p *Principal) (audited, error) {
			var connID uuid.UUID
			var err error
			u, connID, err = s.loadBindingTargets(ctx, p.WorkspaceID, CredentialInput{AccountUUID: accountUUID, AuthModule: authModule})
			if err != nil {
				return audited{}, err
			}
			existed, err := s.store.DeleteCredential(ctx, p.WorkspaceID, u.ID, connID)
			if err != nil {
				return audited{}, err
			}
			if !existed {
				return audited{}, models.FieldError(models.ENOTFOUND, "authModule", authModule, "the account has no credentials at this connection")
			}
			return audited{id: u.ID.String(), summary: map[string]any{"authModule": strings.TrimSpace(authModule)}}, nil
		})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func bindSummary(slug, identifier string, withSecret bool) map[string]any {
	return map[string]any{"authModule": slug, "identifier": identifier, "secret": withSecret}
}
