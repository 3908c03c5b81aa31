package provision

import (
	"context"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// Sign-out (OpenID Connect RP-Initiated Logout 1.0): an application sends the person to the
// end_session_endpoint when they sign out. Gatehouse keeps no session of its own, so what it
// ends is the application's: with an id_token_hint, the grants of that application to the
// person up to the hint's are revoked (their access tokens get 401 at userinfo, their
// unredeemed codes no longer redeem). A sign-in after the hint was issued is not: an old
// id_token, replayed by whoever saw it, cannot end the person's later sign-ins. It does not
// sign the person out at their identity provider: Gatehouse does not keep the identity
// provider's tokens that would take. Then it sends the browser back to
// the application's post_logout_redirect_uri, which must be one of the application's
// registered post-logout redirect URIs (§3), or shows its own page.

// SignOutRequest is an application's logout request (RP-Initiated Logout §2).
type SignOutRequest struct {
	ClientID, PostLogoutRedirectURI, State string
	// IDTokenHint is the id_token_hint as the OpenID Provider verified it (nil: none sent);
	// IDTokenHintInvalid: one that is not an id_token of Gatehouse's was sent.
	IDTokenHint        *IDTokenHint
	IDTokenHintInvalid bool
	RequestID          string
}

// SignOutResult is where a logout ends.
type SignOutResult struct {
	// Location is the application's post_logout_redirect_uri with the state; "": Gatehouse's
	// own page.
	Location string
	// Application is the name of the application signed out of ("" when the request names
	// none).
	Application string
	// Revoked: an id_token_hint named the sign-in to end, and its grants are revoked.
	Revoked bool
}

// hintLeeway covers an id_token's iat, which counts whole seconds, and the clocks of two
// replicas: a grant is created before its id_token is issued, on either.
const hintLeeway = 2 * time.Second

// SignOutError is a logout request Gatehouse cannot follow (RP-Initiated Logout §4): an HTML
// page, never a redirect, for its redirect URI cannot be trusted. Public is safe to show.
type SignOutError struct{ Public string }

func (e *SignOutError) Error() string { return "provision: sign-out refused: " + e.Public }

// SignOut ends an application's sign-in of a person as req asks. A request Gatehouse cannot
// follow is a *SignOutError.
func (s *Service) SignOut(ctx context.Context, req SignOutRequest) (*SignOutResult, error) {
	h := req.IDTokenHint
	switch {
	case req.IDTokenHintInvalid || (h != nil && h.Subject == ""):
		return nil, &SignOutError{"The id_token_hint is not an id_token Gatehouse issued."}
	case len(req.State) > maxStateLength:
		return nil, &SignOutError{"The state is too long."}
	}
	clientID := req.ClientID
	if clientID == "" && h != nil {
		if len(h.Audience) != 1 {
			return nil, &SignOutError{"The id_token_hint names several applications: send the client_id too."}
		}
		clientID = h.Audience[0]
	}
	var account uuid.UUID
	if h != nil {
		var err error
		if account, err = uuid.Parse(h.Subject); err != nil || h.IssuedAt.IsZero() {
			return nil, &SignOutError{"The id_token_hint is not an id_token Gatehouse issued."}
		}
	}
	app, err := s.applicationByClientID(ctx, clientID)
	switch {
	case err != nil:
		return nil, internal("sign out", err)
	case clientID != "" && app == nil:
		return nil, &SignOutError{"The application (client_id) is not registered with Gatehouse."}
	case app != nil && h != nil && !h.issuedTo(app):
		return nil, &SignOutError{"The id_token_hint was not issued to this application."}
	case req.PostLogoutRedirectURI != "" && app == nil:
		return nil, &SignOutError{"A post_logout_redirect_uri needs the client_id or an id_token_hint that names the application."}
	case req.PostLogoutRedirectURI != "" && !app.RegisteredPostLogoutRedirect(req.PostLogoutRedirectURI):
		return nil, &SignOutError{"The post_logout_redirect_uri is not registered for this application."}
	}
	res := &SignOutResult{}
	if app != nil {
		res.Application = app.Name
	}
	if app != nil && h != nil {
		n, err := s.store.RevokeGrantsOf(ctx, app.WorkspaceID, app.ID, account, h.IssuedAt.Add(hintLeeway), s.now())
		if err != nil {
			return nil, internal("sign out", err)
		}
		res.Revoked = true
		s.log.InfoContext(ctx, "sign-out", "request_id", req.RequestID, "client_id", app.ClientID,
			"user_account_id", account, "grants_revoked", n)
	}
	if uri := req.PostLogoutRedirectURI; uri != "" {
		res.Location = uri
		if req.State != "" {
			res.Location = withQuery(uri, url.Values{}, req.State)
		}
	}
	return res, nil
}
