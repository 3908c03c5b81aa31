package scim

import (
	"net/http"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/provision"
)

func (h *Handler) groupDoc(g *models.Group, withMembers bool) doc {
	d := doc{"schemas": []string{URNGroup}, "id": g.ID.String(), "displayName": g.DisplayName,
		"meta": doc{"resourceType": "Group", "created": g.CreatedAt.UTC().Format(time.RFC3339Nano),
			"lastModified": g.UpdatedAt.UTC().Format(time.RFC3339Nano),
			"location":     h.base + "/Groups/" + g.ID.String(), "version": etag(g.Version)}}
	if g.ExternalID != nil && *g.ExternalID != "" {
		d["externalId"] = *g.ExternalID
	}
	if withMembers {
		ms := make([]any, len(g.Members))
		for i, m := range g.Members {
			id := m.UserAccountID.String()
			ms[i] = doc{"value": id, "display": m.Display, "$ref": h.base + "/Users/" + id, "type": "User"}
		}
		d["members"] = ms
	}
	return d
}

// writeGroup answers with g; its members are shown when they were loaded (g.Members not nil).
func (h *Handler) writeGroup(w http.ResponseWriter, r *http.Request, status int, g *models.Group) error {
	w.Header().Set("ETag", etag(g.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", h.base+"/Groups/"+g.ID.String())
	}
	writeJSON(w, status, projectionOf(r).apply(h.groupDoc(g, g.Members != nil)))
	return nil
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request) error {
	var raw map[string]any
	if err := decodeBody(r, &raw); err != nil {
		return err
	}
	name, ext, members, _, err := canonicalGroup(raw)
	if err != nil {
		return err
	}
	g, err := h.svc.CreateSCIMGroup(r.Context(), name, ext, members, projectionOf(r).wants("members"))
	if err != nil {
		return err
	}
	return h.writeGroup(w, r, http.StatusCreated, g)
}

func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request) error {
	// excludedAttributes=members never loads members.
	g, err := h.svc.SCIMGroup(r.Context(), r.PathValue("id"), projectionOf(r).wants("members"))
	if err != nil {
		return err
	}
	if notModified(w, r, g.Version) {
		return nil
	}
	return h.writeGroup(w, r, http.StatusOK, g)
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request) error {
	in, err := h.listParams(r)
	if err != nil {
		return err
	}
	p := projectionOf(r)
	gs, total, err := h.svc.SCIMGroups(r.Context(), in, p.wants("members"))
	if err != nil {
		return err
	}
	rs := make([]any, len(gs))
	for i, g := range gs {
		rs[i] = p.apply(h.groupDoc(g, p.wants("members")))
	}
	writeJSON(w, http.StatusOK, listResponse(total, in.StartIndex, rs))
	return nil
}

func (h *Handler) putGroup(w http.ResponseWriter, r *http.Request) error {
	var raw map[string]any
	if err := decodeBody(r, &raw); err != nil {
		return err
	}
	name, ext, members, _, err := canonicalGroup(raw)
	if err != nil {
		return err
	}
	ch := provision.GroupChange{DisplayName: &name, ExternalID: &ext, ReplaceMembers: true, Add: members,
		Details: map[string]any{"method": "PUT"}, WithMembers: projectionOf(r).wants("members")}
	g, err := h.svc.ChangeSCIMGroup(r.Context(), r.PathValue("id"), ifMatch(r), ch)
	if err != nil {
		return err
	}
	return h.writeGroup(w, r, http.StatusOK, g)
}

// memberDelta folds member operations, in order, into one change: replace/clear, then
// disjoint remove and add sets.
type memberDelta struct {
	replace bool
	add     []string
	addSet  map[string]int
	remove  map[string]bool
}

func newDelta() *memberDelta {
	return &memberDelta{addSet: map[string]int{}, remove: map[string]bool{}}
}

func (m *memberDelta) doAdd(ids []string) {
	for _, id := range ids {
		k := strings.ToLower(id)
		delete(m.remove, k)
		if _, ok := m.addSet[k]; !ok {
			m.addSet[k] = len(m.add)
			m.add = append(m.add, id)
		}
	}
}

func (m *memberDelta) doRemove(ids []string) {
	for _, id := range ids {
		k := strings.ToLower(id)
		if i, ok := m.addSet[k]; ok {
			m.add[i] = ""
			delete(m.addSet, k)
		}
		if !m.replace {
			m.remove[k] = true
		}
	}
}

func (m *memberDelta) doReplace(ids []string) {
	m.replace, m.add, m.addSet, m.remove = true, nil, map[string]int{}, map[string]bool{}
	m.doAdd(ids)
}

func (m *memberDelta) result() (add, remove []string) {
	for _, id := range m.add {
		if id != "" {
			add = append(add, id)
		}
	}
	for id := range m.remove {
		remove = append(remove, id)
	}
	return add, remove
}

