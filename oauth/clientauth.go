package oauth

import (
	"net/http"
	"net/url"
	"slices"

	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/telemetry/reqinfo"
)

// clientAuthMethods are the client authentication methods of the token, introspection and
// revocation endpoints.
var clientAuthMethods = []string{"client_secret_basic", "client_secret_post"}

// tokenParams are the parameters the token, introspection and revocation endpoints read (and
// token_type_hint, which revocation knows and ignores): each is sent at most once.
var tokenParams = []string{"grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "scope",
	"token", "token_type_hint"}

// omitEmpty drops the parameters of v sent without a value: RFC 6749 §3.1 and §3.2 count them
// as not sent, so "state=&state=s" carries one state.
func omitEmpty(v url.Values) {
	for k, vs := range v {
		if vs = slices.DeleteFunc(vs, func(s string) bool { return s == "" }); len(vs) == 0 {
			delete(v, k)
		} else {
			v[k] = vs
		}
	}
}

// repeatedParam returns the first, by name, of the parameters of known that v carries more
// than once ("": none). A parameter Gatehouse does not know is ignored, repeated or not (RFC
// 6749 §3.1: unrecognized parameters MUST be ignored): RFC 8707's resource, for one, is sent
// once per resource, and an OpenID Provider without resource indicators ignores it.
func repeatedParam(v url.Values, known []string) string {
	repeated := ""
	for _, k := range known {
		if len(v[k]) > 1 && (repeated == "" || k < repeated) {
			repeated = k
		}
	}
	return repeated
}

