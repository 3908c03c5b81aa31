package store

import (
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
			sql, args, err := filterSQL(e, resource, b)
			if err != nil {
				if _, ok := err.(*FilterError); !ok {
					t.Fatalf("%q: error of type %T", raw, err)
				}
				return
			}
			if n := strings.Count(sql, "?"); n != len(args) {
				t.Fatalf("%q: %d placeholders, %d args: %s", raw, n, len(args), sql)
			}
			rest := strings.NewReplacer(emailTypeSQL, "", `ESCAPE '\'`, "", `<> ''`, "").Replace(sql)
			if strings.ContainsAny(rest, `'"`+"`;") || strings.Contains(rest, "--") {
				t.Fatalf("%q: user text reached the SQL: %s", raw, sql)
			}
		}
	})
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
		sql, args, err := filterSQL(e, c.resource, nil)
		if err != nil || sql != c.want || len(args) != 1 {
			t.Errorf("%s: %q %v %v", c.filter, sql, args, err)
		}
	}
	for _, bad := range []string{`password eq "x"`, `nickName eq "x"`, `members eq "x"`} {
		e, _ := filter.ParseFilter([]byte(bad))
		if _, _, err := filterSQL(e, "user", nil); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
