package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// deferredWorld is one workspace set up for TestSignInDeferredRowsOracle, its rows told
// apart from the other's by its domain.
type deferredWorld struct {
	e      *testEnv
	domain string
	brand  *models.Brand
	jit    *models.Connection
	noJIT  *models.Connection
	// deferred: the world's sign-ins leave their rows to the records (thenWrites).
	deferred bool
	// deferredRows counts the records that wrote provisioned rows (a refused statement wrote none).
	deferredRows atomic.Int32
}

func newDeferredWorld(t *testing.T, e *testEnv, domain string, deferred bool) *deferredWorld {
	t.Helper()
	ws := &models.Workspace{ID: store.NewID(), Name: "W " + domain, CreatedAt: time.Now().UTC()}
	if err := e.st.Create(e.ctx, ws); err != nil {
		t.Fatal(err)
	}
	we := *e
	we.ws = ws.ID
	we.ctx = WithPrincipal(context.Background(), &Principal{ClientID: "test", WorkspaceID: ws.ID, Scopes: models.AllScopes, ActorType: "client"})
	w := &deferredWorld{e: &we, domain: domain, deferred: deferred}
	w.brand = must(we.s.CreateBrand(we.ctx, BrandInput{Name: ptr("Portal")}))
	w.jit = we.connection("okta", true, "member", true)
	w.noJIT = we.connection("nojit", false, "viewer", true)
	now := time.Now().UTC()
	if err := we.st.Create(we.ctx, &models.Domain{ID: store.NewID(), WorkspaceID: ws.ID, ConnectionID: w.jit.ID, Name: domain,
		Status: models.DomainVerified, VerificationMethod: models.VerifyDNSTXT, VerificationToken: "t", VerifiedAt: &now,
		IsPrimary: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	acme := must(we.s.CreateCompany(we.ctx, "Acme"))
	must(we.s.CreateAccount(we.ctx, AccountInput{Name: ptr("Acme"), Type: ptr(models.AccountCompany), CompanyID: ptr(acme.ID.String())}))
	must(we.s.CreateUserAccount(we.ctx, CreateUserAccountInput{Email: "bob@" + domain, FirstName: "Bob"}))
	// An account with jane@ as its user name and another email, as its IdP named them through SCIM.
	tok := &models.SCIMToken{ID: store.NewID(), WorkspaceID: ws.ID, Name: "okta", TokenHash: "h-" + ws.ID.String(), MaskedValue: "m",
		ScopeString: "users:read users:write", CreatedAt: now, UpdatedAt: now}
	if err := we.st.Create(we.ctx, tok); err != nil {
		t.Fatal(err)
	}
	must(we.s.CreateSCIMUser(WithSCIMCaller(context.Background(), &SCIMCaller{Token: tok}),
		SCIMUserInput{UserName: "jane@" + domain, Active: true, Email: "jane.doe@" + domain}))
	return w
}

// signIn decides as a browser sign-in does, its then recording the decision as CompleteFlow's
// (without a grant): deferred, the provisioned rows go with the records.
func (w *deferredWorld) signIn(conn *models.Connection, id Identity) (*SignInResult, error) {
	id.Email = strings.ReplaceAll(id.Email, "@D", "@"+w.domain)
	record := func(ctx context.Context, res *SignInResult) error {
		a, p := res.audit, res.provisioned
		res.audit, res.provisioned = nil, nil
		ev := &models.SignInEvent{ID: store.NewID(), WorkspaceID: w.brand.WorkspaceID, BrandID: &w.brand.ID, ConnectionID: &conn.ID,
			Identifier: id.Identifier, Outcome: string(res.Outcome), Reason: res.Reason, CreatedAt: time.Now().UTC()}
		err := w.e.st.RecordSignIn(ctx, p, a, nil, ev)
		if err == nil && p != nil {
			w.deferredRows.Add(1)
		}
		return err
	}
	return w.e.s.decide(context.Background(), w.brand.ID, conn.ID, id, decideOptions{then: record, thenWrites: w.deferred})
}

var (
	uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timePattern = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
)

// rows is the world's workspace as text: every row of the tables a sign-in writes, in the
// order they were written, with times left out and ids numbered in order of appearance, so
// that two worlds that wrote alike read alike.
func (w *deferredWorld) rows(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"accounts", "user_accounts", "credentials", "audit_events", "sign_in_events"} {
		var rs []map[string]any
		if err := w.e.st.RawScan(w.e.ctx, &rs, "SELECT * FROM "+table+" WHERE workspace_id = ? ORDER BY id", w.e.ws); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			for k, v := range r {
				switch x := v.(type) {
				case []byte:
					r[k] = string(x)
				case [16]byte:
					r[k] = uuid.UUID(x).String()
				}
				if strings.HasSuffix(k, "_at") || k == "id" {
					delete(r, k) // the time, and an id only its order tells apart
				}
			}
			j, _ := json.Marshal(r)
			fmt.Fprintf(&b, "%s %s\n", table, j)
		}
	}
	var counted int64
	if err := w.e.st.RawScan(w.e.ctx, &counted, "SELECT COALESCE(SUM(n), 0) FROM scim_counters WHERE workspace_id = ? AND kind = 'users'", w.e.ws); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "users counted %d\n", counted)
	text := timePattern.ReplaceAllString(strings.ReplaceAll(b.String(), w.domain, "D"), "T")
	ids := map[string]string{}
	return uuidPattern.ReplaceAllStringFunc(text, func(id string) string {
		if _, ok := ids[id]; !ok {
			ids[id] = fmt.Sprintf("id%d", len(ids))
		}
		return ids[id]
	})
}

