package conformance

import (
	"context"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

func testRevokedTokens(e *env) {
	jti := store.NewID()
	_, err := e.s.RevokedToken(e.ctx, jti)
	e.is(err, store.ErrNotFound, "token not revoked")
	t := &models.RevokedToken{JTI: jti, WorkspaceID: e.ws, ClientID: "c", ExpiresAt: e.now.AddDate(-10, 0, 0), RevokedAt: e.now}
	first, err := e.s.RevokeToken(e.ctx, t)
	e.ok(err)
	again, err := e.s.RevokeToken(e.ctx, t) // again: no error, and nothing new
	e.ok(err)
	e.check(first && !again, "RevokeToken reported %v, then %v: want true, then false", first, again)
	got, err := e.s.RevokedToken(e.ctx, jti)
	e.ok(err)
	e.check(got.ClientID == "c", "revoked %+v", got)
	n, err := e.s.PruneRevokedTokens(e.ctx, e.now.AddDate(-9, 0, 0))
	e.ok(err)
	e.check(n >= 1, "pruned %d", n)
	_, err = e.s.RevokedToken(e.ctx, jti)
	e.is(err, store.ErrNotFound, "pruned token")
}

func (e *env) application(b *models.Brand) *models.Application {
	a := &models.Application{ID: store.NewID(), WorkspaceID: e.ws, BrandID: b.ID, ClientID: unique("app-"), Name: "App",
		Type: models.ApplicationConfidential, SecretHash: "h", RedirectURIsJSON: `["https://app.example.com/cb"]`,
		Version: 1, CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, a))
	return a
}

func testApplications(e *env) {
	b := e.brand("B")
	a := e.application(b)
	dup := *a
	dup.ID = store.NewID()
	e.exists(e.s.Create(e.ctx, &dup), "client_id", "duplicate client_id")
	got, err := e.s.Application(e.ctx, e.ws, a.ID)
	e.ok(err)
	e.check(got.ClientID == a.ClientID, "application %+v", got)
	_, err = e.s.Application(e.ctx, e.workspace().ID, a.ID)
	e.is(err, store.ErrNotFound, "application of another workspace")
	got, err = e.s.ApplicationByClientID(e.ctx, a.ClientID)
	e.ok(err)
	e.check(got.ID == a.ID, "by client_id %v", got.ID)
	_, err = e.s.ApplicationByClientID(e.ctx, "missing")
	e.is(err, store.ErrNotFound, "missing client_id")
	list, err := e.s.Applications(e.ctx, e.ws, b.ID)
	e.ok(err)
	e.check(len(list) == 1, "applications %d", len(list))

	a.Name = "Renamed"
	savesVersioned(e, a, func(a *models.Application) int { return a.Version }, func(a *models.Application) error { return e.s.UpdateApplication(e.ctx, a) }, "UpdateApplication")
	e.ok(e.s.DeleteApplication(e.ctx, a))
	e.is(e.s.DeleteApplication(e.ctx, a), store.ErrNotFound, "second delete")
}

func (e *env) flow(conn uuid.UUID, state, request string, expires time.Time) *models.SignInFlow {
	f := &models.SignInFlow{ID: store.NewID(), WorkspaceID: e.ws, ApplicationID: store.NewID(), BrandID: store.NewID(),
		ConnectionID: conn, BrowserHash: "browser", ClientID: "c", RedirectURI: "https://app/cb", Scope: "openid",
		Prompt: "none", HintSubject: "hinted", MaxAge: "600", UpstreamStateHash: state, UpstreamRequestID: request, UpstreamVerifierEnc: []byte("sealed"), ExpiresAt: expires, CreatedAt: e.now}
	e.ok(e.s.CreateFlow(e.ctx, f))
	return f
}

