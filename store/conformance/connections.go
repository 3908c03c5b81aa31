package conformance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

func testConnections(e *env) {
	a, b := e.connection("Okta"), e.connection("Entra")
	got, err := e.s.Connection(e.ctx, e.ws, a.ID)
	e.ok(err)
	e.check(got.Slug == "okta" && got.Version == 1, "connection %+v", got)
	_, err = e.s.Connection(e.ctx, e.workspace().ID, a.ID)
	e.is(err, store.ErrNotFound, "connection of another workspace")
	got, err = e.s.ConnectionBySlug(e.ctx, e.ws, "entra")
	e.ok(err)
	e.check(got.ID == b.ID, "by slug %v", got.ID)
	_, err = e.s.ConnectionBySlug(e.ctx, e.ws, "missing")
	e.is(err, store.ErrNotFound, "missing slug")
	cs, err := e.s.ConnectionsBySlugs(e.ctx, e.ws, []string{"okta", "entra", "missing"})
	e.ok(err)
	e.check(len(cs) == 2, "by slugs %d", len(cs))
	cs, err = e.s.ConnectionsByIDs(e.ctx, e.ws, []uuid.UUID{a.ID, store.NewID()})
	e.ok(err)
	e.check(len(cs) == 1, "by ids %d", len(cs))
	cs, err = e.s.Connections(e.ctx, e.ws)
	e.ok(err)
	e.check(len(cs) == 2 && cs[0].ID == a.ID, "list %v", cs)
	cs, total, err := e.s.ConnectionsPage(e.ctx, e.ws, store.ConnectionFilter{NameKey: "ntr"}, 0, 10)
	e.ok(err)
	e.check(total == 1 && len(cs) == 1 && cs[0].ID == b.ID, "page %v of %d", cs, total)
	taken, err := e.s.ConnectionNameTaken(e.ctx, e.ws, "okta", b.ID)
	e.ok(err)
	e.check(taken, "okta's name not taken")
	taken, err = e.s.ConnectionNameTaken(e.ctx, e.ws, "okta", a.ID)
	e.ok(err)
	e.check(!taken, "a connection's own name counts as taken")

	dup := *a
	dup.ID, dup.Name, dup.NameKey = store.NewID(), "Other", "other"
	e.exists(e.s.Create(e.ctx, &dup), "slug", "duplicate slug")
	dup = *a
	dup.ID, dup.Slug = store.NewID(), "other"
	e.exists(e.s.Create(e.ctx, &dup), "name", "duplicate name")

	a.OIDCClientID = "client"
	stale := savesVersioned(e, a, func(c *models.Connection) int { return c.Version }, func(c *models.Connection) error { return e.s.UpdateConnection(e.ctx, c) }, "UpdateConnection")
	e.check(stale.Version == 1, "a refused update moved the version to %d", stale.Version)
	change := *b
	change.Slug = a.Slug
	e.exists(e.s.UpdateConnection(e.ctx, &change), "slug", "connection slug taken")

	// SAMLConnection: a SAML connection of any workspace, by id alone.
	_, err = e.s.SAMLConnection(e.ctx, a.ID)
	e.is(err, store.ErrNotFound, "SAMLConnection of an OIDC connection")
	_, err = e.s.SAMLConnection(e.ctx, store.NewID())
	e.is(err, store.ErrNotFound, "SAMLConnection of an unknown id")
	sm := &models.Connection{ID: store.NewID(), WorkspaceID: e.workspace().ID, Name: "SAML", NameKey: "saml", Slug: "saml",
		Protocol: models.ProtocolSAML, Status: models.StatusActive, SAMLSharedEntityID: true, Version: 1, CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, sm))
	got, err = e.s.SAMLConnection(e.ctx, sm.ID)
	e.ok(err)
	e.check(got.WorkspaceID == sm.WorkspaceID && got.SAMLSharedEntityID, "SAMLConnection %+v", got)
	// SAMLCertificates: the live SAML connections in the statuses asked, any workspace.
	sm.SAMLCertificate = "PEM"
	e.ok(e.s.UpdateConnection(e.ctx, sm))
	sm2 := *sm
	sm2.ID, sm2.Name, sm2.NameKey, sm2.Slug, sm2.SAMLCertificate = store.NewID(), "SAML 2", "saml 2", "saml-2", "PEM2"
	sm2.SAMLAcceptSHA1 = true
	e.ok(e.s.Create(e.ctx, &sm2))
	first, second := sm, &sm2
	if second.ID.String() < first.ID.String() {
		first, second = second, first
	}
	certs, err := e.s.SAMLCertificates(e.ctx, uuid.Nil, 10, models.StatusActive, models.StatusTesting)
	e.ok(err)
	e.check(len(certs) == 2 && certs[0].ConnectionID == first.ID && certs[0].WorkspaceID == first.WorkspaceID &&
		certs[0].Certificate == first.SAMLCertificate && certs[1].ConnectionID == second.ID &&
		certs[0].AcceptSHA1 == first.SAMLAcceptSHA1 && certs[1].AcceptSHA1 == second.SAMLAcceptSHA1 && first.SAMLAcceptSHA1 != second.SAMLAcceptSHA1,
		"SAMLCertificates %+v", certs)
	certs, err = e.s.SAMLCertificates(e.ctx, uuid.Nil, 1, models.StatusActive)
	e.ok(err)
	e.check(len(certs) == 1 && certs[0].ConnectionID == first.ID, "SAMLCertificates, a batch of one %+v", certs)
	certs, err = e.s.SAMLCertificates(e.ctx, first.ID, 1, models.StatusActive)
	e.ok(err)
	e.check(len(certs) == 1 && certs[0].ConnectionID == second.ID, "SAMLCertificates after the first %+v", certs)
	certs, err = e.s.SAMLCertificates(e.ctx, uuid.Nil, 10, models.StatusInactive)
	e.ok(err)
	e.check(len(certs) == 0, "SAMLCertificates of inactive connections %+v", certs)
	// SAMLMetadataRefreshes: the live SAML connections of a workspace that follow a metadata
	// URL, any status, not read since the time given; SAMLMetadataWorkspaces, their
	// workspaces; SAMLMetadataReads counts them.
	since := e.now.Add(time.Hour)
	refreshes, err := e.s.SAMLMetadataRefreshes(e.ctx, second.WorkspaceID, since, 10)
	e.ok(err)
	e.check(len(refreshes) == 0, "SAMLMetadataRefreshes, none asked %+v", refreshes)
	wss, err := e.s.SAMLMetadataWorkspaces(e.ctx, since)
	e.ok(err)
	e.check(len(wss) == 0, "SAMLMetadataWorkspaces, none asked %v", wss)
	second.SAMLMetadataURL, second.SAMLMetadataRefresh, second.Status = "https://idp.example.com/metadata", true, models.StatusInactive
	second.SAMLSSOURL, second.SAMLSSOBinding = "https://idp.example.com/sso", string(models.SAMLBindingPost)
	e.ok(e.s.UpdateConnection(e.ctx, second))
	first.SAMLMetadataURL = "https://idp.example.com/other" // a URL, but no refresh
	e.ok(e.s.UpdateConnection(e.ctx, first))
	refreshes, err = e.s.SAMLMetadataRefreshes(e.ctx, second.WorkspaceID, since, 10)
	e.ok(err)
	e.check(len(refreshes) == 1 && refreshes[0].ConnectionID == second.ID && refreshes[0].WorkspaceID == second.WorkspaceID &&
		refreshes[0].MetadataURL == second.SAMLMetadataURL && refreshes[0].CheckedAt == nil && refreshes[0].Problem == "", "SAMLMetadataRefreshes %+v", refreshes)
	refreshes, err = e.s.SAMLMetadataRefreshes(e.ctx, uuid.New(), since, 10)
	e.ok(err)
	e.check(len(refreshes) == 0, "SAMLMetadataRefreshes of another workspace %+v", refreshes)
	wss, err = e.s.SAMLMetadataWorkspaces(e.ctx, since)
	e.ok(err)
	e.check(len(wss) == 1 && wss[0] == second.WorkspaceID, "SAMLMetadataWorkspaces %v", wss)
	due, unchanged, failed, err := e.s.SAMLMetadataReads(e.ctx, since)
	e.ok(err)
	e.check(due == 1 && unchanged == 0 && failed == 0, "SAMLMetadataReads, never read: %d %d %d", due, unchanged, failed)
	// RecordSAMLMetadataCheck: the report only; the version and updated_at stay.
	checked := e.now.Add(time.Minute)
	before, err := e.s.Connection(e.ctx, second.WorkspaceID, second.ID)
	e.ok(err)
	e.check(!before.SAMLMetadataSSOListed, "a new connection's SSO URL listed by its metadata before any read")
	check := func(problem string, listed bool) store.SAMLMetadataCheck {
		return store.SAMLMetadataCheck{MetadataURL: second.SAMLMetadataURL, SSOURL: second.SAMLSSOURL, SSOBinding: second.SAMLSSOBinding,
			At: checked, Problem: problem, SSOListed: listed}
	}
	e.ok(e.s.RecordSAMLMetadataCheck(e.ctx, second.WorkspaceID, second.ID, check("metadata unreachable", true)))
	got, err = e.s.Connection(e.ctx, second.WorkspaceID, second.ID)
	e.ok(err)
	e.check(got.SAMLMetadataCheckedAt != nil && got.SAMLMetadataCheckedAt.Equal(checked) && got.SAMLMetadataProblem == "metadata unreachable" &&
		got.SAMLMetadataSSOListed && got.Version == before.Version && got.UpdatedAt.Equal(before.UpdatedAt), "RecordSAMLMetadataCheck %+v", got)
	// An update of the connection as read before that report leaves the report as stored: a
	// refresh's report recorded meanwhile is not put back to what the caller read.
	second.Name = second.Name + " renamed"
	e.ok(e.s.UpdateConnection(e.ctx, second))
	got, err = e.s.Connection(e.ctx, second.WorkspaceID, second.ID)
	e.ok(err)
	e.check(got.Name == second.Name && got.SAMLMetadataProblem == "metadata unreachable" && got.SAMLMetadataSSOListed &&
		got.SAMLMetadataCheckedAt != nil && got.SAMLMetadataCheckedAt.Equal(checked), "UpdateConnection put back the report it read: %+v", got)
	// SetSAMLMetadataReport writes it (the admin's change of the SSO URL starts it afresh,
	// provision.applyMetadataRefresh).
	second.SAMLMetadataCheckedAt, second.SAMLMetadataProblem, second.SAMLMetadataSSOListed = nil, "", false
	e.ok(e.s.SetSAMLMetadataReport(e.ctx, second))
	got, err = e.s.Connection(e.ctx, second.WorkspaceID, second.ID)
	e.ok(err)
	e.check(got.SAMLMetadataCheckedAt == nil && got.SAMLMetadataProblem == "" && !got.SAMLMetadataSSOListed && got.Version == second.Version,
		"SetSAMLMetadataReport wrote %+v", got)
	e.check(errors.Is(e.s.SetSAMLMetadataReport(e.ctx, &models.Connection{ID: second.ID, WorkspaceID: uuid.New()}), store.ErrNotFound),
		"SetSAMLMetadataReport in another workspace")
	e.ok(e.s.RecordSAMLMetadataCheck(e.ctx, second.WorkspaceID, second.ID, check("metadata unreachable", true)))
	refreshes, err = e.s.SAMLMetadataRefreshes(e.ctx, second.WorkspaceID, since, 10)
	e.ok(err)
	e.check(len(refreshes) == 1 && refreshes[0].CheckedAt != nil && refreshes[0].CheckedAt.Equal(checked) && refreshes[0].Problem == "metadata unreachable",
		"SAMLMetadataRefreshes with a report %+v", refreshes)
	// Read since the time given: no longer listed, but counted by its report.
	refreshes, err = e.s.SAMLMetadataRefreshes(e.ctx, second.WorkspaceID, checked, 10)
	e.ok(err)
	e.check(len(refreshes) == 0, "SAMLMetadataRefreshes of one read since %+v", refreshes)
	wss, err = e.s.SAMLMetadataWorkspaces(e.ctx, checked)
	e.ok(err)
	e.check(len(wss) == 0, "SAMLMetadataWorkspaces of one read since %v", wss)
	due, unchanged, failed, err = e.s.SAMLMetadataReads(e.ctx, checked)
	e.ok(err)
	e.check(due == 0 && unchanged == 0 && failed == 1, "SAMLMetadataReads, read since with a problem: %d %d %d", due, unchanged, failed)
	e.check(errors.Is(e.s.RecordSAMLMetadataCheck(e.ctx, uuid.New(), second.ID, check("", false)), store.ErrNotFound),
		"RecordSAMLMetadataCheck in another workspace")
	// A check of what the connection no longer is: its metadata URL, its SSO URL or binding
	// changed since the read. Nothing is written.
	for what, edit := range map[string]func(*store.SAMLMetadataCheck){
		"metadata URL": func(c *store.SAMLMetadataCheck) { c.MetadataURL = "https://idp.example.com/moved" },
		"SSO URL":      func(c *store.SAMLMetadataCheck) { c.SSOURL = "https://idp.example.com/SSO" },
		"SSO binding":  func(c *store.SAMLMetadataCheck) { c.SSOBinding = "" },
	} {
		chk := check("", false)
		edit(&chk)
		e.check(errors.Is(e.s.RecordSAMLMetadataCheck(e.ctx, second.WorkspaceID, second.ID, chk), store.ErrNotFound),
			"RecordSAMLMetadataCheck of another %s", what)
	}
	got, err = e.s.Connection(e.ctx, second.WorkspaceID, second.ID)
	e.ok(err)
	e.check(got.SAMLMetadataProblem == "metadata unreachable" && got.SAMLMetadataSSOListed, "a refused RecordSAMLMetadataCheck wrote %+v", got)
	e.ok(e.s.DeleteConnection(e.ctx, sm))
	e.ok(e.s.DeleteConnection(e.ctx, &sm2))
	certs, err = e.s.SAMLCertificates(e.ctx, uuid.Nil, 10, models.StatusActive, models.StatusTesting, models.StatusInactive)
	e.ok(err)
	e.check(len(certs) == 0, "SAMLCertificates after the deletion %+v", certs)
	refreshes, err = e.s.SAMLMetadataRefreshes(e.ctx, second.WorkspaceID, since, 10)
	e.ok(err)
	e.check(len(refreshes) == 0, "SAMLMetadataRefreshes after the deletion %+v", refreshes)
	due, unchanged, failed, err = e.s.SAMLMetadataReads(e.ctx, since)
	e.ok(err)
	e.check(due+unchanged+failed == 0, "SAMLMetadataReads after the deletion: %d %d %d", due, unchanged, failed)
	_, err = e.s.SAMLConnection(e.ctx, sm.ID)
	e.is(err, store.ErrNotFound, "SAMLConnection of a deleted connection")

	// ConnectionForUpdate: Connection, and on PostgreSQL another transaction's locking read
	// waits for the reader's transaction (SQLite runs one write at a time).
	_, err = e.s.ConnectionForUpdate(e.ctx, e.workspace().ID, a.ID)
	e.is(err, store.ErrNotFound, "ConnectionForUpdate of another workspace")
	e.waits("ConnectionForShare after ConnectionForUpdate", func(ctx context.Context) error {
		got, err := e.s.ConnectionForUpdate(ctx, e.ws, a.ID)
		if err != nil || got.ID != a.ID || got.Version != a.Version {
			return fmt.Errorf("ConnectionForUpdate: %v %v", got, err)
		}
		return nil
	}, func() error {
		return e.s.InTx(e.ctx, func(ctx context.Context) error {
			_, err := e.s.ConnectionForShare(ctx, e.ws, a.ID)
			return err
		})
	})

	// ConnectionForShare: Connection, and on PostgreSQL a delete waits for the reader's
	// transaction (SQLite runs one write at a time).
	_, err = e.s.ConnectionForShare(e.ctx, e.workspace().ID, a.ID)
	e.is(err, store.ErrNotFound, "ConnectionForShare of another workspace")
	deleted := make(chan error, 1)
	e.ok(e.s.InTx(e.ctx, func(ctx context.Context) error {
		got, err := e.s.ConnectionForShare(ctx, e.ws, a.ID)
		if err != nil || got.ID != a.ID {
			return fmt.Errorf("ConnectionForShare: %v %v", got, err)
		}
		if e.s.Dialect() != store.Postgres {
			return nil
		}
		go func() { deleted <- e.s.DeleteConnection(e.ctx, a) }()
		select {
		case err := <-deleted:
			return fmt.Errorf("DeleteConnection did not wait for the share lock: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		return nil
	}))
	if e.s.Dialect() == store.Postgres {
		e.ok(<-deleted)
	} else {
		e.ok(e.s.DeleteConnection(e.ctx, a))
	}
	e.check(a.DeletedAt != nil && a.Status == models.StatusInactive, "deleted %+v", a)
	_, err = e.s.Connection(e.ctx, e.ws, a.ID)
	e.is(err, store.ErrNotFound, "deleted connection")
	_, err = e.s.ConnectionForShare(e.ctx, e.ws, a.ID)
	e.is(err, store.ErrNotFound, "ConnectionForShare of a deleted connection")
	_, err = e.s.ConnectionForUpdate(e.ctx, e.ws, a.ID)
	e.is(err, store.ErrNotFound, "ConnectionForUpdate of a deleted connection")
	e.is(e.s.DeleteConnection(e.ctx, a), store.ErrStale, "second delete")
	// A deleted connection's name and slug are free again.
	e.connection("Okta")
}

func testIdPConfigurations(e *env) {
	br, conn, other := e.brand("B"), e.connection("C"), e.connection("D")
	acct := e.account("A", nil, e.now)
	cfg := &models.IdentityProviderConfiguration{ID: store.NewID(), WorkspaceID: e.ws, BrandID: br.ID, ConnectionID: conn.ID,
		CompanyClaim: models.DefaultCompanyClaim, Version: 1, CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, cfg))
	dup := *cfg
	dup.ID = store.NewID()
	e.exists(e.s.Create(e.ctx, &dup), "brand_connection", "second configuration of a brand at a connection")
	got, err := e.s.IdentityProviderConfiguration(e.ctx, e.ws, br.ID, conn.ID)
	e.ok(err)
	e.check(got.ID == cfg.ID && got.CompanyClaim == cfg.CompanyClaim, "configuration %+v", got)
	_, err = e.s.IdentityProviderConfiguration(e.ctx, e.ws, br.ID, other.ID)
	e.is(err, store.ErrNotFound, "missing configuration")
	list, err := e.s.IdentityProviderConfigurations(e.ctx, e.ws, []uuid.UUID{br.ID})
	e.ok(err)
	e.check(len(list) == 1, "list %d", len(list))

	cfg.AutoProvisionLearners, cfg.DefaultAccountID = true, &acct.ID
	savesVersioned(e, cfg, func(c *models.IdentityProviderConfiguration) int { return c.Version },
		func(c *models.IdentityProviderConfiguration) error {
			return e.s.UpdateIdentityProviderConfiguration(e.ctx, c)
		}, "UpdateIdentityProviderConfiguration")
	cfg.DefaultAccountID = ptr(store.NewID())
	e.is(e.s.UpdateIdentityProviderConfiguration(e.ctx, cfg), store.ErrMissingReference, "missing default account")

	e.deletesOnce(func() (bool, error) { return e.s.DeleteIdentityProviderConfiguration(e.ctx, e.ws, cfg.ID) }, "DeleteIdentityProviderConfiguration")
}

