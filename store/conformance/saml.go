package conformance

import (
	"time"

	"gatehouse/models"
	"gatehouse/store"
)

func testSAMLAnswers(e *env) {
	conn, flow, id := store.NewID(), store.NewID(), unique("assertion-")
	later, past := e.now.Add(time.Hour), e.now.AddDate(-10, 0, 0)
	fresh, err := e.s.UseSAMLAssertion(e.ctx, conn, id, later)
	e.ok(err)
	e.check(fresh, "first use not fresh")
	fresh, err = e.s.UseSAMLAssertion(e.ctx, conn, id, later)
	e.ok(err)
	e.check(!fresh, "replay fresh")
	fresh, err = e.s.PutSAMLAnswer(e.ctx, flow, []byte("enc"), later, "key")
	e.ok(err)
	e.check(fresh, "first answer not stored")
	fresh, err = e.s.PutSAMLAnswer(e.ctx, flow, []byte("other"), later, "key")
	e.ok(err)
	e.check(!fresh, "second answer stored")
	got, err := e.s.ReadSAMLAnswer(e.ctx, flow)
	e.ok(err)
	e.check(string(got) == "enc", "read answer %q", got)
	_, err = e.s.ReadSAMLAnswer(e.ctx, store.NewID())
	e.is(err, store.ErrNotFound, "another flow's answer")
	got, err = e.s.TakeSAMLAnswer(e.ctx, flow)
	e.ok(err)
	e.check(string(got) == "enc", "answer %q (after a read)", got)
	_, err = e.s.TakeSAMLAnswer(e.ctx, flow)
	e.is(err, store.ErrNotFound, "answer taken twice")
	_, err = e.s.ReadSAMLAnswer(e.ctx, flow)
	e.is(err, store.ErrNotFound, "a taken answer read")

	a := store.SAMLAnswer{ConnectionID: conn, AssertionID: unique("assertion-"), AssertionExpires: past,
		FlowID: store.NewID(), IdentityEnc: []byte("id"), AnswerExpires: past}
	assertionFresh, answerFresh, err := e.s.AcceptSAMLAnswer(e.ctx, a)
	e.ok(err)
	e.check(assertionFresh && answerFresh, "accept %v %v", assertionFresh, answerFresh)
	assertionFresh, answerFresh, err = e.s.AcceptSAMLAnswer(e.ctx, a)
	e.ok(err)
	e.check(!assertionFresh && !answerFresh, "replayed accept %v %v", assertionFresh, answerFresh)

	n, err := e.s.PruneSAMLAssertions(e.ctx, past.Add(time.Hour))
	e.ok(err)
	e.check(n >= 2, "pruned %d", n)
	_, err = e.s.TakeSAMLAnswer(e.ctx, a.FlowID)
	e.is(err, store.ErrNotFound, "pruned answer")
	fresh, err = e.s.UseSAMLAssertion(e.ctx, conn, id, later)
	e.ok(err)
	e.check(!fresh, "pruning removed a live assertion ID")
}

func testSAMLSPKeys(e *env) {
	key := func(id string) *models.SAMLSPKey {
		return &models.SAMLSPKey{ID: id, PrivateKeyEnc: []byte(id), Certificate: []byte(id), CreatedAt: e.now}
	}
	cur, err := e.s.SAMLSPKey(e.ctx)
	if err != nil {
		e.is(err, store.ErrNotFound, "no current key")
		cur, err = e.s.CreateSAMLSPKey(e.ctx, key(models.SPKeyCurrent))
		e.ok(err)
	}
	// Creating again returns the stored key.
	again, err := e.s.CreateSAMLSPKey(e.ctx, key(models.SPKeyCurrent))
	e.ok(err)
	e.check(string(again.PrivateKeyEnc) == string(cur.PrivateKeyEnc), "second create replaced the key")
	e.exists(e.s.Create(e.ctx, key(models.SPKeyCurrent)), "id", "a second current key")

	_ = e.s.DeleteSAMLSPKey(e.ctx, models.SPKeyNext)
	e.is(e.s.PromoteSAMLSPKey(e.ctx), store.ErrNotFound, "promotion without a next key")
	e.is(e.s.DeleteSAMLSPKey(e.ctx, models.SPKeyNext), store.ErrNotFound, "missing next key")
	e.ok(e.s.Create(e.ctx, key(models.SPKeyNext)))
	e.ok(e.s.PromoteSAMLSPKey(e.ctx))
	keys, err := e.s.SAMLSPKeys(e.ctx)
	e.ok(err)
	roles := map[string]string{}
	for _, k := range keys {
		roles[k.ID] = string(k.PrivateKeyEnc)
	}
	e.check(roles[models.SPKeyCurrent] == models.SPKeyNext && roles[models.SPKeyPrevious] == string(cur.PrivateKeyEnc) &&
		len(roles) == 2, "after promotion %v", roles)
	e.ok(e.s.DeleteSAMLSPKey(e.ctx, models.SPKeyPrevious))
}