// testClaimSAMLFlow: the claim takes the flow's answer with it, once; a refused claim leaves
// the answer; a flow without one is claimed with none. The lookup the claim returns is what
// UserAccountByLiveIdentity answers, and on PostgreSQL it runs whenever there is an answer.
func testClaimSAMLFlow(e *env) {
	conn := e.connection("C")
	state := unique("state-")
	f := e.flow(conn.ID, state, unique("req-"), e.now.Add(time.Hour))
	fresh, err := e.s.PutSAMLAnswer(e.ctx, f.ID, []byte("sealed identity"), e.now.Add(time.Hour), "nobody")
	e.ok(err)
	e.check(fresh, "answer not stored")
	_, _, _, err = e.s.ClaimSAMLFlow(e.ctx, state, []string{"other browser"}, e.now)
	e.is(err, store.ErrNotFound, "claim from another browser")
	_, _, _, err = e.s.ClaimSAMLFlow(e.ctx, state, []string{"other flow", "other browser"}, e.now)
	e.is(err, store.ErrNotFound, "claim with other flows' cookies")
	_, _, _, err = e.s.ClaimSAMLFlow(e.ctx, state, nil, e.now)
	e.is(err, store.ErrNotFound, "claim without a cookie")
	got, answer, _, err := e.s.ClaimSAMLFlow(e.ctx, state, []string{"other flow", "another flow", "browser"}, e.now)
	e.ok(err)
	e.check(got.ID == f.ID && got.ClaimedAt != nil && got.UpstreamStateHash == state && got.ExpiresAt.Equal(f.ExpiresAt) &&
		got.Prompt == "none" && got.HintSubject == "hinted" && got.MaxAge == "600",
		"claimed %+v", got)
	e.check(string(answer) == "sealed identity", "answer %q", answer)
	_, _, _, err = e.s.ClaimSAMLFlow(e.ctx, state, []string{"browser"}, e.now)
	e.is(err, store.ErrNotFound, "second claim")
	_, err = e.s.TakeSAMLAnswer(e.ctx, f.ID)
	e.is(err, store.ErrNotFound, "the answer after the claim")

	bare := e.flow(conn.ID, unique("state-"), unique("req-"), e.now.Add(time.Hour))
	got, answer, lookup, err := e.s.ClaimSAMLFlow(e.ctx, bare.UpstreamStateHash, []string{"browser"}, e.now)
	e.ok(err)
	e.check(got.ID == bare.ID && answer == nil && lookup == nil, "flow without an answer: %v %q %+v", got.ID, answer, lookup)

	// The lookup against UserAccountByLiveIdentity, its oracle: a person bound at the flow's
	// connection (with and without a derived email, deactivated), at another connection, in
	// another workspace, through an inactive or a deleted connection, and nobody.
	provisioned := e.newUser("claim-provisioned")
	acct := &models.Account{ID: store.NewID(), WorkspaceID: e.ws, Name: "jit", Type: models.AccountIndividual, CreatedAt: e.now, UpdatedAt: e.now}
	provisioned.AccountID = &acct.ID
	e.ok(e.s.CreateProvisionedUser(e.ctx, &store.ProvisionedUser{Account: acct, User: provisioned,
		Credential: e.credential(provisioned, conn, "Provisioned-Id"), DerivedEmail: provisioned.Email}))
	bound := e.user("claim-bound")
	e.ok(e.s.CreateCredential(e.ctx, e.credential(bound, conn, "bound-id")))
	inactive := e.user("claim-inactive")
	inactive.Active = false
	e.ok(e.s.UpdateUserAccount(e.ctx, inactive))
	e.ok(e.s.CreateCredential(e.ctx, e.credential(inactive, conn, "inactive-id")))
	other := e.connection("C other")
	elsewhere := e.user("claim-elsewhere")
	e.ok(e.s.CreateCredential(e.ctx, e.credential(elsewhere, other, "elsewhere-id")))
	paused, deleted := e.connection("C paused"), e.connection("C deleted")
	for _, c := range []*models.Connection{paused, deleted} {
		u := e.user("claim-" + c.Slug)
		e.ok(e.s.CreateCredential(e.ctx, e.credential(u, c, c.Slug+"-id")))
	}
	paused.Status = models.StatusInactive
	e.ok(e.s.UpdateConnection(e.ctx, paused))
	e.ok(e.s.DeleteConnection(e.ctx, deleted))
	// Deleting deactivates too: active again, only deleted_at tells it is gone.
	reactivate := `UPDATE connections SET status = ? WHERE id = ?`
	if e.s.Dialect() == store.Postgres {
		reactivate = `UPDATE connections SET status = $1 WHERE id = $2`
	}
	_, err = e.s.DB().ExecContext(e.ctx, reactivate, string(models.StatusActive), deleted.ID)
	e.ok(err)
	otherWS := &env{t: e.t, s: e.s, ctx: e.ctx, now: e.now}
	otherWS.ws = otherWS.workspace().ID
	for _, tc := range []struct {
		in   *env // the flow's workspace
		conn uuid.UUID
		key  string
		want *models.UserAccount
	}{
		{e, conn.ID, "provisioned-id", provisioned},
		{e, conn.ID, "bound-id", bound},
		{e, conn.ID, "inactive-id", inactive},
		{e, conn.ID, "elsewhere-id", nil},
		{e, conn.ID, "nobody", nil},
		{e, conn.ID, "", nil},
		{e, paused.ID, "c-paused-id", nil},
		{e, deleted.ID, "c-deleted-id", nil},
		{otherWS, conn.ID, "bound-id", nil},
	} {
		fl := tc.in.flow(tc.conn, unique("state-"), unique("req-"), e.now.Add(time.Hour))
		_, err := e.s.PutSAMLAnswer(e.ctx, fl.ID, []byte("sealed"), e.now.Add(time.Hour), tc.key)
		e.ok(err)
		_, _, lookup, err := e.s.ClaimSAMLFlow(e.ctx, fl.UpstreamStateHash, []string{"browser"}, e.now)
		e.ok(err)
		wantUser, wantDerived, err := e.s.UserAccountByLiveIdentity(e.ctx, fl.WorkspaceID, fl.ConnectionID, tc.key)
		if tc.want == nil {
			e.is(err, store.ErrNotFound, "UserAccountByLiveIdentity "+tc.key)
		} else {
			e.ok(err)
			e.check(wantUser.ID == tc.want.ID, "UserAccountByLiveIdentity %s: %v, want %v", tc.key, wantUser.ID, tc.want.ID)
		}
		if e.s.Dialect() != store.Postgres {
			e.check(lookup == nil, "%s: a lookup on %s", tc.key, e.s.Dialect())
			continue
		}
		e.check(lookup != nil && lookup.WorkspaceID == fl.WorkspaceID && lookup.ConnectionID == fl.ConnectionID && lookup.IdentifierKey == tc.key,
			"%s: lookup %+v", tc.key, lookup)
		if lookup == nil {
			continue
		}
		e.check(reflect.DeepEqual(lookup.User, wantUser) && lookup.DerivedEmail == wantDerived,
			"%s: the claim's lookup %+v %q, UserAccountByLiveIdentity %+v %q", tc.key, lookup.User, lookup.DerivedEmail, wantUser, wantDerived)
	}
}

