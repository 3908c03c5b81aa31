package provision

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
)

// SAML sign-in in the flow. The IdP's POST to the ACS is cross-site, so the browser's SameSite=Lax
// cookie does not come with it:
//
//	PendingSAMLFlow   the ACS: find the flow by RelayState, else by InResponseTo (no
//	                  cookie, no claim)
//	AcceptSAMLAnswer  the checked response: its assertion ID once, its identity kept
//	                  (encrypted) for the browser's continuation
//	ClaimFlow         the browser's GET that follows: the cookie binds the flow (flows.go)
//	SAMLIdentity      the identity kept at the ACS, then CompleteFlow decides (flows.go)

// SAMLPending is a flow whose IdP posted an answer to the ACS, not yet bound to the browser.
type SAMLPending struct {
	Flow       *models.SignInFlow
	Connection *models.Connection
	SP         *SAMLSP
	// ContinueState is the state of the browser's continuation (ClaimSAMLFlow): the
	// RelayState, or, for a flow found by InResponseTo, the one AcceptSAMLAnswer gives it.
	ContinueState string
	byRequest     bool
}

// FlowGonePublic is what the person reads of an IdP's answer to a sign-in that expired or was
// finished already (or whose flow is gone: the ACS tells an answer to a request of Gatehouse's
// from an unsolicited one by its InResponseTo).
const FlowGonePublic = "This sign-in expired or was finished already. Start again from the application."

