package provision

import (
	"fmt"
	"testing"
)

func TestParseScimFilter(t *testing.T) {
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
		e, err := parseScimFilter(c.in)
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
		if e, err := parseScimFilter(bad); err == nil {
			t.Errorf("%s: parsed as %s, want an error", bad, e)
		}
	}
}
