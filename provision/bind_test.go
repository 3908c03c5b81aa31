package provision

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// TestBindPathsAgree: a single binding (models.BindDecisionSQL inside the binding statement on
// PostgreSQL, models.DecideBind after reading the owner on SQLite) and a bulk one
// (models.DecideBind over the batch) reach the same outcome and leave the same bindings, case
// by case, on both databases.
func TestBindPathsAgree(t *testing.T) {
	cases := []struct {
		name       string
		account    string // "a" or "b"
		identifier string
		want       string // error code, "" for success
	}{
		{"first identity", "c", "carol", ""},
		{"replace own", "a", "alice-2", ""},
		{"rebind own, other case", "a", "ALICE", ""},
		{"taken", "a", "bob", models.ETAKEN},
		{"taken, other case", "a", "Bob", models.ETAKEN},
		{"freed by nobody", "b", "alice", models.ETAKEN},
	}
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		for i, c := range cases {
			outcome := map[string]string{}
			for _, path := range []string{"single", "bulk"} {
				// Fresh accounts at a fresh connection: a bound to alice, b to bob, c to nothing.
				conn := e.connection(fmt.Sprintf("bind%d%s", i, path), false, models.DefaultRole, false)
				ids := map[string]string{}
				for _, n := range []string{"a", "b", "c"} {
					u := must(e.s.CreateUserAccount(e.ctx, CreateUserAccountInput{Email: fmt.Sprintf("%s%d%s@x.example", n, i, path)}))
					ids[n] = u.ID.String()
				}
				for n, ident := range map[string]string{"a": "alice", "b": "bob"} {
					must(e.s.UpdateUserAccountCredentials(e.ctx, CredentialInput{AccountUUID: ids[n], AuthModule: conn.Slug, Identifier: ident}))
				}
				in := CredentialInput{AccountUUID: ids[c.account], AuthModule: conn.Slug, Identifier: c.identifier}
				code := ""
				if path == "single" {
					_, err := e.s.UpdateUserAccountCredentials(e.ctx, in)
					code = models.ErrorCode(err)
				} else {
					rs := must(e.s.BulkUpdateUserAccountCredentials(e.ctx, []CredentialInput{in}))
					if len(rs[0].Errors) > 0 {
						code = rs[0].Errors[0].Code
					}
				}
				if code != c.want {
					t.Errorf("%s, %s: code %q, want %q", c.name, path, code, c.want)
				}
				var bindings []string
				for n, id := range ids {
					cs := must(e.st.CredentialsForAccounts(e.ctx, e.ws, []uuid.UUID{uuid.MustParse(id)}))
					for _, cr := range cs[uuid.MustParse(id)] {
						bindings = append(bindings, n+"="+cr.Identifier)
					}
				}
				sort.Strings(bindings)
				outcome[path] = code + " " + strings.Join(bindings, ",")
			}
			if outcome["single"] != outcome["bulk"] {
				t.Errorf("%s: single %q, bulk %q", c.name, outcome["single"], outcome["bulk"])
			}
		}
	})
}

// A dry run checks a secret without hashing it; the real request hashes it.
func TestValidateHashesOnlyWhenAsked(t *testing.T) {
	in := CredentialInput{AccountUUID: "0190aaaa-0000-7000-8000-000000000001", AuthModule: "m", Identifier: "a", Secret: "pw"}
	if _, h, errs := in.validate(false); h != "" || len(errs) != 0 {
		t.Fatalf("validate(false): hash %q, errors %v", h, errs)
	}
	if _, h, errs := in.validate(true); h == "" || len(errs) != 0 {
		t.Fatalf("validate(true): hash %q, errors %v", h, errs)
	}
}
