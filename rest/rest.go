// Package rest is the WorldFlow-compatible REST surface under /api/v1: SSO connections, domains,
// SP metadata, SCIM tokens, activity and statistics. Handlers decode JSON, make one provision
// call and encode the document's shapes; errors use {"error":{"type","message"}}. It holds no
// business rules and never imports another transport. openapi.yaml describes every route; the
// tests hold the handlers to it.
package rest

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/route"
)

// maxBodyBytes bounds a REST request body.
const maxBodyBytes = 1 << 20

// Authenticator verifies a request's bearer token. A refusal is a models.Error with code
// UNAUTHENTICATED; any other error is a server fault.
type Authenticator func(r *http.Request) (*provision.Principal, error)

// Handler serves /api/v1.
type Handler struct {
	svc  *provision.Service
	auth Authenticator
	log  *slog.Logger
	// perClient wraps what runs after authentication (nil: nothing): the per-client rate
	// limit, which needs the principal.
	perClient func(http.Handler) http.Handler
}

// New builds the REST handler.
func New(svc *provision.Service, auth Authenticator, log *slog.Logger) *Handler {
	return &Handler{svc: svc, auth: auth, log: log}
}

// LimitPerClient has every authenticated request go through limit (guard.PerClient), with the
// principal in its context, before its operation runs.
func (h *Handler) LimitPerClient(limit func(http.Handler) http.Handler) *Handler {
	h.perClient = limit
	return h
}

// Register mounts every /api/v1 route on mux. Each feature area registers its own routes.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, register := range []func(*http.ServeMux){
		h.registerSSO,  // SSO connections, domains, SP metadata
		h.registerSCIM, // SCIM tokens, activities, statistics
		h.registerDocs, // the OpenAPI document and its viewer
	} {
		register(mux)
	}
	// The catch-all answers every other path under /api/v1, and /api/v1 itself (which the mux
	// would redirect to /api/v1/ with an HTML body), in the API's error format.
	fallback := func(w http.ResponseWriter, r *http.Request) {
		if allow := route.Allowed(mux, r, "/api/v1/", "/api/v1"); len(allow) > 0 {
			// RFC 9110 §15.5.6: the route exists, the method does not (PATCH where the
			// document has PUT, say). The answer names what to use instead.
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": map[string]any{"type": "method_not_allowed",
				"message": r.Method + " is not allowed on " + r.URL.Path + ": use " + strings.Join(allow, " or ")}})
			return
		}
		writeError(w, models.Errorf(models.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path), h.log, r)
	}
	mux.HandleFunc("/api/v1/", fallback)
	mux.HandleFunc("/api/v1", fallback)
}

// handlerFunc is an authenticated REST handler: it returns the status and body to encode, or
// an error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (status int, body any, err error)

// handle authenticates the request (an access token whose client holds the admin scope, the
// document's "workspace-admin privileges"; provision checks each operation again), runs fn and
// writes its result. A nil body writes no body (DELETE's 204).
func (h *Handler) handle(fn handlerFunc) http.Handler {
	var authenticated http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !provision.PrincipalFrom(r.Context()).Has(models.ScopeAdmin) {
			writeError(w, models.Errorf(models.EFORBIDDEN, "this API requires an access token with the admin scope"), h.log, r)
			return
		}
		canonicalPathIDs(r)
		status, body, err := fn(w, r)
		if err != nil {
			writeError(w, err, h.log, r)
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	})
	if h.perClient != nil {
		authenticated = h.perClient(authenticated)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := h.auth(r)
		if err != nil {
			writeError(w, err, h.log, r)
			return
		}
		authenticated.ServeHTTP(w, r.WithContext(provision.WithPrincipal(r.Context(), p)))
	})
}

// pathIDs are the names of the ids in the routes' paths.
var pathIDs = [...]string{"id", "domain_id", "testId"}

// canonicalPathIDs makes an id of r's path that is not spelt exactly as Gatehouse writes ids
// (models.ParseExactID: lower case, no white space around it, as in /api/v1/sso/connections/<ID>
// or <id>%20) one that names nothing, as any other spelling of an id does: provision takes the
// ids callers type as GraphQL arguments in either case and trims them (provision/ids.go), but a
// path is not typed into a form, and one object has one path, as route.Canonical keeps for the
// rest of it, so that a proxy's rule on an object's path is not bypassed by another spelling
// of its id. The handler then answers exactly as for an unknown id.
func canonicalPathIDs(r *http.Request) {
	for _, name := range pathIDs {
		if v := r.PathValue(name); v != "" {
			if _, err := models.ParseExactID(v); err != nil {
				r.SetPathValue(name, "")
			}
		}
	}
}

// decode reads a JSON request body into v, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && models.MediaType(ct) != "application/json" {
		return models.Errorf(models.EINVALID, "the request body must be JSON (Content-Type: application/json)")
	}
	if err := models.DecodeJSONBody(r.Body, v, true, maxBodyBytes); err != nil {
		return models.Errorf(models.EINVALID, "%s", err)
	}
	return nil
}

// Page is the pagination of a list request: page ≥ 1, 1 ≤ pageSize ≤ 100 (default 20).
type Page struct{ Page, PageSize int }

// pageOf reads page and pageSize from the query string. REST refuses a value that
// models.ListPage would change rather than clamping it.
func pageOf(r *http.Request) (Page, error) {
	p := Page{}
	p.Page, p.PageSize = models.ListPage(1, 0)
	q := r.URL.Query()
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if pg, _ := models.ListPage(n, 1); err != nil || pg != n {
			return p, models.Errorf(models.EINVALID, "page must be a positive integer")
		}
		p.Page = n
	}
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if _, size := models.ListPage(1, n); err != nil || size != n {
			return p, models.Errorf(models.EINVALID, "pageSize must be an integer from 1 to 100")
		}
		p.PageSize = n
	}
	return p, nil
}

// errorStatus maps a domain error code to the REST status and error type, once.
func errorStatus(code string) (int, string) {
	switch code {
	case models.EINVALID:
		return http.StatusBadRequest, "validation_error"
	case models.ENOTFOUND:
		return http.StatusNotFound, "not_found"
	case models.ETAKEN:
		return http.StatusConflict, "conflict"
	case models.EINVALIDSTATE:
		return http.StatusConflict, "invalid_state"
	case models.ECONFLICT:
		return http.StatusConflict, "conflict"
	case models.EUNAUTHENTICATED:
		return http.StatusUnauthorized, "authentication_error"
	case models.EFORBIDDEN:
		return http.StatusForbidden, "permission_error"
	case models.EUNAVAILABLE:
		return http.StatusServiceUnavailable, "unavailable"
	}
	return http.StatusInternalServerError, "internal_error"
}

// writeError writes {"error":{"type","message"}}; internal causes are logged, never shown.
func writeError(w http.ResponseWriter, err error, log *slog.Logger, r *http.Request) {
	code := models.ErrorCode(err)
	status, typ := errorStatus(code)
	msg := models.FieldMessage(err)
	switch status {
	case http.StatusInternalServerError:
		log.ErrorContext(r.Context(), "rest: internal error", "err", err, "path", r.URL.Path)
		msg = "internal error"
	case http.StatusServiceUnavailable:
		log.WarnContext(r.Context(), "rest: unavailable (the database, or no admission slot after a call out)", "err", err, "path", r.URL.Path)
		msg = models.PublicMessage(err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"type": typ, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
