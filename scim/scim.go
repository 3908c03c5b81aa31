// Package scim is the SCIM 2.0 service provider (RFC 7643, RFC 7644) at /scim/v2: Users,
// Groups and the discovery documents. It authenticates SCIM tokens, turns SCIM JSON into
// documents (case-insensitive names, IdP quirks absorbed), applies PATCH operations, and
// answers with application/scim+json and RFC 7644 error bodies. Every rule about users,
// groups, scopes and the activity log lives in package provision; this package never imports
// another transport or the store.
package scim

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"gatehouse/cache"
	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/route"
	"gatehouse/scimquery"
	"gatehouse/telemetry"
)

// Handler serves /scim/v2.
type Handler struct {
	svc     *provision.Service
	log     *slog.Logger
	base    string             // public URL of /scim/v2, for meta.location
	metrics *telemetry.Metrics // nil counts nothing
	*parsers
}

// parsers holds a handler's parse caches. IdPs send the same few filter shapes and PATCH paths
// over and over, and the grammar-driven parser costs more CPU than the rest of a lookup.
type parsers struct {
	// filterShapes: a filter's parse by shape (parseCachedFilter).
	filterShapes *cache.Cache[string, scimquery.Expr]
	// plainPaths: the parse of value-free PATCH paths ("active", "name.givenName",
	// "urn:…:User:department"); paths with a value filter are parsed each time.
	plainPaths *cache.Cache[string, filter.Path]
}

func newParsers(g *cache.Group) *parsers {
	return &parsers{
		filterShapes: cache.New[string, scimquery.Expr](g, "scim_filter_shapes", cache.Options{MaxEntries: 1024}),
		plainPaths:   cache.New[string, filter.Path](g, "scim_patch_paths", cache.Options{MaxEntries: 4096}),
	}
}

// New builds the SCIM handler; publicURL is the server's external base URL.
func New(svc *provision.Service, publicURL string, log *slog.Logger) *Handler {
	return &Handler{svc: svc, log: log, base: strings.TrimRight(publicURL, "/") + "/scim/v2",
		parsers: newParsers(svc.Caches())}
}

