package models

import "math"

// Page sizes of the GraphQL and REST lists: DefaultPageSize when absent (or not positive), at
// most MaxPageSize.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// ClampPage is the one page clamp of every list surface (GraphQL, REST, SCIM): a 1-based page
// number (SCIM's startIndex) below 1 is 1; a size of 0 or less is def, one above limit is
// limit. SCIM lists pass def 0 (RFC 7644 §3.4.2.4: a negative count is 0) and their own limit;
// a surface that refuses out-of-range values rather than clamping them (REST) refuses what
// this function would change.
func ClampPage(page, size, def, limit int) (int, int) {
	switch {
	case size <= 0:
		size = def
	case size > limit:
		size = limit
	}
	return max(page, 1), size
}

// PageOffset is the number of rows before a 1-based page of size rows. A page past the
// largest offset an integer holds is there (an empty page), not wrapped round to a negative
// offset, which the stores would read as none and answer with the first rows.
func PageOffset(page, size int) int {
	if page <= 1 || size <= 0 {
		return 0
	}
	if page-1 > math.MaxInt/size {
		return math.MaxInt
	}
	return (page - 1) * size
}

// ListPage is ClampPage with the GraphQL and REST bounds (1..MaxPageSize, default
// DefaultPageSize).
func ListPage(page, size int) (int, int) {
	return ClampPage(page, size, DefaultPageSize, MaxPageSize)
}
