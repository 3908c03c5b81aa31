package provision

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx" driver, for the trigger below

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// testEnv is a Service over a real, fresh database and a caller with every scope.
type testEnv struct {
	t   *testing.T
	s   *Service
	st  *store.Store
	ctx context.Context
	ws  uuid.UUID
}

func newTestEnv(t *testing.T, dbURL string) *testEnv {
	t.Helper()
	return newTestEnvWith(t, dbURL, store.Options{}, Options{})
}

// newTestEnvWith is newTestEnv with the store's and the service's options.
func newTestEnvWith(t *testing.T, dbURL string, storeOpts store.Options, opts Options) *testEnv {
	t.Helper()
	ctx := context.Background()
	st := migratedStore(t, dbURL, storeOpts)
	box, err := secret.NewBox(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	s := New(st, box, opts)
	boot, err := s.Bootstrap(ctx, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx = WithPrincipal(ctx, &Principal{ClientID: "test", WorkspaceID: boot.WorkspaceID, Scopes: models.AllScopes, ActorType: "client"})
	return &testEnv{t: t, s: s, st: st, ctx: ctx, ws: boot.WorkspaceID}
}

// migratedStore opens the store at dbURL, migrated, closed with the test.
func migratedStore(t *testing.T, dbURL string, opts store.Options) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// must returns v, or panics (failing the test) on a setup error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// connection creates an OIDC connection and, when active, moves it to active directly in the
// store (the test-and-activate lifecycle is not this package's concern here).
func (e *testEnv) connection(slug string, jit bool, role string, active bool) *models.Connection {
	e.t.Helper()
	name, proto := "IdP "+slug, models.ProtocolOIDC
	issuer, client, sec := "https://idp.example.com/"+slug, "client", "secret"
	c := must(e.s.CreateConnection(e.ctx, ConnectionInput{Name: &name, Slug: &slug, Protocol: &proto,
		OIDC: &OIDCConfigInput{IssuerURL: &issuer, ClientID: &client, ClientSecret: &sec}, JITProvisioning: &jit, DefaultRole: &role}))
	if active {
		c.Status = models.StatusActive
		if err := e.st.UpdateConnection(e.ctx, c); err != nil {
			e.t.Fatal(err)
		}
	}
	return c
}

// verifyDomain records name as a verified domain of the connection, as domain verification would.
func (e *testEnv) verifyDomain(conn *models.Connection, name string) {
	e.t.Helper()
	now := time.Now().UTC()
	err := e.st.Create(e.ctx, &models.Domain{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: conn.ID, Name: name,
		Status: models.DomainVerified, VerificationMethod: models.VerifyDNSTXT, VerificationToken: "t", VerifiedAt: &now,
		CreatedAt: now, UpdatedAt: now})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.st.RawScan(e.ctx, &n, "SELECT count(*) FROM "+table); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// lastAudit returns the newest audit event.
func (e *testEnv) lastAudit() (*models.AuditEvent, map[string]any) {
	e.t.Helper()
	es := must(e.st.AuditEvents(e.ctx, e.ws, nil, 1))
	m := map[string]any{}
	_ = json.Unmarshal([]byte(es[0].Summary), &m)
	return es[0], m
}

func ptr[T any](v T) *T { return &v }

func TestSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		ctx := e.ctx
		brand := must(e.s.CreateBrand(ctx, BrandInput{Name: ptr("Portal")}))
		okta := e.connection("okta", false, "member", true)
		acme := must(e.s.CreateCompany(ctx, "Acme"))
		acmeFirst := must(e.s.CreateAccount(ctx, AccountInput{Name: ptr("Acme First"), Type: ptr(models.AccountCompany), CompanyID: ptr(acme.ID.String())}))
		must(e.s.CreateAccount(ctx, AccountInput{Name: ptr("Acme Second"), Type: ptr(models.AccountCompany), CompanyID: ptr(acme.ID.String())}))

		// expectRefused checks a refusal: the error, the reason, nothing created, and its audit event.
		expectRefused := func(t *testing.T, conn *models.Connection, id Identity, reason string) {
			t.Helper()
			users, creds := e.count("user_accounts"), e.count("credentials")
			res, err := e.s.SignIn(context.Background(), brand.ID, conn.ID, id)
			if models.ErrorCode(err) != models.EFORBIDDEN || res == nil || res.Outcome != SignInRefused ||
				res.Reason != reason || res.UserAccount != nil || models.PublicMessage(err) != reason {
				t.Fatalf("SignIn = %+v, %v; want refusal %q", res, err, reason)
			}
			if e.count("user_accounts") != users || e.count("credentials") != creds {
				t.Fatal("a refused sign-in changed accounts or credentials")
			}
			ev, sum := e.lastAudit()
			if ev.Action != "sign_in.refused" || ev.ActorType != "sign_in" || sum["reason"] != reason || sum["identifier"] != strings.TrimSpace(id.Identifier) {
				t.Fatalf("audit: %+v %v", ev, sum)
			}
		}
		signIn := func(t *testing.T, conn *models.Connection, id Identity, want SignInOutcome) *SignInResult {
			t.Helper()
			res, err := e.s.SignIn(context.Background(), brand.ID, conn.ID, id)
			if err != nil || res.Outcome != want || res.UserAccount == nil || res.Reason == "" {
				t.Fatalf("SignIn = %+v, %v; want %s", res, err, want)
			}
			cred, err := e.st.CredentialByIdentity(ctx, e.ws, conn.ID, models.Key(id.Identifier))
			if err != nil || cred.UserAccountID != res.UserAccount.ID {
				t.Fatalf("identity not bound to the account: %+v %v", cred, err)
			}
			ev, sum := e.lastAudit()
			if ev.Action != "sign_in."+string(want) || ev.ActorType != "sign_in" || ev.TargetID != res.UserAccount.ID.String() || sum["reason"] != res.Reason {
				t.Fatalf("audit: %+v %v", ev, sum)
			}
			return res
		}
		jane := Identity{Identifier: "jane-sub", Email: "jane@acme.test", FirstName: "Jane", LastName: "Doe",
			Claims: map[string]any{"company": "Acme"}}

		t.Run("refused when nothing provisions", func(t *testing.T) {
			expectRefused(t, okta, jane, reasonNoAutoProvisioning)
		})
		t.Run("refused through an inactive connection", func(t *testing.T) {
			inactive := e.connection("inactive", true, "viewer", false)
			expectRefused(t, inactive, jane, reasonConnectionInactive)
		})

		must(nil2(e.s.CreateIdentityProviderConfiguration(ctx, IdentityProviderConfigurationInput{
			BrandID: brand.ID.String(), IdentityProviderID: okta.ID.String(), AutoProvisionLearners: ptr(true)})))
		var janeID uuid.UUID

		t.Run("provisioned: role, placement by company match, binding", func(t *testing.T) {
			accounts := e.count("accounts")
			res := signIn(t, okta, jane, SignInProvisioned)
			u := res.UserAccount
			janeID = u.ID
			if u.Email != "jane@acme.test" || u.FirstName != "Jane" || u.Role != "member" || !u.Active ||
				u.AccountID == nil || *u.AccountID != acmeFirst.ID || res.Placement.Rule != RuleCompanyMatch {
				t.Fatalf("provisioned %+v placement %+v", u, res.Placement)
			}
			if e.count("accounts") != accounts {
				t.Fatal("a company match created an account")
			}
			stored := must(e.st.UserAccount(ctx, e.ws, u.ID))
			if stored.Role != "member" || *stored.AccountID != acmeFirst.ID {
				t.Fatalf("stored %+v", stored)
			}
			if _, sum := e.lastAudit(); sum["placementRule"] != string(RuleCompanyMatch) || sum["role"] != "member" {
				t.Fatalf("audit summary %v", sum)
			}
		})
		t.Run("the bound identity signs in again (identifier compared case-insensitively)", func(t *testing.T) {
			users := e.count("user_accounts")
			again := jane
			again.Identifier, again.Email = "JANE-SUB", "someone-else@acme.test"
			res := signIn(t, okta, again, SignInExistingIdentity)
			if res.UserAccount.ID != janeID || e.count("user_accounts") != users {
				t.Fatalf("signed in as %v", res.UserAccount.ID)
			}
		})
		t.Run("a deactivated account never signs in", func(t *testing.T) {
			must(e.s.DeactivateUserAccount(ctx, janeID.String()))
			expectRefused(t, okta, jane, reasonDeactivated)
			must(e.s.ReactivateUserAccount(ctx, janeID.String()))
			signIn(t, okta, jane, SignInExistingIdentity)
		})
		t.Run("provisioned into a new individual account", func(t *testing.T) {
			accounts := e.count("accounts")
			res := signIn(t, okta, Identity{Identifier: "sam", Email: "sam@example.org", FirstName: "Sam", LastName: "Smith",
				Claims: map[string]any{"company": "acme"}}, SignInProvisioned)
			a := must(e.st.Account(ctx, e.ws, *res.UserAccount.AccountID))
			if res.Placement.Rule != RuleIndividualAccount || a.Type != models.AccountIndividual || a.Name != "Sam Smith" ||
				a.CompanyID != nil || e.count("accounts") != accounts+1 {
				t.Fatalf("account %+v placement %+v", a, res.Placement)
			}
		})
		t.Run("provisioned into the default account", func(t *testing.T) {
			def := must(e.s.CreateAccount(ctx, AccountInput{Name: ptr("Default"), Type: ptr(models.AccountIndividual)}))
			must(nil2(e.s.UpdateIdentityProviderConfiguration(ctx, IdentityProviderConfigurationInput{
				BrandID: brand.ID.String(), IdentityProviderID: okta.ID.String(), DefaultAccountID: ptr(def.ID.String())})))
			res := signIn(t, okta, Identity{Identifier: "kim", Email: "kim@acme.test", Claims: map[string]any{"company": "Acme"}}, SignInProvisioned)
			if res.Placement.Rule != RuleDefaultAccount || *res.UserAccount.AccountID != def.ID {
				t.Fatalf("placement %+v", res.Placement)
			}
		})
		t.Run("the connection's JIT provisioning works without a brand configuration", func(t *testing.T) {
			jit := e.connection("jit", true, "admin", true)
			res := signIn(t, jit, Identity{Identifier: "lee", Email: "lee@example.org"}, SignInProvisioned)
			if res.UserAccount.Role != "admin" || res.Placement.Rule != RuleIndividualAccount {
				t.Fatalf("%+v %+v", res.UserAccount, res.Placement)
			}
		})
		t.Run("provisioning needs an email", func(t *testing.T) {
			expectRefused(t, okta, Identity{Identifier: "no-mail", Email: "not an email"}, reasonNoEmail)
		})
		t.Run("provisioning refuses a derived email another account has, saying so", func(t *testing.T) {
			// No email claim; the identifier is an address, kim's (provisioned above).
			expectRefused(t, okta, Identity{Identifier: "Kim@acme.test"}, reasonDerivedEmailTaken)
			if _, sum := e.lastAudit(); !strings.Contains(sum["detail"].(string), "Kim@acme.test") {
				t.Fatalf("the audit detail does not name the address: %v", sum["detail"])
			}
		})

		e.verifyDomain(okta, "verified.test")
		t.Run("an existing account without a credential is linked when its domain is verified", func(t *testing.T) {
			bob := must(e.s.CreateUserAccount(ctx, CreateUserAccountInput{Email: "bob@verified.test"}))
			users := e.count("user_accounts")
			res := signIn(t, okta, Identity{Identifier: "bob-sub", Email: "Bob@Verified.TEST"}, SignInLinkedByEmail)
			if res.UserAccount.ID != bob.ID || e.count("user_accounts") != users {
				t.Fatalf("linked %+v", res.UserAccount)
			}
			res = signIn(t, okta, Identity{Identifier: "bob-sub"}, SignInExistingIdentity)
			if res.UserAccount.ID != bob.ID {
				t.Fatal("the linked identity does not sign in")
			}
		})
		t.Run("an account bound to another identity at the connection is not linked", func(t *testing.T) {
			expectRefused(t, okta, Identity{Identifier: "bob-other", Email: "bob@verified.test"}, reasonOtherIdentity)
		})
		t.Run("an unverified domain is refused", func(t *testing.T) {
			must(e.s.CreateUserAccount(ctx, CreateUserAccountInput{Email: "carol@unverified.test"}))
			expectRefused(t, okta, Identity{Identifier: "carol-sub", Email: "carol@unverified.test"}, reasonDomainUnverified)
			// verified for another connection does not count
			other := e.connection("other", true, "viewer", true)
			e.verifyDomain(other, "unverified.test")
			expectRefused(t, okta, Identity{Identifier: "carol-sub", Email: "carol@unverified.test"}, reasonDomainUnverified)
		})
		t.Run("a deactivated account is not linked", func(t *testing.T) {
			dave := must(e.s.CreateUserAccount(ctx, CreateUserAccountInput{Email: "dave@verified.test"}))
			must(e.s.DeactivateUserAccount(ctx, dave.ID.String()))
			expectRefused(t, okta, Identity{Identifier: "dave-sub", Email: "dave@verified.test"}, reasonDeactivated)
		})
		t.Run("bad input", func(t *testing.T) {
			if _, err := e.s.SignIn(ctx, brand.ID, okta.ID, Identity{Identifier: "  "}); models.ErrorCode(err) != models.EINVALID {
				t.Fatalf("blank identifier: %v", err)
			}
			for _, id := range []Identity{{Identifier: "nul\x00sub"}, {Identifier: "sub", Email: "x\u202e@verified.test"},
				{Identifier: "sub", FirstName: "Ada\nLovelace"}} {
				before := e.count("user_accounts")
				_, err := e.s.SignIn(ctx, brand.ID, okta.ID, id)
				var me *models.Error
				if !errors.As(err, &me) || me.Code != models.EINVALID || me.Field == "" || !strings.Contains(me.Message, "must not contain") {
					t.Fatalf("identity %+v breaking the text rule: %v", id, err)
				}
				if e.count("user_accounts") != before {
					t.Fatalf("identity %+v breaking the text rule created an account", id)
				}
			}
			if _, err := e.s.SignIn(ctx, uuid.New(), okta.ID, jane); models.ErrorCode(err) != models.ENOTFOUND {
				t.Fatalf("unknown brand: %v", err)
			}
			if _, err := e.s.SignIn(ctx, brand.ID, uuid.New(), jane); models.ErrorCode(err) != models.ENOTFOUND {
				t.Fatalf("unknown connection: %v", err)
			}
		})
	})
}

