package scim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/provision"
)

// userDoc renders a user account as a SCIM User document. The stored document (scim_data)
// carries what the IdP sent; the columns win, so changes made through GraphQL show here too.
func (h *Handler) userDoc(u *models.UserAccount, groups []models.GroupRef, withGroups bool) doc {
	d := doc{}
	if u.SCIMData != "" {
		_ = json.Unmarshal([]byte(u.SCIMData), &d)
	}
	setOrDelete := func(m doc, k, v string) {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	d["id"] = u.ID.String()
	d["userName"] = u.UserName
	if u.ExternalID != nil && *u.ExternalID != "" {
		d["externalId"] = *u.ExternalID
	} else {
		delete(d, "externalId")
	}
	d["active"] = u.Active
	name, _ := d["name"].(doc)
	if name == nil {
		name = doc{}
	}
	setOrDelete(name, "givenName", u.FirstName)
	setOrDelete(name, "familyName", u.LastName)
	if len(name) > 0 {
		d["name"] = name
	} else {
		delete(d, "name")
	}
	setOrDelete(d, "displayName", u.DisplayName)
	setOrDelete(d, "title", u.Title)
	setOrDelete(d, "userType", u.UserType)
	if u.Email != "" {
		emails, _ := d["emails"].([]any)
		found := false
		for _, e := range emails {
			if m, ok := e.(doc); ok && strings.EqualFold(strOf(m["value"]), u.Email) {
				found = true
			}
		}
		if !found { // the email was changed outside SCIM: it replaces the primary one
			idx := primaryIndex(emails)
			if idx < 0 { // typed as stored (models.UserAccount.SetEmail)
				e := doc{"value": u.Email, "primary": true}
				if u.EmailType != "" {
					e["type"] = u.EmailType
				}
				emails = append(emails, e)
			} else {
				emails[idx].(doc)["value"] = u.Email
			}
			d["emails"] = emails
		}
	}
	ext, _ := d[URNEnterprise].(doc)
	if ext == nil {
		ext = doc{}
	}
	setOrDelete(ext, "employeeNumber", u.EmployeeNumber)
	setOrDelete(ext, "department", u.Department)
	setOrDelete(ext, "organization", u.Organization)
	setOrDelete(ext, "costCenter", u.CostCenter)
	setOrDelete(ext, "division", u.Division)
	if u.ManagerID != "" {
		m, _ := ext["manager"].(doc)
		if m == nil {
			m = doc{}
		}
		m["value"] = u.ManagerID
		if id, err := models.ParseID(u.ManagerID); err == nil { // the path spells it exactly
			m["$ref"] = h.base + "/Users/" + id.String()
		}
		ext["manager"] = m
	} else {
		delete(ext, "manager")
	}
	schemas := []string{URNUser}
	if len(ext) > 0 {
		d[URNEnterprise] = ext
		schemas = append(schemas, URNEnterprise)
	} else {
		delete(d, URNEnterprise)
	}
	d["schemas"] = schemas
	if withGroups {
		gs := make([]any, 0, len(groups))
		for _, g := range groups {
			gs = append(gs, doc{"value": g.GroupID.String(), "display": g.DisplayName,
				"$ref": h.base + "/Groups/" + g.GroupID.String(), "type": "direct"})
		}
		d["groups"] = gs
	}
	d["meta"] = doc{"resourceType": "User", "created": u.CreatedAt.UTC().Format(time.RFC3339Nano),
		"lastModified": u.UpdatedAt.UTC().Format(time.RFC3339Nano),
		"location":     h.base + "/Users/" + u.ID.String(), "version": etag(u.Version)}
	return d
}

func strOf(v any) string {
	s, _ := v.(string)
	return s
}

// primaryIndex returns the primary element, else the first work one, else the first; -1 if none.
// Only objects count: a stored document may hold a null element.
func primaryIndex(list []any) int {
	work, first := -1, -1
	for i, e := range list {
		m, ok := e.(doc)
		if !ok {
			continue
		}
		if m["primary"] == true {
			return i
		}
		if work < 0 && strings.EqualFold(strOf(m["type"]), "work") {
			work = i
		}
		if first < 0 {
			first = i
		}
	}
	if work >= 0 {
		return work
	}
	return first
}

// userInput extracts the provision input from a canonical User document. A document without
// active keeps active as given: true for a new user, the user's current state for a PUT or a
// PATCH, so that a replacement that leaves active out never reactivates a user its IdP
// deactivated (only active: true does).
func userInput(d doc, active bool) (provision.SCIMUserInput, error) {
	in := provision.SCIMUserInput{Active: active}
	in.UserName = strOf(d["userName"])
	if s, ok := d["externalId"].(string); ok {
		in.ExternalID = models.ExternalIDOf(&s)
	}
	if b, ok := d["active"].(bool); ok {
		in.Active = b
	}
	if emails, ok := d["emails"].([]any); ok {
		if i := primaryIndex(emails); i >= 0 {
			in.Email = strings.TrimSpace(strOf(emails[i].(doc)["value"]))
			in.EmailType = strOf(emails[i].(doc)["type"])
		}
	}
	if name, ok := d["name"].(doc); ok {
		in.GivenName, in.FamilyName = strOf(name["givenName"]), strOf(name["familyName"])
	}
	in.DisplayName, in.Title, in.UserType = strOf(d["displayName"]), strOf(d["title"]), strOf(d["userType"])
	if ext, ok := d[URNEnterprise].(doc); ok {
		in.EmployeeNumber, in.Department = strOf(ext["employeeNumber"]), strOf(ext["department"])
		in.Organization, in.CostCenter, in.Division = strOf(ext["organization"]), strOf(ext["costCenter"]), strOf(ext["division"])
		if m, ok := ext["manager"].(doc); ok {
			in.ManagerID = strOf(m["value"])
		}
		if len(ext) == 0 {
			delete(d, URNEnterprise)
		}
	}
	rest := doc{}
	for k, v := range d {
		switch k {
		case "id", "meta", "schemas", "groups", "password":
		default:
			rest[k] = v
		}
	}
	b, err := json.Marshal(rest)
	if err != nil {
		return in, invalidValue("the user cannot be encoded")
	}
	in.Data = string(b)
	return in, nil
}

// writeUser answers with the user (and its groups, which the caller loaded if the projection
// wants them).
func (h *Handler) writeUser(w http.ResponseWriter, r *http.Request, status int, u *models.UserAccount, groups []models.GroupRef) error {
	p := projectionOf(r)
	w.Header().Set("ETag", etag(u.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", h.base+"/Users/"+u.ID.String())
	}
	writeJSON(w, status, p.apply(h.userDoc(u, groups, p.wants("groups"))))
	return nil
}

func (h *Handler) decodeUser(r *http.Request) (doc, error) {
	var raw map[string]any
	if err := decodeBody(r, &raw); err != nil {
		return nil, err
	}
	return canonicalUser(raw)
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request) error {
	d, err := h.decodeUser(r)
	if err != nil {
		return err
	}
	in, err := userInput(d, true)
	if err != nil {
		return err
	}
	u, err := h.svc.CreateSCIMUser(r.Context(), in)
	if err != nil {
		return err
	}
	return h.writeUser(w, r, http.StatusCreated, u, nil) // a new user belongs to no group yet
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) error {
	u, groups, err := h.svc.SCIMUser(r.Context(), r.PathValue("id"), projectionOf(r).wants("groups"))
	if err != nil {
		return err
	}
	if notModified(w, r, u.Version) {
		return nil
	}
	return h.writeUser(w, r, http.StatusOK, u, groups)
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	in, err := h.listParams(r)
	if err != nil {
		return err
	}
	in.Base = h.base
	p := projectionOf(r)
	withGroups := p.wants("groups")
	us, groups, total, err := h.svc.SCIMUsers(r.Context(), in, withGroups)
	if err != nil {
		return err
	}
	rs := make([]any, len(us))
	for i, u := range us {
		rs[i] = p.apply(h.userDoc(u, groups[u.ID], withGroups))
	}
	writeJSON(w, http.StatusOK, listResponse(total, in.StartIndex, rs))
	return nil
}

func (h *Handler) putUser(w http.ResponseWriter, r *http.Request) error {
	d, err := h.decodeUser(r)
	if err != nil {
		return err
	}
	in, err := userInput(d, true) // refused before the user is read
	if err != nil {
		return err
	}
	_, activeSent := d["active"].(bool)
	u, groups, err := h.svc.ReplaceSCIMUser(r.Context(), r.PathValue("id"), ifMatch(r), models.SCIMOpUpdate, projectionOf(r).wants("groups"),
		func(cur *models.UserAccount) (provision.SCIMUserInput, map[string]any, error) {
			if !activeSent { // as userInput keeps it for a PATCH: never a reactivation
				in.Active = cur.Active
			}
			return in, map[string]any{"method": "PUT"}, nil
		})
	if err != nil {
		return err
	}
	return h.writeUser(w, r, http.StatusOK, u, groups)
}

// userOps are the operations of a user PATCH (provision.SCIMUserOps).
type userOps struct {
	h   *Handler
	req patchRequest
}

func (o *userOps) Apply(cur *models.UserAccount) (provision.SCIMUserInput, error) {
	d := o.h.userDoc(cur, nil, false)
	if err := o.h.patchDoc(d, o.req.Operations); err != nil {
		return provision.SCIMUserInput{}, err
	}
	return userInput(d, cur.Active)
}

func (h *Handler) patchUser(w http.ResponseWriter, r *http.Request) error {
	ops := &userOps{h: h}
	if err := decodeBody(r, &ops.req); err != nil {
		return err
	}
	p := provision.SCIMUserPatch{Ops: ops,
		Details: map[string]any{"method": "PATCH", "operations": patchSummary(ops.req.Operations)}}
	p.Active, p.ActiveOnly = h.activeOnly(ops.req.Operations)
	u, groups, err := h.svc.PatchSCIMUser(r.Context(), r.PathValue("id"), ifMatch(r), projectionOf(r).wants("groups"), p)
	if err != nil {
		return err
	}
	return h.writeUser(w, r, http.StatusOK, u, groups)
}

// activeOnly reports whether the operations' only effect on any user is to set active, and to
// what. Such a PATCH (Okta's and Entra's deactivation, in all the forms they send) needs no
// read of the user: provision.SCIMUserPatch.ActiveOnly tells PatchSCIMUser so. Two tests,
// both required:
//   - shape: each operation is an add or replace of active, by path or as the only key of a
//     path-less value (beside id, meta and schemas, which every PATCH ignores there), so no
//     operation can touch another attribute, even one that does nothing to the document below
//     (a remove, a null);
//   - effect: applied to a document holding nothing but active, whichever its value, they leave
//     only active, as the same boolean (a value the engine does not read as a boolean fails).
func (ps *parsers) activeOnly(ops []patchOp) (active, ok bool) {
	for _, o := range ops {
		if op := strings.ToLower(strings.TrimSpace(o.Op)); op != "add" && op != "replace" {
			return false, false
		}
		switch p := strings.ToLower(strings.TrimSpace(o.Path)); p {
		case "active", lowerURNUser + ":active":
		case "", lowerURNUser:
			var m map[string]json.RawMessage
			if json.Unmarshal(o.Value, &m) != nil || len(m) == 0 {
				return false, false
			}
			for k := range m {
				switch k := strings.ToLower(k); k {
				case "active", lowerURNUser + ":active", "id", "meta", "schemas":
				default:
					return false, false
				}
			}
		default:
			return false, false
		}
	}
	var got [2]bool
	for i, start := range []bool{false, true} {
		d := doc{"active": start}
		if err := ps.patchDoc(d, ops); err != nil || len(d) != 1 {
			return false, false
		}
		b, isBool := d["active"].(bool)
		if !isBool {
			return false, false
		}
		got[i] = b
	}
	return got[0], got[0] == got[1]
}

// patchSummary lists "op path" of each operation for the activity log (never values: they
// may carry passwords).
func patchSummary(ops []patchOp) []string {
	out := make([]string, 0, min(len(ops), 20))
	for i, o := range ops {
		if i == 20 {
			out = append(out, "…")
			break
		}
		out = append(out, strings.TrimSpace(strings.ToLower(o.Op)+" "+truncate(o.Path, 100)))
	}
	return out
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteSCIMUser(r.Context(), r.PathValue("id"), ifMatch(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