// Register mounts the SCIM routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, r := range []struct {
		pattern string
		op, res string
		fn      func(w http.ResponseWriter, r *http.Request) error
	}{
		{"GET /scim/v2/Users", models.SCIMOpRead, models.SCIMResourceUser, h.listUsers},
		{"POST /scim/v2/Users", models.SCIMOpCreate, models.SCIMResourceUser, h.createUser},
		{"GET /scim/v2/Users/{id}", models.SCIMOpRead, models.SCIMResourceUser, h.getUser},
		{"PUT /scim/v2/Users/{id}", models.SCIMOpUpdate, models.SCIMResourceUser, h.putUser},
		{"PATCH /scim/v2/Users/{id}", models.SCIMOpUpdate, models.SCIMResourceUser, h.patchUser},
		{"DELETE /scim/v2/Users/{id}", models.SCIMOpDelete, models.SCIMResourceUser, h.deleteUser},
		{"GET /scim/v2/Groups", models.SCIMOpRead, models.SCIMResourceGroup, h.listGroups},
		{"POST /scim/v2/Groups", models.SCIMOpCreate, models.SCIMResourceGroup, h.createGroup},
		{"GET /scim/v2/Groups/{id}", models.SCIMOpRead, models.SCIMResourceGroup, h.getGroup},
		{"PUT /scim/v2/Groups/{id}", models.SCIMOpUpdate, models.SCIMResourceGroup, h.putGroup},
		{"PATCH /scim/v2/Groups/{id}", models.SCIMOpUpdate, models.SCIMResourceGroup, h.patchGroup},
		{"DELETE /scim/v2/Groups/{id}", models.SCIMOpDelete, models.SCIMResourceGroup, h.deleteGroup},
		{"GET /scim/v2/ServiceProviderConfig", "", "", h.spConfig},
		{"GET /scim/v2/ResourceTypes", "", "", h.resourceTypes},
		{"GET /scim/v2/ResourceTypes/{id}", "", "", h.resourceType},
		{"GET /scim/v2/Schemas", "", "", h.schemas},
		{"GET /scim/v2/Schemas/{id}", "", "", h.schema},
	} {
		mux.Handle(r.pattern, h.handle(r.op, r.res, h.counters(r.pattern, r.res), r.fn))
	}
	// Other methods on known resources: 405 in SCIM form with Allow (the mux's own 405 is
	// plain text). On Users and Groups the attempt is recorded like any failed request of the
	// resource.
	methodless := []struct{ pattern, res string }{
		{"/scim/v2/Users", models.SCIMResourceUser}, {"/scim/v2/Users/{id}", models.SCIMResourceUser},
		{"/scim/v2/Groups", models.SCIMResourceGroup}, {"/scim/v2/Groups/{id}", models.SCIMResourceGroup},
		{"/scim/v2/ServiceProviderConfig", ""}, {"/scim/v2/ResourceTypes", ""}, {"/scim/v2/ResourceTypes/{id}", ""},
		{"/scim/v2/Schemas", ""}, {"/scim/v2/Schemas/{id}", ""},
	}
	fallback := []string{"/scim/v2/", "/scim/v2"}
	for _, p := range methodless {
		fallback = append(fallback, p.pattern)
	}
	for _, p := range methodless {
		c := h.counters("", p.res)
		mux.Handle(p.pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			op := ""
			if p.res != "" {
				op = operationOf(r.Method)
			}
			h.handle(op, p.res, c, func(w http.ResponseWriter, r *http.Request) error {
				w.Header().Set("Allow", strings.Join(route.Allowed(mux, r, fallback...), ", "))
				return errMethod
			}).ServeHTTP(w, r)
		}))
	}
	// Every other path under /scim/v2, and /scim/v2 itself (which the mux would redirect to
	// /scim/v2/ with an HTML body), is not found in SCIM form.
	notFound := h.handle("", "", nil, func(w http.ResponseWriter, r *http.Request) error {
		return models.Errorf(models.ENOTFOUND, "no such SCIM endpoint: %s %s", r.Method, r.URL.Path)
	})
	mux.Handle(fallback[0], notFound)
	mux.Handle(fallback[1], notFound)
}

// operationOf names, for the activity log, what a request with this method attempts.
func operationOf(method string) string {
	switch method {
	case http.MethodPost:
		return models.SCIMOpCreate
	case http.MethodPut, http.MethodPatch:
		return models.SCIMOpUpdate
	case http.MethodDelete:
		return models.SCIMOpDelete
	}
	return models.SCIMOpRead
}

// handle authenticates the SCIM token, runs fn, and writes SCIM errors. Failed requests of an
// authenticated token, and requests refused because their token was revoked or has expired,
// are recorded in the activity log (op and res name what was attempted). Outcomes are counted
// into c (nil: not counted).
func (h *Handler) handle(op, res string, c *telemetry.OutcomeCounters, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		tok, ok := bearer(r)
		if !ok {
			c.ObserveStatus(h.writeError(w, r, models.Errorf(models.EUNAUTHENTICATED, "a SCIM bearer token is required")))
			return
		}
		caller, err := h.svc.AuthenticateSCIMToken(ctx, tok)
		if err != nil {
			status := h.writeError(w, r, err)
			c.ObserveStatus(status)
			if op != "" && status == http.StatusUnauthorized {
				h.svc.RecordSCIMRefusal(ctx, tok, op, res, r.PathValue("id"), status)
			}
			return
		}
		r = r.WithContext(provision.WithSCIMCaller(ctx, caller))
		if err := fn(w, r); err != nil {
			status := h.writeError(w, r, err)
			c.ObserveStatus(status)
			if op != "" {
				h.svc.RecordSCIMFailure(r.Context(), op, res, r.PathValue("id"), status, err)
			}
			return
		}
		c.ObserveStatus(http.StatusOK)
	})
}