func testFlows(e *env) {
	conn := e.connection("C")
	state, request := unique("state-"), unique("req-")
	f := e.flow(conn.ID, state, request, e.now.Add(time.Hour))
	old := e.flow(conn.ID, unique("state-"), "", e.now.AddDate(-10, 0, 0))
	dup := *f
	dup.ID = store.NewID()
	e.exists(e.s.CreateFlow(e.ctx, &dup), "upstream_state", "duplicate upstream state")
	dup = *f
	dup.UpstreamStateHash = unique("state-")
	e.exists(e.s.CreateFlow(e.ctx, &dup), "id", "duplicate flow id")

	got, err := e.s.FlowByUpstreamState(e.ctx, state)
	e.ok(err)
	e.check(got.ID == f.ID, "by state %v", got.ID)
	_, err = e.s.FlowByUpstreamState(e.ctx, "missing")
	e.is(err, store.ErrNotFound, "missing state")
	got, err = e.s.FlowByUpstreamRequest(e.ctx, request)
	e.ok(err)
	e.check(got.ID == f.ID, "by request %v", got.ID)
	_, err = e.s.FlowByUpstreamRequest(e.ctx, "")
	e.is(err, store.ErrNotFound, "empty request id")
	got, c, err := e.s.SAMLFlow(e.ctx, state)
	e.ok(err)
	e.check(got.ID == f.ID && c.ID == conn.ID, "SAML flow %v %v", got.ID, c.ID)
	_, _, err = e.s.SAMLFlow(e.ctx, "missing")
	e.is(err, store.ErrNotFound, "missing SAML flow")

	// A new key: the flow is found by it, no longer by the old one; a key another flow has is
	// refused; an unknown flow is not found.
	other := e.flow(conn.ID, unique("state-"), "", e.now.Add(time.Hour))
	e.exists(e.s.RekeyFlow(e.ctx, other.ID, state), "upstream_state", "rekey to another flow's state")
	e.is(e.s.RekeyFlow(e.ctx, store.NewID(), unique("state-")), store.ErrNotFound, "rekey of a missing flow")
	rekeyed := unique("state-")
	e.ok(e.s.RekeyFlow(e.ctx, other.ID, rekeyed))
	got, err = e.s.FlowByUpstreamState(e.ctx, rekeyed)
	e.ok(err)
	e.check(got.ID == other.ID, "by the new state %v", got.ID)
	_, err = e.s.FlowByUpstreamState(e.ctx, other.UpstreamStateHash)
	e.is(err, store.ErrNotFound, "by the old state")

	// The browser sends the hashes of all its sign-in cookies: the flow is claimed when one
	// of them is its, wherever it is in the list; none, or none at all, claims nothing.
	_, err = e.s.ClaimFlow(e.ctx, state, []string{"other browser"}, e.now)
	e.is(err, store.ErrNotFound, "claim from another browser")
	_, err = e.s.ClaimFlow(e.ctx, state, []string{"other flow", "another flow", "other browser"}, e.now)
	e.is(err, store.ErrNotFound, "claim with other flows' cookies")
	_, err = e.s.ClaimFlow(e.ctx, state, nil, e.now)
	e.is(err, store.ErrNotFound, "claim without a cookie")
	got, err = e.s.ClaimFlow(e.ctx, state, []string{"other flow", "browser", "another flow"}, e.now)
	e.ok(err)
	e.check(got.ClaimedAt != nil && got.Prompt == "none" && got.HintSubject == "hinted" && got.MaxAge == "600", "claimed %+v", got)
	_, err = e.s.ClaimFlow(e.ctx, state, []string{"browser"}, e.now)
	e.is(err, store.ErrNotFound, "second claim")
	_, err = e.s.ClaimFlow(e.ctx, old.UpstreamStateHash, []string{"browser"}, e.now)
	e.is(err, store.ErrNotFound, "expired claim")

	// A flow is finished once, expired or not; a claimed flow is finished already, and a
	// finished one can no longer be claimed.
	done, err := e.s.FinishFlow(e.ctx, f.ID, e.now)
	e.ok(err)
	e.check(!done, "finished a claimed flow")
	done, err = e.s.FinishFlow(e.ctx, old.ID, e.now)
	e.ok(err)
	e.check(done, "the expired flow was not finished")
	done, err = e.s.FinishFlow(e.ctx, old.ID, e.now)
	e.ok(err)
	e.check(!done, "finished a flow twice")
	unclaimed := e.flow(conn.ID, unique("state-"), "", e.now.Add(time.Hour))
	done, err = e.s.FinishFlow(e.ctx, unclaimed.ID, e.now)
	e.ok(err)
	e.check(done, "the unclaimed flow was not finished")
	got, err = e.s.FlowByUpstreamState(e.ctx, unclaimed.UpstreamStateHash)
	e.ok(err)
	e.check(got.ClaimedAt != nil, "a finished flow reads unclaimed")
	_, err = e.s.ClaimFlow(e.ctx, unclaimed.UpstreamStateHash, []string{"browser"}, e.now)
	e.is(err, store.ErrNotFound, "claim of a finished flow")
	done, err = e.s.FinishFlow(e.ctx, store.NewID(), e.now)
	e.ok(err)
	e.check(!done, "finished a missing flow")

	n, err := e.s.PruneSignInState(e.ctx, e.now.AddDate(-9, 0, 0), e.now.AddDate(-9, 0, 0), "reason", "cause")
	e.ok(err)
	e.check(n >= 1, "pruned %d", n)
	_, err = e.s.FlowByUpstreamState(e.ctx, old.UpstreamStateHash)
	e.is(err, store.ErrNotFound, "pruned flow")
	_, err = e.s.FlowByUpstreamState(e.ctx, state)
	e.ok(err)
	e.is(e.s.RekeyFlow(e.ctx, f.ID, unique("state-")), store.ErrNotFound, "rekey of a claimed flow")
	e.check(len(e.failedEvents()) == 0, "the finished flow's pruning recorded an event")
	testAbandonedFlows(e, conn)
}

