package provision

import (
	"errors"
	"strconv"
	"strings"
	"sync"

	filter "github.com/scim2/filter-parser/v2"
)

// SCIM filter parsing, cached by shape. An IdP sends the same few filters over and over with
// different values (`userName eq "…"`, `externalId eq "…"`), and the grammar-driven parser
// costs more CPU than the rest of a lookup. So a filter is parsed once per shape, the text
// with every string literal replaced by its ordinal ("0", "1", …), and each request gets a
// copy of that tree with its own literals put back.

// maxFilterShapes bounds the cache; when it fills, it starts over (shapes are few in practice,
// and a client that sends many distinct shapes only loses the cache's benefit).
const maxFilterShapes = 1024

type filterShapes struct {
	mu sync.RWMutex
	m  map[string]filter.Expression
}

var scimFilterShapes = &filterShapes{m: map[string]filter.Expression{}}

// parseScimFilter parses a SCIM filter (RFC 7644 §3.4.2.2), reusing the parse of an earlier
// filter of the same shape. The result is the parser's own; string values keep their JSON
// escapes, as the parser leaves them.
func parseScimFilter(raw string) (filter.Expression, error) {
	shape, lits, ok := filterShape(raw)
	if !ok { // not a shape we can cache (e.g. a malformed literal): the parser says why
		return filter.ParseFilter([]byte(raw))
	}
	scimFilterShapes.mu.RLock()
	tmpl := scimFilterShapes.m[shape]
	scimFilterShapes.mu.RUnlock()
	if tmpl == nil {
		e, err := filter.ParseFilter([]byte(shape))
		if err != nil {
			// Report the error of the text the client sent, not of its shape.
			return filter.ParseFilter([]byte(raw))
		}
		scimFilterShapes.mu.Lock()
		if len(scimFilterShapes.m) >= maxFilterShapes {
			scimFilterShapes.m = map[string]filter.Expression{}
		}
		scimFilterShapes.m[shape] = e
		scimFilterShapes.mu.Unlock()
		tmpl = e
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

// fillFilter copies a shape's tree with the literals put back in place of their ordinals.
func fillFilter(e filter.Expression, lits []string) (filter.Expression, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, err := fillFilter(x.Left, lits)
		if err != nil {
			return nil, err
		}
		r, err := fillFilter(x.Right, lits)
		if err != nil {
			return nil, err
		}
		return &filter.LogicalExpression{Left: l, Right: r, Operator: x.Operator}, nil
	case *filter.NotExpression:
		in, err := fillFilter(x.Expression, lits)
		if err != nil {
			return nil, err
		}
		return &filter.NotExpression{Expression: in}, nil
	case *filter.ValuePath:
		in, err := fillFilter(x.ValueFilter, lits)
		if err != nil {
			return nil, err
		}
		return &filter.ValuePath{AttributePath: x.AttributePath, ValueFilter: in}, nil
	case *filter.AttributeExpression:
		c := *x
		if s, ok := x.CompareValue.(string); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n >= len(lits) {
				return nil, errors.New("scim filter: literal ordinal out of range") // every string of a shape is one
			}
			c.CompareValue = lits[n]
		}
		return &c, nil
	}
	return e, nil
}
