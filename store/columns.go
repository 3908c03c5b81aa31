package store

import (
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The hot tables are read and written with statements built here rather than by GORM, whose
// reflective scan and statement building cost more than the queries themselves. Each such
// table is described once, by a table: its columns in the model's field order, each with the
// model field it maps to. Everything hand-written about a row — the select list, the scan
// destinations, the insert values, the update sets — comes from that description, built when
// the package loads; per row only the field accessors run. TestTablesMatchGorm proves, on both
// databases, that every description reads and writes exactly what GORM does for every column
// and that no model field is missing from it.

// table describes the columns of the rows of model T in table name.
type table[T any] struct {
	name  string
	cols  []columnOf[T]
	names []string   // column names, in order
	list  string     // "a, b, c"
	utc   []func(*T) // the time columns' conversions to UTC
}

// columnOf is one column of a table: its name, the model field it holds (a pointer to it, the
// scan destination) and the update sets that write it.
type columnOf[T any] struct {
	name  string
	field func(*T) any // a pointer to the field: the scan destination
	value func(*T) any // the field's value: an insert or update argument
	utc   func(*T)     // for time fields: convert to UTC after a scan (drivers answer local times)
	pg    func(*T) any // for uuid fields: the value as pgx encodes it directly (see pgArgs)
	// orNull is the scan destination of the field when the column comes from the outer side of
	// a LEFT JOIN: NULL leaves the field alone, a value is scanned as field would scan it and
	// sets *found.
	orNull func(r *T, found *bool) any
	sets   updateSet
}

// updateSet names a group of columns one kind of update writes together.
type updateSet uint8

const (
	// scimWrite: the columns a SCIM PUT or PATCH of a user writes (SaveSCIMUser).
	scimWrite updateSet = 1 << iota
	// profileWrite: the columns a GraphQL update of an account writes (UpdateUserAccount).
	profileWrite
	// rebind: the columns binding an account again at a connection replaces (upsertCredentialSQL).
	rebind
	// idpRefresh: the columns a sign-in refreshes from the identity provider's claims on an
	// account that provider owns (RefreshOwnedProfile).
	idpRefresh
	// versioned: the version and time every versioned update of an account writes.
	versioned = scimWrite | profileWrite | idpRefresh
)

// col describes the column name holding the field f returns, written by the update sets.
func col[T, V any](name string, f func(*T) *V, sets ...updateSet) columnOf[T] {
	c := columnOf[T]{name: name,
		field: func(r *T) any { return f(r) },
		value: func(r *T) any { return *f(r) },
		orNull: func(r *T, found *bool) any {
			p := f(r)
			return nullable{found: found, scan: func(src any) error {
				var v sql.Null[V]
				err := v.Scan(src)
				*p = v.V
				return err
			}}
		}}
	for _, s := range sets {
		c.sets |= s
	}
	switch any(f(new(T))).(type) {
	case *time.Time:
		c.utc = func(r *T) {
			p := any(f(r)).(*time.Time)
			*p = p.UTC()
		}
	case **time.Time:
		c.utc = func(r *T) {
			p := any(f(r)).(**time.Time)
			*p = utcPtr(*p)
		}
	case *uuid.UUID:
		c.pg = func(r *T) any { return [16]byte(*any(f(r)).(*uuid.UUID)) }
	case **uuid.UUID:
		c.pg = func(r *T) any {
			if p := *any(f(r)).(**uuid.UUID); p != nil {
				return [16]byte(*p)
			}
			return nil
		}
	}
	return c
}

func newTable[T any](name string, cols ...columnOf[T]) *table[T] {
	t := &table[T]{name: name, cols: cols}
	for _, c := range cols {
		t.names = append(t.names, c.name)
		if c.utc != nil {
			t.utc = append(t.utc, c.utc)
		}
	}
	t.list = strings.Join(t.names, ", ")
	return t
}

// qualified is the select list with each column prefixed by alias ("u.a, u.b").
func (t *table[T]) qualified(alias string) string {
	return alias + "." + strings.Join(t.names, ", "+alias+".")
}

// dest returns the scan destinations of r's columns, then extra.
func (t *table[T]) dest(r *T, extra ...any) []any {
	out := make([]any, 0, len(t.cols)+len(extra))
	for _, c := range t.cols {
		out = append(out, c.field(r))
	}
	return append(out, extra...)
}

// destOrNull is dest for a row on the outer side of a LEFT JOIN: *found tells, after the
// scan, whether there was one (a column not null; the caller selects one that never is).
func (t *table[T]) destOrNull(r *T, found *bool) []any {
	out := make([]any, 0, len(t.cols))
	for _, c := range t.cols {
		out = append(out, c.orNull(r, found))
	}
	return out
}

// nullable scans a column of a LEFT JOIN's outer side: NULL leaves the field alone, anything
// else goes to scan (col's, which converts as a scan into the field does) and sets *found.
type nullable struct {
	scan  func(src any) error
	found *bool
}

// Scan implements sql.Scanner.
func (n nullable) Scan(src any) error {
	if src == nil {
		return nil
	}
	*n.found = true
	return n.scan(src)
}

// scanned completes a scan into r (times in UTC, as GORM's reads have them).
func (t *table[T]) scanned(r *T) {
	for _, f := range t.utc {
		f(r)
	}
}

// args returns the values of r's columns, in order (the arguments of insert).
func (t *table[T]) args(r *T) []any {
	out := make([]any, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.value(r)
	}
	return out
}

// inList is a parenthesised list of n ? placeholders, "(?,?,…)": a row of values, or the
// values of an IN (the statements run through query, which GORM does not expand slices for).
func inList(n int) string { return "(?" + strings.Repeat(",?", n-1) + ")" }

// insert is an INSERT of every column with ? placeholders (PostgreSQL's are numbered by query
// and exec). Its text is GORM's, with quoted names; pgInsert numbers it.
func (t *table[T]) insert() string {
	return `INSERT INTO "` + t.name + `" ("` + strings.Join(t.names, `","`) + `") VALUES ` + inList(len(t.cols))
}

// plainInsert is insert written as the sign-in statements always were (unquoted names), with
// the extra columns after the described ones (columns only targeted statements write; their
// values follow args').
func (t *table[T]) plainInsert(extra ...string) string {
	names := append(append([]string(nil), t.names...), extra...)
	return "INSERT INTO " + t.name + " (" + strings.Join(names, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(names)-1) + ")"
}

// pgInsert is insert with PostgreSQL's numbered placeholders, as GORM writes it.
func (t *table[T]) pgInsert() string { return numberPlaceholders(t.insert()) }

// insertMany is an INSERT of n rows of every column with ? placeholders; manyArgs lines up
// their values.
func (t *table[T]) insertMany(n int) string {
	row := inList(len(t.cols))
	return `INSERT INTO "` + t.name + `" ("` + strings.Join(t.names, `","`) + `") VALUES ` +
		row + strings.Repeat(","+row, n-1)
}

func (t *table[T]) manyArgs(rows []*T) []any {
	out := make([]any, 0, len(rows)*len(t.cols))
	for _, r := range rows {
		for _, c := range t.cols {
			out = append(out, c.value(r))
		}
	}
	return out
}

// update is an UPDATE of the columns of set, in order, with ? placeholders and no WHERE;
// setArgs lines up their values.
func (t *table[T]) update(set updateSet) string {
	var b strings.Builder
	b.WriteString(`UPDATE "` + t.name + `" SET `)
	n := 0
	for _, c := range t.cols {
		if c.sets&set == set {
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + c.name + `"=?`)
			n++
		}
	}
	return b.String()
}

