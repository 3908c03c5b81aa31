package oauth

import (
	"net/http"
	"strings"

	"gatehouse/models"
)

// revoke is POST /oauth/revoke (RFC 7009). The caller authenticates as a client and may
// revoke the tokens provision.Service.MayInspectToken allows it. As §2.2 asks, a token that is
// invalid, expired or already revoked is answered 200 like a revoked one; a token the client
// may not revoke is refused with unauthorized_client (as ory/fosite does), which tells the
// caller nothing it did not know: it holds the token. Revocation reaches every replica
// within the revocation cache TTL (2 s). token_type_hint is ignored (§2.1 allows it): access
// tokens are the only tokens issued.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	form, caller := s.clientRequest(w, r, "revocation")
	if caller == nil {
		return
	}
	v, ok := s.verifySignature(r.Context(), strings.TrimSpace(form.Get("token")))
	if !ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	if err := s.svc.RevokeToken(r.Context(), caller, issued(v)); err != nil {
		if models.ErrorCode(err) == models.EFORBIDDEN {
			writeJSON(w, http.StatusBadRequest, tokenError{Code: "unauthorized_client", Desc: models.PublicMessage(err)})
			return
		}
		s.writeServerError(w, r, "revoke: store", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
