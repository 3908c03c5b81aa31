package rest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/provision"
)

// registerSCIM mounts SCIM token management, the SCIM activity log and statistics.
func (h *Handler) registerSCIM(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/scim/tokens", h.handle(h.createSCIMToken))
	mux.Handle("GET /api/v1/scim/tokens", h.handle(h.listSCIMTokens))
	mux.Handle("GET /api/v1/scim/tokens/{id}", h.handle(h.getSCIMToken))
	mux.Handle("POST /api/v1/scim/tokens/{id}/revoke", h.handle(h.revokeSCIMToken))
	mux.Handle("DELETE /api/v1/scim/tokens/{id}", h.handle(h.deleteSCIMToken))
	mux.Handle("GET /api/v1/scim/activities", h.handle(h.listSCIMActivities))
	mux.Handle("GET /api/v1/scim/statistics", h.handle(h.scimStatistics))
}

// scimTokenJSON is a token as the document shows it; the plain value never appears here.
type scimTokenJSON struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	MaskedValue  string     `json:"maskedValue"`
	Status       string     `json:"status"`
	Scopes       []string   `json:"scopes"`
	ConnectionID *string    `json:"connectionId"`
	ExpiresAt    *time.Time `json:"expiresAt"`
	RevokedAt    *time.Time `json:"revokedAt"`
	CreatedAt    time.Time  `json:"createdAt"`
}

func (h *Handler) scimTokenOf(t *models.SCIMToken) scimTokenJSON {
	out := scimTokenJSON{ID: t.ID.String(), Name: t.Name, MaskedValue: t.MaskedValue,
		Status: t.Status(h.svc.Clock().Now()), Scopes: t.Scopes(), ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt,
		CreatedAt: t.CreatedAt.UTC()}
	if t.ConnectionID != nil {
		s := t.ConnectionID.String()
		out.ConnectionID = &s
	}
	return out
}

func (h *Handler) createSCIMToken(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in struct {
		Name          string   `json:"name"`
		Scopes        []string `json:"scopes"`
		ExpiresInDays *int     `json:"expiresInDays"`
		ConnectionID  *string  `json:"connectionId"`
	}
	if err := decode(r, &in); err != nil {
		return 0, nil, err
	}
	t, plain, err := h.svc.CreateSCIMToken(r.Context(), provision.CreateSCIMTokenInput{Name: in.Name,
		Scopes: in.Scopes, ExpiresInDays: in.ExpiresInDays, ConnectionID: in.ConnectionID})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]any{"token": h.scimTokenOf(t), "plainValue": plain}, nil
}

func (h *Handler) listSCIMTokens(w http.ResponseWriter, r *http.Request) (int, any, error) {
	pg, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	ts, total, err := h.svc.SCIMTokens(r.Context(), provision.SCIMTokenFilter{Status: q.Get("status"), Name: q.Get("name")},
		pg.Page, pg.PageSize)
	if err != nil {
		return 0, nil, err
	}
	out := make([]scimTokenJSON, len(ts))
	for i, t := range ts {
		out[i] = h.scimTokenOf(t)
	}
	return http.StatusOK, map[string]any{"tokens": out, "page": pg.Page, "pageSize": pg.PageSize, "total": total}, nil
}

func (h *Handler) getSCIMToken(w http.ResponseWriter, r *http.Request) (int, any, error) {
	t, err := h.svc.SCIMToken(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"token": h.scimTokenOf(t)}, nil
}

func (h *Handler) revokeSCIMToken(w http.ResponseWriter, r *http.Request) (int, any, error) {
	t, err := h.svc.RevokeSCIMToken(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"token": h.scimTokenOf(t)}, nil
}

func (h *Handler) deleteSCIMToken(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := h.svc.DeleteSCIMToken(r.Context(), r.PathValue("id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// scimActivityJSON is one activity entry.
type scimActivityJSON struct {
	ID           string          `json:"id"`
	Operation    string          `json:"operation"`
	ResourceType string          `json:"resourceType"`
	ResourceID   string          `json:"resourceId"`
	Status       string          `json:"status"`
	ErrorMessage *string         `json:"errorMessage"`
	Details      json.RawMessage `json:"details"`
	TokenID      *string         `json:"tokenId"`
	Timestamp    time.Time       `json:"timestamp"`
}

func scimActivityOf(a *models.SCIMActivity) scimActivityJSON {
	out := scimActivityJSON{ID: a.ID.String(), Operation: a.Operation, ResourceType: a.ResourceType,
		ResourceID: a.ResourceID, Status: a.Status, Details: json.RawMessage(a.Details), Timestamp: a.CreatedAt.UTC()}
	if a.ErrorMessage != "" {
		out.ErrorMessage = &a.ErrorMessage
	}
	if !json.Valid(out.Details) {
		out.Details = json.RawMessage("{}")
	}
	if a.TokenID != nil {
		s := a.TokenID.String()
		out.TokenID = &s
	}
	return out
}

func (h *Handler) listSCIMActivities(w http.ResponseWriter, r *http.Request) (int, any, error) {
	pg, err := pageOf(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	as, total, err := h.svc.SCIMActivities(r.Context(), provision.SCIMActivityFilter{Operation: q.Get("operation"),
		ResourceType: q.Get("resourceType"), Status: q.Get("status"), StartDate: dateParam(q, "startDate"),
		EndDate: dateParam(q, "endDate")}, pg.Page, pg.PageSize)
	if err != nil {
		return 0, nil, err
	}
	out := make([]scimActivityJSON, len(as))
	for i, a := range as {
		out[i] = scimActivityOf(a)
	}
	return http.StatusOK, map[string]any{"activities": out, "page": pg.Page, "pageSize": pg.PageSize, "total": total}, nil
}

// dateParam reads an ISO 8601 date or date-time from the query. A '+' typed as such in a URL,
// as in the offset of 2025-01-15T10:00:00+01:00, arrives as a space (form encoding); no date
// has a space, so it is read back as the '+' it was.
func dateParam(q url.Values, name string) string {
	return strings.ReplaceAll(q.Get(name), " ", "+")
}

func (h *Handler) scimStatistics(w http.ResponseWriter, r *http.Request) (int, any, error) {
	st, err := h.svc.SCIMStatistics(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, st, nil
}