// readForm reads the form body of a POST to an endpoint that authenticates the client. Every
// parameter must be in the body, and each one it reads only once.
func readForm(r *http.Request) (url.Values, *tokenError) {
	if models.MediaType(r.Header.Get("Content-Type")) != "application/x-www-form-urlencoded" {
		return nil, badRequest("the request body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, MaxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("the request body is not a valid form or is too large")
	}
	form := r.PostForm
	omitEmpty(form)
	if k := repeatedParam(form, tokenParams); k != "" {
		return nil, badRequest("parameter " + k + " is repeated")
	}
	if len(r.URL.Query()) > 0 {
		return nil, badRequest("parameters belong in the request body, not the URL")
	}
	return form, nil
}

// clientCredentialsOf reads the client credentials of a request: HTTP Basic (RFC 6749
// §2.3.1, form-encoded parts) or client_id and client_secret form fields, never both. The
// secret is "" when none was sent (a public application at the token endpoint). An empty
// client_secret is one not sent (RFC 6749 §3.2: a parameter without a value is omitted), so
// it is no second method beside HTTP Basic.
func clientCredentialsOf(r *http.Request, form url.Values) (id, sec string, basic bool, terr *tokenError) {
	id, sec, basic = r.BasicAuth()
	if !basic {
		return form.Get("client_id"), form.Get("client_secret"), false, nil
	}
	if form.Get("client_secret") != "" {
		return "", "", true, badRequest("use one client authentication method: HTTP Basic or client_secret, not both")
	}
	var err1, err2 error
	id, err1 = url.QueryUnescape(id)
	sec, err2 = url.QueryUnescape(sec)
	if err1 != nil || err2 != nil {
		return "", "", true, &tokenError{status: http.StatusUnauthorized, Code: "invalid_client", Desc: "malformed client credentials", basic: true}
	}
	if fid := form.Get("client_id"); fid != "" && fid != id {
		return "", "", true, badRequest("client_id in the body differs from the HTTP Basic client")
	}
	return id, sec, true, nil
}

// authenticateClient authenticates the integration client of a request whose credentials
// clientCredentialsOf read (once: the token endpoint reads them before it picks the grant).
func (s *Server) authenticateClient(r *http.Request, tr tokenRequest) (*models.IntegrationClient, *tokenError) {
	id, sec, basic := tr.clientID, tr.clientSecret, tr.basic
	if id == "" || sec == "" {
		return nil, &tokenError{status: http.StatusUnauthorized, Code: "invalid_client",
			Desc: "client authentication is required (HTTP Basic or client_id and client_secret)", basic: true}
	}
	client, err := s.svc.AuthenticateClient(r.Context(), id, sec)
	if err != nil {
		if models.ErrorCode(err) != models.EUNAUTHENTICATED {
			return nil, s.serverFailure(r, "oauth: authenticate client", err)
		}
		return nil, &tokenError{status: http.StatusUnauthorized, Code: "invalid_client", Desc: "client authentication failed", basic: basic}
	}
	reqinfo.From(r.Context()).SetCaller(client.ClientID, client.WorkspaceID)
	return client, nil
}

// clientRequest answers the parts every client-authenticated endpoint shares: POST only, no
// caching, the form, the client. On failure it has written the error and returns nil.
func (s *Server) clientRequest(w http.ResponseWriter, r *http.Request, endpoint string) (url.Values, *models.IntegrationClient) {
	tr, ok := s.clientForm(w, r, endpoint)
	if !ok {
		return nil, nil
	}
	client, terr := s.authenticateClient(r, tr)
	if terr != nil && terr.Code == "invalid_client" && s.isApplication(r, tr) {
		// Valid credentials of the other kind of client: not invalid ones (which the guard
		// counts as a failed authentication against the client id, a count the application's
		// code exchanges share), but a client this endpoint does not serve.
		terr = &tokenError{status: http.StatusBadRequest, Code: "unauthorized_client",
			Desc: "this client is an application: the " + endpoint + " endpoint serves integration clients"}
	}
	if terr != nil {
		s.countClientAuth(endpoint, terr)
		writeTokenError(w, terr)
		return nil, nil
	}
	return tr.form, client
}

// isApplication reports whether the credentials of tr are an application's, valid ones.
func (s *Server) isApplication(r *http.Request, tr tokenRequest) bool {
	if !provision.IsApplicationClientID(tr.clientID) {
		return false
	}
	_, err := s.svc.AuthenticateApplication(r.Context(), tr.clientID, tr.clientSecret)
	return err == nil
}

// clientForm is clientRequest before the client is authenticated: the method, the headers,
// the form with its token, and the credentials the client presents. On failure it has written
// the error and returns false.
func (s *Server) clientForm(w http.ResponseWriter, r *http.Request, endpoint string) (tokenRequest, bool) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, tokenError{Code: "invalid_request", Desc: "the " + endpoint + " endpoint accepts POST only"})
		return tokenRequest{}, false
	}
	form, terr := readForm(r)
	if terr == nil && form.Get("token") == "" {
		terr = badRequest("token is required")
	}
	tr := tokenRequest{form: form}
	if terr == nil {
		tr.clientID, tr.clientSecret, tr.basic, terr = clientCredentialsOf(r, form)
	}
	if terr != nil {
		s.countClientAuth(endpoint, terr)
		writeTokenError(w, terr)
		return tokenRequest{}, false
	}
	return tr, true
}

// writeTokenError writes an RFC 6749 §5.2 error, challenging for HTTP Basic when the client
// tried it and failed. Its description keeps to the characters §5.2 allows, whatever of the
// request it quotes (a scope).
func writeTokenError(w http.ResponseWriter, terr *tokenError) {
	if terr.status == http.StatusUnauthorized && terr.basic {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	out := *terr
	out.Desc = provision.ErrorDescription(terr.Desc)
	writeJSON(w, out.status, out)
}

// unavailable is the answer to a database that could not answer in time: retryable, 503 (the
// guard adds Retry-After).
func unavailable(err error) *tokenError {
	return &tokenError{status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Desc: models.PublicMessage(err)}
}

// serverFailure is the answer to a failure that is not the client's: 503 when the database
// was unavailable, else 500 with the cause logged.
func (s *Server) serverFailure(r *http.Request, op string, err error) *tokenError {
	if models.ErrorCode(err) == models.EUNAVAILABLE {
		s.log.WarnContext(r.Context(), op+": database unavailable", "err", err)
		return unavailable(err)
	}
	s.log.ErrorContext(r.Context(), op, "err", err)
	return &tokenError{status: http.StatusInternalServerError, Code: "server_error"}
}

// writeServerError writes serverFailure's answer.
func (s *Server) writeServerError(w http.ResponseWriter, r *http.Request, op string, err error) {
	writeTokenError(w, s.serverFailure(r, op, err))
}