func bearer(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	if len(a) < 8 || !strings.EqualFold(a[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(a[7:])
	return t, t != ""
}

// errMethod is a method the resource does not support.
var errMethod = models.Errorf(models.EINVALID, "method not allowed on this SCIM resource")

// errorStatus maps a domain error to the HTTP status and default scimType, once.
func errorStatus(err error) (int, string) {
	if provision.IsPreconditionFailed(err) {
		return http.StatusPreconditionFailed, ""
	}
	if errors.Is(err, errMethod) {
		return http.StatusMethodNotAllowed, ""
	}
	st := models.SCIMTypeOf(err)
	switch models.ErrorCode(err) {
	case models.EINVALID:
		return http.StatusBadRequest, or(st, models.SCIMTypeInvalidValue)
	case models.ENOTFOUND:
		return http.StatusNotFound, ""
	case models.ETAKEN:
		return http.StatusConflict, models.SCIMTypeUniqueness
	case models.ECONFLICT, models.EINVALIDSTATE:
		return http.StatusConflict, ""
	case models.EUNAUTHENTICATED:
		return http.StatusUnauthorized, ""
	case models.EFORBIDDEN:
		return http.StatusForbidden, ""
	case models.EUNAVAILABLE:
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

// writeError writes an RFC 7644 §3.12 error body and returns the status.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) int {
	status, scimType := errorStatus(err)
	detail := models.FieldMessage(err)
	switch status {
	case http.StatusInternalServerError:
		h.log.ErrorContext(r.Context(), "scim: internal error", "err", err, "path", r.URL.Path)
		detail = "internal error"
	case http.StatusServiceUnavailable:
		h.log.WarnContext(r.Context(), "scim: database unavailable", "err", err, "path", r.URL.Path)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-scim"`)
	}
	body := map[string]any{"schemas": []string{URNError}, "status": strconv.Itoa(status), "detail": detail}
	if scimType != "" {
		body["scimType"] = scimType
	}
	writeJSON(w, status, body)
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decodeBody reads a JSON object body (application/scim+json or application/json).
func decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && models.MediaType(ct) != "application/scim+json" && models.MediaType(ct) != "application/json" {
		return models.SCIMError(models.SCIMTypeInvalidSyntax, "the body must be application/scim+json or application/json")
	}
	if err := models.DecodeJSONBody(r.Body, v, false, maxBodyBytes); err != nil {
		return models.SCIMError(models.SCIMTypeInvalidSyntax, "%s", err)
	}
	return nil
}

// listParams reads startIndex, count and filter (RFC 7644 §3.4.2.4): startIndex below 1 is
// 1, a negative count is 0, counts above the maximum are the maximum.
func (ps *parsers) listParams(r *http.Request) (provision.SCIMListInput, error) {
	q := r.URL.Query()
	in := provision.SCIMListInput{StartIndex: 1, Count: defaultPageCount}
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return in, invalidValue("startIndex must be an integer")
		}
		in.StartIndex = n
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return in, invalidValue("count must be an integer")
		}
		in.Count = n
	}
	in.StartIndex, in.Count = models.ClampPage(in.StartIndex, in.Count, 0, provision.MaxSCIMCount)
	// A refused filter is answered by provision after the scope check (FilterError).
	in.Filter, in.FilterError = ps.listFilter(q.Get("filter"))
	return in, nil
}

func listResponse(total, start int, resources []any) map[string]any {
	return map[string]any{"schemas": []string{URNListResponse}, "totalResults": total,
		"startIndex": start, "itemsPerPage": len(resources), "Resources": resources}
}

// etag is the weak entity tag of a version; meta.version carries the same string.
func etag(version int) string { return `W/"` + strconv.Itoa(version) + `"` }

