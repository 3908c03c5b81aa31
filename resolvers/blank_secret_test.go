package resolvers_test

import (
	"fmt"
	"testing"
)

// A secret of white space only is blank, as README says ("a non-blank secret is stored as a
// bcrypt hash"): nothing is stored for it, and a bulk request counts it as no secret (the
// limit of items with a secret is for the hashes' time). A secret with spaces around a
// password is one, hashed as sent.
func TestBlankSecretIsNone(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		bind := func(uuid, identifier, secret string) {
			t.Helper()
			d := e.MustGQL(admin, `mutation($a: ID!, $i: String!, $s: String) {
				updateUserAccountCredentials(input: {accountUuid: $a, authModule: "microsoft", identifier: $i, secret: $s}) {
					errors { label code } } }`, map[string]any{"a": uuid, "i": identifier, "s": secret})
			if errs := payloadErrors(t, d, "updateUserAccountCredentials"); len(errs) != 0 {
				t.Fatalf("bind %q: %v", secret, errs)
			}
		}
		hasSecret := func(uuid string) any {
			d := e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { credentials { hasSecret } } }`, map[string]any{"u": uuid})
			return get(d, "userAccount", "credentials", 0, "hasSecret")
		}
		jane := e.CreateUser(admin, "jane@contoso.com")
		bind(jane, "jane@contoso.com", " \t ")
		if got := hasSecret(jane); got != false {
			t.Fatalf("a secret of white space only: hasSecret %v", got)
		}
		bind(jane, "jane@contoso.com", " pass word ")
		if got := hasSecret(jane); got != true {
			t.Fatalf("a secret with spaces around it: hasSecret %v", got)
		}

		// Sixty items whose secret is a space: no secret, so not over the limit of 50.
		items := make([]map[string]any, 60)
		for i := range items {
			items[i] = map[string]any{"accountUuid": e.CreateUser(admin, fmt.Sprintf("u%d@contoso.com", i)), "authModule": "microsoft",
				"identifier": fmt.Sprintf("u%d@contoso.com", i), "secret": " "}
		}
		d := e.MustGQL(admin, `mutation($items: [UpdateUserAccountCredentialsInput!]!) { bulkUpdateUserAccountCredentials(input: {items: $items}) {
			results { userAccount { credentials { hasSecret } } } errors { label code } } }`, map[string]any{"items": items})
		if errs := get(d, "bulkUpdateUserAccountCredentials", "errors").([]any); len(errs) != 0 {
			t.Fatalf("sixty blank secrets: %v", errs)
		}
		for i, r := range get(d, "bulkUpdateUserAccountCredentials", "results").([]any) {
			if got := get(r, "userAccount", "credentials", 0, "hasSecret"); got != false {
				t.Fatalf("item %d: hasSecret %v", i, got)
			}
		}
	})
}
