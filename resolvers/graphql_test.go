package resolvers_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seed's request (000_*.txt), with a real UUID and identifier filled in, byte for byte
// otherwise: commas after two fields only, secret blank.
const seedBindMutation = `mutation {
updateUserAccountCredentials(input: {
accountUuid: "%s",
authModule: "microsoft",
identifier: "%s"
secret: ""
}) { userAccount { uuid credentials { authModule identifier } } errors { label message value code } }
}`

func TestSeedBindingMutationVerbatim(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		uuid := e.CreateUser(admin, "jane@contoso.com")
		d := e.MustGQL(admin, fmt.Sprintf(seedBindMutation, uuid, "jane@contoso.com"), nil)
		if errs := payloadErrors(t, d, "updateUserAccountCredentials"); len(errs) != 0 {
			t.Fatalf("errors: %v", errs)
		}
		if str(d, "updateUserAccountCredentials", "userAccount", "uuid") != uuid ||
			str(d, "updateUserAccountCredentials", "userAccount", "credentials", 0, "authModule") != "microsoft" ||
			str(d, "updateUserAccountCredentials", "userAccount", "credentials", 0, "identifier") != "jane@contoso.com" {
			t.Fatalf("payload: %v", d)
		}
		// The lookup World Manager users needed the SOAP API for.
		d = e.MustGQL(admin, `{ userAccounts(filter: {authModule: "microsoft", identifier: "JANE@CONTOSO.COM"}) {
			totalCount nodes { uuid email } } }`, nil)
		if get(d, "userAccounts", "totalCount") != 1.0 || str(d, "userAccounts", "nodes", 0, "uuid") != uuid {
			t.Fatalf("lookup by identity: %v", d)
		}
		// The seed's literal example with a blank identifier is a payload error, not a failure.
		d = e.MustGQL(admin, fmt.Sprintf(seedBindMutation, uuid, ""), nil)
		errs := payloadErrors(t, d, "updateUserAccountCredentials")
		if len(errs) != 1 || str(errs[0], "label") != "identifier" || str(errs[0], "code") != "INVALID" {
			t.Fatalf("blank identifier: %v", errs)
		}
	})
}

