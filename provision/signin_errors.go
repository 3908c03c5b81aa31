package provision

import (
	"context"
	"errors"

	"gatehouse/models"
)

// Server errors of a browser sign-in once the application's redirect_uri is trusted (the
// client and redirect_uri were validated, or a flow was claimed): the contract is an
// error redirect with server_error (temporarily_unavailable for an authorize request the
// database did not answer), never an HTML 500. The cause goes to the log (and, for a
// claimed flow, to the sign-in event); the application sees a safe message.

// serverErrorPublic is the safe description of a server error.
const serverErrorPublic = "Sign-in failed because of a server error."

// unavailablePublic is the safe description of an authorize request the database could not
// answer in time.
const unavailablePublic = "Gatehouse is briefly unavailable. Try signing in again in a moment."

// authorizeFailed answers an authorize request whose client and redirect_uri were validated
// when routing or creating the flow failed: temporarily_unavailable (RFC 6749 §4.1.2.1: "the
// authorization server is currently unable to handle the request due to a temporary
// overloading or maintenance") when the database did not answer in time, nothing written, so
// that the application may start the sign-in again; server_error otherwise.
func (s *Service) authorizeFailed(ctx context.Context, app *models.Application, req AuthorizeRequest, err error) *AuthorizeResult {
	code, desc := "server_error", serverErrorPublic
	if models.ErrorCode(err) == models.EUNAVAILABLE {
		code, desc = "temporarily_unavailable", unavailablePublic
		s.log.WarnContext(ctx, "authorize: database unavailable", "request_id", req.RequestID, "err", err)
	} else {
		s.log.ErrorContext(ctx, "authorize", "request_id", req.RequestID, "err", err)
	}
	s.recordAuthorizeRefusal(ctx, app, req, code, desc, err.Error())
	return &AuthorizeResult{Kind: AuthorizeRedirect, Answer: s.errorAnswer(req.RedirectURI, req.responseMode(), req.State, code, desc)}
}

// recordAuthorizeRefusal records the sign-in event of an authorize request refused with an
// error redirect, once the application is known (issue §8: every attempt is one event): a
// connection that does not route is refused; a malformed request or a server error failed.
// No connection is named on it (none was routed). A failure to write it is logged.
func (s *Service) recordAuthorizeRefusal(ctx context.Context, app *models.Application, req AuthorizeRequest, code, desc, cause string) {
	outcome := models.SignInOutcomeFailed
	if code == "access_denied" {
		outcome = models.SignInOutcomeRefused
	}
	if cause == "" {
		cause = "authorize: " + code
	}
	f := &models.SignInFlow{WorkspaceID: app.WorkspaceID, ApplicationID: app.ID, BrandID: app.BrandID, ClientID: app.ClientID}
	ev := s.event(f, nil, "", outcome, desc, cause, models.Clip(req.RequestID, 64))
	ev.ConnectionID = nil
	if err := s.store.CreateSignInEvent(ctx, ev); err != nil {
		s.logWriteFailure(ctx, "sign-in: record event", err, "request_id", req.RequestID)
	}
}

// logWriteFailure logs a write the request goes on without (a sign-in's event, a failed
// flow's end, the record of a failed SCIM request), at models.LogLevel.
func (s *Service) logWriteFailure(ctx context.Context, msg string, err error, args ...any) {
	s.log.Log(ctx, models.LogLevel(err), msg, append(args, "err", err)...)
}

// ServerFailure ends a claimed flow on err: a *FlowError is returned as is; any other error
// fails the flow with server_error (event recorded, error redirect to the application).
func (s *Service) ServerFailure(ctx context.Context, f *ClaimedFlow, err error) error {
	var fe *FlowError
	if err == nil || errors.As(err, &fe) {
		return err
	}
	return s.failFlow(ctx, f, "", "server_error", serverErrorPublic, err.Error())
}
