package provision

import (
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
)

// IssuedToken is what a verified access token says about itself: enough to decide who may
// introspect or revoke it and how long its revocation must be remembered.
type IssuedToken struct {
	ID          uuid.UUID // jti
	ClientID    string
	WorkspaceID uuid.UUID
	ExpiresAt   time.Time
}

// MayInspectToken reports whether caller may introspect (RFC 7662) or revoke (RFC 7009) t:
// a client its own tokens, an admin client those of its workspace except the platform
// admin client's (as with the client itself, see changeClient), the platform admin client
// any token.
func (s *Service) MayInspectToken(ctx context.Context, caller *models.IntegrationClient, t IssuedToken) (bool, error) {
	switch {
	case caller == nil || caller.Revoked():
		return false, nil
	case caller.PlatformAdmin, caller.ClientID == t.ClientID:
		return true, nil
	case caller.WorkspaceID != t.WorkspaceID || !slices.Contains(caller.Scopes(), models.ScopeAdmin):
		return false, nil
	}
	owner, err := s.clientByID(ctx, t.ClientID)
	if err != nil {
		return false, internal("token owner", err)
	}
	return owner != nil && !owner.PlatformAdmin, nil
}

// CheckTokenRevoked refuses a token revoked before its expiry. The answer is cached for the
// client cache TTL (2 s by default), which bounds how long a revocation takes to reach
// other replicas; this replica forgets its entry at once when it revokes the token.
func (s *Service) CheckTokenRevoked(ctx context.Context, jti uuid.UUID) error {
	r, err := s.revokedTokens.get(ctx, jti.String(), func(ctx context.Context) (*models.RevokedToken, error) {
		return s.store.RevokedToken(ctx, jti)
	})
	if err != nil {
		return internal("check token revocation", err)
	}
	if r != nil {
		return models.Errorf(models.EUNAUTHENTICATED, "the access token has been revoked")
	}
	return nil
}

// RevokeToken revokes an access token for the rest of its life on every replica. caller is
// the authenticated client asking (see MayInspectToken); revoking twice is not an error.
// Rows of tokens that have expired since are deleted on the way.
func (s *Service) RevokeToken(ctx context.Context, caller *models.IntegrationClient, t IssuedToken) error {
	if ok, err := s.MayInspectToken(ctx, caller, t); err != nil {
		return err
	} else if !ok {
		return models.Errorf(models.EFORBIDDEN, "this client may not revoke this token")
	}
	now := s.now()
	p := &Principal{ClientID: caller.ClientID, WorkspaceID: t.WorkspaceID, ActorType: "client"}
	err := s.mutateAs(ctx, p, mutation{action: "access_token.revoke", target: "access_token", op: "revoke token"},
		func(ctx context.Context, p *Principal) (audited, error) {
			revoked, err := s.store.RevokeToken(ctx, &models.RevokedToken{JTI: t.ID, WorkspaceID: t.WorkspaceID,
				ClientID: t.ClientID, ExpiresAt: t.ExpiresAt.UTC(), RevokedAt: now})
			if err != nil {
				return audited{}, err
			}
			if !revoked { // revoked already: nothing happened to record
				return audited{unchanged: true}, nil
			}
			// Expired tokens are refused as expired: their rows are dead weight. A day of slack
			// keeps rows well past any clock skew between replicas.
			if _, err := s.store.PruneRevokedTokens(ctx, now.Add(-24*time.Hour)); err != nil {
				return audited{}, err
			}
			return audited{id: t.ID.String(), summary: map[string]any{"clientId": t.ClientID}}, nil
		})
	if err != nil {
		return err
	}
	s.revokedTokens.forget(t.ID.String())
	return nil
}
