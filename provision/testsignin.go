package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
)

// Test sign-in (issue 10, item 7): an administrator starts a test of a connection and opens
// its URL in a browser, without a token. The browser runs the real flow at the identity
// provider (OIDC or SAML, the same transports as a real sign-in); the identity it comes back
// with goes through the same decision as a real sign-in, inside a transaction that is rolled
// back, so that the test writes no user, credential or account. The test records what
// happened and a sign-in event with test=true.

const (
	// TestSignInLifetime is how long a test sign-in can be opened and run.
	TestSignInLifetime = 15 * time.Minute
	// TestSignInPath is the public path of a test sign-in's URL (followed by its token).
	TestSignInPath = "/sso/test-sign-in/"
)

// TestSignInStart is a started test: its URL carries a random token, shown only here.
type TestSignInStart struct {
	Test *models.TestSignIn
	URL  string
}

// TestSignInResult is what a test learned: the normalised identity and the decision the
// engine would make, and what the administrator should fix or know although the sign-in
// worked (testWarnings: the identity provider signed with SHA-1, which the connection
// accepts; an email it sent is not used). It is stored as JSON and shown as is (REST,
// GraphQL, the result page).
type TestSignInResult struct {
	Identity *TestIdentity `json:"identity"`
	Decision *TestDecision `json:"decision"`
	Warnings []string      `json:"warnings,omitempty"`
}

// TestIdentity is the normalised identity as the engine reads it.
type TestIdentity struct {
	Identifier string         `json:"identifier"`
	Email      string         `json:"email"`
	FirstName  string         `json:"firstName"`
	LastName   string         `json:"lastName"`
	Claims     map[string]any `json:"claims"`
}

// TestDecision is the engine's decision; Outcome uses the engine's names.
type TestDecision struct {
	Outcome   string         `json:"outcome"`
	Reason    string         `json:"reason"`
	Placement *TestPlacement `json:"placement"`
}

// TestPlacement is where a new person would land. Account is an existing account (default or
// company match); for a new individual account only its name is known (NewAccountName).
type TestPlacement struct {
	Rule           PlacementRule `json:"rule"`
	Explanation    string        `json:"explanation"`
	Account        *TestAccount  `json:"account"`
	NewAccountName string        `json:"newAccountName,omitempty"`
}

// TestAccount names an existing account.
type TestAccount struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ResultOf decodes a test's stored result (nil while pending or after a failure before the
// identity provider answered).
func ResultOf(t *models.TestSignIn) *TestSignInResult {
	if t.Result == "" {
		return nil
	}
	var r TestSignInResult
	if json.Unmarshal([]byte(t.Result), &r) != nil {
		return nil
	}
	return &r
}

// WarningsOf are a test's warnings, never nil (empty: none, or no result yet; a result
// stored before tests had warnings has none).
func WarningsOf(t *models.TestSignIn) []string {
	if r := ResultOf(t); r != nil && r.Warnings != nil {
		return r.Warnings
	}
	return []string{}
}

// StartTestSignIn starts a test of a connection in testing or active status (INVALID_STATE
// otherwise). brandID, optional, names the brand whose configuration for the connection the
// decision reads (auto-provisioning, default account); without it the connection's own
// settings decide.
func (s *Service) StartTestSignIn(ctx context.Context, connectionID string, brandID *string) (*TestSignInStart, error) {
	p, err := s.authorize(ctx, accessManageWrite)
	if err != nil {
		return nil, err
	}
	conn, err := s.loadConnection(ctx, p.WorkspaceID, "connectionId", connectionID)
	if err != nil {
		return nil, internal("test sign-in", err)
	}
	if conn.Status != models.StatusTesting && conn.Status != models.StatusActive {
		return nil, models.Errorf(models.EINVALIDSTATE, "a test sign-in needs a connection in testing or active status; this one is %s: run its settings test first", conn.Status)
	}
	now := s.now()
	t := &models.TestSignIn{ID: store.NewID(), WorkspaceID: p.WorkspaceID, ConnectionID: conn.ID,
		Status: models.TestSignInPending, ExpiresAt: now.Add(TestSignInLifetime), CreatedAt: now, UpdatedAt: now}
	if brandID != nil && *brandID != "" {
		b, err := s.loadBrand(ctx, p.WorkspaceID, "brandId", *brandID)
		if err != nil {
			return nil, internal("test sign-in", err)
		}
		t.BrandID = &b.ID
	}
	token := secret.Token("", 32)
	t.TokenHash = secret.Hash(token)
	err = s.mutateAs(ctx, p, mutation{action: "connection.test_sign_in_started", target: "connection", op: "test sign-in"},
		func(ctx context.Context, p *Principal) (audited, error) {
			return audited{id: conn.ID.String(), summary: map[string]any{"testSignInId": t.ID.String()}}, s.store.Create(ctx, t)
		})
	if err != nil {
		return nil, err
	}
	return &TestSignInStart{Test: t, URL: s.sso.publicURL + TestSignInPath + token}, nil
}