// failedEvents are the failed sign-in events of e's workspace, newest first.
func (e *env) failedEvents() []*models.SignInEvent {
	es, _, err := e.s.SignInEventsPage(e.ctx, e.ws, store.SignInEventFilter{Outcome: models.SignInOutcomeFailed}, 0, 100)
	e.ok(err)
	return es
}

// testAbandonedFlows: a pruned flow that was never claimed nor finished becomes one failed
// event, with the deletion; a claimed or finished one becomes none, nor does one whose failure
// was recorded while it stayed open (MarkFlowFailed). The flows expire an hour
// ago (the events' time), so that the sign-in event pruning of testRecords, which asserts
// about what it prunes, finds none of them.
func testAbandonedFlows(e *env, conn *models.Connection) {
	expired := e.now.Add(-time.Hour)
	create := func(f *models.SignInFlow) *models.SignInFlow {
		f.ID, f.UpstreamStateHash = store.NewID(), unique("state-")
		e.ok(e.s.CreateFlow(e.ctx, f))
		return f
	}
	abandoned := create(&models.SignInFlow{WorkspaceID: e.ws, ApplicationID: store.NewID(), BrandID: store.NewID(), ConnectionID: conn.ID,
		BrowserHash: "browser", ClientID: "c", RedirectURI: "https://app/cb", Scope: "openid", RequestID: unique("req-"),
		ExpiresAt: expired, CreatedAt: e.now})
	gone := e.connection("Gone")
	e.ok(e.s.DeleteConnection(e.ctx, gone))
	test := create(&models.SignInFlow{WorkspaceID: e.ws, ApplicationID: uuid.Nil, BrandID: uuid.Nil, ConnectionID: gone.ID,
		BrowserHash: "browser", RedirectURI: "https://gatehouse/test", Scope: "openid", RequestID: unique("req-"), Test: true,
		ExpiresAt: expired.Add(-time.Minute), CreatedAt: e.now})
	claimed := e.flow(conn.ID, unique("state-"), "", e.now.Add(time.Hour))
	_, err := e.s.ClaimFlow(e.ctx, claimed.UpstreamStateHash, []string{"browser"}, e.now)
	e.ok(err)
	e.ok(e.s.RawScan(e.ctx, new([]int), "UPDATE sign_in_flows SET expires_at = ? WHERE id = ? RETURNING 1", expired, claimed.ID))
	finished := e.flow(conn.ID, unique("state-"), "", expired)
	done, err := e.s.FinishFlow(e.ctx, finished.ID, e.now)
	e.ok(err)
	e.check(done, "the expired flow was not finished")
	// MarkFlowFailed: a failure recorded while the flow stayed open (a callback without its
	// cookie); marked twice, the first time counts; a missing flow is no error.
	failed := e.flow(conn.ID, unique("state-"), "", expired)
	first, err := e.s.MarkFlowFailed(e.ctx, failed.ID, e.now.Add(-2*time.Hour))
	e.ok(err)
	again, err := e.s.MarkFlowFailed(e.ctx, failed.ID, e.now)
	e.ok(err)
	e.check(first && !again, "marked %v, then %v: want only the first to count", first, again)
	var marked []time.Time
	e.ok(e.s.RawScan(e.ctx, &marked, "SELECT failed_at FROM sign_in_flows WHERE id = ?", failed.ID))
	e.check(len(marked) == 1 && marked[0].Equal(e.now.Add(-2*time.Hour)), "failed_at %v", marked)
	missing, err := e.s.MarkFlowFailed(e.ctx, store.NewID(), e.now)
	e.ok(err)
	e.check(!missing, "a missing flow marked")

	for range 2 { // pruned again, nothing more
		_, err = e.s.PruneSignInState(e.ctx, e.now.Add(-time.Minute), e.now.AddDate(-9, 0, 0), "Not finished.", "expired unanswered")
		e.ok(err)
		for _, st := range []string{abandoned.UpstreamStateHash, test.UpstreamStateHash, claimed.UpstreamStateHash, finished.UpstreamStateHash, failed.UpstreamStateHash} {
			_, err = e.s.FlowByUpstreamState(e.ctx, st)
			e.is(err, store.ErrNotFound, "pruned flow")
		}
		es := e.failedEvents()
		e.check(len(es) == 2, "%d failed events, want the abandoned flow's and the test flow's", len(es))
		a, t := es[0], es[1] // newest first: by the flows' expiry
		e.check(a.ID == abandoned.ID && a.WorkspaceID == e.ws && a.ApplicationID != nil && *a.ApplicationID == abandoned.ApplicationID &&
			a.ClientID == "c" && a.BrandID != nil && *a.BrandID == abandoned.BrandID && a.ConnectionID != nil && *a.ConnectionID == conn.ID &&
			a.ConnectionSlug == conn.Slug && a.Identifier == "" && a.Reason == "Not finished." && a.Cause == "expired unanswered" &&
			a.RequestID == abandoned.RequestID && !a.Test && a.CreatedAt.Equal(expired), "abandoned flow's event %+v", a)
		e.check(t.ID == test.ID && t.ApplicationID == nil && t.BrandID == nil && t.ClientID == "" && t.ConnectionID != nil &&
			*t.ConnectionID == gone.ID && t.ConnectionSlug == "" && t.Test && t.RequestID == test.RequestID &&
			t.CreatedAt.Equal(test.ExpiresAt), "test flow's event %+v", t)
	}
}

