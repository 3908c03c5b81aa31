// Package conformance is the store's declared contract as a test suite, in the manner of dex's
// storage/conformance: RunTests runs one subtest per exported method of *store.Store (methods
// that are trivially alike share one) against any database, asserting the happy path and the
// error contract each method documents — a missing row is store.ErrNotFound, a duplicate is
// store.ErrAlreadyExists naming its field, a lost optimistic update is store.ErrStale. Methods
// lists what the suite covers, so that a test can fail when a new method has no subtest.
// It is imported by tests only.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/clock"
	"gatehouse/models"
	"gatehouse/store"
)

// test is one subtest: the store methods it exercises, and the body.
type test struct {
	methods []string
	run     func(e *env)
}

// Methods returns the name of every *store.Store method the suite has a subtest for.
func Methods() []string {
	var out []string
	for _, tc := range tests {
		out = append(out, tc.methods...)
	}
	return out
}

// RunTests runs the suite. newStore returns a handle on a migrated database; every subtest
// asks for its own handle (it may close it) and works in workspaces of its own, so handles may
// share one database. Subtests that touch installation-wide rows (signing keys, SAML keys,
// pruning) only assert about rows they wrote.
func RunTests(t *testing.T, newStore func(t *testing.T) *store.Store) {
	for _, tc := range tests {
		t.Run(strings.Join(tc.methods, ","), func(t *testing.T) {
			tc.run(newEnv(t, newStore(t)))
		})
	}
}

var tests = []test{
	{[]string{"Dialect", "Ping", "DB", "RawScan", "Migratable", "Migrate", "SchemaVersion", "CaseFoldingWarning", "Close"}, testLifecycle},
	{[]string{"Pools"}, testAsyncCommit},
	{[]string{"Create", "CreateAll"}, testCreate},
	{[]string{"InTx"}, testInTx},
	{[]string{"InTxFromFirstWrite"}, testFirstWrite},
	{[]string{"Workspace", "Workspaces"}, testWorkspaces},
	{[]string{"CountIntegrationClients", "PlatformAdminWorkspace", "IntegrationClientByClientID", "IntegrationClient",
		"IntegrationClients", "UpdateIntegrationClient", "LockBootstrap", "HasIntegrationClients"}, testIntegrationClients},
	{[]string{"SigningKeys", "RetireSigningKeysExcept", "DeleteRetiredSigningKeys", "AddSigningKeyIfNone", "LockSigningKeys", "SealedSigningKey"}, testSigningKeys},
	{[]string{"UserAccount", "UserAccountsByIDs", "UserAccountByEmail", "UserAccounts", "CountUserAccounts",
		"CreateUserAccounts", "UpdateUserAccount", "SetUserAccountAccount"}, testUserAccounts},
	{[]string{"Brand", "BrandByID", "Brands", "UpdateBrand"}, testBrands},
	{[]string{"Company", "CompanyByName", "CompaniesByIDs", "Companies", "UpdateCompany"}, testCompanies},
	{[]string{"Account", "AccountForUpdate", "AccountsByIDs", "OldestAccountOf", "Accounts", "UpdateAccount"}, testAccounts},
	{[]string{"Connection", "ConnectionBySlug", "ConnectionsBySlugs", "Connections", "ConnectionsByIDs",
		"ConnectionsPage", "ConnectionNameTaken", "ConnectionForShare", "ConnectionForUpdate", "UpdateConnection", "DeleteConnection", "SAMLConnection", "SAMLCertificates",
		"SAMLMetadataRefreshes", "SAMLMetadataWorkspaces", "SAMLMetadataReads", "RecordSAMLMetadataCheck", "SetSAMLMetadataReport"}, testConnections},
	{[]string{"IdentityProviderConfiguration", "IdentityProviderConfigurations", "UpdateIdentityProviderConfiguration",
		"DeleteIdentityProviderConfiguration"}, testIdPConfigurations},
	{[]string{"UpsertCredential", "CreateCredential", "CredentialByIdentity", "CredentialsByIdentities", "CredentialsForAccounts",
		"DeleteCredential", "DeleteCredentials"}, testCredentials},
	{[]string{"BindCredential", "BindingTargets", "BindAccountCredential", "LockBulkBinding"}, testBinding},
	{[]string{"Domain", "Domains", "DomainsFor", "DomainVerifiedFor", "CountDomains", "VerifiedDomainElsewhere",
		"SaveDomain", "SaveDomainUnlessVerified", "ClearPrimaryDomain", "PromotePrimaryDomain", "DeleteDomain", "ConnectionByVerifiedDomain"}, testDomains},
	{[]string{"Group", "SCIMGroups", "SaveGroup", "DeleteGroup", "ExistingUserIDs", "ChangeMembers", "GroupMembers",
		"GroupsOfUsers", "TouchMembersOf"}, testGroups},
	{[]string{"SCIMUser", "SCIMUsers", "UserAccountForUpdate", "SaveSCIMUser", "SaveSCIMUserWith",
		"UserAccountWithGroupsForUpdate", "DeleteUserAccount", "TouchGroupsOf"}, testSCIMUsers},
	{[]string{"SetSCIMUserActive"}, testSetSCIMUserActive},
	{[]string{"SCIMTokens", "SCIMToken", "SCIMTokenByHash", "RevokeSCIMToken", "SCIMTokensOfConnection", "DeleteSCIMTokenActivity", "DeleteSCIMToken"}, testSCIMTokens},
	{[]string{"SCIMActivities", "PruneSCIMActivities", "SCIMStatistics", "ReconcileCounts"}, testSCIMActivity},
	{[]string{"RevokeToken", "RevokedToken", "PruneRevokedTokens"}, testRevokedTokens},
	{[]string{"Application", "ApplicationByClientID", "Applications", "UpdateApplication", "DeleteApplication"}, testApplications},
	{[]string{"CreateFlow", "ClaimFlow", "FlowByUpstreamState", "FlowByUpstreamRequest", "SAMLFlow",
		"RekeyFlow", "FinishFlow", "MarkFlowFailed", "PruneSignInState"}, testFlows},
	{[]string{"ClaimSAMLFlow"}, testClaimSAMLFlow},
	{[]string{"CreateGrant", "RedeemGrant", "BoundGrant", "RevokeGrant", "VoidGrant", "RevokeGrantsOf"}, testGrants},
	{[]string{"CreateAuditEvent", "AuditEvents", "CreateSignInEvent", "SignInEventsPage", "RecordSignIn",
		"PruneSignInEvents"}, testRecords},
	{[]string{"CreateProvisionedUser", "UserAccountByIdentity", "UserAccountByLiveIdentity", "MarkProfileOwner",
		"RefreshOwnedProfile", "FirstSignInReads"}, testProvisioned},
	{[]string{"UseSAMLAssertion", "PutSAMLAnswer", "AcceptSAMLAnswer", "ReadSAMLAnswer", "TakeSAMLAnswer", "PruneSAMLAssertions"}, testSAMLAnswers},
	{[]string{"SAMLSPKey", "CreateSAMLSPKey", "SAMLSPKeys", "PromoteSAMLSPKey", "DeleteSAMLSPKey"}, testSAMLSPKeys},
	{[]string{"TestSignIn", "TestSignInByToken", "FinishTestSignIn", "LastTestSignInFlow", "PruneTestSignIns"}, testTestSignIns},
	{[]string{"ResealSecrets", "HasSealedValues"}, testResealSecrets},
}