func TestBindingRules(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		e.CreateOIDCConnection(admin, "Okta", "okta")
		jane := e.CreateUser(admin, "jane@contoso.com")
		john := e.CreateUser(admin, "john@contoso.com")
		bind := func(account, module, identifier, secret string) map[string]any {
			return e.MustGQL(admin, `mutation($a: ID!, $m: String!, $i: String!, $s: String) {
				updateUserAccountCredentials(input: {accountUuid: $a, authModule: $m, identifier: $i, secret: $s}) {
					userAccount { uuid credentials { authModule identifier hasSecret } } errors { label message value code } } }`,
				map[string]any{"a": account, "m": module, "i": identifier, "s": secret})["updateUserAccountCredentials"].(map[string]any)
		}
		credentialsOf := func(uuid string) []any {
			d := e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { credentials { authModule identifier hasSecret } } }`, map[string]any{"u": uuid})
			return get(d, "userAccount", "credentials").([]any)
		}
		if p := bind(jane, "microsoft", "Jane@Contoso.com", "s3cret-password"); len(p["errors"].([]any)) != 0 {
			t.Fatalf("bind: %v", p)
		}
		if c := credentialsOf(jane); len(c) != 1 || get(c[0], "hasSecret") != true {
			t.Fatalf("credentials: %v", c)
		}

		t.Run("payload errors change nothing", func(t *testing.T) {
			long := strings.Repeat("x", 256)
			cases := []struct{ account, module, identifier, label, code string }{
				{"4771494f-5c77-4b3a-86dc-caafb8d80c45", "microsoft", "a@b.c", "accountUuid", "NOT_FOUND"},
				{"not-a-uuid", "microsoft", "a@b.c", "accountUuid", "NOT_FOUND"}, // names no account either (provision/ids.go)
				{john, "nope", "a@b.c", "authModule", "NOT_FOUND"},
				{john, "microsoft", "   ", "identifier", "INVALID"},
				{john, "microsoft", long, "identifier", "INVALID"},
				{john, "microsoft", "JANE@contoso.COM", "identifier", "TAKEN"}, // case-insensitive
			}
			for _, c := range cases {
				p := bind(c.account, c.module, c.identifier, "")
				errs := p["errors"].([]any)
				if len(errs) != 1 || str(errs[0], "label") != c.label || str(errs[0], "code") != c.code || p["userAccount"] != nil {
					t.Fatalf("%+v: got %v", c, p)
				}
			}
			if c := credentialsOf(john); len(c) != 0 {
				t.Fatalf("john got credentials from failed binds: %v", c)
			}
			if c := credentialsOf(jane); len(c) != 1 || str(c[0], "identifier") != "Jane@Contoso.com" {
				t.Fatalf("jane's binding changed: %v", c)
			}
		})

		t.Run("secret is never echoed", func(t *testing.T) {
			r := e.GQL(admin, `mutation($a: ID!, $s: String) { updateUserAccountCredentials(input: {accountUuid: $a, authModule: "microsoft", identifier: "j2", secret: $s}) {
				errors { label value } } }`, map[string]any{"a": john, "s": strings.Repeat("p", 2000)})
			if strings.Contains(r.Raw, "pppp") || !strings.Contains(r.Raw, `"label":"secret","value":null`) {
				t.Fatalf("secret handling: %s", r.Raw)
			}
		})

		t.Run("binding again replaces; other connections are independent", func(t *testing.T) {
			bind(jane, "microsoft", "jane.doe@contoso.com", "")
			bind(jane, "okta", "jane@contoso.com", "")
			c := credentialsOf(jane)
			if len(c) != 2 || str(c[0], "identifier") != "jane.doe@contoso.com" || get(c[0], "hasSecret") != false || str(c[1], "authModule") != "okta" {
				t.Fatalf("credentials: %v", c)
			}
			// The old identifier is free again.
			if p := bind(john, "microsoft", "jane@contoso.com", ""); len(p["errors"].([]any)) != 0 {
				t.Fatalf("freed identifier not bindable: %v", p)
			}
		})

		t.Run("remove", func(t *testing.T) {
			d := e.MustGQL(admin, `mutation($a: ID!) { removeUserAccountCredentials(input: {accountUuid: $a, authModule: "okta"}) {
				userAccount { credentials { authModule } } errors { label code } } }`, map[string]any{"a": jane})
			if errs := payloadErrors(t, d, "removeUserAccountCredentials"); len(errs) != 0 || len(get(d, "removeUserAccountCredentials", "userAccount", "credentials").([]any)) != 1 {
				t.Fatalf("remove: %v", d)
			}
			d = e.MustGQL(admin, `mutation($a: ID!) { removeUserAccountCredentials(input: {accountUuid: $a, authModule: "okta"}) { errors { label code } } }`, map[string]any{"a": jane})
			if errs := payloadErrors(t, d, "removeUserAccountCredentials"); len(errs) != 1 || str(errs[0], "code") != "NOT_FOUND" {
				t.Fatalf("second remove: %v", d)
			}
		})

		t.Run("every change is audited", func(t *testing.T) {
			d := e.MustGQL(admin, `{ auditEvents(first: 100) { action actorId targetId summary } }`, nil)
			counts := map[string]int{}
			for _, ev := range get(d, "auditEvents").([]any) {
				counts[str(ev, "action")]++
				if str(ev, "action") != "integration_client.create" && str(ev, "actorId") != testAdminID {
					t.Fatalf("event without actor: %v", ev)
				}
			}
			if counts["user_account.credentials.update"] != 4 || counts["user_account.credentials.remove"] != 1 || counts["user_account.create"] != 2 {
				t.Fatalf("audit counts: %v", counts)
			}
		})
	})
}

func TestConcurrentBindsOfOneIdentifier(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		accounts := make([]string, 50)
		for i := range accounts {
			accounts[i] = e.CreateUser(admin, fmt.Sprintf("user%d@contoso.com", i))
		}
		var wg sync.WaitGroup
		results := make([]*gqlResponse, len(accounts))
		for i, a := range accounts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = e.GQL(admin, fmt.Sprintf(seedBindMutation, a, "shared@contoso.com"), nil)
			}()
		}
		wg.Wait()
		won, taken := 0, 0
		for _, r := range results {
			if r.Status != 200 || len(r.Errors) > 0 {
				t.Fatalf("top-level failure: %s", r.Raw)
			}
			errs := get(r.Data, "updateUserAccountCredentials", "errors").([]any)
			switch {
			case len(errs) == 0:
				won++
			case str(errs[0], "code") == "TAKEN":
				taken++
			default:
				t.Fatalf("unexpected: %s", r.Raw)
			}
		}
		d := e.MustGQL(admin, `{ userAccounts(filter: {authModule: "microsoft", identifier: "shared@contoso.com"}) { totalCount } }`, nil)
		if won != 1 || taken != 49 || get(d, "userAccounts", "totalCount") != 1.0 {
			t.Fatalf("won %d, taken %d, bound %v", won, taken, d)
		}
	})
}

// bulkCase makes accounts a, b and c (c bound to c@contoso.com at microsoft) and a bulk
// request whose items take every path of the decision, some of them decided by earlier items.
func bulkCase(e *testEnv, admin string) (a, b, c string, items []map[string]any) {
	e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
	a = e.CreateUser(admin, "a@contoso.com")
	b = e.CreateUser(admin, "b@contoso.com")
	c = e.CreateUser(admin, "c@contoso.com")
	e.MustGQL(admin, fmt.Sprintf(seedBindMutation, c, "c@contoso.com"), nil)
	return a, b, c, []map[string]any{
		{"accountUuid": a, "authModule": "microsoft", "identifier": "a@contoso.com", "secret": ""},
		{"accountUuid": b, "authModule": "microsoft", "identifier": "C@contoso.com", "secret": ""}, // taken by c
		{"accountUuid": b, "authModule": "nope", "identifier": "b@contoso.com", "secret": ""},
		{"accountUuid": "4771494f-5c77-4b3a-86dc-caafb8d80c45", "authModule": "microsoft", "identifier": "x", "secret": ""},
		{"accountUuid": b, "authModule": "microsoft", "identifier": "a@contoso.com", "secret": ""},     // taken by item 0
		{"accountUuid": c, "authModule": "microsoft", "identifier": "c.new@contoso.com", "secret": ""}, // replaces c's
		{"accountUuid": b, "authModule": "microsoft", "identifier": "c@contoso.com", "secret": "pw"},   // freed by item 5
	}
}

func TestBulkBinding(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		a, b, c, items := bulkCase(e, admin)
		d := e.MustGQL(admin, `mutation($items: [UpdateUserAccountCredentialsInput!]!) { bulkUpdateUserAccountCredentials(input: {items: $items}) {
			results { userAccount { uuid credentials { identifier hasSecret } } errors { label code } } errors { label code } } }`,
			map[string]any{"items": items})
		res := get(d, "bulkUpdateUserAccountCredentials", "results").([]any)
		want := []string{"", "TAKEN", "NOT_FOUND", "NOT_FOUND", "TAKEN", "", ""}
		for i, w := range want {
			code := str(res[i], "errors", 0, "code")
			if code != w {
				t.Fatalf("item %d: code %q, want %q (%v)", i, code, w, res[i])
			}
		}
		if l := str(d, "bulkUpdateUserAccountCredentials", "errors", 0, "label"); l != "items.1.identifier" {
			t.Fatalf("label = %q", l)
		}
		check := func(uuid, want string) {
			d := e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { credentials { identifier } } }`, map[string]any{"u": uuid})
			if got := str(d, "userAccount", "credentials", 0, "identifier"); got != want {
				t.Fatalf("%s bound to %q, want %q", uuid, got, want)
			}
		}
		check(a, "a@contoso.com")
		check(b, "c@contoso.com")
		check(c, "c.new@contoso.com")
	})
}