// TestSignIn returns a test of a connection of the caller's workspace (NOT_FOUND otherwise).
func (s *Service) TestSignIn(ctx context.Context, connectionID, testID string) (*models.TestSignIn, error) {
	p, err := s.authorize(ctx, accessManageRead)
	if err != nil {
		return nil, err
	}
	// A malformed id names nothing, as everywhere else (lookupID): not found, not invalid.
	noTest := models.FieldError(models.ENOTFOUND, "testId", testID, "no such test sign-in of this connection")
	cid, cerr := lookupID("connectionId", connectionID, "connection")
	tid, terr := lookupID("testId", testID, "test sign-in")
	if cerr != nil || terr != nil {
		return nil, noTest
	}
	t, err := s.store.TestSignIn(ctx, p.WorkspaceID, cid, tid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noTest
	}
	if err != nil {
		return nil, internal("test sign-in", err)
	}
	if t.Status == models.TestSignInPending && s.noTestFlowCanFinish(t) {
		// Without this, a test never opened, or abandoned at the identity provider, would read
		// as pending until it is pruned, and a script polling for its outcome would wait for a
		// week.
		if t, _, err = s.finishTest(ctx, t, models.TestSignInFailed, nil, testAbandoned); err != nil {
			return nil, err
		}
	}
	return testShown(t, seesCauses(p)), nil
}

// testShown is test t as its reader sees it: Error says what failed, followed by the private
// cause in parentheses when withCause (an administrator: seesCauses; or the result page, shown
// only in the browser that ran the test, ResultVisibleTo), the public message alone otherwise;
// Cause is empty. A test that failed before migration 43 kept both in one text (in Cause,
// Error empty): it reads whole with the cause, and as testFailedPrivately without.
func testShown(t *models.TestSignIn, withCause bool) *models.TestSignIn {
	shown := *t
	shown.Cause = ""
	if t.Cause == "" && t.Status == models.TestSignInFailed && strings.HasSuffix(t.Error, ")") {
		// Written as before migration 43 by a replica not yet upgraded (a rolling upgrade):
		// read as the migration reads such a row, the whole text as the cause.
		t = &models.TestSignIn{Error: "", Cause: t.Error}
	}
	switch {
	case t.Cause == "": // nothing private
	case withCause && t.Error == "":
		shown.Error = t.Cause
	case withCause:
		shown.Error = t.Error + " (" + t.Cause + ")"
	case t.Error == "":
		shown.Error = testFailedPrivately
	}
	return &shown
}

// testFailedPrivately is what a reader who may not see causes reads of a test that failed
// before its public message was kept apart from the cause (migration 43).
const testFailedPrivately = "The test sign-in failed; what failed is shown to administrators only."

// noTestFlowCanFinish reports whether no flow of test t can finish it any more: a flow of the
// test starts before its ExpiresAt and lives FlowLifetime.
func (s *Service) noTestFlowCanFinish(t *models.TestSignIn) bool {
	return !s.now().Before(t.ExpiresAt.Add(FlowLifetime))
}

// testFlowsKept reports whether every flow test t started is still stored: one starts no
// earlier than the test, expires FlowLifetime later, and is pruned no sooner than
// ExpiredFlowRetention after that (PruneSignInState).
func (s *Service) testFlowsKept(t *models.TestSignIn) bool {
	return s.now().Before(t.CreatedAt.Add(FlowLifetime + ExpiredFlowRetention))
}

// testAbandoned is what a test that nobody finished reads as, once none of its flows can.
var testAbandoned = fmt.Sprintf("The test sign-in expired before the identity provider answered: it was not opened within %d minutes, "+
	"or the sign-in at the identity provider was not finished within %d minutes. Start another one.",
	int(TestSignInLifetime.Minutes()), int(FlowLifetime.Minutes()))