// nil2 drops the first of three results.
func nil2[A, B any](_ A, b B, err error) (B, error) { return b, err }

// Many first sign-ins of the same person at once create one account, one credential and one
// individual account; every one of them signs in as that account.
func TestSignInConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		races := &lineCounter{substr: "lost a race"}
		e.s.log = slog.New(slog.NewTextHandler(races, nil))
		brand := must(e.s.CreateBrand(e.ctx, BrandInput{Name: ptr("Portal")}))
		conn := e.connection("okta", true, "viewer", true)
		defer func() { t.Logf("%d sign-ins lost a race and decided again", races.count()) }()
		accounts := e.count("accounts")
		const n = 12
		for round, id := range []Identity{
			{Identifier: "pat-sub", Email: "pat@example.org", FirstName: "Pat"},
			{Identifier: "quinn-sub", Email: "quinn@example.org", FirstName: "Quinn"},
		} {
			results, errs := signInAtOnce(e, brand.ID, conn.ID, n, func(int) Identity { return id })
			outcomes := map[SignInOutcome]int{}
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("sign-in %d: %v", i, errs[i])
				}
				if results[i].UserAccount.ID != results[0].UserAccount.ID {
					t.Fatalf("sign-in %d signed in as %v, sign-in 0 as %v", i, results[i].UserAccount.ID, results[0].UserAccount.ID)
				}
				outcomes[results[i].Outcome]++
			}
			if outcomes[SignInProvisioned] != 1 || outcomes[SignInExistingIdentity] != n-1 {
				t.Fatalf("outcomes %v", outcomes)
			}
			if got := e.count("user_accounts"); got != round+1 {
				t.Fatalf("%d user accounts", got)
			}
			if got := e.count("credentials"); got != round+1 {
				t.Fatalf("%d credentials", got)
			}
			if got := e.count("accounts"); got != accounts+round+1 {
				t.Fatalf("%d accounts, want %d", got, accounts+round+1)
			}
		}
	})
}