// grant is a grant of code to a new active user account, by an application of its own.
func (e *env) grant(code string, expires time.Time) *models.Grant {
	app := e.application(e.brand(unique("granting-")))
	return &models.Grant{ID: store.NewID(), WorkspaceID: e.ws, ApplicationID: app.ID, ClientID: "c", CodeHash: code,
		RedirectURI: "https://app/cb", Scope: "openid", UserAccountID: e.user(unique("granted-")).ID, Claims: "{}", AuthTime: e.now,
		ExpiresAt: expires, CreatedAt: e.now}
}

func testGrants(e *env) {
	code := unique("code-")
	g := e.grant(code, e.now.Add(time.Minute))
	e.ok(e.s.CreateGrant(e.ctx, g))
	dup := e.grant(code, e.now.Add(time.Minute))
	e.exists(e.s.CreateGrant(e.ctx, dup), "code", "duplicate code")
	got, err := e.s.BoundGrant(e.ctx, e.ws, g.ID)
	e.ok(err)
	e.check(got.CodeHash == code, "grant %+v", got)
	_, err = e.s.BoundGrant(e.ctx, e.ws, store.NewID())
	e.is(err, store.ErrNotFound, "missing grant")

	// Another client's presentation of the code neither spends it nor, once spent, revokes it.
	_, err = e.s.RedeemGrant(e.ctx, code, "other", e.now)
	e.is(err, store.ErrNotFound, "another client's code")
	got, err = e.s.RedeemGrant(e.ctx, code, "c", e.now)
	e.ok(err)
	e.check(got.RedeemedAt != nil, "redeemed %+v", got)
	_, err = e.s.RedeemGrant(e.ctx, code, "other", e.now)
	e.is(err, store.ErrNotFound, "another client's replay")
	got, err = e.s.BoundGrant(e.ctx, e.ws, g.ID)
	e.ok(err)
	e.check(got.RevokedAt == nil, "another client's replay revoked the grant")
	_, err = e.s.RedeemGrant(e.ctx, code, "c", e.now)
	e.is(err, store.ErrStale, "replayed code")
	_, err = e.s.RedeemGrant(e.ctx, "missing", "c", e.now)
	e.is(err, store.ErrNotFound, "missing code")
	// A grant whose account is deactivated, or gone, is not redeemed.
	inactive := e.newUser(unique("inactive-"))
	inactive.Active = false
	e.ok(e.s.Create(e.ctx, inactive))
	for what, account := range map[string]uuid.UUID{"deactivated account": inactive.ID, "missing account": store.NewID()} {
		lapsed := e.grant(unique("code-"), e.now.Add(time.Minute))
		lapsed.UserAccountID = account
		e.ok(e.s.CreateGrant(e.ctx, lapsed))
		_, err = e.s.RedeemGrant(e.ctx, lapsed.CodeHash, "c", e.now)
		e.is(err, store.ErrNotFound, what)
		got, err := e.s.BoundGrant(e.ctx, e.ws, lapsed.ID)
		e.ok(err)
		e.check(got.RedeemedAt == nil && got.RevokedAt == nil, "%s: grant %+v", what, got)
	}

	// A grant of an application deleted since is not redeemed (a replica that still cached the
	// application made the code).
	orphan := e.grant(unique("code-"), e.now.Add(time.Minute))
	e.ok(e.s.DeleteApplication(e.ctx, &models.Application{ID: orphan.ApplicationID, WorkspaceID: e.ws}))
	e.ok(e.s.CreateGrant(e.ctx, orphan)) // made after the deletion
	_, err = e.s.RedeemGrant(e.ctx, orphan.CodeHash, "c", e.now)
	e.is(err, store.ErrNotFound, "a code of a deleted application")

	// A grant from before the account's last reactivation is void; one from after it is not.
	reactivated := e.newUser(unique("reactivated-"))
	at := e.now.Add(-time.Second)
	reactivated.ActivatedAt = &at
	e.ok(e.s.Create(e.ctx, reactivated))
	for _, created := range []time.Time{at.Add(-time.Second), at.Add(time.Millisecond)} {
		g := e.grant(unique("code-"), e.now.Add(time.Minute))
		g.UserAccountID, g.CreatedAt = reactivated.ID, created
		e.ok(e.s.CreateGrant(e.ctx, g))
		_, err = e.s.RedeemGrant(e.ctx, g.CodeHash, "c", e.now)
		if created.Before(at) {
			e.is(err, store.ErrNotFound, "a code from before the reactivation")
		} else {
			e.ok(err)
		}
	}

	testGrantBinding(e)

	other := e.grant(unique("code-"), e.now.Add(time.Minute))
	e.ok(e.s.CreateGrant(e.ctx, other))
	e.ok(e.s.RevokeGrant(e.ctx, other.ID, e.now))
	got, err = e.s.BoundGrant(e.ctx, e.ws, other.ID)
	e.ok(err)
	e.check(got.RevokedAt != nil, "not revoked")
	_, err = e.s.RedeemGrant(e.ctx, other.CodeHash, "c", e.now)
	e.is(err, store.ErrNotFound, "revoked code")
	e.ok(e.s.RevokeGrant(e.ctx, store.NewID(), e.now))

	// VoidGrant: a redemption refused after RedeemGrant marked the grant; presenting the code
	// again is no replay.
	refused := e.grant(unique("code-"), e.now.Add(time.Minute))
	e.ok(e.s.CreateGrant(e.ctx, refused))
	_, err = e.s.RedeemGrant(e.ctx, refused.CodeHash, "c", e.now)
	e.ok(err)
	e.ok(e.s.VoidGrant(e.ctx, refused.ID, e.now))
	got, err = e.s.BoundGrant(e.ctx, e.ws, refused.ID)
	e.ok(err)
	e.check(got.RevokedAt != nil && got.RedeemedAt == nil, "voided grant: revoked and unredeemed")
	_, err = e.s.RedeemGrant(e.ctx, refused.CodeHash, "c", e.now)
	e.is(err, store.ErrNotFound, "the code of a voided grant")
	e.ok(e.s.VoidGrant(e.ctx, store.NewID(), e.now))

	// RevokeGrantsOf: the application's grants to the account, not yet revoked, and no others.
	mine := e.grant(unique("code-"), e.now.Add(time.Minute))
	e.ok(e.s.CreateGrant(e.ctx, mine))
	second := e.grant(unique("code-"), e.now.Add(time.Minute))
	second.ApplicationID, second.UserAccountID = mine.ApplicationID, mine.UserAccountID
	e.ok(e.s.CreateGrant(e.ctx, second))
	otherApp := e.grant(unique("code-"), e.now.Add(time.Minute))
	otherApp.UserAccountID = mine.UserAccountID
	e.ok(e.s.CreateGrant(e.ctx, otherApp))
	later := e.grant(unique("code-"), e.now.Add(time.Minute))
	later.ApplicationID, later.UserAccountID, later.CreatedAt = mine.ApplicationID, mine.UserAccountID, e.now.Add(time.Minute)
	e.ok(e.s.CreateGrant(e.ctx, later))
	// The bound may come in any time zone (an id_token's iat reads in the server's): it is
	// the instant that counts, west of UTC as east of it.
	west, east := time.FixedZone("UTC-5", -5*3600), time.FixedZone("UTC+9", 9*3600)
	n, err := e.s.RevokeGrantsOf(e.ctx, e.ws, mine.ApplicationID, mine.UserAccountID, e.now.In(west), e.now)
	e.ok(err)
	e.check(n == 2, "revoked %d grants, want 2", n)
	for _, g := range []*models.Grant{mine, second, otherApp, later} {
		got, err := e.s.BoundGrant(e.ctx, e.ws, g.ID)
		e.ok(err)
		e.check((got.RevokedAt != nil) == (g == mine || g == second), "grant %v revoked: %v", g.ID, got.RevokedAt)
	}
	n, err = e.s.RevokeGrantsOf(e.ctx, e.ws, mine.ApplicationID, mine.UserAccountID, e.now.In(east), e.now)
	e.ok(err)
	e.check(n == 0, "revoked %d grants again (or a later one)", n)
	n, err = e.s.RevokeGrantsOf(e.ctx, store.NewID(), otherApp.ApplicationID, otherApp.UserAccountID, e.now, e.now)
	e.ok(err)
	e.check(n == 0, "revoked %d grants of another workspace", n)
}