func testTestSignIns(e *env) {
	conn := e.connection("C")
	ts := &models.TestSignIn{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: conn.ID, TokenHash: unique("token-"),
		Status: models.TestSignInPending, ExpiresAt: e.now.Add(time.Hour), CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, ts))
	dup := *ts
	dup.ID = store.NewID()
	e.exists(e.s.Create(e.ctx, &dup), "token", "duplicate test sign-in token")
	got, err := e.s.TestSignIn(e.ctx, e.ws, conn.ID, ts.ID)
	e.ok(err)
	e.check(got.Status == models.TestSignInPending, "test sign-in %+v", got)
	_, err = e.s.TestSignIn(e.ctx, e.ws, store.NewID(), ts.ID)
	e.is(err, store.ErrNotFound, "test sign-in of another connection")
	got, err = e.s.TestSignInByToken(e.ctx, ts.TokenHash)
	e.ok(err)
	e.check(got.ID == ts.ID, "by token %v", got.ID)
	_, err = e.s.TestSignInByToken(e.ctx, "missing")
	e.is(err, store.ErrNotFound, "missing token")

	// The test's flows (no application, the test's id as state): the latest to expire.
	_, err = e.s.LastTestSignInFlow(e.ctx, e.ws, ts.ID)
	e.is(err, store.ErrNotFound, "no flow of the test yet")
	for _, exp := range []time.Duration{time.Minute, 2 * time.Minute} {
		f := &models.SignInFlow{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: conn.ID, BrowserHash: "browser", RedirectURI: "https://gh/t",
			State: ts.ID.String(), Test: true, UpstreamStateHash: unique("state-"), UpstreamVerifierEnc: []byte("sealed"), ExpiresAt: e.now.Add(exp), CreatedAt: e.now}
		e.ok(e.s.CreateFlow(e.ctx, f))
	}
	e.flow(conn.ID, unique("state-"), "", e.now.Add(time.Hour)) // an application's flow
	last, err := e.s.LastTestSignInFlow(e.ctx, e.ws, ts.ID)
	e.ok(err)
	e.check(last.ExpiresAt.Equal(e.now.Add(2*time.Minute)) && last.Test, "last test flow %+v", last)
	_, err = e.s.LastTestSignInFlow(e.ctx, store.NewID(), ts.ID)
	e.is(err, store.ErrNotFound, "the test's flows from another workspace")

	ts.Status, ts.Result = models.TestSignInSucceeded, "{}"
	e.ok(e.s.FinishTestSignIn(e.ctx, ts))
	ts.Status = models.TestSignInFailed
	e.is(e.s.FinishTestSignIn(e.ctx, ts), store.ErrNotFound, "finished twice")
	// A failure keeps its public message and its private cause apart (models.TestSignIn.Cause).
	failed := &models.TestSignIn{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: conn.ID, TokenHash: unique("token-"),
		Status: models.TestSignInPending, ExpiresAt: e.now.Add(time.Hour), CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, failed))
	failed.Status, failed.Error, failed.Cause, failed.BrowserHash = models.TestSignInFailed, "Not accepted.", "saml response: expired", "browser"
	e.ok(e.s.FinishTestSignIn(e.ctx, failed))
	got, err = e.s.TestSignIn(e.ctx, e.ws, conn.ID, failed.ID)
	e.ok(err)
	e.check(got.Status == models.TestSignInFailed && got.Error == failed.Error && got.Cause == failed.Cause && got.BrowserHash == "browser",
		"failed test sign-in %+v", got)

	old := &models.TestSignIn{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: conn.ID, TokenHash: unique("token-"),
		Status: models.TestSignInPending, ExpiresAt: e.now.AddDate(-10, 0, 0), CreatedAt: e.now, UpdatedAt: e.now}
	e.ok(e.s.Create(e.ctx, old))
	n, err := e.s.PruneTestSignIns(e.ctx, e.now.AddDate(-9, 0, 0))
	e.ok(err)
	e.check(n >= 1, "pruned %d", n)
	_, err = e.s.TestSignIn(e.ctx, e.ws, conn.ID, old.ID)
	e.is(err, store.ErrNotFound, "pruned test sign-in")
}
