package resolvers_test

import (
	"fmt"
	"sync"
	"testing"
)

// Bulk bindings of accounts that SCIM deletes at the same time: each item either binds (the
// deletion then takes the binding with the account) or finds no account (NOT_FOUND), and the
// request is never an internal error. On PostgreSQL the deletions commit between the bulk
// binding's read of the accounts and its insert often enough; SQLite runs one write at a time.
func TestBulkBindingWhileAccountsAreDeleted(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		tok, _ := e.SCIMToken(admin, allScopes("idp"))
		var mu sync.Mutex
		counts := map[string]int{}
		e.DeleteUsersDuring(tok, 6, 8, func(round, i int, u string) {
			items := []map[string]any{{"accountUuid": u, "authModule": "microsoft", "identifier": fmt.Sprintf("b%d-%d", round, i), "secret": ""}}
			r := e.GQL(admin, `mutation($items: [UpdateUserAccountCredentialsInput!]!) { bulkUpdateUserAccountCredentials(input: {items: $items}) {
				results { errors { code } } } }`, map[string]any{"items": items})
			mu.Lock()
			defer mu.Unlock()
			if r.Status != 200 || len(r.Errors) > 0 {
				counts["error"]++
				t.Errorf("bulk binding: %s", r.Raw)
				return
			}
			counts["bind "+str(r.Data, "bulkUpdateUserAccountCredentials", "results", 0, "errors", 0, "code")]++
		})
		if counts["bind "]+counts["bind NOT_FOUND"] != 48 {
			t.Errorf("answers: %v", counts)
		}
		// Every account is gone, and with it every binding.
		d := e.MustGQL(admin, `{ userAccounts(filter: {authModule: "microsoft"}) { totalCount } }`, nil)
		if get(d, "userAccounts", "totalCount") != 0.0 {
			t.Errorf("bindings left: %v", d)
		}
	})
}

// The same bulk binding sent several times at once (a client retrying a request it gave up
// on while the first still runs): bound twice, an identity is bound once, and every request
// answers what it would alone, never an internal error.
func TestSameBulkBindingAtOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		for round := range 4 {
			var items []map[string]any
			for i := range 4 {
				a := e.CreateUser(admin, fmt.Sprintf("same%d-%d@contoso.com", round, i))
				items = append(items, map[string]any{"accountUuid": a, "authModule": "microsoft", "identifier": fmt.Sprintf("same%d-%d", round, i), "secret": ""})
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					r := e.GQL(admin, `mutation($items: [UpdateUserAccountCredentialsInput!]!) { bulkUpdateUserAccountCredentials(input: {items: $items}) {
						results { errors { code } } errors { code } } }`, map[string]any{"items": items})
					if r.Status != 200 || len(r.Errors) > 0 {
						t.Errorf("bulk binding: %s", r.Raw)
					} else if errs := get(r.Data, "bulkUpdateUserAccountCredentials", "errors").([]any); len(errs) > 0 {
						t.Errorf("bulk binding refused items: %s", r.Raw)
					}
				})
			}
			wg.Wait()
		}
		d := e.MustGQL(admin, `{ userAccounts(filter: {authModule: "microsoft"}) { totalCount } }`, nil)
		if get(d, "userAccounts", "totalCount") != 16.0 {
			t.Errorf("bound accounts: %v", d)
		}
	})
}