func (e *env) signInEvent(outcome string) *models.SignInEvent {
	return &models.SignInEvent{ID: store.NewID(), WorkspaceID: e.ws, ClientID: "c", Identifier: "i", Outcome: outcome,
		RequestID: "r", CreatedAt: e.now}
}

func testRecords(e *env) {
	a := e.audit("one")
	e.ok(e.s.CreateAuditEvent(e.ctx, a))
	e.exists(e.s.CreateAuditEvent(e.ctx, a), "id", "duplicate audit event")
	orphan := e.audit("orphan")
	orphan.WorkspaceID = store.NewID()
	e.is(e.s.CreateAuditEvent(e.ctx, orphan), store.ErrMissingReference, "audit event of a missing workspace")
	ev := e.signInEvent("refused")
	e.ok(e.s.CreateSignInEvent(e.ctx, ev))
	e.exists(e.s.CreateSignInEvent(e.ctx, ev), "id", "duplicate sign-in event")

	g := e.grant(unique("code-"), e.now.Add(time.Minute))
	e.ok(e.s.RecordSignIn(e.ctx, nil, e.audit("sign_in"), g, e.signInEvent("accepted")))
	_, err := e.s.BoundGrant(e.ctx, e.ws, g.ID)
	e.ok(err)
	e.ok(e.s.RecordSignIn(e.ctx, nil, e.audit("sign_in"), nil, e.signInEvent("refused")))
	// A refused row refuses the others.
	e.exists(e.s.RecordSignIn(e.ctx, nil, e.audit("sign_in"), nil, ev), "id", "RecordSignIn with a duplicate event")

	evs, err := e.s.AuditEvents(e.ctx, e.ws, nil, 100)
	e.ok(err)
	e.check(len(evs) == 3 && evs[0].ID.String() > evs[2].ID.String(), "audit events %d, newest first", len(evs))
	evs, err = e.s.AuditEvents(e.ctx, e.ws, &evs[1].ID, 100)
	e.ok(err)
	e.check(len(evs) == 1 && evs[0].ID == a.ID, "before %v", evs)
	es, total, err := e.s.SignInEventsPage(e.ctx, e.ws, store.SignInEventFilter{Outcome: "refused"}, 0, 1)
	e.ok(err)
	e.check(total == 2 && len(es) == 1, "refused events %d of %d", len(es), total)

	// Pruning deletes the events created before the cutoff, and only those.
	old := e.signInEvent("failed")
	old.CreatedAt = e.now.Add(-100 * 24 * time.Hour)
	e.ok(e.s.CreateSignInEvent(e.ctx, old))
	n, err := e.s.PruneSignInEvents(e.ctx, e.now.Add(-90*24*time.Hour))
	e.ok(err)
	e.check(n == 1, "pruned %d sign-in events, want the old one", n)
	_, total, err = e.s.SignInEventsPage(e.ctx, e.ws, store.SignInEventFilter{}, 0, 10)
	e.ok(err)
	e.check(total == 3, "%d sign-in events after pruning, want the 3 recent ones", total)
}

