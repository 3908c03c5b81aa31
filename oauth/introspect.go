package oauth

import (
	"net/http"
	"strings"

	"gatehouse/models"
	"gatehouse/provision"
)

// introspection is an RFC 7662 §2.2 response. An inactive token says nothing else.
type introspection struct {
	Active      bool   `json:"active"`
	Scope       string `json:"scope,omitempty"`
	ClientID    string `json:"client_id,omitempty"`
	TokenType   string `json:"token_type,omitempty"`
	Exp         int64  `json:"exp,omitempty"`
	Iat         int64  `json:"iat,omitempty"`
	Nbf         int64  `json:"nbf,omitempty"`
	Sub         string `json:"sub,omitempty"`
	Aud         string `json:"aud,omitempty"`
	Iss         string `json:"iss,omitempty"`
	JTI         string `json:"jti,omitempty"`
	WorkspaceID string `json:"workspace_id,omitempty"`
}

// introspect is POST /oauth/introspect (RFC 7662). The caller authenticates as a client; a
// token it may not inspect (provision.Service.MayInspectToken) is reported inactive, like an
// invalid, expired or revoked one, so that the answer reveals nothing about other clients'
// tokens. token_type_hint is ignored: access tokens are the only tokens issued.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	form, caller := s.clientRequest(w, r, "introspection")
	if caller == nil {
		return
	}
	inactive := introspection{}
	v, ok := s.verifySignature(r.Context(), strings.TrimSpace(form.Get("token")))
	if !ok {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	may, err := s.svc.MayInspectToken(r.Context(), caller, issued(v))
	if err == nil && may {
		_, err = s.principal(r.Context(), v)
	}
	if err != nil && models.ErrorCode(err) != models.EUNAUTHENTICATED {
		s.writeServerError(w, r, "introspect: check token", err)
		return
	}
	if !may || err != nil {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	writeJSON(w, http.StatusOK, introspection{Active: true, Scope: strings.Join(v.scopes, " "),
		ClientID: v.clientID, TokenType: "Bearer", Exp: v.exp.Unix(), Iat: v.iat.Unix(), Nbf: v.iat.Unix(),
		Sub: v.clientID, Aud: s.issuer, Iss: s.issuer, JTI: v.jti.String(), WorkspaceID: v.workspace.String()})
}

// issued is what provision needs to know of a verified token.
func issued(v verifiedToken) provision.IssuedToken {
	return provision.IssuedToken{ID: v.jti, ClientID: v.clientID, WorkspaceID: v.workspace, ExpiresAt: v.exp}
}
