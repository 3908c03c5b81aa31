package provision

import (
	"strings"
	"testing"

	"gatehouse/models"
)

// The name rule (models.NameTooLong) refuses, never truncates: SCIM answers invalidValue, and
// a sign-in treats an overlong name claim as not sent.
func TestNameRule(t *testing.T) {
	long := strings.Repeat("é", models.MaxNameLength+1) // 129 characters, 258 bytes
	fits := strings.Repeat("é", models.MaxNameLength)
	t.Run("scim", func(t *testing.T) {
		for _, in := range []SCIMUserInput{{GivenName: long}, {FamilyName: long}, {DisplayName: long}} {
			in.UserName = "a@contoso.com"
			err := in.validate(nil)
			se, ok := err.(*models.SCIMTypedError)
			if !ok || se.Type != models.SCIMTypeInvalidValue {
				t.Errorf("validate(%+v) = %v, want invalidValue", in, err)
			}
		}
		in := SCIMUserInput{UserName: "a@contoso.com", GivenName: fits, FamilyName: fits, DisplayName: fits}
		if err := in.validate(nil); err != nil {
			t.Errorf("names of %d characters: %v", models.MaxNameLength, err)
		}
	})
	t.Run("sign-in", func(t *testing.T) {
		id, dropped := normaliseIdentity(Identity{Identifier: " x ", FirstName: long, LastName: " Doe "})
		if id.FirstName != "" || id.LastName != "Doe" || dropped != "firstName" {
			t.Errorf("normaliseIdentity = %+v, %q", id, dropped)
		}
		_, dropped = normaliseIdentity(Identity{Identifier: "x", FirstName: long, LastName: long})
		if dropped != "firstName, lastName" {
			t.Errorf("dropped = %q", dropped)
		}
		if _, dropped = normaliseIdentity(Identity{Identifier: "x", FirstName: fits}); dropped != "" {
			t.Errorf("a name of %d characters dropped", models.MaxNameLength)
		}
	})
	t.Run("individual account name", func(t *testing.T) {
		for _, c := range []struct {
			id   Identity
			want string
		}{
			{Identity{FirstName: "Ann", LastName: "Lee", Email: "ann@contoso.com"}, "Ann Lee"},
			{Identity{FirstName: fits, LastName: "Lee"}, fits},
			{Identity{Email: "ann@contoso.com"}, "ann@contoso.com"},
			{Identity{Identifier: "ann"}, "ann"},
		} {
			if got := individualAccountName(c.id); got != c.want {
				t.Errorf("individualAccountName(%+v) = %q, want %q", c.id, got, c.want)
			}
		}
	})
}