// PendingSAMLFlow finds the SAML flow an ACS POST answers: by its RelayState (the flow's
// upstream state), or, when the IdP sent none, by the response's InResponseTo (the flow's
// request ID; both are 256 random bits of Gatehouse's). It returns nil and no error when no
// flow of Gatehouse's is waiting for it: an unsolicited (IdP-initiated) response. A flow
// answered already or expired is a *FlowError (a page, no redirect). The response is not
// checked yet: the flow names the connection whose certificate checks it.
func (s *Service) PendingSAMLFlow(ctx context.Context, relayState, inResponseTo, requestID string) (*SAMLPending, error) {
	ctx = signInState(ctx)
	var f *models.SignInFlow
	var conn *models.Connection
	var err error
	switch {
	case relayState != "":
		if len(relayState) > 128 {
			return nil, nil
		}
		// The flow and its connection in one query; the connection is read, not cached: the
		// response is checked against its certificate as it is now (an admin replacing a
		// compromised certificate takes effect at once). When the query finds nothing, the
		// plain read tells an unknown flow from one whose connection was deleted.
		h := secret.Hash(relayState)
		f, conn, err = s.store.SAMLFlow(ctx, h)
		if errors.Is(err, store.ErrNotFound) {
			f, err = s.store.FlowByUpstreamState(ctx, h)
		}
	case inResponseTo != "" && len(inResponseTo) <= 128:
		if f, err = s.store.FlowByUpstreamRequest(ctx, inResponseTo); err == nil {
			conn, err = s.store.Connection(ctx, f.WorkspaceID, f.ConnectionID)
			if errors.Is(err, store.ErrNotFound) {
				conn, err = nil, nil
			}
		}
	default:
		return nil, nil
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && f.UpstreamRequestID == "" {
		return nil, nil
	}
	if err != nil {
		return nil, internal("saml flow", err)
	}
	if f.ClaimedAt != nil || !s.now().Before(f.ExpiresAt) {
		cause := "the identity provider answered an expired flow"
		if f.ClaimedAt != nil {
			// The form posted again (the back button): the attempt has its event already, as
			// an OIDC callback's replay does; one more per re-post would be anyone's to add.
			cause = "the identity provider answered a flow that was finished already"
			s.log.InfoContext(ctx, "sign-in: SAML response for a finished flow", "request_id", requestID, "flow_id", f.ID)
		} else if s.finishUnclaimed(ctx, f, requestID) && f.FailedAt == nil { // else its refusal has its event
			s.recordFailure(ctx, f, nil, "", "Sign-in failed: the sign-in expired or was finished already.", cause, requestID, nil)
		}
		return nil, &FlowError{Public: FlowGonePublic, cause: cause}
	}
	if conn == nil {
		return nil, s.FailFlow(ctx, &ClaimedFlow{Flow: f, RequestID: requestID}, "The identity provider is no longer configured.", "the connection was deleted during the sign-in")
	}
	sp, err := s.SAMLServiceProvider(ctx, conn)
	if err != nil {
		if models.ErrorCode(err) == models.EUNAVAILABLE {
			return nil, err // the reload page: the flow is as it was, and the form posted again goes on
		}
		// The SP key cannot be opened (an encryption key changed without re-encrypting): the
		// flow cannot finish here, and fails as a server error, with its event.
		return nil, s.ServerFailure(ctx, &ClaimedFlow{Flow: f, Connection: conn, RequestID: requestID}, err)
	}
	return &SAMLPending{Flow: f, Connection: conn, SP: sp, ContinueState: relayState, byRequest: relayState == ""}, nil
}

// AcceptSAMLAnswer records a response that passed the SAML checks: its assertion ID is
// accepted once per connection until keepUntil, after which the SAML time checks refuse the
// assertion anyway (a replay, on any replica, fails the flow), and the identity is kept,
// encrypted, until the browser's continuation claims the flow. A second answer to one flow
// is refused. warnings, what the transport found wrong in a response it accepted (a SHA-1
// signature), are kept with the identity: a test sign-in shows them.
func (s *Service) AcceptSAMLAnswer(ctx context.Context, p *SAMLPending, assertionID string, keepUntil time.Time, id Identity, warnings []string) error {
	ctx = signInState(ctx)
	// A refused answer leaves the flow open: an answer accepted before it may be the browser's.
	cf := &ClaimedFlow{Flow: p.Flow, Connection: p.Connection, keepOpen: true}
	refuse := func(err error) error { // an unusable or replayed assertion ID
		return s.failFlow(ctx, cf, id.Identifier, "access_denied", "The identity provider's answer was already used.", "assertion "+models.Clip(assertionID, 80)+": "+err.Error())
	}
	if err := usableAssertionID(assertionID); err != nil {
		return refuse(err)
	}
	b, err := json.Marshal(samlAnswer{Identity: id, Warnings: warnings})
	if err != nil {
		return internal("saml answer", err)
	}
	// The assertion ID and the answer in one round trip (store.AcceptSAMLAnswer).
	fresh, stored, err := s.store.AcceptSAMLAnswer(ctx, store.SAMLAnswer{ConnectionID: p.Connection.ID, AssertionID: assertionID,
		AssertionExpires: keepUntil, FlowID: p.Flow.ID, IdentityEnc: s.box.Seal(b), AnswerExpires: p.Flow.ExpiresAt,
		IdentifierKey: models.Key(id.Identifier)})
	if err != nil {
		return internal("saml answer", err)
	}
	if !fresh {
		return refuse(errAssertionReplay)
	}
	if !stored {
		return s.failFlow(ctx, cf, id.Identifier, "access_denied", "The identity provider answered this sign-in twice.", "a second response for the flow")
	}
	if p.byRequest {
		// The continuation needs a state, and only the hash of the flow's is stored: the
		// flow gets a new one.
		p.ContinueState = randomValue()
		if err := s.store.RekeyFlow(ctx, p.Flow.ID, secret.Hash(p.ContinueState)); err != nil {
			return internal("saml answer: continuation state", err)
		}
	}
	return nil
}

var errAssertionReplay = models.Errorf(models.EINVALID, "the assertion was used before (replay)")

// usableAssertionID refuses an assertion ID that cannot be recorded (INVALID).
func usableAssertionID(id string) error {
	if id == "" || len(id) > 256 {
		return models.Errorf(models.EINVALID, "the assertion has no usable ID")
	}
	return nil
}

// SAMLIdentity returns the identity AcceptSAMLAnswer kept for a flow the browser has now
// claimed with ClaimSAMLFlow, and keeps its warnings on f for CompleteFlow. Without one (the
// browser came before the IdP's answer), the flow fails.
func (s *Service) SAMLIdentity(ctx context.Context, f *ClaimedFlow) (Identity, error) {
	if f.samlAnswer == nil {
		return Identity{}, s.FailFlow(ctx, f, "The identity provider's answer is missing.", "the browser continued a SAML flow that has no accepted response")
	}
	b, err := s.box.Open(f.samlAnswer)
	if err != nil {
		return Identity{}, internal("saml identity", err)
	}
	var a samlAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return Identity{}, internal("saml identity", err)
	}
	f.warnings = a.Warnings
	return a.Identity, nil
}

// samlAnswer is what AcceptSAMLAnswer keeps, sealed, for the browser's continuation: the
// identity, and the warnings of the response that a test sign-in shows (completeTest). The
// identity's fields are the JSON object's own, as before the warnings were kept beside them:
// an answer kept by an earlier version reads the same, with no warnings.
type samlAnswer struct {
	Identity
	Warnings []string `json:",omitempty"`
}

// TestSignInRetention keeps a test sign-in's result (an identity) this long after it expired.
const TestSignInRetention = 7 * 24 * time.Hour

// pruneSAMLState deletes expired assertion IDs and answers and old test sign-ins; it runs with
// PruneSignInState.
func (s *Service) pruneSAMLState(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.store.PruneSAMLAssertions(ctx, now)
	if err != nil {
		return n, err
	}
	m, err := s.store.PruneTestSignIns(ctx, now.Add(-TestSignInRetention))
	return n + m, err
}
