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

// Prefixes of generated client credentials, so a leaked value is recognisable.
const (
	clientIDPrefix     = "ghc_"
	clientSecretPrefix = "ghs_"
)

// BootstrapResult tells server.go what the first start created.
type BootstrapResult struct {
	Created      bool
	ClientID     string
	ClientSecret string // only when generated here; empty when taken from configuration
	WorkspaceID  uuid.UUID
}

// minChosenSecret is the shortest platform admin secret an operator may choose. Client
// secrets are stored as a fast hash (secret.Hash), which suits only values as strong as a
// generated one: 32 hexadecimal characters (openssl rand -hex 16) are 128 bits.
const minChosenSecret = 32

// Bootstrap creates a default workspace and the platform admin client when the database has no
// integration client at all. clientID/clientSecret come from configuration; empty ones are
// generated. A chosen secret shorter than minChosenSecret, or credentials longer than the
// token endpoint reads, are refused (EINVALID) when the client would be created: a restart
// of a server bootstrapped before the rule keeps starting.
//
// show, unless nil, is handed a generated secret before the client is committed: its error
// rolls the bootstrap back and is returned as it is. A secret it could not show would be
// lost (only its hash is kept), with an admin client that nobody can use. When Bootstrap
// fails after show returned nil (the audit write or the commit failed), the secret shown may
// open nothing: the caller withdraws it (app.New). So it does when Bootstrap returns
// Created false after show: an attempt run again after an abort found the client another
// start created meanwhile.
func (s *Service) Bootstrap(ctx context.Context, clientID, clientSecret string, show func(clientID, clientSecret string) error) (*BootstrapResult, error) {
	var res BootstrapResult // set by the write; the caller's once it committed
	var unshown error       // show's error, which is the caller's, not an internal one
	// Decided once, not per attempt: a transaction run again (a deadlock's victim) keeps the
	// id and secret its first attempt generated and showed, and shows nothing twice.
	generated, shown := clientSecret == "", false
	// The event's actor is the system, in the workspace the write creates.
	p := &Principal{ClientID: "bootstrap", ActorType: "system"}
	m := mutation{action: "integration_client.create", target: "integration_client", op: "bootstrap"}
	err := s.mutateAs(ctx, p, m, func(ctx context.Context, _ *Principal) (audited, error) {
		// Set again by each attempt: one run again after an abort may find the client another
		// start created meanwhile, and then created nothing (the secret shown opens nothing).
		res = BootstrapResult{}
		// Replicas starting at once on an empty database: the first bootstraps, the others
		// wait for it and then count its client.
		if err := s.store.LockBootstrap(ctx); err != nil {
			return audited{}, err
		}
		n, err := s.store.CountIntegrationClients(ctx)
		if err != nil || n > 0 {
			return audited{unchanged: true}, err
		}
		if err := CheckBootstrapCredentials(clientID, clientSecret); err != nil {
			return audited{}, err
		}
		ws := &models.Workspace{ID: store.NewID(), Name: "Default", CreatedAt: s.now()}
		if err := s.store.Create(ctx, ws); err != nil {
			return audited{}, err
		}
		if clientID == "" {
			clientID = secret.Token(clientIDPrefix, 15)
		}
		if clientSecret == "" {
			clientSecret = secret.Token(clientSecretPrefix, 32)
		}
		c := &models.IntegrationClient{ID: store.NewID(), WorkspaceID: ws.ID, ClientID: clientID,
			Name: "Platform admin (bootstrap)", SecretHash: secret.Hash(clientSecret),
			ScopeString: strings.Join(models.AllScopes, " "), PlatformAdmin: true,
			CreatedAt: s.now(), UpdatedAt: s.now()}
		if err := s.store.Create(ctx, c); err != nil {
			return audited{}, err
		}
		res = BootstrapResult{Created: true, ClientID: clientID, WorkspaceID: ws.ID}
		if generated {
			res.ClientSecret = clientSecret
			if show != nil && !shown {
				if unshown = show(clientID, clientSecret); unshown != nil {
					return audited{}, unshown
				}
				shown = true
			}
		}
		return audited{id: clientID, workspace: ws.ID,
			summary: map[string]any{"name": c.Name, "scopes": c.Scopes(), "platformAdmin": true}}, nil
	})
	if unshown != nil {
		return &BootstrapResult{}, unshown
	}
	if err != nil {
		return &BootstrapResult{}, err
	}
	return &res, nil
}

