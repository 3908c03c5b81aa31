package store

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/scimquery"
)

// FuzzFilterSQL: whatever filter an IdP sends, translation never panics, binds every value as
// a parameter and puts no user text into the SQL. The fuzzer's bytes spell a query tree
// (fuzzQuery): known and arbitrary attribute paths, schema URNs, operators and values.
func FuzzFilterSQL(f *testing.F) {
	for _, seed := range []string{"", "\x03\x01\x00\x05bjens", "\x00\x01\x03\x02\x00\x00\x03\x05\x01\x01\x01'--", "\x02\x07\x03\x04\x00\x00\x02\x04work"} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, users bool) {
		e := (&fuzzQuery{b: data}).expr(0)
		checkTranslations(t, e, users)
	})
}

// TestFilterSQLExamples runs the fuzz checks on filters IdPs send.
func TestFilterSQLExamples(t *testing.T) {
	const id = "2819c223-7f76-453a-919d-413861904646"
	emailsCo := or(cmp("emails", scimquery.Co, "example.com"), cmp("emails.value", scimquery.Co, "example.org"))
	for _, e := range []scimquery.Expr{
		cmp("userName", scimquery.Eq, "bjensen"), cmp("name.familyName", scimquery.Co, "O'Malley"),
		cmp("userName", scimquery.Sw, "J"), cmp("title", scimquery.Pr, nil),
		cmp("meta.lastModified", scimquery.Gt, "2011-05-13T04:42:34Z"),
		and(cmp("title", scimquery.Pr, nil), cmp("userType", scimquery.Eq, "Employee")),
		and(cmp("userType", scimquery.Eq, "Employee"), emailsCo),
		and(cmp("userType", scimquery.Ne, "Employee"), &scimquery.Not{X: emailsCo}),
		where("emails", and(cmp("type", scimquery.Eq, "work"), cmp("value", scimquery.Co, "@example.com"))),
		where("members", cmp("value", scimquery.Eq, id)),
		cmp("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", scimquery.Eq, "1"),
		cmp("userName", scimquery.Eq, `a"b' OR 1=1 --`), cmp("active", scimquery.Eq, true),
		cmp("displayName", scimquery.Le, "x"), cmp("id", scimquery.Eq, id),
	} {
		for _, users := range []bool{true, false} {
			checkTranslations(t, e, users)
		}
	}
}

// checkTranslations runs fuzzOne for e on users or groups, on both dialects, and as a token
// tied to a connection asks it.
func checkTranslations(t *testing.T, e scimquery.Expr, users bool) {
	t.Helper()
	resource := "group"
	if users {
		resource = "user"
	}
	bindings := []*binding{nil}
	if users {
		bindings = append(bindings, &binding{workspace: uuid.New(), connection: uuid.New()})
	}
	for _, b := range bindings {
		for _, dialect := range []string{SQLite, Postgres} {
			fuzzOne(t, e.String(), e, resource, dialect, b)
		}
	}
}

// fuzzQuery reads a query tree from fuzz bytes; past their end it reads zeros and leaves.
type fuzzQuery struct{ b []byte }

func (q *fuzzQuery) next() byte {
	if len(q.b) == 0 {
		return 0
	}
	c := q.b[0]
	q.b = q.b[1:]
	return c
}

// text is an arbitrary string of up to 15 bytes.
func (q *fuzzQuery) text() string {
	n := min(int(q.next()%16), len(q.b))
	s := string(q.b[:n])
	q.b = q.b[n:]
	return s
}

