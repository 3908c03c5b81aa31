package provision

import (
	"fmt"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
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

// The cached parse must give exactly the parser's answer: the same tree for a filter it
// accepts, an error for one it refuses.
func FuzzParseScimFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, wantErr := filter.ParseFilter([]byte(raw))
		for range 2 { // the second call is served from the cache
			got, err := parseScimFilter(raw)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("%q: cached parse error %v, parser error %v", raw, err, wantErr)
			}
			if err == nil && fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%q: cached parse %v, parser %v", raw, got, want)
			}
		}
	})
}

func TestParseScimFilterPutsBackEachRequestsValues(t *testing.T) {
	for _, name := range []string{"a@example.com", "b@example.com", `c\"d@example.com`} {
		e, err := parseScimFilter(`userName eq "` + name + `"`)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.(*filter.AttributeExpression).CompareValue; got != name {
			t.Fatalf("value %v, want %q", got, name)
		}
	}
	shape, _, _ := filterShape(`userName eq "a@example.com"`)
	scimFilterShapes.mu.RLock()
	_, cached := scimFilterShapes.m[shape]
	scimFilterShapes.mu.RUnlock()
	if !cached {
		t.Fatal("the filter's shape was not cached")
	}
}