// Several identities of one connection sending the email of one existing account link it at
// once: exactly one signs in (linked by email) and keeps the binding, every other is refused as
// another identity, and no attempt fails. A link that replaced the account's binding let
// several sign in on PostgreSQL, the last one taking the binding over.
func TestSignInConcurrentLinkByEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		brand := must(e.s.CreateBrand(e.ctx, BrandInput{Name: ptr("Portal")}))
		conn := e.connection("okta", false, "viewer", true)
		e.verifyDomain(conn, "verified.test")
		const n, rounds = 6, 5
		for round := range rounds {
			email := fmt.Sprintf("p%d@verified.test", round)
			u := must(e.s.CreateUserAccount(e.ctx, CreateUserAccountInput{Email: email}))
			results, errs := signInAtOnce(e, brand.ID, conn.ID, n, func(i int) Identity {
				return Identity{Identifier: fmt.Sprintf("%s-sub%d", email, i), Email: email}
			})
			winner := -1
			for i := range n {
				switch r := results[i]; {
				case r != nil && r.Outcome == SignInLinkedByEmail && errs[i] == nil:
					if winner >= 0 {
						t.Fatalf("round %d: identities %d and %d both signed in as account %s", round, winner, i, u.ID)
					}
					winner = i
				case r != nil && r.Outcome == SignInRefused && r.Reason == reasonOtherIdentity:
				default:
					t.Fatalf("round %d, sign-in %d: %+v, %v", round, i, r, errs[i])
				}
			}
			creds := must(e.st.CredentialsForAccounts(e.ctx, e.ws, []uuid.UUID{u.ID}))[u.ID]
			if winner < 0 || len(creds) != 1 || creds[0].Identifier != fmt.Sprintf("%s-sub%d", email, winner) {
				t.Fatalf("round %d: winner %d, the account's bindings %+v", round, winner, creds)
			}
		}
	})
}