// TestBulkBindingDryRun: a dry run answers what the same request answers when it is sent for
// real, item by item (codes, labels, messages, including items decided against earlier items
// of the batch), and writes nothing: no binding, no audit event. It needs the real request's
// scope.
func TestBulkBindingDryRun(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		a, b, c, items := bulkCase(e, admin)
		items = append(items,
			map[string]any{"accountUuid": "not-a-uuid", "authModule": "microsoft", "identifier": "y", "secret": ""},
			map[string]any{"accountUuid": a, "authModule": "microsoft", "identifier": "z", "secret": strings.Repeat("s", 1025)})
		const bulk = `mutation($items: [UpdateUserAccountCredentialsInput!]!, $dry: Boolean) {
			bulkUpdateUserAccountCredentials(input: {items: $items, dryRun: $dry}) {
			results { userAccount { uuid } errors { label message value code } } errors { label message value code } } }`
		state := func() string {
			d := e.MustGQL(admin, `query($a: ID!, $b: ID!, $c: ID!) {
				a: userAccount(uuid: $a) { credentials { identifier hasSecret } }
				b: userAccount(uuid: $b) { credentials { identifier hasSecret } }
				c: userAccount(uuid: $c) { credentials { identifier hasSecret } }
				auditEvents(first: 100) { action } }`, map[string]any{"a": a, "b": b, "c": c})
			return fmt.Sprint(d)
		}
		before := state()
		dry := e.MustGQL(admin, bulk, map[string]any{"items": items, "dry": true})
		if after := state(); after != before {
			t.Fatalf("the dry run wrote:\n%s\nbefore:\n%s", after, before)
		}
		// The dry run's answer, item by item, is the real one's.
		real := e.MustGQL(admin, bulk, map[string]any{"items": items, "dry": false})
		if fmt.Sprint(dry) != fmt.Sprint(real) {
			t.Fatalf("dry run answered\n%v\nthe real request\n%v", dry, real)
		}
		res := get(real, "bulkUpdateUserAccountCredentials", "results").([]any)
		want := []string{"", "TAKEN", "NOT_FOUND", "NOT_FOUND", "TAKEN", "", "", "NOT_FOUND", "INVALID"}
		for i, w := range want {
			if code := str(res[i], "errors", 0, "code"); code != w {
				t.Fatalf("item %d: code %q, want %q (%v)", i, code, w, res[i])
			}
		}
		// Messages complete their label, as `gatehouse bind` prints them.
		for i, w := range map[int]string{2: "authModule matches no connection's slug in this workspace",
			3: "accountUuid matches no user account in this workspace"} {
			e := get(res[i], "errors", 0)
			if got := strings.TrimPrefix(str(e, "label"), fmt.Sprintf("items.%d.", i)) + " " + str(e, "message"); got != w {
				t.Errorf("item %d reads %q, want %q", i, got, w)
			}
		}
		if state() == before {
			t.Fatal("the real request wrote nothing: the comparison proves nothing")
		}

		// Without the real request's scope, a dry run is refused as the real request is.
		readID, readSecret := e.CreateClient(admin, []string{"graphql:read"}, "")
		read := e.Token(readID, readSecret)
		for _, dry := range []bool{true, false} {
			r := e.GQL(read, bulk, map[string]any{"items": items[:1], "dry": dry})
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" || r.Errors[0].Message != "this operation needs scope graphql" {
				t.Fatalf("read token, dry run %v: %s", dry, r.Raw)
			}
		}
	})
}

func TestScopesAndWorkspaceIsolation(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		jane := e.CreateUser(admin, "jane@contoso.com")
		e.MustGQL(admin, fmt.Sprintf(seedBindMutation, jane, "jane@contoso.com"), nil)

		// A second workspace with its own admin client, created by the platform admin.
		d := e.MustGQL(admin, `mutation { createWorkspace(input: {name: "Fabrikam"}) { workspace { id name } errors { message } } }`, nil)
		ws := str(d, "createWorkspace", "workspace", "id")
		otherID, otherSecret := e.CreateClient(admin, []string{"graphql", "admin"}, ws)
		other := e.Token(otherID, otherSecret)

		t.Run("another workspace sees none of the first one's rows", func(t *testing.T) {
			d := e.MustGQL(other, fmt.Sprintf(`{ userAccount(uuid: %q) { uuid } userAccounts { totalCount } connections { id }
				integrationClients { clientId } auditEvents { action } viewer { workspaceId } }`, jane), nil)
			if get(d, "userAccount") != nil || get(d, "userAccounts", "totalCount") != 0.0 || len(get(d, "connections").([]any)) != 0 ||
				len(get(d, "integrationClients").([]any)) != 1 || str(d, "viewer", "workspaceId") != ws {
				t.Fatalf("leak: %v", d)
			}
			for _, ev := range get(d, "auditEvents").([]any) {
				if str(ev, "action") != "integration_client.create" {
					t.Fatalf("foreign audit event: %v", ev)
				}
			}
			// Binding the first workspace's account from the second fails as not found...
			d = e.MustGQL(other, fmt.Sprintf(seedBindMutation, jane, "evil@contoso.com"), nil)
			if errs := payloadErrors(t, d, "updateUserAccountCredentials"); len(errs) != 1 || str(errs[0], "label") != "accountUuid" {
				t.Fatalf("cross-workspace bind: %v", d)
			}
			// ...and so do updates of its account and connection.
			d = e.MustGQL(other, fmt.Sprintf(`mutation { deactivateUserAccount(input: {uuid: %q}) { errors { code } } }`, jane), nil)
			if str(d, "deactivateUserAccount", "errors", 0, "code") != "NOT_FOUND" {
				t.Fatalf("cross-workspace deactivate: %v", d)
			}
			// The same slug and email are free in the other workspace.
			e.CreateOIDCConnection(other, "Microsoft", "microsoft")
			e.CreateUser(other, "jane@contoso.com")
		})

		t.Run("only the platform admin creates workspaces and clients elsewhere", func(t *testing.T) {
			r := e.GQL(other, `mutation { createWorkspace(input: {name: "x"}) { errors { message } } }`, nil)
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("createWorkspace by a workspace admin: %s", r.Raw)
			}
			r = e.GQL(other, fmt.Sprintf(`mutation { createIntegrationClient(input: {name: "x", scopes: ["graphql"], workspaceId: %q}) { errors { message } } }`,
				str(e.MustGQL(admin, `{ viewer { workspaceId } }`, nil), "viewer", "workspaceId")), nil)
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("client in another workspace: %s", r.Raw)
			}
		})
	})
}

