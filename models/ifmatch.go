package models

import "slices"

// IfMatch is an If-Match precondition on a versioned resource (RFC 7232 §3.1, as SCIM uses it
// with weak tags, RFC 7644 §3.14): a write goes on only when the stored version is one of the
// versions the client named. The zero value names none and demands nothing ("*", or no
// header); a header whose tags name no version of this server's demands one no resource has.
type IfMatch struct {
	versions []int // nil: no precondition; empty: an impossible one
}

// IfMatchAny is the precondition that the stored version is one of versions (none: never).
func IfMatchAny(versions ...int) IfMatch {
	return IfMatch{versions: append([]int{}, versions...)}
}

// Pinned reports whether the write has a precondition: a concurrent change then fails it
// (412) instead of being retried on the new version.
func (m IfMatch) Pinned() bool { return m.versions != nil }

// Allows reports whether the stored version v meets the precondition.
func (m IfMatch) Allows(v int) bool { return m.versions == nil || slices.Contains(m.versions, v) }

// Single is the precondition as one version to compare in a statement: 0 for none, -1 (no
// resource's) for an impossible one; ok is false when it names more than one version.
func (m IfMatch) Single() (version int, ok bool) {
	switch {
	case m.versions == nil:
		return 0, true
	case len(m.versions) == 0:
		return -1, true
	case len(m.versions) == 1:
		return m.versions[0], true
	}
	return 0, false
}