// A new account's user name is its email. When another account has that address as its user
// name (its IdP named it so through SCIM, with another email), the first sign-in is refused
// with a reason the person can act on: no account, no binding, and no server error after
// deciding again and again as for a lost race.
func TestSignInUserNameTaken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		brand := must(e.s.CreateBrand(e.ctx, BrandInput{Name: ptr("Portal")}))
		conn := e.connection("okta", true, "viewer", true)
		now := e.s.now()
		tok := &models.SCIMToken{ID: store.NewID(), WorkspaceID: e.ws, Name: "okta", TokenHash: "h", MaskedValue: "m",
			ScopeString: "users:read users:write", CreatedAt: now, UpdatedAt: now}
		if err := e.st.Create(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
		must(e.s.CreateSCIMUser(WithSCIMCaller(context.Background(), &SCIMCaller{Token: tok}),
			SCIMUserInput{UserName: "jane@example.org", Active: true, Email: "jane.doe@example.org"}))
		users, creds := e.count("user_accounts"), e.count("credentials")
		res, err := e.s.SignIn(context.Background(), brand.ID, conn.ID, Identity{Identifier: "newcomer", Email: "Jane@example.org"})
		if models.ErrorCode(err) != models.EFORBIDDEN || res == nil || res.Outcome != SignInRefused || res.Reason != reasonUserNameTaken {
			t.Fatalf("sign-in: %+v, %v (code %s)", res, err, models.ErrorCode(err))
		}
		if e.count("user_accounts") != users || e.count("credentials") != creds {
			t.Fatal("the refused sign-in wrote an account or a binding")
		}
		// A test sign-in shows what the sign-in does.
		dry, err := e.s.dryRun(context.Background(), &brand.ID, conn, Identity{Identifier: "newcomer", Email: "Jane@example.org"})
		if err != nil || dry.Outcome != SignInRefused || dry.Reason != reasonUserNameTaken {
			t.Fatalf("test sign-in: %+v, %v", dry, err)
		}
	})
}