// CheckBootstrapCredentials is the rule Bootstrap applies to chosen credentials (EINVALID): a
// secret of minChosenSecret to maxClientCredential characters, and an id the token endpoint
// reads and that is not in an application's form. Empty ones are generated and pass. The start
// applies it too, before it creates anything (app.New).
func CheckBootstrapCredentials(clientID, clientSecret string) error {
	if clientSecret != "" && (len(clientSecret) < minChosenSecret || len(clientSecret) > maxClientCredential) {
		return models.Errorf(models.EINVALID, "the platform admin client's secret must be %d to %d characters, "+
			"random (openssl rand -hex 24 makes one); the one given has %d", minChosenSecret, maxClientCredential, len(clientSecret))
	}
	if len(clientID) > maxClientCredential {
		return models.Errorf(models.EINVALID, "the platform admin client's id must be at most %d characters", maxClientCredential)
	}
	// An id no client can authenticate with (AuthenticateClient's text rule), or one in an
	// application's form, which the revocation endpoint takes for an application's
	// (IsApplicationClientID): the client could never sign in, or never revoke a token.
	if models.CheckText("client_id", clientID) != nil || IsApplicationClientID(clientID) {
		return models.Errorf(models.EINVALID, "the platform admin client's id must be text without control characters, "+
			"and must not begin with %q, the prefix of applications' client ids", applicationIDPrefix)
	}
	return nil
}

// maxClientCredential is the longest client id or secret the token endpoint reads.
const maxClientCredential = 256

// AuthenticateClient checks client credentials for the token endpoint. Any failure is the same
// EUNAUTHENTICATED error, so callers cannot tell unknown ids from wrong secrets.
func (s *Service) AuthenticateClient(ctx context.Context, clientID, clientSecret string) (*models.IntegrationClient, error) {
	fail := models.Errorf(models.EUNAUTHENTICATED, "client authentication failed")
	if clientID == "" || clientSecret == "" || len(clientID) > maxClientCredential || len(clientSecret) > maxClientCredential ||
		models.CheckText("client_id", clientID) != nil {
		return nil, fail
	}
	c, err := s.clientByID(ctx, clientID)
	if err != nil {
		return nil, internal("authenticate client", err)
	}
	if c == nil {
		secret.Equal(clientSecret, secret.Hash("")) // same work as a real comparison
		return nil, fail
	}
	if !secret.Equal(clientSecret, c.SecretHash) || c.Revoked() {
		return nil, fail
	}
	return c, nil
}

// GrantScopes returns the scopes a token for c gets: all of the client's scopes when requested
// is empty, otherwise requested, which must be a subset of them (RFC 6749 §3.3).
func GrantScopes(c *models.IntegrationClient, requested string) ([]string, error) {
	have := c.Scopes()
	want := models.SplitScopes(requested)
	if len(want) == 0 {
		return have, nil
	}
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return nil, models.FieldError(models.EINVALID, "scope", w, "is not one of this client's scopes")
		}
	}
	return want, nil
}

// Authenticate turns verified access-token claims into a principal, refusing tokens of revoked
// clients (within the client cache TTL) and tokens issued before a client was re-created.
func (s *Service) Authenticate(ctx context.Context, clientID string, workspaceID uuid.UUID, scopes []string) (*Principal, error) {
	c, err := s.clientByID(ctx, clientID)
	if err != nil {
		return nil, internal("authenticate token", err)
	}
	if c == nil || c.Revoked() || c.WorkspaceID != workspaceID {
		return nil, models.Errorf(models.EUNAUTHENTICATED, "the access token's client is revoked or unknown")
	}
	return &Principal{ClientID: clientID, WorkspaceID: workspaceID, Scopes: scopes,
		PlatformAdmin: c.PlatformAdmin, ActorType: "client"}, nil
}