// excluded is the SET list of an ON CONFLICT … DO UPDATE that writes set's columns from the
// row that conflicted.
func (t *table[T]) excluded(set updateSet) string {
	var parts []string
	for _, c := range t.cols {
		if c.sets&set == set {
			parts = append(parts, c.name+" = excluded."+c.name)
		}
	}
	return strings.Join(parts, ", ")
}

func (t *table[T]) setArgs(r *T, set updateSet) []any {
	out := make([]any, 0, len(t.cols))
	for _, c := range t.cols {
		if c.sets&set == set {
			out = append(out, c.value(r))
		}
	}
	return out
}

// insertSelect is an INSERT … SELECT of every column, for a data-modifying CTE: the columns
// named in given take those expressions, the others placeholders in column order ("?", or
// with first > 0 PostgreSQL's $first, $first+1, …) whose values args lines up. The caller
// appends the FROM clause.
type insertSelect[T any] struct {
	sql   string
	t     *table[T]
	free  []int // the placeholders' columns
	first int   // the number of the first placeholder ($first); 0: they are ?
}

func (t *table[T]) insertSelect(first int, given map[string]string) insertSelect[T] {
	is := insertSelect[T]{t: t, first: first}
	exprs := make([]string, len(t.cols))
	for i, c := range t.cols {
		switch e, ok := given[c.name]; {
		case ok:
			exprs[i] = e
		case first > 0:
			exprs[i] = "$" + strconv.Itoa(first+len(is.free))
			is.free = append(is.free, i)
		default:
			exprs[i] = "?"
			is.free = append(is.free, i)
		}
	}
	is.sql = "INSERT INTO " + t.name + " (" + t.list + ") SELECT " + strings.Join(exprs, ", ")
	return is
}

// param is the placeholder of the named column, which must be one of is's numbered
// placeholders: for a statement that names the same value again.
func (is insertSelect[T]) param(name string) string {
	for n, i := range is.free {
		if is.t.cols[i].name == name && is.first > 0 {
			return "$" + strconv.Itoa(is.first+n)
		}
	}
	panic("store: " + is.t.name + "." + name + " is not a numbered placeholder of the statement")
}

// args appends the values of r's placeholder columns to dst; with pg, uuids as pgx encodes
// them directly (as pgArgs would convert them).
func (is insertSelect[T]) args(dst []any, r *T, pg bool) []any {
	for _, i := range is.free {
		if c := is.t.cols[i]; pg && c.pg != nil {
			dst = append(dst, c.pg(r))
		} else {
			dst = append(dst, c.value(r))
		}
	}
	return dst
}