// signInAtOnce starts n sign-ins, the i-th of identity(i), as nearly at once as goroutines
// allow, and returns their results and errors.
func signInAtOnce(e *testEnv, brandID, connID uuid.UUID, n int, identity func(i int) Identity) ([]*SignInResult, []error) {
	return atOnce(n, func(i int) (*SignInResult, error) {
		return e.s.SignIn(context.Background(), brandID, connID, identity(i))
	})
}

// atOnce runs signIn(0) to signIn(n-1) as nearly at once as goroutines allow, and returns
// their results and errors.
func atOnce(n int, signIn func(i int) (*SignInResult, error)) ([]*SignInResult, []error) {
	var wg sync.WaitGroup
	results := make([]*SignInResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = signIn(i)
		}()
	}
	close(start)
	wg.Wait()
	return results, errs
}

// lineCounter counts written log records containing substr.
type lineCounter struct {
	substr string
	mu     sync.Mutex
	n      int
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += strings.Count(string(p), c.substr)
	return len(p), nil
}

func (c *lineCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func TestSignInDryRunWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		brand := must(e.s.CreateBrand(e.ctx, BrandInput{Name: ptr("Dry Brand")}))
		conn := e.connection("dry", true, "member", true)
		before := []int{e.count("user_accounts"), e.count("credentials"), e.count("accounts"), e.count("audit_events")}
		res, err := e.s.SignInDryRun(e.ctx, brand.ID, conn.ID, Identity{Identifier: "sub-1", Email: "dry@example.com"})
		if err != nil || res.Outcome != SignInProvisioned {
			t.Fatalf("dry run: %+v %v", res, err)
		}
		after := []int{e.count("user_accounts"), e.count("credentials"), e.count("accounts"), e.count("audit_events")}
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("a dry run wrote rows: before %v, after %v", before, after)
		}
		res, err = e.s.SignIn(e.ctx, brand.ID, conn.ID, Identity{Identifier: "sub-1", Email: "dry@example.com"})
		if err != nil || res.Outcome != SignInProvisioned {
			t.Fatalf("real sign-in after a dry run: %+v %v", res, err)
		}
	})
}

func TestSignInDerivedEmailAndProfileRefresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		brand := must(e.s.CreateBrand(e.ctx, BrandInput{Name: ptr("Refresh Brand")}))
		conn := e.connection("refresh", true, "member", true)
		now := time.Now().UTC()
		if err := e.st.Create(e.ctx, &models.Domain{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: conn.ID, Name: "corp.example",
			Status: models.DomainVerified, VerificationMethod: models.VerifyDNSTXT, VerificationToken: "t", VerifiedAt: &now,
			IsPrimary: true, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		// No email claim, a non-email identifier: identifier@<primary domain>.
		res := must(e.s.SignIn(e.ctx, brand.ID, conn.ID, Identity{Identifier: "jdoe", FirstName: "J", LastName: "Doe"}))
		if res.Outcome != SignInProvisioned || res.UserAccount.Email != "jdoe@corp.example" {
			t.Fatalf("derived email: %+v", res.UserAccount)
		}
		// The IdP owns the profile it created: names and email follow its claims.
		res = must(e.s.SignIn(e.ctx, brand.ID, conn.ID, Identity{Identifier: "jdoe", Email: "jane.doe@corp.example", FirstName: "Jane", LastName: "Doe"}))
		u := must(e.st.UserAccount(e.ctx, e.ws, res.UserAccount.ID))
		if res.Outcome != SignInExistingIdentity || u.FirstName != "Jane" || u.Email != "jane.doe@corp.example" || res.UserAccount.FirstName != "Jane" {
			t.Fatalf("refresh of an owned profile: %+v", u)
		}
		// An account SCIM created through a token bound to the connection is the IdP's too.
		tok := &models.SCIMToken{ID: store.NewID(), WorkspaceID: e.ws, Name: "okta", TokenHash: "h", MaskedValue: "m",
			ScopeString: "users:read users:write", ConnectionID: &conn.ID, CreatedAt: now, UpdatedAt: now}
		if err := e.st.Create(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
		scimCtx := WithSCIMCaller(context.Background(), &SCIMCaller{Token: tok})
		su := must(e.s.CreateSCIMUser(scimCtx, SCIMUserInput{UserName: "sam", Active: true, Email: "sam@corp.example", GivenName: "Sam", FamilyName: "Old"}))
		res = must(e.s.SignIn(e.ctx, brand.ID, conn.ID, Identity{Identifier: "sam", Email: "sam@corp.example", FirstName: "Sam", LastName: "New"}))
		if u := must(e.st.UserAccount(e.ctx, e.ws, su.ID)); res.Outcome != SignInExistingIdentity || u.LastName != "New" {
			t.Fatalf("refresh of a SCIM-created profile: %s %+v", res.Outcome, u)
		}
		// An account an admin created and bound keeps its names.
		admin := must(e.s.CreateUserAccount(e.ctx, CreateUserAccountInput{Email: "boss@corp.example", FirstName: "Big", LastName: "Boss"}))
		must(e.s.SignIn(e.ctx, brand.ID, conn.ID, Identity{Identifier: "boss", Email: "boss@corp.example", FirstName: "B"}))
		res = must(e.s.SignIn(e.ctx, brand.ID, conn.ID, Identity{Identifier: "boss", Email: "boss@corp.example", FirstName: "Someone", LastName: "Else"}))
		u = must(e.st.UserAccount(e.ctx, e.ws, admin.ID))
		if res.Outcome != SignInExistingIdentity || u.FirstName != "Big" || u.LastName != "Boss" {
			t.Fatalf("an admin's account must keep its names: %+v", u)
		}
	})
}