// CreateWorkspace creates a tenant. Only the platform admin may.
func (s *Service) CreateWorkspace(ctx context.Context, name string) (*models.Workspace, error) {
	p, err := s.authorizePlatform(ctx, "create workspaces")
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if err := validateName("name", name); err != nil {
		return nil, err
	}
	ws := &models.Workspace{ID: store.NewID(), Name: name, CreatedAt: s.now()}
	m := mutation{action: "workspace.create", target: "workspace", op: "create workspace"}
	err = s.mutateAs(ctx, p, m, func(ctx context.Context, p *Principal) (audited, error) {
		return audited{id: ws.ID.String(), summary: map[string]any{"name": name}}, s.store.Create(ctx, ws)
	})
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// Workspace returns the caller's workspace.
func (s *Service) Workspace(ctx context.Context) (*models.Workspace, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, err
	}
	w, err := s.store.Workspace(ctx, p.WorkspaceID)
	return w, internal("workspace", err)
}

// CreateIntegrationClientInput creates a client. WorkspaceID defaults to the caller's; only the
// platform admin may name another workspace.
type CreateIntegrationClientInput struct {
	Name        string
	Scopes      []string
	WorkspaceID *string
}

// CreateIntegrationClient creates a client and returns its secret, the only time it is shown.
func (s *Service) CreateIntegrationClient(ctx context.Context, in CreateIntegrationClientInput) (*models.IntegrationClient, string, error) {
	p, err := s.authorize(ctx, accessAdmin)
	if err != nil {
		return nil, "", err
	}
	var errs models.Errors
	name := strings.TrimSpace(in.Name)
	if err := validateName("name", name); err != nil {
		errs = append(errs, err)
	}
	scopes, serr := validateScopes(in.Scopes)
	if serr != nil {
		errs = append(errs, serr)
	}
	ws, err := s.workspaceFor(ctx, p, in.WorkspaceID, "create clients")
	var fe *models.Error
	switch {
	case errors.As(err, &fe) && fe.Field != "":
		errs = append(errs, fe)
	case err != nil:
		return nil, "", err
	}
	if len(errs) > 0 {
		return nil, "", errs
	}
	plain := secret.Token(clientSecretPrefix, 32)
	c := &models.IntegrationClient{ID: store.NewID(), WorkspaceID: ws, ClientID: secret.Token(clientIDPrefix, 15),
		Name: name, SecretHash: secret.Hash(plain), ScopeString: strings.Join(scopes, " "),
		CreatedAt: s.now(), UpdatedAt: s.now()}
	m := mutation{action: "integration_client.create", target: "integration_client", op: "create client"}
	err = s.mutateAs(ctx, p, m, func(ctx context.Context, p *Principal) (audited, error) {
		// The event belongs to the workspace the client lives in.
		return audited{id: c.ClientID, summary: map[string]any{"name": name, "scopes": scopes}, workspace: ws}, s.store.Create(ctx, c)
	})
	if err != nil {
		return nil, "", err
	}
	return c, plain, nil
}

// IntegrationClients lists a workspace's clients: the caller's when workspaceID is nil or
// empty; another workspace's only for the platform admin.
func (s *Service) IntegrationClients(ctx context.Context, workspaceID *string) ([]*models.IntegrationClient, error) {
	p, err := s.authorize(ctx, accessAdmin)
	if err != nil {
		return nil, err
	}
	ws, err := s.workspaceFor(ctx, p, workspaceID, "list clients")
	if err != nil {
		return nil, err
	}
	cs, err := s.store.IntegrationClients(ctx, ws)
	return cs, internal("list clients", err)
}

// RotateIntegrationClientSecret replaces a client's secret and returns the new one once. Tokens
// already issued stay valid until they expire; revoke the client to stop them.
func (s *Service) RotateIntegrationClientSecret(ctx context.Context, clientID string) (*models.IntegrationClient, string, error) {
	var plain string
	c, _, err := s.changeClient(ctx, clientID, "integration_client.rotate_secret", func(c *models.IntegrationClient) (bool, error) {
		if c.Revoked() {
			return false, models.FieldError(models.EINVALIDSTATE, "clientId", clientID, "the client is revoked")
		}
		plain = secret.Token(clientSecretPrefix, 32)
		now := s.now()
		c.SecretHash, c.SecretRotatedAt = secret.Hash(plain), &now
		return true, nil
	})
	if err != nil {
		return nil, "", err
	}
	return c, plain, nil
}

