package provision

import (
	"context"
	"testing"

	"gatehouse/models"
)

// FORBIDDEN names the scopes an operation needs as words, one or several.
func TestForbiddenNamesTheScopes(t *testing.T) {
	s := &Service{}
	ctx := context.WithValue(context.Background(), principalKey{}, &Principal{Scopes: []string{"other"}})
	for a, want := range map[access]string{
		accessWrite:      "this operation needs scope graphql",
		accessManageRead: "this operation needs one of the scopes graphql, graphql:read, admin",
	} {
		if _, err := s.authorize(ctx, a); err == nil || models.PublicMessage(err) != want {
			t.Errorf("access %d: %v, want %q", a, err, want)
		}
	}
}
