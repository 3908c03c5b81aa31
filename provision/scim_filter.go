package provision

import (
	"regexp"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// parseScimFilter parses a SCIM filter (RFC 7644 §3.4.2.2). A filter that does not parse is
// tried once more in the two non-standard forms Microsoft's SCIM tutorial documents Entra
// sending: bare comparison values (`externalId eq jyoung`, "Handling provisioning and
// deprovisioning of users", Example 1) are quoted, and a value path with a sub-attribute
// (`emails[type eq "work"].value eq "x"`, "Understand the Microsoft Entra SCIM
// implementation", /Users) becomes the RFC form `emails[type eq "work" and value eq "x"]`.
// If the retry fails too, the original error stands.
func parseScimFilter(s string) (filter.Expression, error) {
	e, err := filter.ParseFilter([]byte(s))
	if err == nil {
		return e, nil
	}
	q, quoted := quoteBareValues(s)
	q, moved := subAttributeIntoValuePath(q)
	if !quoted && !moved {
		return nil, err
	}
	if e2, err2 := filter.ParseFilter([]byte(q)); err2 == nil {
		return e2, nil
	}
	return nil, err
}

var comparisonOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true,
	"gt": true, "ge": true, "lt": true, "le": true}

// quoteBareValues wraps in double quotes each word that follows a comparison operator and is
// neither a quoted string nor a JSON literal. Quoted strings are skipped, so their contents
// are never rewritten.
func quoteBareValues(s string) (string, bool) {
	var b strings.Builder
	changed := false
	prev := "" // the previous word, lower-cased
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(s))
			b.WriteString(s[i:j])
			prev, i = `"`, j
		case c == ' ' || c == '\t' || c == '(' || c == ')' || c == '[' || c == ']':
			b.WriteByte(c)
			if c != ' ' && c != '\t' {
				prev = string(c)
			}
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t()[]\"", rune(s[j])) {
				j++
			}
			w := s[i:j]
			if comparisonOps[prev] && !isFilterLiteral(w) {
				b.WriteString(strconv.Quote(w))
				changed = true
			} else {
				b.WriteString(w)
			}
			prev, i = strings.ToLower(w), j
		}
	}
	return b.String(), changed
}

func isFilterLiteral(w string) bool {
	switch strings.ToLower(w) {
	case "true", "false", "null":
		return true
	}
	_, err := strconv.ParseFloat(w, 64)
	return err == nil
}

// valuePathSub matches `attr[filter].sub op value` (or `… pr`) in a filter whose quoted
// strings are masked, so brackets and operators inside them never match.
var valuePathSub = regexp.MustCompile(`(?i)\[([^\[\]"]*(?:"[^"]*"[^\[\]"]*)*)\]\.([a-z_$][\w$-]*)\s+(?:(pr)\b|(eq|ne|co|sw|ew|gt|ge|lt|le)\s+("[^"]*"|[^\s()\[\]"]+))`)

var orWord = regexp.MustCompile(`(?i)\bor\b`)

// subAttributeIntoValuePath rewrites `attr[f].sub op v` as `attr[f and sub op v]`. A value
// filter with "or" is left alone: the parser allows no parentheses inside brackets, so the
// conjunction could not keep its meaning.
func subAttributeIntoValuePath(s string) (string, bool) {
	masked := maskQuoted(s)
	ms := valuePathSub.FindAllStringSubmatchIndex(masked, -1)
	if ms == nil {
		return s, false
	}
	var b strings.Builder
	last, changed := 0, false
	for _, m := range ms {
		inner := s[m[2]:m[3]]
		if orWord.MatchString(masked[m[2]:m[3]]) {
			continue
		}
		cond := s[m[4]:m[5]] + " "
		if m[6] >= 0 {
			cond += s[m[6]:m[7]]
		} else {
			cond += s[m[8]:m[9]] + " " + s[m[10]:m[11]]
		}
		b.WriteString(s[last:m[0]])
		b.WriteString("[" + inner + " and " + cond + "]")
		last, changed = m[1], true
	}
	if !changed {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// maskQuoted replaces the contents of quoted strings with 'x', keeping every offset.
func maskQuoted(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		for i++; i < len(b) && b[i] != '"'; i++ {
			if b[i] == '\\' && i+1 < len(b) {
				b[i] = 'x'
				i++
			}
			b[i] = 'x'
		}
	}
	return string(b)
}