// env is one subtest's store and workspace, with builders of rows in it.
type env struct {
	t   *testing.T
	s   *store.Store
	ctx context.Context
	ws  uuid.UUID
	now time.Time
}

func newEnv(t *testing.T, s *store.Store) *env {
	e := &env{t: t, s: s, ctx: context.Background(), now: clock.Real.Now().UTC().Truncate(time.Millisecond)}
	e.ws = e.workspace().ID
	return e
}

// ok fails the test on an unexpected error.
func (e *env) ok(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// is asserts that err is target (errors.Is).
func (e *env) is(err, target error, what string) {
	e.t.Helper()
	if !errors.Is(err, target) {
		e.t.Fatalf("%s: got %v, want %v", what, err, target)
	}
}

// exists asserts that err is an ErrAlreadyExists on field.
func (e *env) exists(err error, field, what string) {
	e.t.Helper()
	var ae *store.ErrAlreadyExists
	if !errors.As(err, &ae) || ae.Field != field {
		e.t.Fatalf("%s: got %v, want ErrAlreadyExists{Field: %q}", what, err, field)
	}
}

// deletesOnce asserts a delete that reports whether the row existed: true, then false.
func (e *env) deletesOnce(del func() (bool, error), what string) {
	e.t.Helper()
	deleted, err := del()
	e.ok(err)
	e.check(deleted, "%s: not deleted", what)
	deleted, err = del()
	e.ok(err)
	e.check(!deleted, "%s: deleted twice", what)
}

// savesVersioned asserts a versioned save of row, which the caller has changed: the save bumps
// the version, and saving a copy of the version before is store.ErrStale. It returns that copy.
func savesVersioned[T any](e *env, row *T, version func(*T) int, save func(*T) error, what string) T {
	e.t.Helper()
	stale := *row
	e.ok(save(row))
	e.check(version(row) == version(&stale)+1, "%s: version %d after %d", what, version(row), version(&stale))
	e.is(save(&stale), store.ErrStale, what+": stale save")
	return stale
}

// waits checks a lock: lock runs in a transaction and, on PostgreSQL, other (outside it) must
// wait until that transaction ends, then succeed. SQLite runs one write at a time: there
// other is not run. what names the two for the failure.
func (e *env) waits(what string, lock func(ctx context.Context) error, other func() error) {
	done := make(chan error, 1)
	e.ok(e.s.InTx(e.ctx, func(ctx context.Context) error {
		if err := lock(ctx); err != nil {
			return err
		}
		if e.s.Dialect() != store.Postgres {
			return nil
		}
		go func() { done <- other() }()
		select {
		case err := <-done:
			return fmt.Errorf("%s did not wait: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
		return nil
	}))
	if e.s.Dialect() == store.Postgres {
		e.ok(<-done)
	}
}

func (e *env) check(cond bool, format string, args ...any) {
	e.t.Helper()
	if !cond {
		e.t.Fatalf(format, args...)
	}
}

// unique is a value no other subtest or run uses.
func unique(prefix string) string {
	return prefix + strings.ReplaceAll(store.NewID().String(), "-", "")[20:]
}

func (e *env) workspace() *models.Workspace {
	w := &models.Workspace{ID: store.NewID(), Name: unique("w"), CreatedAt: e.now}
	e.ok(e.s.Create(e.ctx, w))
	return w
}

func (e *env) newUser(name string) *models.UserAccount {
	email := name + "@example.com"
	return &models.UserAccount{ID: store.NewID(), WorkspaceID: e.ws, Email: email, EmailKey: models.Key(email),
		UserName: email, UserNameKey: models.Key(email), Active: true, Version: 1, CreatedAt: e.now, UpdatedAt: e.now}
}

func (e *env) user(name string) *models.UserAccount {
	u := e.newUser(name)
	e.ok(e.s.Create(e.ctx, u))
	return u
}

func (e *env) connection(name string) *models.Connection {
	c := &models.Connection{ID: store.NewID(), WorkspaceID: e.ws, Name: name, NameKey: models.Key(name), Slug: models.Slugify(name),
		Protocol: models.ProtocolOIDC, Status: models.StatusActive, Version: 1, CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, c))
	return c
}

func (e *env) credential(u *models.UserAccount, c *models.Connection, identifier string) *models.Credential {
	return &models.Credential{ID: store.NewID(), WorkspaceID: e.ws, UserAccountID: u.ID, ConnectionID: c.ID,
		Identifier: identifier, IdentifierKey: models.Key(identifier), CreatedAt: e.now, UpdatedAt: e.now}
}

func (e *env) brand(name string) *models.Brand {
	b := &models.Brand{ID: store.NewID(), WorkspaceID: e.ws, Name: name, NameKey: models.Key(name), Slug: models.Slugify(name),
		Version: 1, CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, b))
	return b
}

func (e *env) company(name string) *models.Company {
	c := &models.Company{ID: store.NewID(), WorkspaceID: e.ws, Name: name, NameKey: models.Key(name), CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, c))
	return c
}

func (e *env) account(name string, company *uuid.UUID, created time.Time) *models.Account {
	a := &models.Account{ID: store.NewID(), WorkspaceID: e.ws, Name: name, Type: models.AccountCompany, CompanyID: company,
		CreatedAt: created, UpdatedAt: created}
	e.ok(e.s.Create(e.ctx, a))
	return a
}

func (e *env) audit(action string) *models.AuditEvent {
	return &models.AuditEvent{ID: store.NewID(), WorkspaceID: e.ws, ActorType: "client", ActorID: "conformance",
		Action: action, TargetType: "test", TargetID: "x", Summary: "{}", CreatedAt: e.now}
}

func (e *env) activity(op, id string, created time.Time) *models.SCIMActivity {
	return &models.SCIMActivity{ID: store.NewID(), WorkspaceID: e.ws, Operation: op, ResourceType: models.SCIMResourceUser,
		ResourceID: id, Status: models.SCIMStatusSuccess, Details: "{}", CreatedAt: created}
}

func ids[T any](rows []*T, id func(*T) uuid.UUID) map[uuid.UUID]bool {
	out := map[uuid.UUID]bool{}
	for _, r := range rows {
		out[id(r)] = true
	}
	return out
}

func ptr[T any](v T) *T { return &v }