func testCredentials(e *env) {
	conn, other := e.connection("C"), e.connection("D")
	a, b := e.user("a"), e.user("b")
	c := e.credential(a, conn, "Jane@X.io")
	e.ok(e.s.UpsertCredential(e.ctx, c))
	// The identity binds to one account only, compared case-insensitively.
	e.exists(e.s.UpsertCredential(e.ctx, e.credential(b, conn, "JANE@x.io")), "identity", "identity bound elsewhere")
	// A rebind replaces the account's identity at the connection.
	e.ok(e.s.UpsertCredential(e.ctx, e.credential(a, conn, "jane2@x.io")))
	e.is(e.s.UpsertCredential(e.ctx, e.credential(e.newUser("ghost"), conn, "g")), store.ErrMissingReference, "missing account")
	e.ok(e.s.UpsertCredential(e.ctx, e.credential(b, other, "bob")))
	// CreateCredential never replaces: the account's identity at the connection stays.
	e.exists(e.s.CreateCredential(e.ctx, e.credential(a, conn, "jane3@x.io")), "account", "second identity at a connection")
	e.exists(e.s.CreateCredential(e.ctx, e.credential(e.user("c"), conn, "JANE2@x.io")), "identity", "create: identity bound elsewhere")
	e.is(e.s.CreateCredential(e.ctx, e.credential(e.newUser("ghost2"), conn, "g2")), store.ErrMissingReference, "create: missing account")
	e.ok(e.s.CreateCredential(e.ctx, e.credential(e.user("d"), conn, "dee@x.io")))

	got, err := e.s.CredentialByIdentity(e.ctx, e.ws, conn.ID, "jane2@x.io")
	e.ok(err)
	e.check(got.UserAccountID == a.ID && got.AuthModule == conn.Slug, "by identity %+v", got)
	_, err = e.s.CredentialByIdentity(e.ctx, e.ws, conn.ID, "jane@x.io")
	e.is(err, store.ErrNotFound, "replaced identity")
	cs, err := e.s.CredentialsByIdentities(e.ctx, e.ws, conn.ID, []string{"jane2@x.io", "bob"})
	e.ok(err)
	e.check(len(cs) == 1, "by identities %d", len(cs))
	byAcct, err := e.s.CredentialsForAccounts(e.ctx, e.ws, []uuid.UUID{a.ID, b.ID})
	e.ok(err)
	e.check(len(byAcct[a.ID]) == 1 && len(byAcct[b.ID]) == 1, "for accounts %v", byAcct)

	e.deletesOnce(func() (bool, error) { return e.s.DeleteCredential(e.ctx, e.ws, a.ID, conn.ID) }, "DeleteCredential")
	e.ok(e.s.DeleteCredentials(e.ctx, e.ws, []uuid.UUID{byAcct[b.ID][0].ID, store.NewID()}))
	byAcct, err = e.s.CredentialsForAccounts(e.ctx, e.ws, []uuid.UUID{a.ID, b.ID})
	e.ok(err)
	e.check(len(byAcct) == 0, "left %v", byAcct)
}