// fuzzPaths are the attribute paths the tables know, and a few they refuse.
var fuzzPaths = func() []string {
	seen := map[string]bool{"password": true, "members": true, "emails.nothing": true, "name": true}
	for k := range userColumns {
		seen[k] = true
	}
	for k := range groupColumns {
		seen[k] = true
	}
	for _, sub := range []string{"value", "type", "primary", "display", "postalcode"} {
		seen[sub] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}()

var fuzzURNs = []string{"", coreUserURN, enterpriseUserURN, coreGroupURN}

var fuzzOps = []scimquery.Op{scimquery.Eq, scimquery.Ne, scimquery.Co, scimquery.Sw, scimquery.Ew,
	scimquery.Gt, scimquery.Ge, scimquery.Lt, scimquery.Le, scimquery.Pr}

func (q *fuzzQuery) expr(depth int) scimquery.Expr {
	if len(q.b) == 0 || depth > maxFilterDepth+2 {
		return q.compare()
	}
	switch q.next() % 5 {
	case 0:
		return &scimquery.Logical{Left: q.expr(depth + 1), Right: q.expr(depth + 1), Or: q.next()%2 == 1}
	case 1:
		return &scimquery.Not{X: q.expr(depth + 1)}
	case 2:
		return &scimquery.ValuePath{Attr: q.path(), Filter: q.expr(depth + 1)}
	}
	return q.compare()
}

func (q *fuzzQuery) path() scimquery.Path {
	var p scimquery.Path
	if c := int(q.next()); c < len(fuzzURNs) {
		p.URN = fuzzURNs[c]
	} else if c == 255 {
		p.URN = q.text()
	}
	name := q.text()
	if c := int(q.next()); c < len(fuzzPaths) {
		name = fuzzPaths[c]
	}
	p.Name = name
	if n, sub, ok := strings.Cut(name, "."); ok && q.next()%2 == 0 {
		p.Name, p.Sub = n, sub
	}
	return p
}

func (q *fuzzQuery) compare() *scimquery.Compare {
	c := &scimquery.Compare{Attr: q.path(), Op: fuzzOps[int(q.next())%len(fuzzOps)]}
	if q.next() == 255 {
		c.Op = scimquery.Op(q.text())
	}
	if c.Op == scimquery.Pr {
		return c
	}
	switch q.next() % 7 {
	case 0:
		c.Value = q.text()
	case 1:
		c.Value = q.next()%2 == 0
	case 2:
		c.Value = int(int8(q.next()))
	case 3:
		c.Value = float64(int8(q.next())) / 4
	case 4:
		c.Value = nil
	case 5:
		c.Value = "2819c223-7f76-453a-919d-41386190464" + string('0'+rune(q.next()%10))
	default:
		c.Value = "2011-05-13T04:42:3" + string('0'+rune(q.next()%10)) + "Z"
	}
	return c
}

// Query trees for tests, written like filters.

func cmp(path string, op scimquery.Op, v any) *scimquery.Compare {
	return &scimquery.Compare{Attr: attrPath(path), Op: op, Value: v}
}

func and(l, r scimquery.Expr) *scimquery.Logical { return &scimquery.Logical{Left: l, Right: r} }

func or(l, r scimquery.Expr) *scimquery.Logical {
	return &scimquery.Logical{Left: l, Right: r, Or: true}
}

func where(path string, f scimquery.Expr) *scimquery.ValuePath {
	return &scimquery.ValuePath{Attr: attrPath(path), Filter: f}
}

// attrPath splits "urn:…:User:name.givenName" into its URN, name and sub-attribute.
func attrPath(s string) scimquery.Path {
	var p scimquery.Path
	if strings.HasPrefix(strings.ToLower(s), "urn:") {
		i := strings.LastIndexByte(s, ':')
		p.URN, s = s[:i], s[i+1:]
	}
	p.Name, p.Sub, _ = strings.Cut(s, ".")
	return p
}

// fuzzOne checks one translation of raw: every value is a parameter, and no text but the
// translator's own fixed SQL holds a quote or a comment.
func fuzzOne(t *testing.T, raw string, e scimquery.Expr, resource, dialect string, b *binding) {
	t.Helper()
	sql, args, err := filterSQL(e, resource, dialect, "", "https://gh.example/scim/v2", b)
	if err != nil {
		if models.SCIMTypeOf(err) != models.SCIMTypeInvalidFilter {
			t.Fatalf("%q: error %v, not an invalidFilter", raw, err)
		}
		return
	}
	if n := strings.Count(sql, "?"); n != len(args) {
		t.Fatalf("%q: %d placeholders, %d args: %s", raw, n, len(args), sql)
	}
	if rest := fixedSQL(dialect).Replace(sql); strings.ContainsAny(rest, `'"`+"`;") || strings.Contains(rest, "--") {
		t.Fatalf("%q: user text reached the SQL: %s", raw, sql)
	}
}

// fixedSQL removes from a translation the fixed SQL the translator writes with quotes in it:
// the attribute table's expressions and the fragments around them.
func fixedSQL(dialect string) *strings.Replacer {
	var old []string
	fixed := func(s string) { old = append(old, s, "") }
	for _, c := range userColumns {
		fixed(c.sql(dialect))
		if c.list != nil {
			fixed(c.list.each(dialect))
			for sub := range c.list.subs {
				fixed(c.list.elem(sub, dialect).expr)
				fixed(c.list.elem(sub, dialect).raw)
			}
		}
	}
	fixed(`ESCAPE '\'`)
	fixed(`<> ''`)
	fixed(`'/Groups/'`)
	fixed(`'/Users/'`)
	fixed(`'` + uuidGlob + `'`)
	fixed(`'` + uuidRegexp + `'`)
	fixed(`ELSE '' END`)
	// Longest first, so that no expression is cut by a shorter one inside it.
	pairs := make([][2]string, 0, len(old)/2)
	for i := 0; i < len(old); i += 2 {
		if old[i] != "" {
			pairs = append(pairs, [2]string{old[i], ""})
		}
	}
	sort.Slice(pairs, func(i, j int) bool { return len(pairs[i][0]) > len(pairs[j][0]) })
	var args []string
	for _, p := range pairs {
		args = append(args, p[0], p[1])
	}
	return strings.NewReplacer(args...)
}

func TestFilterSQLWhitelist(t *testing.T) {
	for _, c := range []struct {
		filter   scimquery.Expr
		resource string
		want     string
	}{
		{cmp("userName", scimquery.Eq, "Bob"), "user", "(user_accounts.user_name_key = ? AND user_accounts.user_name_key <> '')"},
		{cmp("externalId", scimquery.Eq, "x"), "user", "(user_accounts.external_id = ?)"},
		{cmp("emails", scimquery.Eq, "A@B.C"), "user", "(user_accounts.email_key = ? AND user_accounts.email_key <> '')"},
		{cmp("displayName", scimquery.Eq, "Eng"), "group", "(groups.display_name_key = ? AND groups.display_name_key <> '')"},
	} {
		sql, args, err := filterSQL(c.filter, c.resource, SQLite, "", "", nil)
		if err != nil || sql != c.want || len(args) != 1 {
			t.Errorf("%s: %q %v %v", c.filter, sql, args, err)
		}
	}
	for _, bad := range []scimquery.Expr{cmp("password", scimquery.Eq, "x"), cmp("password", scimquery.Pr, nil),
		cmp("members", scimquery.Eq, "x"), where("phoneNumbers", where("value", cmp("type", scimquery.Eq, "x")))} {
		if _, _, err := filterSQL(bad, "user", SQLite, "", "", nil); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
