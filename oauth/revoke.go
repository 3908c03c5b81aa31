package oauth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/provision"
)

// revoke is POST /oauth/revoke (RFC 7009). The caller authenticates as a client and may
// revoke the tokens provision.Service.MayInspectToken allows it. As §2.2 asks, a token that is
// invalid, expired or already revoked is answered 200 like a revoked one; a token the client
// may not revoke, among them a valid token of the other kind of client (refuseOthersToken), is
// refused with unauthorized_client (as ory/fosite does), which tells the
// caller nothing it did not know: it holds the token. Revocation reaches every replica
// within the revocation cache TTL (2 s). token_type_hint is ignored (§2.1 allows it): access
// tokens are the only tokens issued.
//
// An application (a brand's OpenID Provider client) revokes the access tokens it was issued
// for people: a confidential one authenticates with its secret, a public one names its
// client_id (RFC 7009 §2.1 and §5 allow it; what it revokes is its own). The token's grant is
// revoked, as a sign-out does.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	tr, ok := s.clientForm(w, r, "revocation")
	if !ok {
		return
	}
	if provision.IsApplicationClientID(tr.clientID) {
		s.revokeForApplication(w, r, tr)
		return
	}
	caller, terr := s.authenticateClient(r, tr)
	if terr != nil {
		s.countClientAuth("revocation", terr)
		writeTokenError(w, terr)
		return
	}
	token := strings.TrimSpace(tr.form.Get("token"))
	v, ok := s.verifySignature(r.Context(), token)
	if !ok {
		if _, user := s.verifyUserToken(r, token); user {
			refuseOthersToken(w) // an application's, for a person
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := s.svc.RevokeToken(r.Context(), caller, issued(v)); err != nil {
		if models.ErrorCode(err) == models.EFORBIDDEN {
			refuseOthersToken(w)
			return
		}
		s.writeServerError(w, r, "revoke: store", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// revokeForApplication is revoke for an application's request.
func (s *Server) revokeForApplication(w http.ResponseWriter, r *http.Request, tr tokenRequest) {
	app, err := s.svc.AuthenticateApplication(r.Context(), tr.clientID, tr.clientSecret)
	if err != nil {
		terr := tr.invalidApplication()
		if !errors.Is(err, provision.ErrInvalidClient) {
			terr = s.serverFailure(r, "revoke: authenticate application", err)
		}
		s.countClientAuth("revocation", terr)
		writeTokenError(w, terr)
		return
	}
	token := strings.TrimSpace(tr.form.Get("token"))
	c, ok := s.verifyUserToken(r, token)
	if !ok {
		if _, integration := s.verifySignature(r.Context(), token); integration {
			refuseOthersToken(w) // an integration client's
			return
		}
		w.WriteHeader(http.StatusOK) // invalid or expired: nothing to revoke (§2.2)
		return
	}
	grant, err := uuid.Parse(c.ID)
	if err != nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := s.svc.RevokeApplicationToken(r.Context(), app, c.ClientID, grant); err != nil {
		if models.ErrorCode(err) == models.EFORBIDDEN {
			refuseOthersToken(w)
			return
		}
		s.writeServerError(w, r, "revoke: store", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// refuseOthersToken answers a valid token that was not issued to the client asking (RFC 7009
// §2.1): another client's, or one of the other kind of client (an application's for a person
// presented by an integration client, or the reverse), which this client cannot revoke. A 200
// would tell it the token is revoked while the token keeps working.
// The description states the rule rather than which part of it failed: whose token it is
// (the platform admin's, another workspace's) is not the caller's to learn.
func refuseOthersToken(w http.ResponseWriter) {
	writeJSON(w, http.StatusBadRequest, tokenError{Code: "unauthorized_client", Desc: refusedRevocation})
}

// refusedRevocation is the rule of provision.MayInspectToken, and of applications' tokens, in
// the words of the refusal.
const refusedRevocation = "this client may not revoke this token: a client revokes the tokens issued to it; " +
	"an admin client also those of the other clients of its workspace, but the platform admin's; " +
	"an application the tokens it was issued for people"