// TestSignInDeferredRowsOracle holds a browser's first sign-in, whose records write the rows
// it provisions (decideOptions.thenWrites) and which on PostgreSQL runs in no transaction
// unless it writes more than once, to the plain path, whose decision writes them in its
// transaction. Two workspaces are set up alike; each case signs in the same identity in
// both, plainly in one and deferred in the other, and the rows the two workspaces hold then
// are the same but for ids and times.
func TestSignInDeferredRowsOracle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		plain, deferred := newDeferredWorld(t, e, "plain.test", false), newDeferredWorld(t, e, "deferred.test", true)
		cases := []struct {
			name string
			jit  bool
			id   Identity
			want SignInOutcome
		}{
			{"provisioned into an individual account", true, Identity{Identifier: "n1", Email: "new1@D", FirstName: "New", LastName: "One"}, SignInProvisioned},
			{"provisioned into the company's account", true, Identity{Identifier: "n2", Email: "new2@D", Claims: map[string]any{"company": "Acme"}}, SignInProvisioned},
			{"provisioned with a derived email", true, Identity{Identifier: "n3", FirstName: "Derived"}, SignInProvisioned},
			{"provisioned with the identifier as email", true, Identity{Identifier: "n4@D"}, SignInProvisioned},
			{"existing, profile refreshed", true, Identity{Identifier: "n1", Email: "new1@D", FirstName: "Renamed", LastName: "One"}, SignInExistingIdentity},
			{"linked by email", true, Identity{Identifier: "bob-sub", Email: "bob@D", FirstName: "Robert"}, SignInLinkedByEmail},
			{"refused: no provisioning", false, Identity{Identifier: "x", Email: "x@D"}, SignInRefused},
			{"refused: the user name is taken", true, Identity{Identifier: "jane-new", Email: "jane@D"}, SignInRefused},
			{"refused: the derived email is taken", true, Identity{Identifier: "new1"}, SignInRefused},
		}
		for _, c := range cases {
			var outcomes, reasons []string
			for _, w := range []*deferredWorld{plain, deferred} {
				conn := w.jit
				if !c.jit {
					conn = w.noJIT
				}
				id := c.id
				id.Identifier = strings.ReplaceAll(id.Identifier, "@D", "@"+w.domain)
				res, err := w.signIn(conn, id)
				if res == nil || (err != nil) != (res.Outcome == SignInRefused) {
					t.Fatalf("%s: %+v, %v", c.name, res, err)
				}
				outcomes, reasons = append(outcomes, string(res.Outcome)), append(reasons, strings.ReplaceAll(res.Reason, w.domain, "D"))
			}
			if outcomes[0] != string(c.want) || outcomes[1] != outcomes[0] || reasons[1] != reasons[0] {
				t.Fatalf("%s: plain %s %q, deferred %s %q; want %s", c.name, outcomes[0], reasons[0], outcomes[1], reasons[1], c.want)
			}
			if p, d := plain.rows(t), deferred.rows(t); p != d {
				t.Fatalf("%s: the workspaces differ\nplain:\n%s\ndeferred:\n%s", c.name, p, d)
			}
		}
		if p, d := plain.deferredRows.Load(), deferred.deferredRows.Load(); p != 0 || d != 4 {
			t.Fatalf("records wrote provisioned rows %d times plainly, %d deferred; want 0 and 4", p, d)
		}
	})
}

// Many first sign-ins of one person at once whose records write the provisioned rows create
// one account, as the plain path's do (TestSignInConcurrent): the losers' statements fail
// whole on the unique indexes, and they decide again.
func TestSignInDeferredConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		w := newDeferredWorld(t, e, "concurrent.test", true)
		const n = 12
		results, errs := atOnce(n, func(int) (*SignInResult, error) {
			return w.signIn(w.jit, Identity{Identifier: "pat-sub", Email: "pat@D", FirstName: "Pat"})
		})
		outcomes := map[SignInOutcome]int{}
		for i := range n {
			if errs[i] != nil || results[i].UserAccount.ID != results[0].UserAccount.ID {
				t.Fatalf("sign-in %d: %+v, %v; sign-in 0: %+v", i, results[i], errs[i], results[0])
			}
			outcomes[results[i].Outcome]++
		}
		if outcomes[SignInProvisioned] != 1 || outcomes[SignInExistingIdentity] != n-1 {
			t.Fatalf("outcomes %v", outcomes)
		}
		var users, creds, events int
		for table, v := range map[string]*int{"user_accounts": &users, "credentials": &creds, "sign_in_events": &events} {
			if err := e.st.RawScan(e.ctx, v, "SELECT count(*) FROM "+table+" WHERE workspace_id = ?", w.brand.WorkspaceID); err != nil {
				t.Fatal(err)
			}
		}
		if users != 3 || creds != 1 || events != n { // bob and jane, and pat
			t.Fatalf("%d user accounts, %d credentials, %d sign-in events", users, creds, events)
		}
	})
}
