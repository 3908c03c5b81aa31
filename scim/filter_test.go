package scim

import (
	"fmt"
	"reflect"
	"testing"

	filter "github.com/scim2/filter-parser/v2"

	"gatehouse/scimquery"
)

var filterSeeds = []string{
	`userName eq "bjensen@example.com"`,
	`userName eq "other@example.com"`,
	`externalId eq "00u1"`,
	`userName eq "a\"b" and externalId eq "x\\y"`,
	`emails[type eq "work" and value co "@example.com"] or not (title pr)`,
	`meta.lastModified gt "2011-05-13T04:42:34Z" and active eq true`,
	`userName eq "é\u00E9"`,
	`userName eq "\u00e9"`, // lower-case hex: the grammar refuses it
	`userName eq "unterminated`,
	`userName eq "tab	inside"`,
	`userName eq ""`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"`,
	`members[value eq "2819c223"]`,
	`userName eq 12`,
	`"0" eq userName`,
	`userName eq "a" "b"`,
}

// The cached parse must give exactly the parser's answer: the same tree (converted) for a
// filter it accepts, an error for one it refuses.
func FuzzParseCachedFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, wantErr := filter.ParseFilter([]byte(raw))
		for range 2 { // the second call is served from the cache
			got, err := testParsers.parseCachedFilter(raw)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("%q: cached parse error %v, parser error %v", raw, err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, queryOf(want)) {
				t.Fatalf("%q: cached parse %v, parser %v", raw, got, want)
			}
		}
	})
}

func TestParseCachedFilterPutsBackEachRequestsValues(t *testing.T) {
	for _, c := range []struct{ literal, want string }{
		{"a@example.com", "a@example.com"}, {"b@example.com", "b@example.com"}, {`c\"d@example.com`, `c"d@example.com`},
	} {
		e, err := testParsers.parseCachedFilter(`userName eq "` + c.literal + `"`)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.(*scimquery.Compare).Value; got != c.want {
			t.Fatalf("value %v, want %q", got, c.want)
		}
	}
	shape, _, _ := filterShape(`userName eq "a@example.com"`)
	if _, cached := testParsers.filterShapes.Get(shape); !cached {
		t.Fatal("the filter's shape was not cached")
	}
}

func TestParseFilter(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// Standard filters parse as they are.
		{`userName eq "a b"`, `userName eq "a b"`},
		{`emails[type eq "work" and value ew "@x.example"]`, `emails[type eq "work" and value ew "@x.example"]`},
		// Microsoft's tutorial, Example 1: a bare value.
		{`externalId eq jyoung`, `externalId eq "jyoung"`},
		{`ID eq a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1 and manager eq 00aa`, `ID eq "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1" and manager eq "00aa"`},
		{`active eq true and externalId eq x`, `active eq true and externalId eq "x"`},
		{`title eq 12 and externalId eq x`, `title eq 12 and externalId eq "x"`},
		// Microsoft's tutorial, /Users: a value path with a sub-attribute.
		{`emails[type eq "work"].value eq "user@contoso.com"`, `emails[type eq "work" and value eq "user@contoso.com"]`},
		{`userName eq "u" or emails[type eq "work"].value eq "a]b.c eq d"`, `userName eq "u" or emails[type eq "work" and value eq "a]b.c eq d"]`},
		{`emails[type eq work].value pr`, `emails[type eq "work" and value pr]`},
	} {
		e, err := testParsers.parseFilter(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got := fmt.Sprint(e); got != c.want {
			t.Errorf("%s: parsed as %s, want %s", c.in, got, c.want)
		}
	}
	for _, bad := range []string{
		`userName eq`,
		`userName zz "a"`,
		`emails[type eq "work" or type eq "home"].value eq "x"`, // no parentheses inside brackets
		`displayName eq "x eq y" and (`,
	} {
		if e, err := testParsers.parseFilter(bad); err == nil {
			t.Errorf("%s: parsed as %s, want an error", bad, e)
		}
	}
}
