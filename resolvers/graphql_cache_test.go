package resolvers_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"gatehouse/store/storetest"
)

// The document cache answers a query of a shape it has validated twice before with that
// document and the request's own values. These tests drive it through real HTTP; each sends a
// shape's first two requests before the ones it checks.
func TestQueryCacheOfSameShape(t *testing.T) {
	// The cache is in the GraphQL transport; one database is enough.
	e := newTestEnv(t, storetest.URL(t, "sqlite"))
	admin := e.AdminToken()
	e.CreateOIDCConnection(admin, "Microsoft", "microsoft")

	t.Run("each request gets its own values", func(t *testing.T) {
		for i := range 5 {
			email := fmt.Sprintf("shape%d@contoso.com", i)
			uuid := e.CreateUser(admin, email)
			// Different lengths shift every later token.
			ident := strings.Repeat("x", i*7) + email
			d := e.MustGQL(admin, fmt.Sprintf(seedBindMutation, uuid, ident), nil)
			if errs := payloadErrors(t, d, "updateUserAccountCredentials"); len(errs) != 0 {
				t.Fatalf("errors: %v", errs)
			}
			if str(d, "updateUserAccountCredentials", "userAccount", "uuid") != uuid ||
				str(d, "updateUserAccountCredentials", "userAccount", "credentials", 0, "identifier") != ident {
				t.Fatalf("request %d got %v", i, d)
			}
		}
		for _, first := range []int{1, 3, 2} {
			d := e.MustGQL(admin, fmt.Sprintf(`{ userAccounts(first: %d) { nodes { uuid } } }`, first), nil)
			if n := len(get(d, "userAccounts", "nodes").([]any)); n != first {
				t.Fatalf("first: %d returned %d nodes", first, n)
			}
		}
	})

	t.Run("a value of the wrong kind still fails validation", func(t *testing.T) {
		e.MustGQL(admin, `{ userAccounts(first: 2) { totalCount } }`, nil)
		e.MustGQL(admin, `{ userAccounts(first: 1) { totalCount } }`, nil)
		for _, q := range []string{
			`{ userAccounts(first: "2") { totalCount } }`,
			`{ userAccounts(first: 2.5) { totalCount } }`,
			`{ userAccounts(first: 2) { totalCount } userAccounts(first: 3) { totalCount } }`,
		} {
			r := e.GQL(admin, q, nil)
			if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
				t.Fatalf("%s: %.300s", q, r.Raw)
			}
		}
		// Merging equal arguments is valid; the shape with unequal ones is a different shape.
		e.MustGQL(admin, `{ userAccounts(first: 4) { totalCount } userAccounts(first: 4) { totalCount } }`, nil)
		e.MustGQL(admin, `{ userAccounts(first: 6) { totalCount } userAccounts(first: 6) { totalCount } }`, nil)
		r := e.GQL(admin, `{ userAccounts(first: 4) { totalCount } userAccounts(first: 5) { totalCount } }`, nil)
		if len(r.Errors) == 0 {
			t.Fatalf("conflicting fields accepted: %.300s", r.Raw)
		}
	})

	t.Run("complexity is computed per request", func(t *testing.T) {
		aliases := func(first int) string {
			var b strings.Builder
			b.WriteString("{")
			for i := range 40 {
				fmt.Fprintf(&b, " a%d: userAccounts(first: %d) { nodes { uuid email credentials { authModule } } }", i, first)
			}
			return b.String() + "}"
		}
		e.MustGQL(admin, aliases(1), nil)
		e.MustGQL(admin, aliases(3), nil)
		r := e.GQL(admin, aliases(100), nil)
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("complexity: %.300s", r.Raw)
		}
		e.MustGQL(admin, aliases(2), nil)
	})

	t.Run("error locations are the request's", func(t *testing.T) {
		id, sec := e.CreateClient(admin, []string{"graphql:read"}, "")
		reader := e.Token(id, sec)
		q := func(pad string) string {
			return fmt.Sprintf(`mutation {
  a: removeUserAccountCredentials(input: {accountUuid: "%s", authModule: "m"}) { errors { code } } b: removeUserAccountCredentials(input: {accountUuid: "u", authModule: "m"}) { errors { code } }
}`, pad)
		}
		for _, pad := range []string{"", "a", "0190a6f2-0000-7000-8000-000000000000"} {
			query := q(pad)
			line2 := strings.Split(query, "\n")[1]
			want := map[string][2]int{"a": {2, strings.Index(line2, "a:") + 1}, "b": {2, strings.Index(line2, "b:") + 1}}
			r := e.GQL(reader, query, nil)
			var out struct {
				Errors []struct {
					Path      []string `json:"path"`
					Locations []struct {
						Line, Column int
					} `json:"locations"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(r.Raw), &out); err != nil || len(out.Errors) != 2 {
				t.Fatalf("errors: %.500s", r.Raw)
			}
			for _, er := range out.Errors {
				w := want[er.Path[0]]
				if len(er.Locations) != 1 || er.Locations[0].Line != w[0] || er.Locations[0].Column != w[1] {
					t.Fatalf("pad %q: %v at %v, want %v", pad, er.Path, er.Locations, w)
				}
			}
		}
	})

	t.Run("concurrent requests of one shape", func(t *testing.T) {
		const n = 24
		uuids := make([]string, n)
		for i := range uuids {
			uuids[i] = e.CreateUser(admin, fmt.Sprintf("conc%d@contoso.com", i))
		}
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := range n {
			wg.Go(func() {
				ident := fmt.Sprintf("%sconc%d@contoso.com", strings.Repeat("y", i%5), i)
				r := e.GQL(admin, fmt.Sprintf(seedBindMutation, uuids[i], ident), nil)
				var out struct {
					Data struct {
						U struct {
							UserAccount struct {
								UUID        string
								Credentials []struct{ Identifier string }
							}
						} `json:"updateUserAccountCredentials"`
					}
				}
				json.Unmarshal([]byte(r.Raw), &out)
				u := out.Data.U.UserAccount
				if u.UUID != uuids[i] || len(u.Credentials) != 1 || u.Credentials[0].Identifier != ident {
					errs <- fmt.Sprintf("request %d: %.300s", i, r.Raw)
				}
			})
		}
		wg.Wait()
		close(errs)
		for msg := range errs {
			t.Error(msg)
		}
	})
}