func testBinding(e *env) {
	// LockBulkBinding: shared locks of a workspace go together (and another workspace's
	// exclusive one with them); on PostgreSQL an exclusive one waits for a shared one, and a
	// shared one for an exclusive one. SQLite runs one write at a time.
	lockBulk := func(ws uuid.UUID, exclusive bool) func() error {
		return func() error {
			return e.s.InTx(e.ctx, func(ctx context.Context) error { return e.s.LockBulkBinding(ctx, ws, exclusive) })
		}
	}
	e.ok(e.s.InTx(e.ctx, func(ctx context.Context) error {
		if err := e.s.LockBulkBinding(ctx, e.ws, false); err != nil || e.s.Dialect() != store.Postgres {
			return err
		}
		for _, other := range []func() error{lockBulk(e.ws, false), lockBulk(e.workspace().ID, true)} {
			done := make(chan error, 1)
			go func() { done <- other() }()
			select {
			case err := <-done:
				if err != nil {
					return err
				}
			case <-time.After(5 * time.Second):
				return errors.New("LockBulkBinding waited for a lock it goes with")
			}
		}
		return nil
	}))
	e.waits("exclusive LockBulkBinding after a shared one", func(ctx context.Context) error {
		return e.s.LockBulkBinding(ctx, e.ws, false)
	}, lockBulk(e.ws, true))
	e.waits("shared LockBulkBinding after an exclusive one", func(ctx context.Context) error {
		return e.s.LockBulkBinding(ctx, e.ws, true)
	}, lockBulk(e.ws, false))

	conn := e.connection("C")
	a, b := e.user("a"), e.user("b")
	events := func() int {
		evs, err := e.s.AuditEvents(e.ctx, e.ws, nil, 100)
		e.ok(err)
		return len(evs)
	}
	e.ok(e.s.BindCredential(e.ctx, e.credential(a, conn, "id-a"), e.audit("bind")))
	e.check(events() == 1, "bind wrote %d events", events())
	e.exists(e.s.BindCredential(e.ctx, e.credential(b, conn, "ID-A"), e.audit("bind")), "identity", "identity bound elsewhere")
	e.is(e.s.BindCredential(e.ctx, e.credential(e.newUser("ghost"), conn, "g"), e.audit("bind")), store.ErrMissingReference, "missing account")
	e.check(events() == 1, "a refused bind wrote an event")

	u, connID, err := e.s.BindingTargets(e.ctx, e.ws, a.ID, conn.Slug)
	e.ok(err)
	e.check(u != nil && u.ID == a.ID && connID != nil && *connID == conn.ID, "targets %v %v", u, connID)
	u, connID, err = e.s.BindingTargets(e.ctx, e.ws, a.ID, "missing")
	e.ok(err)
	e.check(u != nil && connID == nil, "missing connection: %v %v", u, connID)
	u, _, err = e.s.BindingTargets(e.ctx, e.ws, store.NewID(), conn.Slug)
	e.ok(err)
	e.check(u == nil, "missing account found")

	c := e.credential(b, conn, "id-b")
	c.ConnectionID = uuid.Nil
	u, found, err := e.s.BindAccountCredential(e.ctx, conn.Slug, c, e.audit("bind"))
	e.ok(err)
	e.check(u != nil && u.ID == b.ID && found && c.ConnectionID == conn.ID, "bound %v %v %v", u, found, c.ConnectionID)
	e.check(events() == 2, "bind wrote %d events", events())
	_, _, err = e.s.BindAccountCredential(e.ctx, conn.Slug, e.credential(b, conn, "ID-A"), e.audit("bind"))
	e.exists(err, "identity", "BindAccountCredential identity bound elsewhere")
	u, found, err = e.s.BindAccountCredential(e.ctx, "missing", e.credential(b, conn, "x"), e.audit("bind"))
	e.ok(err)
	e.check(u != nil && !found, "missing connection: %v %v", u, found)
	u, found, err = e.s.BindAccountCredential(e.ctx, conn.Slug, e.credential(e.newUser("ghost"), conn, "y"), e.audit("bind"))
	e.ok(err)
	e.check(u == nil && !found, "missing account: %v %v", u, found)
	e.check(events() == 2, "refused binds wrote events")
}