// TestIntegrationClientNeedsAScope: a client is created with at least one scope; a list of
// blank scopes is none, refused as an empty list is, and no client is created.
func TestIntegrationClientNeedsAScope(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		count := func() int {
			return len(get(e.MustGQL(admin, `{ integrationClients { clientId } }`, nil), "integrationClients").([]any))
		}
		before := count()
		for _, scopes := range []string{`[]`, `[""]`, `["  ", ""]`} {
			d := e.MustGQL(admin, `mutation { createIntegrationClient(input: {name: "no scope", scopes: `+scopes+`}) {
				integrationClient { clientId } errors { label message code } } }`, nil)
			errs := payloadErrors(t, d, "createIntegrationClient")
			if len(errs) != 1 || str(errs[0], "label") != "scopes" || str(errs[0], "code") != "INVALID" || get(d, "createIntegrationClient", "integrationClient") != nil {
				t.Errorf("scopes %s: %v", scopes, d)
			}
		}
		if n := count(); n != before {
			t.Fatalf("%d clients created without a scope", n-before)
		}
	})
}

func TestUserAccountsAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		var ids []string
		for i := 0; i < 25; i++ {
			ids = append(ids, e.CreateUser(admin, fmt.Sprintf("u%02d@contoso.com", i)))
		}
		t.Run("pagination walks every account once in creation order", func(t *testing.T) {
			var seen []string
			after := ""
			for page := 0; page < 5; page++ {
				d := e.MustGQL(admin, `query($a: String) { userAccounts(first: 10, after: $a) { totalCount edges { cursor node { uuid } } pageInfo { hasNextPage endCursor } } }`,
					map[string]any{"a": after})
				if get(d, "userAccounts", "totalCount") != 25.0 {
					t.Fatalf("totalCount: %v", d)
				}
				for _, ed := range get(d, "userAccounts", "edges").([]any) {
					seen = append(seen, str(ed, "node", "uuid"))
				}
				if get(d, "userAccounts", "pageInfo", "hasNextPage") != true {
					break
				}
				after = str(d, "userAccounts", "pageInfo", "endCursor")
			}
			if strings.Join(seen, ",") != strings.Join(ids, ",") {
				t.Fatalf("walk: got %d accounts", len(seen))
			}
		})
		t.Run("create, update, deactivate, reactivate", func(t *testing.T) {
			d := e.MustGQL(admin, `mutation { createUserAccount(input: {email: "U00@CONTOSO.com"}) { userAccount { uuid } errors { label code value } } }`, nil)
			if str(d, "createUserAccount", "errors", 0, "code") != "TAKEN" || str(d, "createUserAccount", "errors", 0, "label") != "email" {
				t.Fatalf("duplicate email: %v", d)
			}
			d = e.MustGQL(admin, `mutation { createUserAccount(input: {email: "not an email", firstName: "`+strings.Repeat("n", 200)+`"}) { errors { label code } } }`, nil)
			if len(payloadErrors(t, d, "createUserAccount")) != 2 {
				t.Fatalf("validation: %v", d)
			}
			d = e.MustGQL(admin, fmt.Sprintf(`mutation { updateUserAccount(input: {uuid: %q, firstName: "Ada"}) { userAccount { email firstName lastName } errors { code } } }`, ids[0]), nil)
			if str(d, "updateUserAccount", "userAccount", "firstName") != "Ada" || str(d, "updateUserAccount", "userAccount", "email") != "u00@contoso.com" ||
				str(d, "updateUserAccount", "userAccount", "lastName") != "User" {
				t.Fatalf("update: %v", d)
			}
			d = e.MustGQL(admin, fmt.Sprintf(`mutation { deactivateUserAccount(input: {uuid: %q}) { userAccount { active } errors { code } } }`, ids[1]), nil)
			if get(d, "deactivateUserAccount", "userAccount", "active") != false {
				t.Fatalf("deactivate: %v", d)
			}
			d = e.MustGQL(admin, `{ userAccounts(filter: {active: false}) { totalCount } }`, nil)
			if get(d, "userAccounts", "totalCount") != 1.0 {
				t.Fatalf("filter active: %v", d)
			}
			d = e.MustGQL(admin, fmt.Sprintf(`mutation { reactivateUserAccount(input: {uuid: %q}) { userAccount { active } } }`, ids[1]), nil)
			if get(d, "reactivateUserAccount", "userAccount", "active") != true {
				t.Fatalf("reactivate: %v", d)
			}
			if d := e.MustGQL(admin, `{ userAccount(uuid: "4771494f-5c77-4b3a-86dc-caafb8d80c45") { uuid } bad: userAccount(uuid: "x") { uuid } }`, nil); get(d, "userAccount") != nil || get(d, "bad") != nil {
				t.Fatalf("missing account: %v", d)
			}
		})
		// Filtered by connection alone, the accounts are read from the connection's credentials
		// (store.filterUsers): the same pages, in the same order, as any other filter.
		t.Run("filter by authModule pages through the connection's accounts in creation order", func(t *testing.T) {
			e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
			e.CreateOIDCConnection(admin, "Okta", "okta")
			var bound []string
			for i := len(ids) - 1; i >= 0; i -= 3 { // bound newest first: the order is the accounts'
				e.MustGQL(admin, fmt.Sprintf(seedBindMutation, ids[i], fmt.Sprintf("id%02d@contoso.com", i)), nil)
				bound = append([]string{ids[i]}, bound...)
			}
			walk := func(filter string) (seen []string, total any) {
				after := ""
				for page := 0; page < 10; page++ {
					d := e.MustGQL(admin, `query($a: String) { userAccounts(first: 4, after: $a, filter: `+filter+`) { totalCount nodes { uuid } pageInfo { hasNextPage endCursor } } }`,
						map[string]any{"a": after})
					total = get(d, "userAccounts", "totalCount")
					for _, n := range get(d, "userAccounts", "nodes").([]any) {
						seen = append(seen, str(n, "uuid"))
					}
					if get(d, "userAccounts", "pageInfo", "hasNextPage") != true {
						break
					}
					after = str(d, "userAccounts", "pageInfo", "endCursor")
				}
				return seen, total
			}
			if seen, total := walk(`{authModule: " microsoft "}`); strings.Join(seen, ",") != strings.Join(bound, ",") || total != float64(len(bound)) {
				t.Fatalf("by authModule: %d accounts, total %v; want %d", len(seen), total, len(bound))
			}
			if seen, total := walk(`{authModule: "okta"}`); len(seen) != 0 || total != 0.0 {
				t.Fatalf("a connection without accounts: %v, total %v", seen, total)
			}
			if seen, total := walk(`{authModule: "nosuch"}`); len(seen) != 0 || total != 0.0 {
				t.Fatalf("no such connection: %v, total %v", seen, total)
			}
			e.MustGQL(admin, fmt.Sprintf(`mutation { deactivateUserAccount(input: {uuid: %q}) { errors { code } } }`, bound[1]), nil)
			if seen, total := walk(`{authModule: "microsoft", active: false}`); strings.Join(seen, ",") != bound[1] || total != 1.0 {
				t.Fatalf("by authModule, inactive: %v, total %v", seen, total)
			}
			if seen, total := walk(`{authModule: "microsoft", identifier: "ID03@contoso.com"}`); len(seen) != 1 || total != 1.0 {
				t.Fatalf("by authModule and identifier: %v, total %v", seen, total)
			}
		})
	})
}

