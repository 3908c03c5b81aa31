package sso

import (
	"strings"
	"testing"
)

// TestIdentityOfAtGoogle: at Google the email is taken only where Google vouches for it (a
// Gmail address, or a Workspace account's: hd), also as the identifier. With identifierClaim
// email, a personal Google account made with a work address (an ex-employee's, say) would
// otherwise be the identity bound to that address and sign in as its owner: the sign-in fails
// instead. The same claims at another IdP are taken as before.
func TestIdentityOfAtGoogle(t *testing.T) {
	personal := map[string]any{"email": "ann@corp.test", "email_verified": true}
	workspace := map[string]any{"email": "ann@corp.test", "email_verified": true, "hd": "corp.test"}
	gmail := map[string]any{"email": "Ann@GMail.com", "email_verified": true}
	google, other := claimRules{identifier: "email", google: true}, claimRules{identifier: "email"}

	if id, cause := identityOf(google, "1001", personal); cause == "" || !strings.Contains(cause, "Google does not vouch for") || id.Identifier != "" {
		t.Errorf("identifierClaim email, a personal Google account: %+v %q, want the sign-in to fail", id, cause)
	}
	for name, claims := range map[string]map[string]any{"Workspace": workspace, "Gmail": gmail} {
		if id, cause := identityOf(google, "1001", claims); cause != "" || id.Identifier != claims["email"] || id.Email != claims["email"] || id.EmailLeftOut != "" {
			t.Errorf("identifierClaim email, a %s account: %+v %q", name, id, cause)
		}
	}
	if id, cause := identityOf(other, "00u1", personal); cause != "" || id.Identifier != "ann@corp.test" || id.Email != "ann@corp.test" {
		t.Errorf("identifierClaim email at another IdP: %+v %q", id, cause)
	}

	// Identified by sub: the personal account's email is left out, with the reason kept for
	// the administrator; elsewhere it is the person's.
	google.identifier, other.identifier = "sub", "sub"
	if id, cause := identityOf(google, "1001", personal); cause != "" || id.Identifier != "1001" || id.Email != "" || !strings.Contains(id.EmailLeftOut, "Google does not vouch for") {
		t.Errorf("a personal Google account: %+v %q", id, cause)
	}
	if id, cause := identityOf(other, "00u1", personal); cause != "" || id.Email != "ann@corp.test" || id.EmailLeftOut != "" {
		t.Errorf("the same claims at another IdP: %+v %q", id, cause)
	}
}