// notModified answers 304 Not Modified, with the ETag and no body, when a GET's
// If-None-Match names the resource's current version or is "*" (RFC 7644 §3.14, RFC 7232
// §3.2 and §4.1: weak comparison, a list of tags allowed). It reports whether it answered.
func notModified(w http.ResponseWriter, r *http.Request, version int) bool {
	h := r.Header.Values("If-None-Match")
	if len(h) == 0 || r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	tags, star := entityTags(h)
	if !star && !slices.Contains(tags, strconv.Itoa(version)) {
		return false
	}
	w.Header().Set("ETag", etag(version))
	w.WriteHeader(http.StatusNotModified)
	return true
}

// ifMatch is the precondition of an If-Match header (RFC 7232 §3.1, weakly compared as SCIM
// does): none without the header or with "*"; else the versions its tags name, any of which
// the stored one must be. A tag that names no version of ours (W/"0", another server's) is
// one no resource has, so a header of only such tags fails every write (412). "*" lifts the
// precondition only as the whole header ("*" / 1#entity-tag): beside tags, or followed by
// anything, it is not that "*", and the header demands what its tags name.
func ifMatch(r *http.Request) models.IfMatch {
	h := r.Header.Values("If-Match")
	switch strings.TrimSpace(strings.Join(h, "")) {
	case "": // none, or empty: no precondition, as before tags were read
		return models.IfMatch{}
	case "*":
		return models.IfMatch{}
	}
	tags, _ := entityTags(h)
	var versions []int
	for _, t := range tags {
		if n, err := strconv.Atoi(t); err == nil && n > 0 && strconv.Itoa(n) == t {
			versions = append(versions, n)
		}
	}
	return models.IfMatchAny(versions...)
}

// entityTags reads the lines of an If-Match or If-None-Match header (RFC 7232 §3.1: "*" or a
// comma-separated list of entity tags, each optionally W/ and quoted; the quoted part may
// hold commas): the tags' opaque parts, and whether the header is "*". Reading stops at the
// first thing that is not a tag; the tags before it count.
func entityTags(lines []string) (tags []string, star bool) {
	for _, line := range lines {
		rest := line
		for {
			rest = strings.TrimLeft(rest, " \t,")
			if rest == "" {
				break
			}
			if rest[0] == '*' {
				star = true
				rest = rest[1:]
				continue
			}
			rest = strings.TrimPrefix(rest, "W/")
			if !strings.HasPrefix(rest, `"`) {
				break
			}
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			tags = append(tags, rest[1:1+end])
			rest = rest[2+end:]
		}
	}
	return tags, star
}

// projection is the attributes / excludedAttributes request (RFC 7644 §3.4.2.5).
type projection struct {
	include, exclude []string // lower-cased paths, without the core schemas' URNs
}

// projectionOf reads the request's projection. A path may name its attribute by the fully
// qualified URN (RFC 7644 §3.10): a core one is read without it, so that wants finds members
// and groups by either name; the enterprise extension's stays (splitPath reads it).
func projectionOf(r *http.Request) projection {
	split := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
				for _, urn := range []string{lowerURNUser, lowerURNGroup} {
					p = strings.TrimPrefix(p, urn+":")
				}
				out = append(out, p)
			}
		}
		return out
	}
	q := r.URL.Query()
	return projection{include: split(q.Get("attributes")), exclude: split(q.Get("excludedAttributes"))}
}

// wants reports whether the attribute (lower-case top-level name) is returned.
func (p projection) wants(name string) bool {
	for _, e := range p.exclude {
		if e == name {
			return false
		}
	}
	if len(p.include) == 0 {
		return true
	}
	for _, i := range p.include {
		if i == name || strings.HasPrefix(i, name+".") {
			return true
		}
	}
	return false
}

