package scim

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"

	"gatehouse/models"
	"gatehouse/scimquery"
)

// maxFilterLength bounds the filter a list request may carry.
const maxFilterLength = 4096

// listFilter turns a list request's filter parameter into the query provision and store take
// (nil: no filter). What it refuses is an invalidFilter.
func (ps *parsers) listFilter(raw string) (scimquery.Expr, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	if e := models.CheckText("filter", raw); e != nil {
		return nil, &models.SCIMTypedError{Err: e, Type: models.SCIMTypeInvalidFilter}
	}
	if len(raw) > maxFilterLength {
		return nil, models.SCIMError(models.SCIMTypeInvalidFilter, "the filter is longer than 4096 characters")
	}
	q, err := ps.parseFilter(raw)
	if err != nil {
		return nil, models.SCIMError(models.SCIMTypeInvalidFilter, "%s", filterSyntaxMessage(raw, err))
	}
	return q, nil
}

// parseFilter parses a SCIM filter (RFC 7644 §3.4.2.2). A filter that does not parse is
// tried once more in the two non-standard forms Microsoft's SCIM tutorial documents Entra
// sending: bare comparison values (`externalId eq jyoung`, "Handling provisioning and
// deprovisioning of users", Example 1) are quoted, and a value path with a sub-attribute
// (`emails[type eq "work"].value eq "x"`, "Understand the Microsoft Entra SCIM
// implementation", /Users) becomes the RFC form `emails[type eq "work" and value eq "x"]`.
// If the retry fails too, the original error stands.
func (ps *parsers) parseFilter(s string) (scimquery.Expr, error) {
	e, err := ps.parseCachedFilter(s)
	if err == nil {
		return e, nil
	}
	q, quoted := quoteBareValues(s)
	q, moved := subAttributeIntoValuePath(q)
	if !quoted && !moved {
		return nil, err
	}
	if e2, err2 := filter.ParseFilter([]byte(q)); err2 == nil {
		return queryOf(e2), nil
	}
	return nil, err
}

// queryOf converts the filter library's tree into Gatehouse's, decoding string values.
func queryOf(e filter.Expression) scimquery.Expr {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		return &scimquery.Logical{Left: queryOf(x.Left), Right: queryOf(x.Right), Or: strings.EqualFold(string(x.Operator), "or")}
	case *filter.NotExpression:
		return &scimquery.Not{X: queryOf(x.Expression)}
	case *filter.ValuePath:
		return &scimquery.ValuePath{Attr: pathOf(x.AttributePath), Filter: queryOf(x.ValueFilter)}
	case *filter.AttributeExpression:
		v := x.CompareValue
		if s, ok := v.(string); ok {
			v = unescape(s)
		}
		return &scimquery.Compare{Attr: pathOf(x.AttributePath), Op: scimquery.Op(strings.ToLower(string(x.Operator))), Value: v}
	}
	panic(fmt.Sprintf("scim: filter expression of type %T", e)) // the library makes no other
}

func pathOf(p filter.AttributePath) scimquery.Path {
	return scimquery.Path{URN: p.URI(), Name: p.AttributeName, Sub: p.SubAttributeName()}
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

// SCIM filter parsing, cached by shape. An IdP sends the same few filters over and over with
// different values (`userName eq "…"`, `externalId eq "…"`), and the grammar-driven parser
// costs more CPU than the rest of a lookup. So a filter is parsed (and converted) once per
// shape, the text with every string literal replaced by its ordinal ("0", "1", …), and each
// request gets a copy of that tree with its own literals put back.

// parseCachedFilter parses a SCIM filter exactly as the parser does, reusing the parse of an
// earlier filter of the same shape. The result is queryOf the parser's tree.
func (ps *parsers) parseCachedFilter(raw string) (scimquery.Expr, error) {
	shape, lits, ok := filterShape(raw)
	if !ok { // not a shape we can cache (e.g. a malformed literal): the parser says why
		e, err := filter.ParseFilter([]byte(raw))
		if err != nil {
			return nil, err
		}
		return queryOf(e), nil
	}
	tmpl, _ := ps.filterShapes.Get(shape)
	if tmpl == nil {
		e, err := filter.ParseFilter([]byte(shape))
		if err != nil {
			// Report the error of the text the client sent, not of its shape.
			if e, err = filter.ParseFilter([]byte(raw)); err != nil {
				return nil, err
			}
			return queryOf(e), nil
		}
		tmpl = queryOf(e)
		ps.filterShapes.Set(shape, tmpl)
	}
	return fillFilter(tmpl, lits)
}

// filterShape returns raw with each string literal's content replaced by its ordinal, and the
// literals' contents (escapes as written). ok is false when a literal is unterminated or holds
// something the grammar refuses (a control character, an unknown escape), so that only filters
// whose validity does not depend on their literals are cached.
func filterShape(raw string) (shape string, lits []string, ok bool) {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '"' {
			b.WriteByte(c)
			i++
			continue
		}
		end, valid := literalEnd(raw, i+1)
		if !valid {
			return "", nil, false
		}
		b.WriteByte('"')
		b.WriteString(strconv.Itoa(len(lits)))
		b.WriteByte('"')
		lits = append(lits, raw[i+1:end])
		i = end + 1
	}
	return b.String(), lits, true
}