// A link by email whose account is deleted (as by SCIM's DELETE) after the decision found it and
// before the binding's insert fails that insert on the account's foreign key. The sign-in then
// decides again, on what is there now, rather than ending in a server error: here no account has
// the email any more, so the connection's JIT provisions a new one. PostgreSQL only: SQLite runs
// each decision's transaction alone (BEGIN IMMEDIATE), so the deletion cannot fall inside it.
// A trigger holds the binding's insert on an advisory lock the test holds, once, so that the
// deletion commits exactly in that window.
func TestSignInLinkedAccountDeletedMidDecision(t *testing.T) {
	if !slices.Contains(storetest.Dialects(), "postgres") {
		t.Skip("PostgreSQL only; " + storetest.EnvPostgres + " is not set")
	}
	dbURL := storetest.URL(t, "postgres")
	e := newTestEnv(t, dbURL)
	brand := must(e.s.CreateBrand(e.ctx, BrandInput{Name: ptr("Portal")}))
	conn := e.connection("okta", true, "viewer", true)
	e.verifyDomain(conn, "verified.test")
	u := must(e.s.CreateUserAccount(e.ctx, CreateUserAccountInput{Email: "jane@verified.test"}))

	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, q := range []string{
		`CREATE SEQUENCE hold_once`,
		`CREATE FUNCTION hold_link() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('hold_once') = 1 THEN PERFORM pg_advisory_xact_lock(4242); END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER hold_link BEFORE INSERT ON credentials FOR EACH ROW EXECUTE FUNCTION hold_link()`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock(4242)`); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		res *SignInResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := e.s.SignIn(context.Background(), brand.ID, conn.ID, Identity{Identifier: "jane-sub", Email: "jane@verified.test"})
		done <- outcome{res, err}
	}()
	// The decision found the account by email and waits at the binding's insert.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sign-in never reached the binding's insert")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if gone, err := e.st.DeleteUserAccount(e.ctx, e.ws, u.ID); err != nil || !gone {
		t.Fatalf("deleting the account: %v, %v", gone, err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_unlock(4242)`); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil || got.res.Outcome != SignInProvisioned || got.res.UserAccount == nil || got.res.UserAccount.ID == u.ID {
		t.Fatalf("sign-in after the account's deletion: %+v, %v", got.res, got.err)
	}
}