func testDomains(e *env) {
	conn, other := e.connection("C"), e.connection("D")
	name := unique("d") + ".example.com"
	domain := func(c *models.Connection, name string, status models.DomainStatus) *models.Domain {
		d := &models.Domain{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: c.ID, Name: name, Status: status,
			VerificationMethod: "dns", VerificationToken: "t", CreatedAt: e.now, UpdatedAt: e.now}
		e.ok(e.s.Create(e.ctx, d))
		return d
	}
	d := domain(conn, name, models.DomainPending)
	dup := *d
	dup.ID = store.NewID()
	e.exists(e.s.Create(e.ctx, &dup), "name", "domain twice at a connection")
	o := domain(other, name, models.DomainPending)

	got, err := e.s.Domain(e.ctx, e.ws, conn.ID, d.ID)
	e.ok(err)
	e.check(got.Name == name, "domain %+v", got)
	_, err = e.s.Domain(e.ctx, e.ws, other.ID, d.ID)
	e.is(err, store.ErrNotFound, "domain of another connection")
	ds, err := e.s.Domains(e.ctx, e.ws, conn.ID)
	e.ok(err)
	e.check(len(ds) == 1, "domains %d", len(ds))
	byConn, err := e.s.DomainsFor(e.ctx, e.ws, []uuid.UUID{conn.ID, other.ID})
	e.ok(err)
	e.check(len(byConn[conn.ID]) == 1 && len(byConn[other.ID]) == 1, "for %v", byConn)

	verified, err := e.s.DomainVerifiedFor(e.ctx, e.ws, conn.ID, name)
	e.ok(err)
	e.check(!verified, "a domain not verified yet reads verified")
	d.Status, d.IsPrimary, d.VerifiedAt = models.DomainVerified, true, &e.now
	e.ok(e.s.SaveDomainUnlessVerified(e.ctx, d)) // not verified yet: written
	verified, err = e.s.DomainVerifiedFor(e.ctx, e.ws, conn.ID, name)
	e.ok(err)
	e.check(verified, "not verified")
	failed := *d
	failed.Status, failed.FailureReason = models.DomainFailed, "a later check failed"
	e.is(e.s.SaveDomainUnlessVerified(e.ctx, &failed), store.ErrNotFound, "a verified domain saved as failed")
	verified, err = e.s.DomainVerifiedFor(e.ctx, e.ws, conn.ID, name)
	e.ok(err)
	e.check(verified, "a failed check unverified the domain")
	verified, err = e.s.DomainVerifiedFor(e.ctx, e.ws, other.ID, name)
	e.ok(err)
	e.check(!verified, "verified for another connection")
	verified, err = e.s.DomainVerifiedFor(e.ctx, store.NewID(), conn.ID, name)
	e.ok(err)
	e.check(!verified, "verified in another workspace")
	all, nv, err := e.s.CountDomains(e.ctx, e.ws, conn.ID)
	e.ok(err)
	e.check(all == 1 && nv == 1, "counts %d %d", all, nv)
	elsewhere, err := e.s.VerifiedDomainElsewhere(e.ctx, other.ID, name)
	e.ok(err)
	e.check(elsewhere, "verified elsewhere not seen")
	elsewhere, err = e.s.VerifiedDomainElsewhere(e.ctx, conn.ID, name)
	e.ok(err)
	e.check(!elsewhere, "own domain counted as elsewhere")
	found, err := e.s.ConnectionByVerifiedDomain(e.ctx, e.ws, name)
	e.ok(err)
	e.check(found.ID == conn.ID, "by domain %v", found.ID)
	_, err = e.s.ConnectionByVerifiedDomain(e.ctx, e.ws, "unverified.example.com")
	e.is(err, store.ErrNotFound, "unverified domain")

	o.Status = models.DomainVerified
	e.exists(e.s.SaveDomain(e.ctx, o), "verified_name", "domain verified twice")
	second := domain(conn, unique("e")+".example.com", models.DomainPending)
	second.IsPrimary = true
	e.exists(e.s.SaveDomain(e.ctx, second), "primary", "two primary domains")
	e.ok(e.s.ClearPrimaryDomain(e.ctx, e.ws, conn.ID))
	e.ok(e.s.SaveDomain(e.ctx, second))

	e.ok(e.s.DeleteDomain(e.ctx, d))
	e.is(e.s.DeleteDomain(e.ctx, d), store.ErrNotFound, "second delete")
	e.is(e.s.SaveDomain(e.ctx, d), store.ErrNotFound, "save of a deleted domain")

	// PromotePrimaryDomain: the domain verified first becomes primary, only when there is no
	// primary one; pending domains never.
	third := e.connection("Third")
	verifiedAt := func(name string, at time.Time) *models.Domain {
		dm := domain(third, name, models.DomainVerified)
		dm.VerifiedAt = &at
		e.ok(e.s.SaveDomain(e.ctx, dm))
		return dm
	}
	none, err := e.s.PromotePrimaryDomain(e.ctx, e.ws, third.ID)
	e.ok(err)
	e.check(none == "", "promoted %q of a connection without domains", none)
	domain(third, unique("p")+".example.com", models.DomainPending)
	verifiedAt(unique("later")+".example.com", e.now) // created first, verified last
	first := verifiedAt(unique("first")+".example.com", e.now.Add(-time.Hour))
	promoted, err := e.s.PromotePrimaryDomain(e.ctx, e.ws, third.ID)
	e.ok(err)
	e.check(promoted == first.Name, "promoted %q, want the domain verified first, %q", promoted, first.Name)
	again, err := e.s.PromotePrimaryDomain(e.ctx, e.ws, third.ID)
	e.ok(err)
	e.check(again == "", "promoted %q beside a primary domain", again)
	ds, err = e.s.Domains(e.ctx, e.ws, third.ID)
	e.ok(err)
	for _, dm := range ds {
		e.check(dm.IsPrimary == (dm.ID == first.ID), "domain %s primary: %v", dm.Name, dm.IsPrimary)
	}
}
