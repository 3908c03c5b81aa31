package oauth

import (
	"net/http"

	"gatehouse/telemetry"
)

// SetMetrics makes the server count the tokens it issues and the client authentications it
// refuses into m. Call it before serving.
func (s *Server) SetMetrics(m *telemetry.Metrics) { s.metrics = m }

// count records the outcome of one token request: a token issued (by grant type), or a
// refused client authentication. Other refusals (a malformed request, an unsupported grant or
// scope) are neither; the HTTP metrics count them by status.
func (s *Server) count(r *http.Request, terr *tokenError) {
	if terr == nil {
		s.metrics.TokenIssued(r.PostForm.Get("grant_type"))
		return
	}
	s.countClientAuth("token", terr)
}

// countClientAuth counts a refused client authentication at endpoint ("token",
// "introspection", "revocation").
func (s *Server) countClientAuth(endpoint string, terr *tokenError) {
	if terr.Code == "invalid_client" {
		s.metrics.ClientAuthFailure(endpoint)
	}
}