// TestSignInKeyIsTheBindings: every accepted decision's identifierKey, which a browser
// sign-in's grant records (newGrant) and which holds the grant only while the account is bound
// to it (store.grantStillBound), is the key of the credential the account is bound by at the
// connection, whatever the case, surrounding space and Unicode of the identifier the identity
// provider sent: provisioned (with the email sent, and with one derived), linked by email, and
// the bound identity signing in again in another form. Otherwise a legitimate sign-in's code
// would not redeem. Both databases.
func TestSignInKeyIsTheBindings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		brand := must(e.s.CreateBrand(e.ctx, BrandInput{Name: ptr("Portal")}))
		conn := e.connection("keys", true, "member", true)
		now := time.Now().UTC()
		if err := e.st.Create(e.ctx, &models.Domain{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: conn.ID, Name: "keys.test",
			Status: models.DomainVerified, VerificationMethod: models.VerifyDNSTXT, VerificationToken: "t", VerifiedAt: &now,
			IsPrimary: true, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		signIn := func(t *testing.T, id Identity, want SignInOutcome) *SignInResult {
			t.Helper()
			res, err := e.s.SignIn(context.Background(), brand.ID, conn.ID, id)
			if err != nil || res.Outcome != want {
				t.Fatalf("SignIn(%q) = %+v, %v; want %s", id.Identifier, res, err, want)
			}
			creds := must(e.st.CredentialsForAccounts(e.ctx, e.ws, []uuid.UUID{res.UserAccount.ID}))
			for _, c := range creds[res.UserAccount.ID] {
				if c.ConnectionID == conn.ID {
					if res.identifierKey == "" || res.identifierKey != c.IdentifierKey {
						t.Fatalf("SignIn(%q): the grant's key %q, the binding's %q", id.Identifier, res.identifierKey, c.IdentifierKey)
					}
					return res
				}
			}
			t.Fatalf("SignIn(%q): the account is bound to nothing at the connection", id.Identifier)
			return nil
		}
		must(e.s.CreateUserAccount(e.ctx, CreateUserAccountInput{Email: "linked@keys.test"}))
		for _, tc := range []struct {
			name    string
			first   Identity
			want    SignInOutcome
			againAs string
		}{
			{"provisioned", Identity{Identifier: "  Ünïcode-ÉRIC\t", Email: "eric@keys.test"}, SignInProvisioned, "ünïcode-éric"},
			{"provisioned, the Kelvin sign", Identity{Identifier: "KELVIN-\u212A", Email: "kelvin@keys.test"}, SignInProvisioned, " kelvin-k "},
			{"provisioned with a derived email", Identity{Identifier: " Ĳssel-Ǆ "}, SignInProvisioned, "ĳssel-ǆ"},
			{"linked by email", Identity{Identifier: "\u00a0LİNKED-Σ", Email: "Linked@Keys.Test"}, SignInLinkedByEmail, "linked-σ"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				first := signIn(t, tc.first, tc.want)
				again := signIn(t, Identity{Identifier: tc.againAs}, SignInExistingIdentity)
				if again.UserAccount.ID != first.UserAccount.ID || again.identifierKey != first.identifierKey {
					t.Fatalf("signed in again as %v by %q; first %v by %q", again.UserAccount.ID, again.identifierKey, first.UserAccount.ID, first.identifierKey)
				}
			})
		}
	})
}
