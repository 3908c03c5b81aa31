package scim

import (
	"encoding/json"
	"reflect"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"gatehouse/models"
)

// patchRequest is a PatchOp message (RFC 7644 §3.5.2). Field names match case-insensitively
// (encoding/json), so "Operations" and "operations" both work.
type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

const maxPatchOps = 1000

func invalidPath(format string, args ...any) error {
	return models.SCIMError(models.SCIMTypeInvalidPath, format, args...)
}

func noTarget(format string, args ...any) error {
	return models.SCIMError(models.SCIMTypeNoTarget, format, args...)
}

// opName normalises an op: Entra sends "Replace", "Add", "Remove".
func opName(op string) (string, error) {
	switch o := strings.ToLower(strings.TrimSpace(op)); o {
	case "add", "replace", "remove":
		return o, nil
	}
	return "", models.SCIMError(models.SCIMTypeInvalidSyntax, "op must be add, replace or remove, got %q", truncate(op, 32))
}

func decodeValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, models.SCIMError(models.SCIMTypeInvalidSyntax, "invalid operation value")
	}
	return v, nil
}

// patchUser applies the operations to a user document, in order. The caller saves the result
// in one transaction, so a failing operation changes nothing.
func (ps *parsers) patchDoc(d doc, ops []patchOp) error {
	if len(ops) == 0 {
		return models.SCIMError(models.SCIMTypeInvalidSyntax, "a PATCH needs at least one operation")
	}
	if len(ops) > maxPatchOps {
		return models.SCIMError(models.SCIMTypeTooMany, "at most %d operations per PATCH", maxPatchOps)
	}
	for _, o := range ops {
		op, err := opName(o.Op)
		if err != nil {
			return err
		}
		v, err := decodeValue(o.Value)
		if err != nil {
			return err
		}
		path := strings.TrimSpace(o.Path)
		if path == "" {
			if op == "remove" {
				return noTarget("remove needs a path")
			}
			m, ok := v.(map[string]any)
			if !ok {
				return invalidValue("an operation without path needs an object value")
			}
			for k, kv := range m {
				if err := ps.applyUserPath(d, op, k, kv, true); err != nil {
					return err
				}
			}
			continue
		}
		if err := ps.applyUserPath(d, op, path, v, false); err != nil {
			return err
		}
	}
	return nil
}

// applyUserPath applies one operation at a path. lenient (path-less value keys) ignores
// unknown and read-only attributes, as IdPs echo id, meta or schemas there.
func (ps *parsers) applyUserPath(d doc, op, rawPath string, v any, lenient bool) error {
	lp := strings.ToLower(rawPath)
	switch lp {
	case lowerURNEnterprise, lowerURNUser:
		m, ok := v.(map[string]any)
		if !ok {
			if op == "remove" && lp == lowerURNEnterprise {
				delete(d, URNEnterprise)
				return nil
			}
			return invalidValue("%s needs an object value", rawPath)
		}
		prefix := URNUser
		if lp == lowerURNEnterprise {
			prefix = URNEnterprise
		}
		for k, kv := range m {
			if err := ps.applyUserPath(d, op, prefix+":"+k, kv, true); err != nil {
				return err
			}
		}
		return nil
	case "id", "meta", "schemas":
		if lenient {
			return nil
		}
		return models.SCIMError(models.SCIMTypeMutability, "%s is read-only", rawPath)
	}
	if len(rawPath) > 512 {
		return invalidPath("the path is longer than 512 characters")
	}
	p, err := ps.parsePath(rawPath)
	if err != nil {
		return invalidPath("invalid path %q", truncate(rawPath, 64))
	}
	enterprise := false
	switch uri := strings.ToLower(p.AttributePath.URI()); uri {
	case "", lowerURNUser:
		// Microsoft's SCIM tutorial (Example 5) shows Entra adding the enterprise manager at
		// the bare path "manager": an attribute only the extension has is found there.
		enterprise = uri == "" && userSchema.find(p.AttributePath.AttributeName) == nil &&
			enterpriseSchema.find(p.AttributePath.AttributeName) != nil
	case lowerURNEnterprise:
		enterprise = true
	default:
		if lenient {
			return nil
		}
		return invalidPath("unknown schema in path %q", truncate(rawPath, 64))
	}
	schema, target := userSchema, d
	if enterprise {
		schema = enterpriseSchema
		m, _ := d[URNEnterprise].(doc)
		if m == nil {
			if op == "remove" {
				return nil
			}
			m = doc{}
			d[URNEnterprise] = m
		}
		target = m
	}
	a := schema.find(p.AttributePath.AttributeName)
	if a == nil {
		if lenient {
			return nil
		}
		return invalidPath("unknown attribute %q", p.AttributePath.AttributeName)
	}
	if a.Mutability == "readOnly" {
		if lenient {
			return nil
		}
		return models.SCIMError(models.SCIMTypeMutability, "%s is read-only", a.Name)
	}
	if a.Name == "password" {
		return nil // write-only, never stored: accepted and dropped
	}
	sub := p.AttributePath.SubAttribute
	if p.SubAttribute != nil { // emails[type eq "work"].value
		sub = p.SubAttribute
	}
	return applyAttr(target, a, op, p.ValueExpression, sub, v)
}

