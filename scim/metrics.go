package scim

import (
	"net/http"
	"strings"

	"gatehouse/telemetry"
)

// SetMetrics makes the handler count SCIM operations into m. Call it before Register, which
// resolves each route's counters once.
func (h *Handler) SetMetrics(m *telemetry.Metrics) *Handler {
	h.metrics = m
	return h
}

// counters returns the outcome counters of a route on resource res (nil for the discovery
// documents, which are not operations on a resource). pattern is the route's "METHOD path";
// an empty pattern is the routes that answer 405, counted as operation "unsupported".
func (h *Handler) counters(pattern, res string) *telemetry.OutcomeCounters {
	if res == "" {
		return nil
	}
	method, path, _ := strings.Cut(pattern, " ")
	item := strings.HasSuffix(path, "/{id}")
	op := "unsupported"
	switch method {
	case http.MethodGet:
		op = "list"
		if item {
			op = "get"
		}
	case http.MethodPost:
		op = "create"
	case http.MethodPut:
		op = "replace"
	case http.MethodPatch:
		op = "patch"
	case http.MethodDelete:
		op = "delete"
	}
	return h.metrics.SCIMOperation(res, op)
}