func testProvisioned(e *env) {
	conn := e.connection("C")
	acct := &models.Account{ID: store.NewID(), WorkspaceID: e.ws, Name: "jit", Type: models.AccountIndividual, CreatedAt: e.now, UpdatedAt: e.now}
	u := e.newUser("jit")
	u.AccountID = &acct.ID
	e.ok(e.s.CreateProvisionedUser(e.ctx, &store.ProvisionedUser{Account: acct, User: u, Credential: e.credential(u, conn, "Jit-Id"), DerivedEmail: u.Email}))
	_, err := e.s.Account(e.ctx, e.ws, acct.ID)
	e.ok(err)
	got, derived, err := e.s.UserAccountByIdentity(e.ctx, e.ws, conn.ID, "jit-id")
	e.ok(err)
	e.check(got.ID == u.ID && derived == u.Email && got.Role != "", "by identity %+v %q", got, derived)
	_, _, err = e.s.UserAccountByIdentity(e.ctx, e.ws, conn.ID, "missing")
	e.is(err, store.ErrNotFound, "missing identity")
	got, _, err = e.s.UserAccountByLiveIdentity(e.ctx, e.ws, conn.ID, "jit-id")
	e.ok(err)
	e.check(got.ID == u.ID, "by live identity %v", got.ID)

	// Another account with the same identity, or the same email, is refused (whole, in a
	// transaction).
	v := e.newUser("other")
	e.exists(e.s.InTx(e.ctx, func(ctx context.Context) error {
		return e.s.CreateProvisionedUser(ctx, &store.ProvisionedUser{User: v, Credential: e.credential(v, conn, "JIT-ID")})
	}), "identity", "identity taken")
	_, err = e.s.UserAccount(e.ctx, e.ws, v.ID)
	e.is(err, store.ErrNotFound, "account of a refused provisioning")
	w := e.newUser("jit")
	w.UserName, w.UserNameKey = "w", "w"
	e.exists(e.s.CreateProvisionedUser(e.ctx, &store.ProvisionedUser{User: w, Credential: e.credential(w, conn, "w")}), "email", "email taken")

	// The connection owns the profile of the account it provisioned.
	plain := e.user("plain")
	changed, err := e.s.RefreshOwnedProfile(e.ctx, plain, conn.ID, "P", "Q", plain.Email)
	e.ok(err)
	e.check(!changed, "refreshed a profile the connection does not own")
	e.ok(e.s.MarkProfileOwner(e.ctx, e.ws, plain.ID, conn.ID))
	e.ok(e.s.MarkProfileOwner(e.ctx, e.ws, store.NewID(), conn.ID))
	changed, err = e.s.RefreshOwnedProfile(e.ctx, plain, conn.ID, "P", "Q", plain.Email)
	e.ok(err)
	e.check(changed && plain.FirstName == "P" && plain.Version == 2, "refreshed %+v", plain)
	// The row reads back as the refreshed account, email included (its key and type).
	changed, err = e.s.RefreshOwnedProfile(e.ctx, plain, conn.ID, "P", "Q", "Refreshed@Example.com")
	e.ok(err)
	stored, err := e.s.UserAccount(e.ctx, e.ws, plain.ID)
	e.ok(err)
	e.check(changed && stored.FirstName == "P" && stored.LastName == "Q" && stored.Email == "Refreshed@Example.com" &&
		stored.EmailKey == "refreshed@example.com" && stored.EmailType == plain.EmailType && stored.Version == 3 &&
		plain.Version == 3, "stored %+v, refreshed %+v", stored, plain)
	// A refresh from a stale read (the version moved since) changes nothing.
	stale := *plain
	stale.Version--
	changed, err = e.s.RefreshOwnedProfile(e.ctx, &stale, conn.ID, "R", "S", plain.Email)
	e.ok(err)
	stored, err = e.s.UserAccount(e.ctx, e.ws, plain.ID)
	e.ok(err)
	e.check(!changed && stored.FirstName == "P" && stored.Version == 3, "stale refresh applied: %+v", stored)
	changed, err = e.s.RefreshOwnedProfile(e.ctx, plain, conn.ID, "P", "Q", u.Email) // u has that email
	e.ok(err)
	e.check(!changed, "refresh took another account's email")

	// What a first sign-in reads with its connection.
	first, err := e.s.FirstSignInReads(e.ctx, e.ws, store.NewID(), conn.ID, models.Key(u.Email))
	e.ok(err)
	e.check(first.Connection.ID == conn.ID && first.EmailTaken && first.Configuration == nil, "first sign-in reads %+v", first)
	first, err = e.s.FirstSignInReads(e.ctx, e.ws, store.NewID(), conn.ID, "free@example.com")
	e.ok(err)
	e.check(!first.EmailTaken, "a free email is taken")
	_, err = e.s.FirstSignInReads(e.ctx, e.ws, store.NewID(), store.NewID(), "free@example.com")
	e.is(err, store.ErrNotFound, "first sign-in reads of a missing connection")

	conn.Status = models.StatusInactive
	e.ok(e.s.UpdateConnection(e.ctx, conn))
	_, _, err = e.s.UserAccountByLiveIdentity(e.ctx, e.ws, conn.ID, "jit-id")
	e.is(err, store.ErrNotFound, "identity at an inactive connection")
}