// literalEnd returns the index of the quote closing the string literal that starts at i, and
// whether the literal is one the grammar accepts (RFC 7159 characters and escapes).
func literalEnd(s string, i int) (int, bool) {
	for i < len(s) {
		switch c := s[i]; {
		case c == '"':
			return i, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			if i+1 >= len(s) {
				return 0, false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !upperHex(s[i+2:i+6]) {
					return 0, false
				}
				i += 6
			default:
				return 0, false
			}
		default:
			i++
		}
	}
	return 0, false
}

// upperHex reports whether s is hex digits as the filter grammar spells them (0-9, A-F).
func upperHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// fillFilter copies a shape's tree with the literals put back (decoded) in place of their
// ordinals.
func fillFilter(e scimquery.Expr, lits []string) (scimquery.Expr, error) {
	switch x := e.(type) {
	case *scimquery.Logical:
		l, err := fillFilter(x.Left, lits)
		if err != nil {
			return nil, err
		}
		r, err := fillFilter(x.Right, lits)
		if err != nil {
			return nil, err
		}
		return &scimquery.Logical{Left: l, Right: r, Or: x.Or}, nil
	case *scimquery.Not:
		in, err := fillFilter(x.X, lits)
		if err != nil {
			return nil, err
		}
		return &scimquery.Not{X: in}, nil
	case *scimquery.ValuePath:
		in, err := fillFilter(x.Filter, lits)
		if err != nil {
			return nil, err
		}
		return &scimquery.ValuePath{Attr: x.Attr, Filter: in}, nil
	case *scimquery.Compare:
		c := *x
		if s, ok := x.Value.(string); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n >= len(lits) {
				return nil, errors.New("scim filter: literal ordinal out of range") // every string of a shape is one
			}
			c.Value = unescape(lits[n])
		}
		return &c, nil
	}
	return e, nil
}

// parserPosition finds the column in the parser's "parse conflict [line:column]" errors.
var parserPosition = regexp.MustCompile(`\[\d+:(\d+)\]`)

// filterSyntaxMessage explains a filter that does not parse. The parser's own messages name
// its internals ("expected op.Or or[func func func func]"), so the IdP's administrator gets the
// filter, where the parser gave up when that is past the start, and an example instead.
func filterSyntaxMessage(f string, err error) string {
	msg := fmt.Sprintf("invalid filter %q: not SCIM filter syntax (RFC 7644 section 3.4.2.2, e.g. userName eq \"bjensen\")", truncate(f, 200))
	// The parser's column is a 0-based byte offset within a line: shown as a character
	// position for the one-line filters IdPs send.
	if m := parserPosition.FindStringSubmatch(err.Error()); m != nil && !strings.ContainsAny(f, "\r\n") {
		if col, _ := strconv.Atoi(m[1]); col > 0 && col < len(f) && utf8.RuneStart(f[col]) {
			msg += fmt.Sprintf("; the parser gave up at character %d: %q", utf8.RuneCountInString(f[:col])+1, truncate(f[col:], 40))
		}
	}
	return msg
}