// OpenTestSignIn is the test's URL opened in a browser (no token: the URL's is the proof). A
// pending, unexpired test starts a flow at the connection's identity provider (FlowStart set;
// the transport sets the cookie and redirects); otherwise the test is returned to be shown.
// An unknown token returns nil.
func (s *Service) OpenTestSignIn(ctx context.Context, token string, browser Browser, requestID string) (*models.TestSignIn, *FlowStart, error) {
	ctx = signInState(ctx)
	// A token that is not text (NUL, invalid UTF-8: the input text rule) is no test's, and is
	// not looked up: PostgreSQL cannot compare it, and the page must say "not found", not fail.
	if token == "" || len(token) > 128 || models.CheckText("token", token) != nil {
		return nil, nil, nil
	}
	t, err := s.store.TestSignInByToken(ctx, secret.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		// The flow comes back to the URL with the token's hash (only the hash is stored):
		// it shows a finished test, never starts one.
		if t, err = s.store.TestSignInByToken(ctx, token); err == nil && t.Status == models.TestSignInPending {
			return nil, nil, nil
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, internal("test sign-in", err)
	}
	if t.Status != models.TestSignInPending {
		// Shown only in the browser that ran the test (ResultVisibleTo), which an
		// administrator opened from the test's URL: it says exactly what failed.
		return testShown(t, true), nil, nil
	}
	if !s.now().Before(t.ExpiresAt) {
		return s.openedTooLate(ctx, t)
	}
	conn, err := s.store.Connection(ctx, t.WorkspaceID, t.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return s.finishTest(ctx, t, models.TestSignInFailed, nil, "The connection was deleted.")
	}
	if err != nil {
		return nil, nil, internal("test sign-in", err)
	}
	if conn.Status != models.StatusTesting && conn.Status != models.StatusActive {
		return s.finishTest(ctx, t, models.TestSignInFailed, nil, "The connection is "+string(conn.Status)+" now; a test sign-in needs it in testing or active status.")
	}
	brand := uuid.Nil
	if t.BrandID != nil {
		brand = *t.BrandID
	}
	// The flow of a test has no application: it ends on the test's own page, and its state
	// names the test.
	app := &models.Application{ID: uuid.Nil, WorkspaceID: t.WorkspaceID, BrandID: brand}
	res, err := s.startFlow(ctx, app, conn, AuthorizeRequest{RedirectURI: s.sso.publicURL + TestSignInPath + t.TokenHash,
		State: t.ID.String(), Browser: browser, RequestID: requestID, Test: true}, interaction{})
	if err != nil {
		return nil, nil, err
	}
	return t, res.Start, nil
}

// testLinkExpired is what a test's URL opened after the test expired says while a sign-in
// started from it before then may still finish the test.
var testLinkExpired = fmt.Sprintf("This link can no longer start the test sign-in: a test is opened within %d minutes of its start. "+
	"A sign-in at the identity provider started from it before then can still finish the test; otherwise start another one.",
	int(TestSignInLifetime.Minutes()))

// openedTooLate is OpenTestSignIn of pending test t after it expired: it starts no flow. A
// flow the test started before it expired may still be at the identity provider (in another
// tab or browser) and finish the test: t is left pending for it, as TestSignIn leaves it, and
// returned, as stored, with testLinkExpired to show. Failing it here would throw that flow's
// result away and call a test that ran one that never ran. Otherwise the test fails.
//
// A test without a flow never ran only while none of its flows can have been pruned yet
// (testFlowsKept); after that, one may have been started and abandoned, and the test row
// does not say (it records who ran it only when a flow finishes it), so the message is
// testAbandoned, which is true either way.
func (s *Service) openedTooLate(ctx context.Context, t *models.TestSignIn) (*models.TestSignIn, *FlowStart, error) {
	if s.noTestFlowCanFinish(t) {
		return s.finishTest(ctx, t, models.TestSignInFailed, nil, testAbandoned)
	}
	f, err := s.store.LastTestSignInFlow(ctx, t.WorkspaceID, t.ID)
	switch {
	case errors.Is(err, store.ErrNotFound) && s.testFlowsKept(t):
		return s.finishTest(ctx, t, models.TestSignInFailed, nil, "The test sign-in expired before it was run; start another one.")
	case errors.Is(err, store.ErrNotFound):
		return s.finishTest(ctx, t, models.TestSignInFailed, nil, testAbandoned)
	case err != nil:
		return nil, nil, internal("test sign-in", err)
	case !s.now().Before(f.ExpiresAt): // abandoned at the identity provider
		return s.finishTest(ctx, t, models.TestSignInFailed, nil, testAbandoned)
	}
	shown := *t
	shown.Error = testLinkExpired
	return &shown, nil, nil
}

func (s *Service) finishTest(ctx context.Context, t *models.TestSignIn, status string, r *TestSignInResult, msg string) (*models.TestSignIn, *FlowStart, error) {
	t.Status, t.Error = status, msg
	if r != nil {
		b, _ := json.Marshal(r)
		t.Result = string(b)
	}
	if err := s.store.FinishTestSignIn(ctx, t); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, nil, internal("test sign-in", err)
	}
	return t, nil, nil
}