// applyAttr applies an operation to attribute a of target, optionally narrowed by a value
// filter (multi-valued attributes) and a sub-attribute.
func applyAttr(target doc, a *attr, op string, vf filter.Expression, subName *string, v any) error {
	var sa *attr
	if subName != nil {
		if sa = a.find(*subName); sa == nil {
			return invalidPath("unknown sub-attribute %s.%s", a.Name, *subName)
		}
	}
	if !a.Multi {
		if vf != nil {
			return invalidPath("%s is not multi-valued; a value filter cannot apply", a.Name)
		}
		if sa != nil {
			m, _ := target[a.Name].(doc)
			if op == "remove" || v == nil {
				if m != nil {
					delete(m, sa.Name)
				}
				return nil
			}
			c, err := coerce(sa, v)
			if err != nil {
				return err
			}
			if m == nil {
				m = doc{}
				target[a.Name] = m
			}
			m[sa.Name] = c
			return nil
		}
		if op == "remove" {
			delete(target, a.Name)
			return nil
		}
		c, err := coerce(a, v)
		if err != nil {
			return err
		}
		switch {
		case c == nil:
			delete(target, a.Name)
		case a.Type == "complex":
			m, _ := target[a.Name].(doc)
			if m == nil {
				m = doc{}
			}
			for k, x := range c.(doc) {
				m[k] = x
			}
			// Entra clears the manager with {"value": ""}: an empty reference means none.
			if s, ok := m["value"].(string); ok && s == "" && a.find("value") != nil {
				delete(m, "value")
			}
			if len(m) == 0 {
				delete(target, a.Name)
			} else {
				target[a.Name] = m
			}
		default:
			target[a.Name] = c
		}
		return nil
	}

	list, _ := target[a.Name].([]any)
	if vf == nil {
		if sa != nil { // e.g. emails.value: every element
			if op == "remove" {
				for _, e := range list {
					if m, ok := e.(doc); ok {
						delete(m, sa.Name)
					}
				}
				return nil
			}
			c, err := coerce(sa, v)
			if err != nil {
				return err
			}
			if len(list) == 0 {
				target[a.Name] = []any{doc{sa.Name: c}}
				return nil
			}
			for _, e := range list {
				if m, ok := e.(doc); ok {
					m[sa.Name] = c
				}
			}
			return nil
		}
		switch op {
		case "remove":
			if v == nil {
				delete(target, a.Name)
				return nil
			}
			// Entra removes members as a value array without a filter.
			drop, err := coerce(a, v)
			if err != nil {
				return err
			}
			target[a.Name] = without(list, drop.([]any))
			return nil
		case "replace":
			c, err := coerce(a, v)
			if err != nil {
				return err
			}
			if c == nil || len(c.([]any)) == 0 {
				delete(target, a.Name)
			} else {
				target[a.Name] = normalisePrimary(c.([]any), nil)
			}
			return nil
		}
		c, err := coerce(a, v)
		if err != nil {
			return err
		}
		if c == nil {
			return nil
		}
		added := c.([]any)
		for _, n := range added {
			if !containsElem(list, n) {
				list = append(list, n)
			}
		}
		target[a.Name] = normalisePrimary(list, added)
		return nil
	}

	// A value filter selects elements: emails[type eq "work"], members[value eq "…"].
	var matched []int
	for i, e := range list {
		if m, ok := e.(doc); ok && matches(vf, m, 0) {
			matched = append(matched, i)
		}
	}
	// Replacing the selected elements with null unassigns them, as a remove does: null and
	// unassigned are the same state (RFC 7644 §3.5.2).
	if op == "remove" || op == "replace" && sa == nil && v == nil {
		if sa != nil {
			for _, i := range matched {
				delete(list[i].(doc), sa.Name)
			}
			return nil
		}
		keep := make([]any, 0, len(list))
		for i, e := range list {
			if !containsInt(matched, i) {
				keep = append(keep, e)
			}
		}
		if len(keep) == 0 {
			delete(target, a.Name)
		} else {
			target[a.Name] = keep
		}
		return nil
	}
	if len(matched) == 0 {
		// Entra replaces emails[type eq "work"].value on a user that has no work email yet:
		// create the element the filter describes, when the filter is a plain conjunction of eq.
		seed, ok := equalities(vf, a)
		if !ok {
			return noTarget("no %s value matches the filter", a.Name)
		}
		list = append(list, seed)
		matched = []int{len(list) - 1}
	}
	for _, i := range matched {
		m := list[i].(doc)
		if sa != nil {
			c, err := coerce(sa, v)
			if err != nil {
				return err
			}
			if c == nil {
				delete(m, sa.Name)
			} else {
				m[sa.Name] = c
			}
			continue
		}
		c, err := coerceOne(a, v)
		if err != nil {
			return err
		}
		nm, _ := c.(doc)
		if op == "replace" {
			list[i] = nm
			continue
		}
		for k, x := range nm {
			m[k] = x
		}
	}
	target[a.Name] = list
	return nil
}