// RevokeIntegrationClient revokes a client: it can no longer get tokens, and the tokens it has
// stop working within the client cache TTL on every replica. Revoking a revoked client succeeds
// and changes nothing: no write, no audit event, the first revocation's time kept; already
// says so (the API answers the same either way, the CLI says it).
func (s *Service) RevokeIntegrationClient(ctx context.Context, clientID string) (c *models.IntegrationClient, already bool, err error) {
	c, changed, err := s.changeClient(ctx, clientID, "integration_client.revoke", func(c *models.IntegrationClient) (bool, error) {
		if c.Revoked() {
			return false, nil // idempotent
		}
		p := PrincipalFrom(ctx)
		if c.ClientID == p.ClientID {
			return false, models.FieldError(models.EINVALIDSTATE, "clientId", clientID, "a client cannot revoke itself")
		}
		now := s.now()
		c.RevokedAt = &now
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	return c, !changed, nil
}

// changeClient loads a client the caller may change, applies change and, when change reports
// that it changed something, saves it with an audit event; changed is that report.
func (s *Service) changeClient(ctx context.Context, clientID, action string, change func(*models.IntegrationClient) (bool, error)) (c *models.IntegrationClient, changed bool, err error) {
	m := mutation{access: accessAdmin, action: action, target: "integration_client", op: action}
	err = s.mutate(ctx, m, func(ctx context.Context, p *Principal) (_ audited, err error) {
		if e := models.CheckText("clientId", clientID); e != nil {
			return audited{}, e
		}
		// The platform admin reaches a client in any workspace (client ids are unique across
		// workspaces); any other admin only those of its own.
		if p.PlatformAdmin {
			c, err = s.store.IntegrationClientByClientID(ctx, clientID)
		} else {
			c, err = s.store.IntegrationClient(ctx, p.WorkspaceID, clientID)
		}
		if errors.Is(err, store.ErrNotFound) {
			where := "in this workspace"
			if p.PlatformAdmin {
				where = "in any workspace" // the platform admin (and the operator's CLI) looked in every one
			}
			return audited{}, models.FieldError(models.ENOTFOUND, "clientId", clientID, "no such integration client "+where)
		}
		if err != nil {
			return audited{}, err
		}
		// A tenant admin of the workspace the platform admin client lives in must not take it
		// over (a rotation would hand it the platform admin's secret) nor lock it out.
		if c.PlatformAdmin && !p.PlatformAdmin {
			return audited{}, models.Errorf(models.EFORBIDDEN, "only the platform admin client may change a platform admin client")
		}
		if changed, err = change(c); err != nil || !changed {
			return audited{unchanged: true}, err // nothing to change: no write, no event
		}
		if err := s.store.UpdateIntegrationClient(ctx, c); err != nil {
			return audited{}, err
		}
		// The event belongs to the workspace the client lives in.
		return audited{id: clientID, workspace: c.WorkspaceID}, nil
	})
	if err != nil {
		return nil, false, err
	}
	s.clients.forget(clientID)
	return c, changed, nil
}

func validateScopes(scopes []string) ([]string, *models.Error) {
	out := models.SplitScopes(strings.Join(scopes, " ")) // blank entries are no scopes
	if len(out) == 0 {
		return nil, models.FieldError(models.EINVALID, "scopes", "", "at least one scope is required ("+strings.Join(models.AllScopes, ", ")+")")
	}
	for _, sc := range out {
		if !models.ValidScope(sc) {
			return nil, models.FieldError(models.EINVALID, "scopes", sc, "unknown scope; valid scopes are "+strings.Join(models.AllScopes, ", "))
		}
	}
	return out, nil
}

func validateName(field, name string) *models.Error {
	switch {
	case models.CheckText(field, name) != nil:
		return models.CheckText(field, name)
	case name == "":
		return models.FieldError(models.EINVALID, field, name, "is required")
	case models.NameTooLong(name):
		return models.FieldError(models.EINVALID, field, name, models.MsgNameTooLong)
	}
	return nil
}

// Viewer returns the authenticated caller itself.
func (s *Service) Viewer(ctx context.Context) (*Principal, error) {
	return s.authorize(ctx, accessManageRead)
}

// clientByID reads a client through the short-lived cache; nil when there is none.
func (s *Service) clientByID(ctx context.Context, clientID string) (*models.IntegrationClient, error) {
	return s.clients.get(ctx, clientID, func(ctx context.Context) (*models.IntegrationClient, error) {
		return s.store.IntegrationClientByClientID(ctx, clientID)
	})
}