// TestUserAccountExternalIDLimit: an account's externalId is at most 255 bytes through GraphQL
// as through SCIM (the same attribute). A longer one is a payload error naming the field, on
// both databases: PostgreSQL's index on it cannot even hold a long value (INTERNAL before).
func TestUserAccountExternalIDLimit(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		user := e.CreateUser(admin, "ada@example.com")
		const create = `mutation($v: String!) { createUserAccount(input: {email: "grace@example.com", externalId: $v}) {
			userAccount { externalId } errors { label message code } } }`
		const update = `mutation($u: ID!, $v: String!) { updateUserAccount(input: {uuid: $u, externalId: $v}) {
			userAccount { externalId } errors { label message code } } }`
		// 4,000 bytes that do not compress: over the 2,704 of a PostgreSQL index row.
		var mixed strings.Builder
		for i := 0; mixed.Len() < 4000; i++ {
			fmt.Fprintf(&mixed, "%x", uint32(i)*2654435761)
		}
		for _, v := range []string{strings.Repeat("x", 256), mixed.String()} {
			for field, q := range map[string]string{"createUserAccount": create, "updateUserAccount": update} {
				r := e.GQL(admin, q, map[string]any{"u": user, "v": v})
				if r.Status != 200 || len(r.Errors) > 0 {
					t.Fatalf("%s with a %d-byte externalId: %s", field, len(v), r.Raw)
				}
				errs := payloadErrors(t, r.Data, field)
				if len(errs) != 1 || str(errs[0], "label") != "externalId" || str(errs[0], "code") != "INVALID" ||
					str(errs[0], "message") != "must be at most 255 bytes" || get(r.Data, field, "userAccount") != nil {
					t.Fatalf("%s with a %d-byte externalId: %s", field, len(v), r.Raw)
				}
			}
		}
		ok := strings.Repeat("x", 255)
		for field, q := range map[string]string{"createUserAccount": create, "updateUserAccount": update} {
			d := e.MustGQL(admin, q, map[string]any{"u": user, "v": ok})
			if errs := payloadErrors(t, d, field); len(errs) != 0 || str(d, field, "userAccount", "externalId") != ok {
				t.Fatalf("%s with a 255-byte externalId: %v", field, d)
			}
		}
	})
}