// normalisePrimary keeps at most one primary element: a newly added primary wins.
func normalisePrimary(list, added []any) []any {
	winner := -1
	for i, e := range list {
		if m, ok := e.(doc); ok && m["primary"] == true {
			if winner < 0 || containsElem(added, e) {
				winner = i
			}
		}
	}
	if winner >= 0 {
		for i, e := range list {
			if m, ok := e.(doc); ok && i != winner && m["primary"] == true {
				m["primary"] = false
			}
		}
	}
	return list
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func containsElem(list []any, e any) bool {
	for _, x := range list {
		if sameElem(x, e) {
			return true
		}
	}
	return false
}

// sameElem compares two multi-valued elements: by value when both have one (case-insensitive),
// else deeply.
func sameElem(a, b any) bool {
	ma, okA := a.(doc)
	mb, okB := b.(doc)
	if okA && okB {
		va, hasA := ma["value"].(string)
		vb, hasB := mb["value"].(string)
		if hasA && hasB {
			ta, _ := ma["type"].(string)
			tb, _ := mb["type"].(string)
			return strings.EqualFold(va, vb) && (ta == "" || tb == "" || strings.EqualFold(ta, tb))
		}
	}
	return reflect.DeepEqual(a, b)
}

func without(list, drop []any) []any {
	out := make([]any, 0, len(list))
	for _, e := range list {
		if !containsElem(drop, e) {
			out = append(out, e)
		}
	}
	return out
}

// equalities returns the element a filter of the form `a eq x and b eq y` describes.
func equalities(e filter.Expression, a *attr) (doc, bool) {
	out := doc{}
	var walk func(e filter.Expression) bool
	walk = func(e filter.Expression) bool {
		switch x := e.(type) {
		case *filter.LogicalExpression:
			return strings.EqualFold(string(x.Operator), "and") && walk(x.Left) && walk(x.Right)
		case *filter.AttributeExpression:
			if !strings.EqualFold(string(x.Operator), "eq") || x.AttributePath.SubAttribute != nil {
				return false
			}
			sa := a.find(x.AttributePath.AttributeName)
			if sa == nil {
				return false
			}
			c, err := coerceOne(sa, x.CompareValue)
			if err != nil || c == nil {
				return false
			}
			if s, ok := c.(string); ok {
				c = unescape(s)
			}
			out[sa.Name] = c
			return true
		}
		return false
	}
	return out, walk(e) && len(out) > 0
}

// matches evaluates a value filter against one element of a multi-valued attribute.
func matches(e filter.Expression, m doc, depth int) bool {
	if depth > 32 {
		return false
	}
	switch x := e.(type) {
	case *filter.LogicalExpression:
		if strings.EqualFold(string(x.Operator), "or") {
			return matches(x.Left, m, depth+1) || matches(x.Right, m, depth+1)
		}
		return matches(x.Left, m, depth+1) && matches(x.Right, m, depth+1)
	case *filter.NotExpression:
		return !matches(x.Expression, m, depth+1)
	case *filter.AttributeExpression:
		var have any
		found := false
		for k, v := range m {
			if strings.EqualFold(k, x.AttributePath.AttributeName) {
				have, found = v, true
			}
		}
		return compareValue(strings.ToLower(string(x.Operator)), have, found, x.CompareValue)
	}
	return false
}

func compareValue(op string, have any, found bool, want any) bool {
	if op == "pr" {
		if !found || have == nil {
			return false
		}
		s, isStr := have.(string)
		return !isStr || s != ""
	}
	if !found {
		return op == "ne"
	}
	// A boolean sub-attribute compared with text: Entra's role mapping targets
	// roles[primary eq "True"].value, and the element it created holds primary true. The
	// text is read as GET filters read it (models.ParseSCIMBool).
	if _, isBool := have.(bool); isBool {
		if s, isStr := want.(string); isStr {
			if b, ok := models.ParseSCIMBool(unescape(s)); ok {
				want = b
			}
		}
	}
	switch w := want.(type) {
	case bool:
		h, ok := have.(bool)
		if !ok {
			if s, isStr := have.(string); isStr {
				h, _ = models.ParseSCIMBool(s)
				ok = true
			}
		}
		if !ok {
			return false
		}
		switch op {
		case "eq":
			return h == w
		case "ne":
			return h != w
		}
		return false
	case string:
		hs, ok := have.(string)
		if !ok {
			return false
		}
		h, ws := strings.ToLower(hs), strings.ToLower(unescape(w))
		switch op {
		case "eq":
			return h == ws
		case "ne":
			return h != ws
		case "co":
			return strings.Contains(h, ws)
		case "sw":
			return strings.HasPrefix(h, ws)
		case "ew":
			return strings.HasSuffix(h, ws)
		case "gt":
			return h > ws
		case "ge":
			return h >= ws
		case "lt":
			return h < ws
		case "le":
			return h <= ws
		}
	}
	return false
}

// unescape decodes JSON escapes the filter parser leaves in string values.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

// parsePath parses a PATCH path (RFC 7644 §3.5.2). The result must not be modified.
func (ps *parsers) parsePath(raw string) (filter.Path, error) {
	if strings.Contains(raw, "[") {
		return filter.ParsePath([]byte(raw))
	}
	if p, ok := ps.plainPaths.Get(raw); ok {
		return p, nil
	}
	p, err := filter.ParsePath([]byte(raw))
	if err == nil {
		ps.plainPaths.Set(raw, p)
	}
	return p, err
}