// patchGroup turns PATCH operations into one GroupChange. It handles what Okta and Entra send:
// add/remove with path "members" and a value array, members[value eq "…"], path-less
// replace of displayName (with id echoed), and op names in any case.
func (ps *parsers) groupChange(ops []patchOp) (provision.GroupChange, error) {
	var ch provision.GroupChange
	if len(ops) == 0 {
		return ch, models.SCIMError(models.SCIMTypeInvalidSyntax, "a PATCH needs at least one operation")
	}
	if len(ops) > maxPatchOps {
		return ch, models.SCIMError(models.SCIMTypeTooMany, "at most %d operations per PATCH", maxPatchOps)
	}
	delta := newDelta()
	var apply func(op, path string, v any, lenient bool) error
	apply = func(op, path string, v any, lenient bool) error {
		lp := strings.ToLower(strings.TrimSpace(path))
		if strings.HasPrefix(lp, lowerURNGroup+":") {
			lp = lp[len(URNGroup)+1:]
			path = path[len(URNGroup)+1:]
		}
		switch lp {
		case "displayname":
			if op == "remove" {
				return models.SCIMError(models.SCIMTypeMutability, "displayName is required and cannot be removed")
			}
			s, ok := v.(string)
			if !ok {
				return invalidValue("displayName must be a string")
			}
			ch.DisplayName = &s
			return nil
		case "externalid":
			var ext *string
			if op != "remove" {
				switch s := v.(type) {
				case string:
					if s != "" {
						ext = &s
					}
				case nil:
				default: // as on create (canonicalGroup), not a silent clear
					return invalidValue("externalId must be a string")
				}
			}
			ch.ExternalID = &ext
			return nil
		case "members":
			ids, err := memberValues(v)
			if err != nil {
				return err
			}
			switch op {
			case "add":
				delta.doAdd(ids)
			case "replace":
				delta.doReplace(ids)
			case "remove":
				if v == nil {
					delta.doReplace(nil)
				} else {
					delta.doRemove(ids)
				}
			}
			return nil
		case "id", "meta", "schemas":
			if lenient {
				return nil
			}
			return models.SCIMError(models.SCIMTypeMutability, "%s is read-only", path)
		}
		if len(path) > 512 {
			return invalidPath("the path is longer than 512 characters")
		}
		p, err := ps.parsePath(path)
		if err != nil {
			return invalidPath("invalid path %q", truncate(path, 64))
		}
		if !strings.EqualFold(p.AttributePath.AttributeName, "members") || p.ValueExpression == nil {
			if lenient {
				return nil
			}
			return invalidPath("unknown attribute %q", truncate(path, 64))
		}
		// members[value eq "id"]: only remove makes sense (Okta and Entra use it to drop one).
		seed, ok := equalities(p.ValueExpression, groupSchema.find("members"))
		id := strOf(seed["value"])
		if !ok || id == "" {
			return invalidPath("members filters must be value eq \"<user id>\"")
		}
		switch op {
		case "remove":
			delta.doRemove([]string{id})
		default:
			delta.doAdd([]string{id})
		}
		return nil
	}
	for _, o := range ops {
		op, err := opName(o.Op)
		if err != nil {
			return ch, err
		}
		v, err := decodeValue(o.Value)
		if err != nil {
			return ch, err
		}
		if strings.TrimSpace(o.Path) == "" {
			if op == "remove" {
				return ch, noTarget("remove needs a path")
			}
			m, ok := v.(map[string]any)
			if !ok {
				return ch, invalidValue("an operation without path needs an object value")
			}
			for k, kv := range m {
				if err := apply(op, k, kv, true); err != nil {
					return ch, err
				}
			}
			continue
		}
		if err := apply(op, o.Path, v, false); err != nil {
			return ch, err
		}
	}
	ch.ReplaceMembers = delta.replace
	ch.Add, ch.Remove = delta.result()
	return ch, nil
}

func (h *Handler) patchGroup(w http.ResponseWriter, r *http.Request) error {
	var req patchRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	ch, err := h.groupChange(req.Operations)
	if err != nil {
		return err
	}
	ch.Details = map[string]any{"method": "PATCH", "operations": patchSummary(req.Operations)}
	// A PATCH answers without members unless the request names attributes (RFC 7644 allows
	// 204; Okta and Entra accept 200 with the resource), so large groups stay cheap.
	p := projectionOf(r)
	ch.WithMembers = (len(p.include) > 0 || len(p.exclude) > 0) && p.wants("members")
	g, err := h.svc.ChangeSCIMGroup(r.Context(), r.PathValue("id"), ifMatch(r), ch)
	if err != nil {
		return err
	}
	return h.writeGroup(w, r, http.StatusOK, g)
}

func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteSCIMGroup(r.Context(), r.PathValue("id"), ifMatch(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