// TestDeactivatingTwiceChangesNothing: deactivating a deactivated account, reactivating an
// active one, updating an account to the values it has, or putting it in the account it is in,
// succeeds and changes nothing: no
// write (its updatedAt and its SCIM version, the ETag an IdP's If-Match names, stay) and no
// audit event, as revoking a revoked client. Each repeat bumped the version, so that a script
// deactivating its leavers (or syncing names) every night made the IdP's conditional writes of
// those accounts fail (412), and recorded a change that was none.
func TestDeactivatingTwiceChangesNothing(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		scim, _ := e.SCIMToken(admin, allScopes("okta"))
		u := e.CreateUser(admin, "leaver@example.com")
		account := e.CreateAccount(admin, "Leavers", e.CreateCompany(admin, "Acme"))
		state := func() (active bool, updatedAt, version string, events int) {
			t.Helper()
			d := e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { active updatedAt } auditEvents(first: 100) { action targetId } }`,
				map[string]any{"u": u})
			for _, ev := range get(d, "auditEvents").([]any) {
				if str(ev, "targetId") == u {
					events++
				}
			}
			r := e.Call("GET", "/scim/v2/Users/"+u, scim, nil).Must(t, 200)
			return get(d, "userAccount", "active") == true, str(d, "userAccount", "updatedAt"), str(r.Body, "meta", "version"), events
		}
		for _, step := range []struct {
			mutation, input string
			active          bool
		}{{"deactivateUserAccount", "", false}, {"reactivateUserAccount", "", true},
			{"updateUserAccount", `, email: " leaver@example.com", firstName: "Lea", externalId: "e-7"`, true},
			{"setUserAccountAccount", `, accountId: "` + account + `"`, true}, {"setUserAccountAccount", `, accountId: null`, true}} {
			q := `mutation($u: ID!) { ` + step.mutation + `(input: {uuid: $u` + step.input + `}) { userAccount { active } errors { code } } }`
			d := e.MustGQL(admin, q, map[string]any{"u": u})
			if errs := payloadErrors(t, d, step.mutation); len(errs) != 0 || get(d, step.mutation, "userAccount", "active") != step.active {
				t.Fatalf("%s: %v", step.mutation, d)
			}
			active, updated, version, events := state()
			d = e.MustGQL(admin, q, map[string]any{"u": u})
			if errs := payloadErrors(t, d, step.mutation); len(errs) != 0 || get(d, step.mutation, "userAccount", "active") != step.active {
				t.Fatalf("%s again: %v", step.mutation, d)
			}
			if a, up, v, ev := state(); a != active || up != updated || v != version || ev != events {
				t.Fatalf("%s again changed the account: active %v→%v, updatedAt %s→%s, version %s→%s, audit events %d→%d",
					step.mutation, active, a, updated, up, version, v, events, ev)
			}
		}
	})
}

// TestEmptyExternalIDIsNone: an empty externalId is none, as SCIM reads it (its IdPs send ""
// for an unset attribute, and SCIM never shows one): createUserAccount with "" has no
// externalId, and updateUserAccount with "" clears it, the only way to, since null leaves it
// unchanged. GraphQL stored "" and read it back as "", where SCIM showed no externalId for the
// same account, and an externalId once set could never be removed.
func TestEmptyExternalIDIsNone(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		scim, _ := e.SCIMToken(admin, allScopes("okta"))
		d := e.MustGQL(admin, `mutation { createUserAccount(input: {email: "ext@example.com", externalId: ""}) {
			userAccount { uuid externalId } errors { label message } } }`, nil)
		u := str(d, "createUserAccount", "userAccount", "uuid")
		if errs := payloadErrors(t, d, "createUserAccount"); len(errs) != 0 || u == "" || get(d, "createUserAccount", "userAccount", "externalId") != nil {
			t.Fatalf("createUserAccount with an empty externalId: %v", d)
		}
		const update = `mutation($u: ID!, $x: String) { updateUserAccount(input: {uuid: $u, externalId: $x}) {
			userAccount { externalId } errors { label message } } }`
		d = e.MustGQL(admin, update, map[string]any{"u": u, "x": "emp-1"})
		if str(d, "updateUserAccount", "userAccount", "externalId") != "emp-1" {
			t.Fatalf("set: %v", d)
		}
		d = e.MustGQL(admin, update, map[string]any{"u": u, "x": nil})
		if str(d, "updateUserAccount", "userAccount", "externalId") != "emp-1" {
			t.Fatalf("null is no change: %v", d)
		}
		d = e.MustGQL(admin, update, map[string]any{"u": u, "x": ""})
		if errs := payloadErrors(t, d, "updateUserAccount"); len(errs) != 0 || get(d, "updateUserAccount", "userAccount", "externalId") != nil {
			t.Fatalf("an empty externalId does not clear it: %v", d)
		}
		d = e.MustGQL(admin, `query($u: ID!) { userAccount(uuid: $u) { externalId } userAccounts(filter: {externalId: "emp-1"}) { totalCount } }`,
			map[string]any{"u": u})
		if get(d, "userAccount", "externalId") != nil || get(d, "userAccounts", "totalCount") != 0.0 {
			t.Fatalf("read back: %v", d)
		}
		if r := e.Call("GET", "/scim/v2/Users/"+u, scim, nil).Must(t, 200); get(r.Body, "externalId") != nil {
			t.Fatalf("SCIM shows an externalId: %s", r.Raw)
		}
	})
}

// TestUserNameFollowsEmail: an account created outside SCIM has its email as SCIM userName, and
// keeps it as its email when updateUserAccount changes the email, so that an IdP's documented
// lookup (Okta: userName eq "<email>") finds and links the person by their address. The
// userName stayed the first email: the lookup by the new one found nobody, the IdP's create
// then clashed on the email (409), and the old address could not be given to anyone else
// (createUserAccount answered "another user account already has this email", though none had).
// An account a SCIM request wrote keeps the userName its IdP gave it.
func TestUserNameFollowsEmail(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		scim, _ := e.SCIMToken(admin, allScopes("okta"))
		const update = `mutation($u: ID!, $e: String!) { updateUserAccount(input: {uuid: $u, email: $e}) {
			userAccount { email userName } errors { label message code } } }`
		lookup := func(userName string) []any {
			t.Helper()
			r := e.Call("GET", "/scim/v2/Users?filter="+urlq(`userName eq "`+userName+`"`), scim, nil).Must(t, 200)
			res, _ := get(r.Body, "Resources").([]any)
			return res
		}

		jane := e.CreateUser(admin, "jane@contso.com")
		d := e.MustGQL(admin, update, map[string]any{"u": jane, "e": "Jane@Contoso.com"})
		if errs := payloadErrors(t, d, "updateUserAccount"); len(errs) != 0 ||
			str(d, "updateUserAccount", "userAccount", "userName") != "Jane@Contoso.com" {
			t.Fatalf("the userName did not follow the email: %v", d)
		}
		if found := lookup("jane@contoso.com"); len(found) != 1 || str(found[0], "id") != jane {
			t.Fatalf("the IdP's lookup by the new email finds %v, want %s", found, jane)
		}
		if found := lookup("jane@contso.com"); len(found) != 0 {
			t.Fatalf("the IdP's lookup by the old email still finds %v", found)
		}
		// The old address is free for another person.
		d = e.MustGQL(admin, `mutation { createUserAccount(input: {email: "jane@contso.com"}) { userAccount { userName } errors { label message code } } }`, nil)
		if errs := payloadErrors(t, d, "createUserAccount"); len(errs) != 0 {
			t.Fatalf("the old email is still taken: %v", d)
		}

		// The userName of an account SCIM wrote is its IdP's.
		bob := e.SCIMUser(scim, map[string]any{"userName": "bob@contoso.com", "emails": []any{map[string]any{"value": "bob.smith@contoso.com", "primary": true}}})
		d = e.MustGQL(admin, update, map[string]any{"u": bob, "e": "robert@contoso.com"})
		if errs := payloadErrors(t, d, "updateUserAccount"); len(errs) != 0 ||
			str(d, "updateUserAccount", "userAccount", "email") != "robert@contoso.com" || str(d, "updateUserAccount", "userAccount", "userName") != "bob@contoso.com" {
			t.Fatalf("an IdP's userName changed with the email: %v", d)
		}
		if found := lookup("bob@contoso.com"); len(found) != 1 || str(found[0], "id") != bob {
			t.Fatalf("the IdP's lookup by its userName finds %v, want %s", found, bob)
		}

		// Linked by SCIM (the IdP's PUT names the userName), a GraphQL-created account is the IdP's too.
		ann := e.CreateUser(admin, "ann@contoso.com")
		e.Call("PUT", "/scim/v2/Users/"+ann, scim, map[string]any{"userName": "ann.lee",
			"emails": []any{map[string]any{"value": "ann@contoso.com", "primary": true}}}).Must(t, 200)
		d = e.MustGQL(admin, update, map[string]any{"u": ann, "e": "ann.lee@contoso.com"})
		if str(d, "updateUserAccount", "userAccount", "userName") != "ann.lee" {
			t.Fatalf("an IdP's userName changed with the email: %v", d)
		}

		// A new email that is another account's userName is taken, and changes nothing.
		d = e.MustGQL(admin, update, map[string]any{"u": jane, "e": "BOB@contoso.com"})
		if errs := payloadErrors(t, d, "updateUserAccount"); len(errs) != 1 || str(errs[0], "label") != "email" || str(errs[0], "code") != "TAKEN" ||
			str(errs[0], "message") != "another user account has this email as its userName" {
			t.Fatalf("an email that is another account's userName: %v", d)
		}
		if found := lookup("jane@contoso.com"); len(found) != 1 || str(found[0], "id") != jane {
			t.Fatalf("a refused change moved the userName: the lookup finds %v", found)
		}
		// So is it for a new account, whose userName is its email; an email is taken as before.
		d = e.MustGQL(admin, `mutation { createUserAccount(input: {email: "bob@contoso.com"}) { userAccount { uuid } errors { label message code } } }`, nil)
		if errs := payloadErrors(t, d, "createUserAccount"); len(errs) != 1 || str(errs[0], "code") != "TAKEN" ||
			str(errs[0], "message") != "another user account has this email as its userName" {
			t.Fatalf("a new account's email that is another account's userName: %v", d)
		}
		d = e.MustGQL(admin, `mutation { createUserAccount(input: {email: "ROBERT@contoso.com"}) { userAccount { uuid } errors { label message code } } }`, nil)
		if errs := payloadErrors(t, d, "createUserAccount"); len(errs) != 1 || str(errs[0], "code") != "TAKEN" ||
			str(errs[0], "message") != "another user account already has this email" {
			t.Fatalf("a taken email: %v", d)
		}
	})
}

// TestOneObjectQueriesAnswerNullForIDsThatNameNone: a query of one object is null when its ids
// name none, malformed or unknown alike (the schema's "null when there is none"). testSignIn
// answered a malformed id with an INVALID error naming "testId", an argument it does not have.
func TestOneObjectQueriesAnswerNullForIDsThatNameNone(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		conn := e.CreateOIDCConnection(admin, "Okta", "okta")
		const unknown = "4771494f-5c77-4b3a-86dc-caafb8d80c45"
		for _, id := range []string{"x", unknown} {
			r := e.GQL(admin, `query($id: ID!, $c: ID!) { userAccount(uuid: $id) { uuid } connection(id: $id) { id } brand(id: $id) { id }
				company(id: $id) { id } account(id: $id) { id } application(id: $id) { id } scimToken(id: $id) { id }
				testSignIn(connectionId: $c, id: $id) { id } other: testSignIn(connectionId: $id, id: $id) { id } }`,
				map[string]any{"id": id, "c": conn})
			if r.Status != 200 || len(r.Errors) != 0 {
				t.Fatalf("id %q: %s", id, r.Raw)
			}
			for field, v := range r.Data {
				if v != nil {
					t.Errorf("id %q: %s = %v, want null", id, field, v)
				}
			}
		}
	})
}

// TestSCIMTokenNameFilterFoldsEveryLetter: the name filter of the SCIM token list is
// case-insensitive for every letter, on both databases and both surfaces. SQLite's lower()
// folds ASCII only, so there a token named "ÉQUIPE Okta" was found by none of its spellings.
func TestSCIMTokenNameFilterFoldsEveryLetter(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		for _, name := range []string{"ÉQUIPE Okta", "Straße Entra", "Ōkta 100%"} {
			e.MustGQL(admin, `mutation($n: String!) { createScimToken(input: {name: $n}) { errors { code } } }`, map[string]any{"n": name})
		}
		for _, c := range []struct {
			filter string
			want   int
		}{
			{"équipe", 1}, {"ÉQUIPE", 1}, {"Équipe okta", 1}, {"STRAẞE", 1}, {"straße", 1}, {"ōKTA", 1}, {"okta", 1},
			{"0%", 1}, {"%", 1}, {"_", 0}, {"e", 2},
		} {
			d := e.MustGQL(admin, `query($n: String) { scimTokens(name: $n) { total } }`, map[string]any{"n": c.filter})
			r := e.Call("GET", "/api/v1/scim/tokens?name="+urlq(c.filter), admin, nil).Must(t, 200)
			if get(d, "scimTokens", "total") != float64(c.want) || get(r.Body, "total") != float64(c.want) {
				t.Errorf("name %q: GraphQL %v, REST %v tokens; want %d", c.filter, get(d, "scimTokens", "total"), get(r.Body, "total"), c.want)
			}
		}
	})
}

func TestGraphQLLimitsAndErrors(t *testing.T) {
	e := newTestEnv(t, "sqlite:"+t.TempDir()+"/g.db")
	admin := e.AdminToken()
	t.Run("depth limit", func(t *testing.T) {
		// GraphiQL's introspection query (TypeRef nests ofType 7 times) stays allowed.
		ofType := func(n int) string {
			return strings.Repeat("ofType { ", n) + "name" + strings.Repeat(" }", n)
		}
		ok := `{ __schema { types { fields { type { ` + ofType(7) + ` } } } } }`
		if r := e.GQL(admin, ok, nil); len(r.Errors) > 0 {
			t.Fatalf("introspection refused: %.300s", r.Raw)
		}
		r := e.GQL(admin, `{ __schema { types { fields { type { `+ofType(11)+` } } } } }`, nil)
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "DEPTH_LIMIT_EXCEEDED" || !strings.Contains(r.Errors[0].Message, "levels deep") {
			t.Fatalf("depth: %d %.300s", r.Status, r.Raw)
		}
	})
	t.Run("complexity limit", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < 400; i++ {
			fmt.Fprintf(&b, " a%d: userAccounts(first: 100) { nodes { uuid email credentials { authModule } } }", i)
		}
		b.WriteString("}")
		r := e.GQL(admin, b.String(), nil)
		if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("complexity: %d %.300s", r.Status, r.Raw)
		}
		// Every paged list costs its page size times its rows, as userAccounts does: a page of
		// 100 is allowed, 400 of them in one request are not (each list alone cost a few
		// points, whatever its page size, so thousands of full pages fitted in one request).
		for _, list := range []string{
			`workspaces(first: 100) { nodes { id name } }`,
			`brands(first: 100) { nodes { id name } }`,
			`companies(first: 100) { nodes { id name } }`,
			`accounts(first: 100) { nodes { id name } }`,
			`scimTokens(pageSize: 100) { tokens { id name } }`,
			`scimActivities(pageSize: 100) { activities { id operation } }`,
			`signInEvents(pageSize: 100) { events { id reason } }`,
		} {
			if r := e.GQL(admin, "{ "+list+" }", nil); len(r.Errors) > 0 {
				t.Errorf("one page: %s: %.300s", list, r.Raw)
			}
			var b strings.Builder
			b.WriteString("{")
			for i := 0; i < 400; i++ {
				fmt.Fprintf(&b, " a%d: %s", i, list)
			}
			b.WriteString("}")
			if r := e.GQL(admin, b.String(), nil); len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "COMPLEXITY_LIMIT_EXCEEDED" {
				t.Errorf("400 pages: %s: %d %.300s", list, r.Status, r.Raw)
			}
		}
	})
	t.Run("body size limit", func(t *testing.T) {
		r := e.GQL(admin, "{ viewer { clientId } }"+strings.Repeat(" ", 5<<20), nil)
		if r.Status != 413 {
			t.Fatalf("5 MiB body: %d %.300s", r.Status, r.Raw)
		}
	})
	t.Run("GraphiQL is served from the binary", func(t *testing.T) {
		resp, err := http.Get(e.URL + "/graphql/v1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GraphiQL: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("health and readiness", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
			resp, err := http.Get(e.URL + p)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s: %v %v", p, err, resp)
			}
			resp.Body.Close()
		}
		e.App.Store().Close()
		resp, _ := http.Get(e.URL + "/readyz")
		if resp.StatusCode != 503 {
			t.Fatalf("readyz with a closed database: %d", resp.StatusCode)
		}
		// An internal failure is reported without its cause.
		r := e.GQL(admin, `{ userAccounts { totalCount } }`, nil)
		if len(r.Errors) != 1 || r.Errors[0].Message != "internal error" || r.Errors[0].Extensions["code"] != "INTERNAL" {
			t.Fatalf("internal error presentation: %s", r.Raw)
		}
	})
}

// A dry run refuses what the real request refuses before deciding any item (more than 1,000
// items), in the same words, and answers a foreign workspace's account as the real one does.
func TestBulkBindingDryRunLimitsAndWorkspaces(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		const bulk = `mutation($items: [UpdateUserAccountCredentialsInput!]!, $dry: Boolean) {
			bulkUpdateUserAccountCredentials(input: {items: $items, dryRun: $dry}) {
			results { userAccount { uuid } errors { label message value code } } errors { label message value code } } }`
		answer := func(tok string, items []map[string]any, dry bool) string {
			r := e.GQL(tok, bulk, map[string]any{"items": items, "dry": dry})
			return r.Raw
		}
		acct := e.CreateUser(admin, "a@contoso.com")
		many := make([]map[string]any, 1001)
		for i := range many {
			many[i] = map[string]any{"accountUuid": acct, "authModule": "microsoft", "identifier": fmt.Sprint("a", i)}
		}
		dry, real := answer(admin, many, true), answer(admin, many, false)
		if dry != real || !strings.Contains(real, "at most 1000 items") {
			t.Fatalf("1001 items: dry run %s, real %s", dry, real)
		}
		// Each secret costs a bcrypt hash: more than 50 would outlast the request's deadline
		// (an UNAVAILABLE answer after 20 s, binding nothing, however often retried), so they are
		// refused at once, naming the limit; 50 bind.
		secrets := make([]map[string]any, 51)
		for i := range secrets {
			secrets[i] = map[string]any{"accountUuid": e.CreateUser(admin, fmt.Sprintf("s%d@contoso.com", i)), "authModule": "microsoft",
				"identifier": fmt.Sprint("s", i), "secret": fmt.Sprint("pw-", i)}
		}
		start := time.Now()
		dry, real = answer(admin, secrets, true), answer(admin, secrets, false)
		if dry != real || !strings.Contains(real, `"label":"items","message":"at most 50 items with a secret per request (51 have one)`) ||
			time.Since(start) > 2*time.Second {
			t.Fatalf("51 secrets: dry run %s, real %s, in %s", dry, real, time.Since(start))
		}
		if n := get(e.MustGQL(admin, `{ userAccounts(filter: {authModule: "microsoft"}) { totalCount } }`, nil), "userAccounts", "totalCount"); n != 0.0 {
			t.Fatalf("51 secrets bound %v accounts", n)
		}
		d := e.MustGQL(admin, bulk, map[string]any{"items": secrets[:50]})
		if errs := get(d, "bulkUpdateUserAccountCredentials", "errors").([]any); len(errs) != 0 {
			t.Fatalf("50 secrets: %v", d)
		}
		d = e.MustGQL(admin, `mutation { createWorkspace(input: {name: "Fabrikam"}) { workspace { id } errors { message } } }`, nil)
		otherID, otherSecret := e.CreateClient(admin, []string{"graphql", "admin"}, str(d, "createWorkspace", "workspace", "id"))
		other := e.Token(otherID, otherSecret)
		e.CreateOIDCConnection(other, "Microsoft", "microsoft")
		one := many[:1]
		dry, real = answer(other, one, true), answer(other, one, false)
		if dry != real || !strings.Contains(real, "NOT_FOUND") {
			t.Fatalf("foreign account: dry run %s, real %s", dry, real)
		}
	})
}