// testOf finds the test sign-in a test flow runs (its state names it).
func (s *Service) testOf(ctx context.Context, f *models.SignInFlow) (*models.TestSignIn, error) {
	tid, err := uuid.Parse(f.State)
	if err != nil {
		return nil, err
	}
	return s.store.TestSignIn(ctx, f.WorkspaceID, f.ConnectionID, tid)
}

// completeTest is CompleteFlow for a test flow: the decision as a dry run, the result and a
// test event recorded; the browser goes to the test's page.
func (s *Service) completeTest(ctx context.Context, f *ClaimedFlow, id Identity) (string, error) {
	fl := f.Flow
	t, err := s.testOf(ctx, fl)
	if err != nil {
		return "", internal("test sign-in", err)
	}
	r, id := s.testResult(ctx, f.Flow.ConnectionID, id, f.warnings)
	res, err := s.dryRun(ctx, t.BrandID, f.Connection, id)
	if err != nil {
		msg := "The decision failed: " + models.FieldMessage(err)
		if models.ErrorCode(err) == models.EINTERNAL {
			msg = "The decision failed because of a server error."
		}
		// The test fails with what it learned: the identity and its warnings.
		s.recordFailure(ctx, fl, f.Connection, id.Identifier, msg, err.Error(), "", r)
		return fl.RedirectURI, nil
	}
	learned := *r // what a failure to store the result keeps: the identity, without the decision
	r.Decision = &TestDecision{Outcome: string(res.Outcome), Reason: res.Reason}
	if pl := res.Placement; pl != nil {
		r.Decision.Placement = &TestPlacement{Rule: pl.Rule, Explanation: pl.Explanation}
		switch {
		case pl.Rule == RuleIndividualAccount && pl.Account != nil:
			r.Decision.Placement.NewAccountName = pl.Account.Name
		case pl.Account != nil:
			r.Decision.Placement.Account = &TestAccount{ID: pl.Account.ID.String(), Name: pl.Account.Name}
		}
	}
	// The result first: a failure to store it fails the test (CompleteFlow), whose event is then
	// the attempt's one.
	t.BrowserHash = fl.BrowserHash
	if _, _, err := s.finishTest(ctx, t, models.TestSignInSucceeded, r, ""); err != nil {
		f.learned = &learned
		return "", err
	}
	cause := "test sign-in: a dry run, nothing was written"
	if res.cause != "" {
		cause += "; refused: " + res.cause
	}
	// The request that carried the answer, as a real sign-in's event names (f.requestID).
	ev := s.event(fl, f.Connection, id.Identifier, string(res.Outcome), res.Reason, cause, f.requestID())
	if err := s.store.CreateSignInEvent(ctx, ev); err != nil {
		s.logWriteFailure(ctx, "test sign-in: record event", err, "request_id", f.requestID())
	}
	return fl.RedirectURI, nil
}

// testResult is what a test shows of the identity its identity provider sent (sent, as the
// transport read it, with the transport's warnings): the identity as the engine reads it, which
// it returns too, and the warnings. The decision is the caller's to add.
func (s *Service) testResult(ctx context.Context, connectionID uuid.UUID, sent Identity, transport []string) (*TestSignInResult, Identity) {
	id, dropped := normaliseIdentity(sent)
	if dropped != "" {
		s.log.WarnContext(ctx, "test sign-in: name claim longer than the name rule allows; treated as not sent",
			"fields", dropped, "connection_id", connectionID, "max_characters", models.MaxNameLength)
	}
	if id.Claims == nil {
		id.Claims = map[string]any{}
	}
	return &TestSignInResult{Identity: &TestIdentity{Identifier: id.Identifier, Email: id.Email, FirstName: id.FirstName,
		LastName: id.LastName, Claims: id.Claims}, Warnings: testWarnings(transport, sent, id)}, id
}

