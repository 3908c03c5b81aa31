// Package scimquery is a SCIM filter (RFC 7644 §3.4.2.2) as Gatehouse holds it once parsed: a
// small tree that the scim transport builds from the filter library's and that store compiles
// to SQL. It is the only form of a filter outside scim/: provision and store never see the
// library's types. It holds no rules (which attributes filter, how) and imports nothing.
package scimquery

import "fmt"

// Expr is a filter: *Logical, *Not, *ValuePath or *Compare.
type Expr interface {
	fmt.Stringer
	expr()
}

// Logical is `Left and Right`, or `Left or Right` when Or is set.
type Logical struct {
	Left, Right Expr
	Or          bool
}

// Not is `not (X)`.
type Not struct{ X Expr }

// ValuePath is `Attr[Filter]`: one value of the multi-valued attribute Attr matches Filter,
// whose attributes are Attr's sub-attributes.
type ValuePath struct {
	Attr   Path
	Filter Expr
}

// Compare is `Attr Op Value`. Value is a string (JSON escapes decoded), a bool, an int, a
// float64, or nil (the literal null, and always with Pr).
type Compare struct {
	Attr  Path
	Op    Op
	Value any
}

// Path is an attribute path as written: an optional schema URN, a name and an optional
// sub-attribute (urn:ietf:params:scim:schemas:core:2.0:User:name.givenName).
type Path struct {
	URN, Name, Sub string
}

// Op is a comparison operator, lower-case.
type Op string

// The operators of RFC 7644 §3.4.2.2.
const (
	Eq Op = "eq"
	Ne Op = "ne"
	Co Op = "co"
	Sw Op = "sw"
	Ew Op = "ew"
	Gt Op = "gt"
	Ge Op = "ge"
	Lt Op = "lt"
	Le Op = "le"
	Pr Op = "pr"
)

func (*Logical) expr()   {}
func (*Not) expr()       {}
func (*ValuePath) expr() {}
func (*Compare) expr()   {}

// The String methods write a filter in the filter library's notation, for messages and tests.

func (e *Logical) String() string {
	op := "and"
	if e.Or {
		op = "or"
	}
	return fmt.Sprintf("%v %s %v", e.Left, op, e.Right)
}

func (e *Not) String() string { return fmt.Sprintf("not(%v)", e.X) }

func (e *ValuePath) String() string { return fmt.Sprintf("%v[%v]", e.Attr, e.Filter) }

func (e *Compare) String() string {
	s := e.Attr.String() + " " + string(e.Op)
	switch v := e.Value.(type) {
	case nil:
	case string:
		s += fmt.Sprintf(" %q", v)
	default:
		s += fmt.Sprintf(" %v", v)
	}
	return s
}

func (p Path) String() string {
	s := p.Name
	if p.URN != "" {
		s = p.URN + ":" + s
	}
	if p.Sub != "" {
		s += "." + p.Sub
	}
	return s
}
