package scim

import (
	"strconv"
	"strings"

	"gatehouse/models"
)

// A resource document is a map[string]any with canonical attribute names (as the schema
// spells them) and coerced values; the enterprise extension lives under its URN key. Incoming
// JSON is canonicalised first, so attribute names are case-insensitive everywhere, and IdP
// quirks (booleans as strings, dotted keys, URN-qualified keys, a manager given as a bare id)
// are absorbed in one place.

type doc = map[string]any

func invalidValue(format string, args ...any) error {
	return models.SCIMError(models.SCIMTypeInvalidValue, format, args...)
}

// coerce converts a value to the attribute's type. nil stays nil (it clears the attribute).
func coerce(a *attr, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if a.Multi {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			c, err := coerceOne(a, e)
			if err != nil {
				return nil, err
			}
			if c != nil {
				out = append(out, c)
			}
		}
		return out, nil
	}
	return coerceOne(a, v)
}

func coerceOne(a *attr, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, nil
		case string: // Entra sends "True" / "False"
			b, ok := models.ParseSCIMBool(x)
			if !ok {
				return nil, invalidValue("%s must be a boolean, got %q", a.Name, truncate(x, 32))
			}
			return b, nil
		}
		return nil, invalidValue("%s must be a boolean", a.Name)
	case "complex":
		if l, isList := v.([]any); isList && len(l) == 1 && !a.Multi {
			v = l[0] // Entra sends the manager as a one-element array (Microsoft's tutorial, Example 5)
		}
		m, ok := v.(map[string]any)
		if !ok {
			// A bare value for a complex attribute: Entra's manager "id", or a member id.
			if s, isStr := v.(string); isStr && a.find("value") != nil {
				return doc{"value": s}, nil
			}
			return nil, invalidValue("%s must be an object", a.Name)
		}
		out := doc{}
		for k, sv := range m {
			sa := a.find(k)
			if sa == nil {
				continue // unknown sub-attributes are ignored
			}
			c, err := coerce(sa, sv)
			if err != nil {
				return nil, err
			}
			if c != nil {
				out[sa.Name] = c
			}
		}
		return out, nil
	default:
		switch x := v.(type) {
		case string:
			return x, nil
		case float64: // as written (15550100), never Go's exponent form (1.55501e+07)
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		return nil, invalidValue("%s must be a string", a.Name)
	}
}

// canonicalUser turns a decoded JSON User into a document. Read-only and unknown attributes
// are dropped (an IdP may send groups, id or meta on create); password is never kept.
func canonicalUser(in map[string]any) (doc, error) {
	d := doc{}
	for k, v := range in {
		if err := setUserKey(d, k, v); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// The schema URNs lower-cased, for case-insensitive matching of keys.
var lowerURNEnterprise, lowerURNUser, lowerURNGroup = strings.ToLower(URNEnterprise), strings.ToLower(URNUser), strings.ToLower(URNGroup)

// setUserKey sets one top-level key of an incoming User (possibly URN-qualified or dotted).
func setUserKey(d doc, k string, v any) error {
	if len(k) < 4 || !strings.EqualFold(k[:4], "urn:") { // most keys: a plain attribute name
		return setIn(d, userSchema, "", k, v)
	}
	lk := strings.ToLower(k)
	switch {
	case lk == lowerURNEnterprise:
		m, ok := v.(map[string]any)
		if !ok {
			if v == nil {
				delete(d, URNEnterprise)
				return nil
			}
			return invalidValue("%s must be an object", URNEnterprise)
		}
		for ek, ev := range m {
			if err := setIn(d, enterpriseSchema, URNEnterprise, ek, ev); err != nil {
				return err
			}
		}
		return nil
	case strings.HasPrefix(lk, lowerURNEnterprise+":"):
		return setIn(d, enterpriseSchema, URNEnterprise, k[len(URNEnterprise)+1:], v)
	case lk == lowerURNUser:
		m, ok := v.(map[string]any)
		if !ok {
			return invalidValue("%s must be an object", URNUser)
		}
		for ck, cv := range m {
			if err := setUserKey(d, ck, cv); err != nil {
				return err
			}
		}
		return nil
	case strings.HasPrefix(lk, lowerURNUser+":"):
		return setIn(d, userSchema, "", k[len(URNUser)+1:], v)
	}
	return setIn(d, userSchema, "", k, v)
}

// setIn sets attribute name (maybe "a.b") of schema s in d (or in d[urn] for an extension).
func setIn(d doc, s *attr, urn, name string, v any) error {
	top, sub, dotted := strings.Cut(name, ".")
	a := s.find(top)
	if a == nil || a.Mutability == "readOnly" || a.Name == "password" {
		return nil
	}
	target := d
	if urn != "" {
		m, _ := d[urn].(doc)
		if m == nil {
			m = doc{}
			d[urn] = m
		}
		target = m
	}
	if dotted {
		sa := a.find(sub)
		if sa == nil || a.Multi {
			return nil
		}
		c, err := coerce(sa, v)
		if err != nil {
			return err
		}
		m, _ := target[a.Name].(doc)
		if m == nil {
			m = doc{}
			target[a.Name] = m
		}
		if c == nil {
			delete(m, sa.Name)
		} else {
			m[sa.Name] = c
		}
		return nil
	}
	c, err := coerce(a, v)
	if err != nil {
		return err
	}
	if c == nil {
		delete(target, a.Name)
	} else {
		target[a.Name] = c
	}
	return nil
}

// canonicalGroup reads displayName, externalId and member ids from a decoded JSON Group.
func canonicalGroup(in map[string]any) (name string, externalID *string, members []string, hasMembers bool, err error) {
	for k, v := range in {
		switch strings.ToLower(k) {
		case "displayname":
			s, ok := v.(string)
			if !ok {
				return "", nil, nil, false, invalidValue("displayName must be a string")
			}
			name = s
		case "externalid":
			if v == nil {
				continue
			}
			s, ok := v.(string)
			if !ok {
				return "", nil, nil, false, invalidValue("externalId must be a string")
			}
			externalID = &s
		case "members":
			hasMembers = true
			members, err = memberValues(v)
			if err != nil {
				return "", nil, nil, false, err
			}
		}
	}
	return name, externalID, members, hasMembers, nil
}

// memberValues reads member ids from [{"value": id}, …], a single object, or bare ids.
func memberValues(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			var id string
			for k, mv := range x {
				if strings.EqualFold(k, "value") {
					id, _ = mv.(string)
				}
			}
			if id == "" {
				return nil, invalidValue("each member needs a value (the user id)")
			}
			out = append(out, id)
		default:
			return nil, invalidValue("members must be objects with a value")
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