// answeredTestResult is testResult for the answer the ACS kept for SAML test flow f, which no
// browser continued (ReadSAMLAnswer leaves it for one that still may): nil when there is none
// (an OIDC flow, or no response accepted yet) or it cannot be read, which is logged.
func (s *Service) answeredTestResult(ctx context.Context, f *models.SignInFlow) *TestSignInResult {
	if f.UpstreamRequestID == "" {
		return nil
	}
	enc, err := s.store.ReadSAMLAnswer(ctx, f.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	var a samlAnswer
	if err == nil {
		var b []byte
		if b, err = s.box.Open(enc); err == nil {
			err = json.Unmarshal(b, &a)
		}
	}
	if err != nil {
		s.log.WarnContext(ctx, "test sign-in: the identity provider's kept answer could not be read; the failed test shows none",
			"error", err.Error(), "request_id", f.RequestID, "flow_id", f.ID)
		return nil
	}
	r, _ := s.testResult(ctx, f.ConnectionID, a.Identity, a.Warnings)
	return r
}

// testWarnings are a test's warnings: the transport's (a SAML response signed with SHA-1),
// then why the identity has no email although the identity provider sent one (sent is the
// identity as the transport read it, id as normalised), which an administrator would otherwise
// have to work out from the claims.
func testWarnings(transport []string, sent, id Identity) []string {
	w := slices.Clone(transport)
	const effect = ": Gatehouse does not use it (it links no account, and is not the person's email)"
	switch {
	case sent.EmailLeftOut != "":
		w = append(w, "The identity provider's email "+sent.EmailLeftOut+effect)
	case sent.Email != "" && id.Email == "":
		w = append(w, "The identity provider's email "+strconv.Quote(models.Clip(sent.Email, 100))+" is not a valid address"+effect)
	}
	return w
}

// failTest records on a test flow's test what failed: the public message and, apart, the
// private cause, as the attempt's sign-in event does (testShown composes what each reader
// sees: administrators read both), with result, what the test learned before it failed;
// without one, the identity the ACS kept for the flow, if any (answeredTestResult: a SAML
// response accepted, then its continuation failed), so that the test still shows what the
// identity provider sent and what was wrong with its response (a SHA-1 signature).
func (s *Service) failTest(ctx context.Context, f *models.SignInFlow, public, cause string, result *TestSignInResult) {
	t, err := s.testOf(ctx, f)
	if err == nil {
		if result == nil {
			result = s.answeredTestResult(ctx, f)
		}
		t.BrowserHash, t.Cause = f.BrowserHash, cause
		_, _, err = s.finishTest(ctx, t, models.TestSignInFailed, result, public)
	}
	if err != nil {
		s.logWriteFailure(ctx, "test sign-in: record failure", err, "request_id", f.RequestID)
	}
}

// dryRun runs the decision of SignIn for conn — in testing or active status — inside a
// transaction it rolls back (SignInDryRun's errDryRun, for a connection not yet active and an
// optional brand): the same rules and queries, and nothing stays written.
func (s *Service) dryRun(ctx context.Context, brandID *uuid.UUID, conn *models.Connection, id Identity) (*SignInResult, error) {
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	var res *SignInResult
	userNameTaken := false
	for attempt := 0; ; attempt++ {
		err := s.transact(ctx, mutation{op: "test sign-in: decision"}, func(ctx context.Context) error {
			brand := &models.Brand{WorkspaceID: conn.WorkspaceID}
			if brandID != nil {
				b, err := s.store.Brand(ctx, conn.WorkspaceID, *brandID)
				if err != nil {
					return err
				}
				brand = b
			}
			var err error
			if res, err = (&decision{s: s, brand: brand, conn: conn, id: id, userNameTaken: userNameTaken, dryRun: true}).decide(ctx); err != nil {
				return err
			}
			return errDryRun
		})
		if attempt == 0 && userNameClash(err) {
			userNameTaken = true // and decide again, as SignIn does
			continue
		}
		if !errors.Is(err, errDryRun) {
			return nil, err
		}
		return res, nil
	}
}

// ResultVisibleTo reports whether a test's result may be shown to browser (its sign-in cookies):
// only the browser that ran the test, which holds the cookie of the test's flow among its
// own, sees its identity, claims and failure cause; others read it through the API. A test no
// browser ran (it expired first) shows only its status and message.
func ResultVisibleTo(t *models.TestSignIn, browser Browser) bool {
	return t.BrowserHash == "" || browser.owns(t.BrowserHash)
}

// SecureCookies reports whether GATEHOUSE_PUBLIC_URL is https: the sign-in cookie is Secure
// exactly then.
func (s *Service) SecureCookies() bool {
	return len(s.sso.publicURL) >= 8 && strings.EqualFold(s.sso.publicURL[:8], "https://")
}