// apply filters a rendered resource. id and schemas are always returned.
func (p projection) apply(d doc) doc {
	if len(p.include) == 0 && len(p.exclude) == 0 {
		return d
	}
	if len(p.include) > 0 {
		out := doc{"id": d["id"], "schemas": d["schemas"]}
		for _, inc := range p.include {
			copyPath(out, d, inc)
		}
		d = out
	}
	for _, ex := range p.exclude {
		if ex == "id" || ex == "schemas" {
			continue
		}
		deletePath(d, ex)
	}
	return d
}

// findKey returns d's key equal to name ignoring case (extension URNs contain dots and
// colons, so they are matched first as a whole).
func findKey(d doc, name string) (string, bool) {
	for k := range d {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

func splitPath(path string) (top, sub string) {
	if strings.HasPrefix(path, lowerURNEnterprise) {
		rest := strings.TrimPrefix(path, lowerURNEnterprise)
		if rest == "" {
			return URNEnterprise, ""
		}
		return URNEnterprise, strings.TrimPrefix(rest, ":")
	}
	top, sub, _ = strings.Cut(path, ".")
	return top, sub
}

func copyPath(dst, src doc, path string) {
	top, sub := splitPath(path)
	k, ok := findKey(src, strings.ToLower(top))
	if !ok {
		return
	}
	if sub == "" {
		dst[k] = src[k]
		return
	}
	inner, ok := src[k].(doc)
	if !ok {
		if list, isList := src[k].([]any); isList { // emails.value: that sub-attribute of each
			out := make([]any, 0, len(list))
			for _, e := range list {
				if m, isMap := e.(doc); isMap {
					n := doc{}
					copyPath(n, m, sub)
					out = append(out, n)
				}
			}
			dst[k] = out
		}
		return
	}
	d, _ := dst[k].(doc)
	if d == nil {
		d = doc{}
		dst[k] = d
	}
	copyPath(d, inner, sub)
}

func deletePath(d doc, path string) {
	top, sub := splitPath(path)
	k, ok := findKey(d, strings.ToLower(top))
	if !ok {
		return
	}
	if sub == "" {
		delete(d, k)
		return
	}
	if inner, ok := d[k].(doc); ok {
		deletePath(inner, sub)
	}
}

func (h *Handler) spConfig(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, serviceProviderConfig(h.base, "https://github.com/gatehouse/gatehouse/blob/main/docs/scim-okta-entra.md"))
	return nil
}

func (h *Handler) resourceTypes(w http.ResponseWriter, r *http.Request) error {
	return writeDiscoveryList(w, resourceTypeDocs(h.base))
}

func (h *Handler) resourceType(w http.ResponseWriter, r *http.Request) error {
	return writeDiscoveryDoc(w, r, resourceTypeDocs(h.base), "resource type")
}

func (h *Handler) schemas(w http.ResponseWriter, r *http.Request) error {
	return writeDiscoveryList(w, schemaDocs(h.base))
}

func (h *Handler) schema(w http.ResponseWriter, r *http.Request) error {
	return writeDiscoveryDoc(w, r, schemaDocs(h.base), "schema")
}

// writeDiscoveryList answers a discovery endpoint's list (ResourceTypes, Schemas).
func writeDiscoveryList(w http.ResponseWriter, docs []doc) error {
	rs := make([]any, len(docs))
	for i, d := range docs {
		rs[i] = d
	}
	writeJSON(w, http.StatusOK, listResponse(len(rs), 1, rs))
	return nil
}

// writeDiscoveryDoc answers the discovery document whose id is the path's {id}, ignoring case.
func writeDiscoveryDoc(w http.ResponseWriter, r *http.Request, docs []doc, what string) error {
	for _, d := range docs {
		if strings.EqualFold(d["id"].(string), r.PathValue("id")) {
			writeJSON(w, http.StatusOK, d)
			return nil
		}
	}
	return models.Errorf(models.ENOTFOUND, "no %s %q", what, truncate(r.PathValue("id"), 100))
}
