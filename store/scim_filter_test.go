package store

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	filter "github.com/scim2/filter-parser/v2"
)

// FuzzFilterSQL: whatever filter an IdP sends, translation never panics, binds every value as
// a parameter and puts no user text into the SQL.
func FuzzFilterSQL(f *testing.F) {
	for _, s := range []string{
		`userName eq "bjensen"`, `name.familyName co "O'Malley"`, `userName sw "J"`, `title pr`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`, `title pr and userType eq "Employee"`,
		`userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")`,
		`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
		`emails[type eq "work" and value co "@example.com"]`, `members[value eq "2819c223-7f76-453a-919d-413861904646"]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"`, `userName eq "a\"b' OR 1=1 --"`,
		`active eq true`, `displayName le "x"`, `id eq "2819c223-7f76-453a-919d-413861904646"`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, users bool) {
		e, err := filter.ParseFilter([]byte(raw))
		if err != nil {
			return
		}
		resource := "group"
		if users {
			resource = "user"
		}
		bindings := []*binding{nil}
		if users { // also as a token tied to a connection asks it
			bindings = append(bindings, &binding{workspace: uuid.New(), connection: uuid.New()})
		}
		for _, b := range bindings {
			for _, dialect := range []string{SQLite, Postgres} {
				fuzzOne(t, raw, e, resource, dialect, b)
			}
		}
	})
}

// fuzzOne checks one translation of raw: every value is a parameter, and no text but the
// translator's own fixed SQL holds a quote or a comment.
func fuzzOne(t *testing.T, raw string, e filter.Expression, resource, dialect string, b *binding) {
	sql, args, err := filterSQL(e, resource, dialect, "https://gh.example/scim/v2", b)
	if err != nil {
		if _, ok := err.(*FilterError); !ok {
			t.Fatalf("%q: error of type %T", raw, err)
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
	for _, c := range []struct{ filter, resource, want string }{
		{`userName eq "Bob"`, "user", "(user_accounts.user_name_key = ? AND user_accounts.user_name_key <> '')"},
		{`externalId eq "x"`, "user", "(user_accounts.external_id = ?)"},
		{`emails eq "A@B.C"`, "user", "(user_accounts.email_key = ? AND user_accounts.email_key <> '')"},
		{`displayName eq "Eng"`, "group", "(groups.display_name_key = ? AND groups.display_name_key <> '')"},
	} {
		e, err := filter.ParseFilter([]byte(c.filter))
		if err != nil {
			t.Fatal(err)
		}
		sql, args, err := filterSQL(e, c.resource, SQLite, "", nil)
		if err != nil || sql != c.want || len(args) != 1 {
			t.Errorf("%s: %q %v %v", c.filter, sql, args, err)
		}
	}
	for _, bad := range []string{`password eq "x"`, `password pr`, `members eq "x"`, `phoneNumbers[value[type eq "x"]]`} {
		e, _ := filter.ParseFilter([]byte(bad))
		if _, _, err := filterSQL(e, "user", SQLite, "", nil); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