// testGrantBinding: a grant that records its binding (connection and identifier key) holds
// while the account is bound there to that identifier: BoundGrant finds it and RedeemGrant
// redeems it; once the credential is removed or rebound to another identifier, or the identity
// is another account's, neither does. The same identifier bound again (another case, the same
// key) keeps it. A connection's status is no part of it.
func testGrantBinding(e *env) {
	conn := e.connection(unique("Bound IdP "))
	bound := func(identifier string) (*models.Grant, *models.UserAccount) {
		g := e.grant(unique("code-"), e.now.Add(time.Minute))
		u, err := e.s.UserAccount(e.ctx, e.ws, g.UserAccountID)
		e.ok(err)
		e.ok(e.s.UpsertCredential(e.ctx, e.credential(u, conn, identifier)))
		g.ConnectionID, g.IdentifierKey = &conn.ID, models.Key(identifier)
		e.ok(e.s.CreateGrant(e.ctx, g))
		return g, u
	}
	holds := func(g *models.Grant, want bool, what string) {
		e.t.Helper()
		_, err := e.s.BoundGrant(e.ctx, e.ws, g.ID)
		if want {
			e.ok(err)
		} else {
			e.is(err, store.ErrNotFound, what)
		}
	}

	kept, u := bound(unique("Kept-"))
	holds(kept, true, "a bound grant")
	e.ok(e.s.UpsertCredential(e.ctx, e.credential(u, conn, strings.ToUpper(kept.IdentifierKey))))
	holds(kept, true, "the same identifier bound again")
	conn.Status = models.StatusInactive
	e.ok(e.s.UpdateConnection(e.ctx, conn))
	holds(kept, true, "a grant of a deactivated connection")
	_, err := e.s.RedeemGrant(e.ctx, kept.CodeHash, "c", e.now)
	e.ok(err)

	removed, u := bound(unique("removed-"))
	existed, err := e.s.DeleteCredential(e.ctx, e.ws, u.ID, conn.ID)
	e.ok(err)
	e.check(existed, "no credential to delete")
	holds(removed, false, "a grant whose credential was removed")
	_, err = e.s.RedeemGrant(e.ctx, removed.CodeHash, "c", e.now)
	e.is(err, store.ErrNotFound, "the code of a grant whose credential was removed")

	rebound, u := bound(unique("rebound-"))
	e.ok(e.s.UpsertCredential(e.ctx, e.credential(u, conn, unique("another-"))))
	holds(rebound, false, "a grant whose credential was rebound")
	_, err = e.s.RedeemGrant(e.ctx, rebound.CodeHash, "c", e.now)
	e.is(err, store.ErrNotFound, "the code of a grant whose credential was rebound")

	// The identity now another account's: the grant's account is bound no more.
	moved, u := bound(unique("moved-"))
	_, err = e.s.DeleteCredential(e.ctx, e.ws, u.ID, conn.ID)
	e.ok(err)
	e.ok(e.s.UpsertCredential(e.ctx, e.credential(e.user(unique("other-")), conn, moved.IdentifierKey)))
	holds(moved, false, "a grant whose identity is another account's")

	// A grant from before migration 33 records no binding and is not checked.
	old := e.grant(unique("code-"), e.now.Add(time.Minute))
	e.ok(e.s.CreateGrant(e.ctx, old))
	holds(old, true, "a grant without a binding")
}
