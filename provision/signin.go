package provision

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/net/idna"

	"gatehouse/models"
	"gatehouse/store"
)

// Identity is what an identity provider asserted about a person at sign-in, normalised by the
// SSO layer (OIDC and SAML alike).
type Identity struct {
	// Identifier is the subject at the connection (OIDC sub, SAML NameID or the mapped attribute).
	Identifier string
	Email      string
	FirstName  string
	LastName   string
	// Claims are all the claims or attributes, read by placement (the company claim).
	Claims map[string]any
	// ClaimsPartial: Claims may lack some that the identity provider gives on request (OIDC
	// userinfo); the identifier, the email with its verification and the names are complete.
	// Such an identity only signs in a person already bound to it, whose sign-in reads nothing
	// else; any other decision answers ErrMoreClaims, writing nothing, and the transport asks
	// for the rest and calls again (CompleteFlow).
	ClaimsPartial bool
	// AuthTime is when the identity provider says the person authenticated (OIDC auth_time,
	// SAML AuthnInstant); zero when it does not say. It becomes the id_token's auth_time.
	AuthTime time.Time
	// ACR and AMR are how the identity provider says the person authenticated: OIDC acr and
	// amr, SAML AuthnContextClassRef as ACR. The id_token passes them on (upstreamAuthn).
	ACR string
	AMR []string
	// EmailLeftOut says why the SSO layer left out the email the identity provider sent
	// (Email is then ""): "is marked unverified (…)", say. The decision does not read it; a
	// refusal's detail (the audit event's, the sign-in event's cause) names it, and a test
	// sign-in shows it to the administrator (testWarnings).
	EmailLeftOut string
}

// ErrMoreClaims: the decision needs claims a partial identity (Identity.ClaimsPartial) may
// lack: placement reads any claim, linking and provisioning start a new binding.
var ErrMoreClaims = errors.New("provision: the sign-in needs the identity provider's other claims")

// SignInOutcome is the branch of the first-sign-in engine that decided.
type SignInOutcome string

// Outcomes, in the order the engine tries them.
const (
	// SignInExistingIdentity: an account bound to this identity at this connection signed in.
	SignInExistingIdentity SignInOutcome = "existing_identity"
	// SignInLinkedByEmail: the account with this email had no credential at the connection
	// and the email's domain is verified for it, so the credential was created.
	SignInLinkedByEmail SignInOutcome = "linked_by_email"
	// SignInProvisioned: a new account was created, placed and bound.
	SignInProvisioned SignInOutcome = "provisioned"
	// SignInRefused: nobody signs in; Reason says why.
	SignInRefused SignInOutcome = "refused"
)

// SignInResult is the engine's decision.
type SignInResult struct {
	Outcome SignInOutcome
	// Reason explains the decision in words a portal can show the person.
	Reason string
	// UserAccount is the account that signs in; nil when refused.
	UserAccount *models.UserAccount
	// Placement is set when an account was provisioned.
	Placement *Placement
	// EmailDerived: the account's email is the one a just-in-time sign-in derived
	// (identifier@primary domain) because the identity provider sent none, at this sign-in or
	// an earlier one, and this one asserted no other: nobody verified it.
	EmailDerived bool
	// identifierKey is the key of the identifier an accepted decision signed the account in
	// by, as bound at the connection: its grant holds while that binding does.
	identifierKey string
	// cause is a refusal's private cause (its audit event's detail), "" otherwise: the
	// sign-in event's cause, for administrators.
	cause string
	// refused is the account a refusal is about (the deactivated one, the one with the email),
	// nil when it is about none; only an id_token_hint's check reads it (hintedElsewhere).
	refused *models.UserAccount
	// audit is the decision's audit event, written in the decision's transaction by signIn
	// after its then; a then that writes it with its own rows (one round trip) sets it nil.
	audit *models.AuditEvent
	// provisioned is what a just-in-time decision provisions when its then writes it with its
	// own rows (decideOptions.thenWrites), nil otherwise: then must write it and set it nil.
	provisioned *store.ProvisionedUser
}

// signInAttempts bounds retries after losing a race to a concurrent first sign-in.
const signInAttempts = 4

// SignIn decides a sign-in at a brand through a connection (its id), for the identity the
// connection's identity provider asserted. In order:
//
//  1. an account bound to (connection, identifier) signs in;
//  2. otherwise the account with the identity's email, if it has no credential at the
//     connection and the email's domain is verified for the connection, gets the credential
//     and signs in;
//  3. otherwise, if the brand's configuration for the connection auto-provisions learners or
//     the connection has JIT provisioning, a new account is created with the connection's
//     default role, placed by the placement rule, and bound (at a connection that restricts
//     it to its verified domains, only for an email the identity provider sent on one);
//  4. otherwise the sign-in is refused.
//
// Deactivated accounts never sign in, and only an active connection signs anyone in. Every
// decision is written to the audit log (actor type "sign_in") with its reason. A refusal
// returns the result and a FORBIDDEN error carrying the same reason. Concurrent first sign-ins
// of one person create one account: the unique indexes decide, and the loser decides again.
func (s *Service) SignIn(ctx context.Context, brandID, connectionID uuid.UUID, id Identity) (*SignInResult, error) {
	id.ClaimsPartial = false // only a browser sign-in's transport can fetch the rest
	return s.observeSignIn(s.signIn(ctx, brandID, connectionID, id, nil))
}

// observeSignIn counts a decision for the observer (metrics) and passes it on.
func (s *Service) observeSignIn(res *SignInResult, err error) (*SignInResult, error) {
	if res != nil {
		s.observer.SignIn(string(res.Outcome))
	} else {
		s.observer.SignIn("error")
	}
	return res, err
}

// signIn is SignIn without the observer: the decision, retried after lost races. then, when
// set, runs in the decision's transaction with its result (a refusal too), so that what the
// decision leads to (a browser sign-in's code and event) commits with it.
func (s *Service) signIn(ctx context.Context, brandID, connectionID uuid.UUID, id Identity, then func(ctx context.Context, res *SignInResult) error) (*SignInResult, error) {
	return s.decide(ctx, brandID, connectionID, id, decideOptions{then: then})
}

// decideOptions is what a browser sign-in's decision knows and asks beyond signIn's.
type decideOptions struct {
	// known is the connection the caller holds already, read through the connection cache (nil:
	// none): a browser sign-in's flow has it. See returning's fast path.
	known *models.Connection
	// lookup is the fast path's lookup of the person, read in advance with the flow's claim
	// (nil: none); see liveIdentity.
	lookup *store.IdentityLookup
	// notBound: the caller's earlier decision of this sign-in (ErrMoreClaims) found nobody
	// bound to the identity, so the fast path is not tried again.
	notBound bool
	// then, when set, runs in the decision's transaction with its result (signIn).
	then func(ctx context.Context, res *SignInResult) error
	// thenWrites: then writes the result's audit event and provisioned rows with its own, as
	// the last statement of the decision (store.RecordSignIn). So a just-in-time decision
	// defers its rows to then's statement, and a decision that writes nothing else runs in
	// no transaction on PostgreSQL (store.InTxFromFirstWrite). Never in a dry run: its then
	// writes nothing, and the insert is what finds a user name taken (userNameClash).
	thenWrites bool
}

// decide is signIn with decideOptions.
func (s *Service) decide(ctx context.Context, brandID, connectionID uuid.UUID, id Identity, opt decideOptions) (*SignInResult, error) {
	then := opt.then
	id, dropped := normaliseIdentity(id)
	if dropped != "" {
		s.log.WarnContext(ctx, "sign-in: name claim longer than the name rule allows; treated as not sent",
			"fields", dropped, "connection_id", connectionID, "max_characters", models.MaxNameLength)
	}
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	var res *SignInResult
	var err error
	done, looked := false, opt.notBound
	if !opt.notBound {
		res, done, looked, err = s.returning(ctx, brandID, connectionID, opt.known, opt.lookup, id, then)
		if done && store.Aborted(err) {
			// PostgreSQL rolled the fast path's write back (logDeadlockVictim): the plain path
			// decides again, from the start.
			s.logDeadlockVictim(ctx, brandID, connectionID, 0)
			done, looked = false, false
		}
	}
	// Not transact: this loop retries a different loss (a unique index won by a concurrent
	// first sign-in) with a different first run (attemptState), a log line per retry and its own
	// bound and errors; written through transact it would only add work to the hot path. It
	// also runs again a decision PostgreSQL aborted as a deadlock's victim, as transact does.
	userNameTaken := false
	for attempt := 0; !done && attempt < signInAttempts; attempt++ {
		// A retry lost a race: the binding may exist now, so it looks again.
		a := attemptState{looked: looked && attempt == 0, userNameTaken: userNameTaken, deferRows: opt.thenWrites}
		// A transaction from the first write: a first sign-in whose then writes its rows
		// (thenWrites) begins none (its reads were READ COMMITTED in one anyway).
		err = s.store.InTxFromFirstWrite(ctx, func(ctx context.Context) error {
			res, err = s.signInOnce(ctx, brandID, connectionID, a, id)
			if err == nil && then != nil {
				err = then(ctx, res)
			}
			if err == nil && res.provisioned != nil {
				err = errors.New("the decision's then did not write the rows it provisioned")
			}
			if err == nil && res.audit != nil { // then did not write it with its own rows
				err = s.store.CreateAuditEvent(ctx, res.audit)
			}
			return err
		})
		if store.Aborted(err) {
			s.logDeadlockVictim(ctx, brandID, connectionID, attempt+1)
			continue
		}
		if !lostRace(err) {
			break
		}
		userNameTaken = userNameClash(err)
		s.log.InfoContext(ctx, "sign-in: a concurrent write changed what the decision read; deciding again",
			"brand_id", brandID, "connection_id", connectionID, "attempt", attempt+1)
	}
	switch {
	case lostRace(err):
		return nil, internal("sign in", errors.New("concurrent writes kept changing what the decision read"))
	case err != nil:
		return nil, internal("sign in", err)
	case res.Outcome == SignInRefused:
		return res, models.Errorf(models.EFORBIDDEN, "%s", res.Reason)
	}
	return res, nil
}

// logDeadlockVictim logs a decision PostgreSQL aborted as a deadlock's (or a serialization
// failure's) victim, before it is decided again. Such an abort rolls the whole transaction
// back (on the fast path, its one statement), so deciding again writes every row once; it
// happens when the decision's writes wait on the same user rows as concurrent SCIM writes (a
// group rename moves each member's version), and PostgreSQL's manual gives running the
// transaction again as the remedy. Without it the application got server_error for a sign-in
// that had nothing wrong.
func (s *Service) logDeadlockVictim(ctx context.Context, brandID, connectionID uuid.UUID, attempt int) {
	s.log.InfoContext(ctx, "sign-in: the database aborted the decision as a deadlock's victim; deciding again",
		"brand_id", brandID, "connection_id", connectionID, "attempt", attempt)
}

// userNameClash reports whether provisioning failed on the new account's user name, which is
// its email. A clash on it alone is a concurrent first sign-in of the same email (deciding
// again finds that account by email) or another account that keeps this address as its user
// name (a changed email does not change it): deciding again with attemptState.userNameTaken,
// provisioning refuses rather than clashing again.
func userNameClash(err error) bool { return store.IsAlreadyExists(err, "user_name") }

// lostRace reports whether a sign-in transaction failed because a concurrent write changed what
// it had read: a concurrent sign-in created the same account or identity first, or a row it
// refers to was deleted after it read it (the account a link by email found, deleted through
// SCIM; the connection; placement's account). Deciding again reads what is there now.
func lostRace(err error) bool {
	return emailTaken(err) || store.IsAlreadyExists(err, "identity") ||
		store.IsAlreadyExists(err, "account") || models.ErrorCode(err) == models.ETAKEN ||
		errors.Is(err, store.ErrMissingReference)
}

// normaliseIdentity trims the identity's text and drops what cannot be used: an invalid email,
// and a first or last name that breaks the name rule (models.NameTooLong). Such a name is
// treated as not sent — never truncated — so the person still signs in, a new account gets no
// name from it and an existing one keeps its name; dropped names the fields that were dropped
// ("" when none), for the caller to log.
func normaliseIdentity(id Identity) (_ Identity, dropped string) {
	id.Identifier = strings.TrimSpace(id.Identifier)
	id.Email = strings.TrimSpace(id.Email)
	if !models.ValidEmail(id.Email) {
		id.Email = ""
	}
	id.FirstName = strings.TrimSpace(id.FirstName)
	id.LastName = strings.TrimSpace(id.LastName)
	if models.NameTooLong(id.FirstName) {
		id.FirstName, dropped = "", "firstName"
	}
	if models.NameTooLong(id.LastName) {
		id.LastName, dropped = "", strings.TrimPrefix(dropped+", lastName", ", ")
	}
	return id, dropped
}

// individualAccountName names the individual account a just-in-time sign-in creates: the
// person's full name, else (none, or longer than the name rule allows) the first or last
// name, the email, the identifier; never a truncated name.
func individualAccountName(id Identity) string {
	for _, n := range [...]string{strings.TrimSpace(id.FirstName + " " + id.LastName), id.FirstName, id.LastName, id.Email, id.Identifier} {
		if n != "" && !models.NameTooLong(n) {
			return n
		}
	}
	return "Individual account"
}

// emailDomain returns the normalised domain of a valid email address.
func emailDomain(email string) string {
	return domainKey(email[strings.LastIndexByte(email, '@')+1:])
}

// domainKey is a domain as domains are stored (NormalizeDomain): lower case, no trailing dot,
// and an internationalised name in its ASCII form, so that an address or hint whose domain
// arrives in Unicode (bücher.example) finds the domain an admin verified
// (xn--bcher-kva.example). Only a name that is valid as it is converts (IDNA2008's
// registration profile: no mapping), so that a look-alike spelling the lookup profile would
// map (fullwidth ｃｏｒｐ.example) never matches a verified domain; such a name, or any IDNA
// refuses, is kept as it is and matches none.
func domainKey(d string) string {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	for i := 0; i < len(d); i++ {
		if d[i] >= utf8.RuneSelf {
			if a, err := idna.Registration.ToASCII(d); err == nil {
				return strings.ToLower(a)
			}
			return d
		}
	}
	return d
}

// Reasons a portal can show.
const (
	reasonConnectionInactive     = "Sign-in through this identity provider is not active."
	reasonDeactivated            = "Your account is deactivated. Contact your administrator."
	reasonOtherIdentity          = "An account with your email address is already linked to a different identity at this identity provider. Contact your administrator."
	reasonDomainUnverified       = "An account with your email address exists, but your email domain is not verified for this identity provider, so it cannot be linked automatically. Contact your administrator."
	reasonNoAutoProvisioning     = "You do not have an account for this portal, and accounts are not created automatically. Contact your administrator."
	reasonOutsideVerifiedDomains = "Accounts are created automatically only for email addresses on your organization's verified domains, and your identity provider did not send one, so no account can be created for you. Contact your administrator."
	reasonNotWorkspaceAccount    = "Accounts are created automatically only for your organization's Google Workspace accounts, and you signed in with a personal Google account or one of another organization, so no account can be created for you. Contact your administrator."
	reasonNoEmail                = "Your identity provider did not send a valid email address, which a new account needs. Contact your administrator."
	reasonUserNameTaken          = "Another account uses your email address as its user name, so no account can be created for you. Contact your administrator."
	reasonDerivedEmailTaken      = "Your identity provider did not send an email address, and the address a new account would get from your identifier is another account's, so no account can be created for you. Contact your administrator."
)

// returning is the fast path of a browser sign-in, which holds its connection already (known,
// read through the connection cache): one query, UserAccountByLiveIdentity, finds the account
// bound to the identity only while the connection is active and not deleted, so a deactivated
// connection still signs nobody in; the rest of the connection the decision uses (its id and
// slug) is the caller's, as the flow's code and event already use it. When the decision then
// writes nothing of its own (no profile to refresh), the rows then writes are all there is,
// and store.RecordSignIn commits them together on its own (one statement on PostgreSQL): no
// transaction, whose BEGIN and COMMIT were two of a returning sign-in's round trips. Under
// READ COMMITTED the transaction isolated nothing more: each statement saw what had committed
// when it ran.
//
// done: the result (or err) is the decision. Otherwise the caller decides in a transaction on
// the plain path; looked: the query found nobody bound, and the plain path may skip its step 1
// (a binding committed since is caught by step 2, by the derived email's recheck or by the
// unique index, as any concurrent sign-in). TestSignInFastPathOracle checks the fast path's
// decisions against the plain path's.
func (s *Service) returning(ctx context.Context, brandID, connectionID uuid.UUID, known *models.Connection, lookup *store.IdentityLookup, id Identity, then func(ctx context.Context, res *SignInResult) error) (res *SignInResult, done, looked bool, err error) {
	if known == nil || known.ID != connectionID {
		return nil, false, false, nil
	}
	brand, err := s.brandByID(ctx, brandID)
	if err != nil || brand == nil || brand.WorkspaceID != known.WorkspaceID {
		return nil, false, false, nil // the plain path reports it
	}
	u, derived, err := s.liveIdentity(ctx, brand.WorkspaceID, connectionID, models.Key(id.Identifier), lookup)
	switch {
	case errors.Is(err, store.ErrNotFound) && id.ClaimsPartial:
		return nil, true, true, ErrMoreClaims
	case errors.Is(err, store.ErrNotFound):
		return nil, false, true, nil
	case err != nil:
		return nil, true, false, err
	}
	d := &decision{s: s, brand: brand, conn: known, id: id, derived: derived}
	if u.Active && d.profileChanges(u) {
		return nil, false, false, nil // the refresh and the records commit together
	}
	res, err = d.existing(ctx, u) // writes nothing: no refresh
	if err == nil && then != nil {
		err = then(ctx, res)
	}
	if err == nil && res.audit != nil { // then did not write it with its own rows
		err = s.store.CreateAuditEvent(ctx, res.audit)
	}
	return res, true, false, err
}

// liveIdentity is store.UserAccountByLiveIdentity, answered by lookup when the statement that
// claimed the flow read it already for the same workspace, connection and identifier key
// (store.ClaimSAMLFlow). A lookup for anything else (an answer stored before the key was, with
// none) is not this identity's: the query runs.
func (s *Service) liveIdentity(ctx context.Context, ws, connectionID uuid.UUID, identifierKey string, lookup *store.IdentityLookup) (*models.UserAccount, string, error) {
	if l := lookup; l != nil && l.WorkspaceID == ws && l.ConnectionID == connectionID && l.IdentifierKey == identifierKey {
		if l.User == nil {
			return nil, "", store.ErrNotFound
		}
		return l.User, l.DerivedEmail, nil
	}
	return s.store.UserAccountByLiveIdentity(ctx, ws, connectionID, identifierKey)
}

// brandByID reads a brand through the short-lived cache; nil when none. The brand only tells
// the decision the workspace, which never changes, and brands are never deleted: a cached
// read is as good as the row.
func (s *Service) brandByID(ctx context.Context, brandID uuid.UUID) (*models.Brand, error) {
	return s.brands.get(ctx, brandID.String(), func(ctx context.Context) (*models.Brand, error) {
		return s.store.BrandByID(ctx, brandID)
	})
}

// attemptState is what an attempt of the plain path knows from before it.
type attemptState struct {
	// looked: the fast path (returning) just found no account bound to the identity, so step 1
	// is skipped.
	looked bool
	// userNameTaken: the attempt before provisioned an account whose user name (its email)
	// another account has.
	userNameTaken bool
	// deferRows: then writes the provisioned rows (decideOptions.thenWrites).
	deferRows bool
}

// signInOnce is one attempt of SignIn, inside a transaction (begun at its first write:
// store.InTxFromFirstWrite), on the plain path.
func (s *Service) signInOnce(ctx context.Context, brandID, connectionID uuid.UUID, a attemptState, id Identity) (*SignInResult, error) {
	brand, err := s.brandByID(ctx, brandID)
	if err != nil {
		return nil, err
	}
	if brand == nil {
		return nil, models.FieldError(models.ENOTFOUND, "brandId", brandID.String(), "no such brand")
	}
	ws := brand.WorkspaceID
	d := &decision{s: s, brand: brand, id: id, bindingLooked: a.looked, userNameTaken: a.userNameTaken, deferRows: a.deferRows}
	if a.looked && id.Email != "" {
		// Nobody is bound to the identity: the decision reads the connection, the account
		// with the email and the brand's configuration, in one query.
		d.first, err = s.store.FirstSignInReads(ctx, ws, brand.ID, connectionID, models.Key(id.Email))
		if d.first != nil {
			d.conn = d.first.Connection
		}
	} else {
		d.conn, err = s.store.Connection(ctx, ws, connectionID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, models.FieldError(models.ENOTFOUND, "connectionId", connectionID.String(), "no such connection in the brand's workspace")
	}
	if err != nil {
		return nil, err
	}
	conn := d.conn
	if conn.Status != models.StatusActive {
		return d.refuse(ctx, nil, reasonConnectionInactive, "connection status is "+string(conn.Status))
	}
	return d.decide(ctx)
}

// decide runs the engine's steps for an active connection (a test sign-in runs them for a
// connection still in testing, in a transaction it rolls back: testsignin.go).
func (d *decision) decide(ctx context.Context) (*SignInResult, error) {
	s, ws, conn, id := d.s, d.brand.WorkspaceID, d.conn, d.id

	// 1. The identity is bound already (unless the fast path just looked).
	if !d.bindingLooked {
		u, derived, err := s.store.UserAccountByIdentity(ctx, ws, conn.ID, models.Key(id.Identifier))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			d.derived = derived
			return d.existing(ctx, u)
		}
	}

	if id.ClaimsPartial { // the rest may read any claim
		return nil, ErrMoreClaims
	}

	// 2. An account with this email exists.
	if id.Email != "" && (d.first == nil || d.first.EmailTaken) {
		u, err := s.store.UserAccountByEmail(ctx, ws, models.Key(id.Email))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			return d.linkByEmail(ctx, u)
		}
	}

	// 3. Automatic provisioning.
	cfg, err := d.configuration(ctx)
	if err != nil {
		return nil, err
	}
	if !(cfg != nil && cfg.AutoProvisionLearners) && !conn.JITProvisioning {
		return d.refuse(ctx, nil, reasonNoAutoProvisioning, "no account is bound to the identity or has its email, and neither the brand's configuration for this connection auto-provisions learners nor the connection has JIT provisioning")
	}
	if conn.JITVerifiedDomainsOnly {
		if res, err := d.outsideVerifiedDomains(ctx); res != nil || err != nil {
			return res, err
		}
	}
	if id.Email == "" {
		email, taken, err := s.derivedEmail(ctx, ws, conn.ID, id.Identifier)
		if err != nil {
			return nil, err
		}
		if taken && d.bindingLooked {
			// The derived address may be taken by this very identity, bound by a concurrent
			// first sign-in since the fast path looked: decide again from step 1.
			d.bindingLooked = false
			return d.decide(ctx)
		}
		if taken {
			return d.refuse(ctx, nil, reasonDerivedEmailTaken, "the identity provider sent no email, and the address derived for a new account, "+email+
				", is another account's (one not bound to this identity; linking needs the email claim)")
		}
		if email == "" {
			return d.refuse(ctx, nil, reasonNoEmail, "auto-provisioning needs a valid email address; the identity provider sent none, and no email can be derived from the identifier and the connection's primary domain")
		}
		d.id.Email, d.derived = email, email
		res, err := d.provision(ctx, cfg)
		if res != nil {
			res.EmailDerived = true
		}
		return res, err
	}
	return d.provision(ctx, cfg)
}

// outsideVerifiedDomains refuses automatic provisioning at a connection that restricts it to
// its verified domains (models.Connection.JITVerifiedDomainsOnly), unless the identity provider
// sent an email whose domain is verified for the connection; nil when it did. An address
// derived from the identifier is not one the identity provider sent: at a multi-tenant identity
// provider anyone's identifier would get an address on the connection's primary domain. At
// Google, the account's Workspace domain (hd) must be verified too.
func (d *decision) outsideVerifiedDomains(ctx context.Context) (*SignInResult, error) {
	// Google also signs in personal Google accounts, which anyone can make with a work
	// address (or keep after leaving the organisation): only a Google Workspace account says
	// which organisation's it is, in hd (its primary domain), and that must be verified too.
	// Checked first: the sso layer leaves out the email of such an account (Google does not
	// vouch for it), and "no email" would tell the person less than this.
	hd := models.GoogleWorkspaceDomain(d.id.Claims)
	if d.conn.IsGoogle() && hd == "" {
		return d.refuse(ctx, nil, reasonNotWorkspaceAccount, "the connection creates accounts only for an email on one of its verified domains (jitVerifiedDomainsOnly), "+
			"and Google sent no hd claim: a personal Google account, not one of a Google Workspace organisation")
	}
	if d.id.Email == "" {
		return d.refuse(ctx, nil, reasonOutsideVerifiedDomains, "the connection creates accounts only for an email on one of its verified domains (jitVerifiedDomainsOnly), and the identity provider sent no email it vouches for")
	}
	domain := emailDomain(d.id.Email)
	ok, err := d.s.store.DomainVerifiedFor(ctx, d.brand.WorkspaceID, d.conn.ID, domain)
	if err != nil {
		return nil, err
	}
	if !ok {
		return d.refuse(ctx, nil, reasonOutsideVerifiedDomains, "the connection creates accounts only for an email on one of its verified domains (jitVerifiedDomainsOnly), and "+
			domain+" is not verified for it")
	}
	if !d.conn.IsGoogle() {
		return nil, nil
	}
	hd = domainKey(hd)
	if ok, err = d.s.store.DomainVerifiedFor(ctx, d.brand.WorkspaceID, d.conn.ID, hd); err != nil || ok {
		return nil, err
	}
	return d.refuse(ctx, nil, reasonNotWorkspaceAccount, "the connection creates accounts only for an email on one of its verified domains (jitVerifiedDomainsOnly), and "+
		"the Google Workspace organisation's domain (hd) "+models.Clip(hd, 64)+" is not verified for it")
}

// decision carries one sign-in attempt's context to its outcome.
type decision struct {
	s     *Service
	brand *models.Brand
	conn  *models.Connection
	id    Identity
	// bindingLooked: the fast path (returning) found no account bound to the identity.
	bindingLooked bool
	// userNameTaken: an attempt before this one provisioned an account whose user name is
	// another account's (attemptState).
	userNameTaken bool
	// derived is the email a just-in-time sign-in derived for the account that signs in
	// (migration 14), "" when none.
	derived string
	// first, when set, holds what store.FirstSignInReads read with the connection: steps 2 and
	// 3 do not read again what it has (signInOnce; TestSignInFastPathOracle).
	first *store.FirstSignIn
	// deferRows: provisioning leaves its rows to the caller's then (SignInResult.provisioned).
	deferRows bool
	// dryRun: a test sign-in's decision, rolled back; its reasons say what would happen.
	dryRun bool
}

// said is an accepted decision's reason: what happened, or, in a dry run, what would.
func (d *decision) said(happened, would string) string {
	if d.dryRun {
		return would
	}
	return happened
}

// configuration is the brand's configuration for the connection; nil when none.
func (d *decision) configuration(ctx context.Context) (*models.IdentityProviderConfiguration, error) {
	if d.first != nil {
		return d.first.Configuration, nil
	}
	cfg, err := d.s.store.IdentityProviderConfiguration(ctx, d.brand.WorkspaceID, d.brand.ID, d.conn.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return cfg, err
}

// existing signs in the account bound to the identity, unless it is deactivated.
func (d *decision) existing(ctx context.Context, u *models.UserAccount) (*SignInResult, error) {
	if !u.Active {
		return d.refuse(ctx, u, reasonDeactivated, "the account bound to this identity is deactivated")
	}
	if err := d.refreshProfile(ctx, u); err != nil {
		return nil, err
	}
	res, err := d.accept(ctx, u, SignInExistingIdentity, d.said("The account bound to this identity at this identity provider signed in.",
		"The account bound to this identity at this identity provider would sign in."), nil)
	if res != nil {
		// Still the address nobody verified, unless the identity provider asserted it now.
		res.EmailDerived = d.derived != "" && strings.EqualFold(u.Email, d.derived) && !strings.EqualFold(d.id.Email, u.Email)
	}
	return res, err
}

func (d *decision) linkByEmail(ctx context.Context, u *models.UserAccount) (*SignInResult, error) {
	s, ws := d.s, d.brand.WorkspaceID
	creds, err := s.store.CredentialsForAccounts(ctx, ws, []uuid.UUID{u.ID})
	if err != nil {
		return nil, err
	}
	for _, c := range creds[u.ID] {
		if c.ConnectionID == d.conn.ID && c.IdentifierKey == models.Key(d.id.Identifier) {
			// A concurrent sign-in of this identity committed after step 1 looked.
			return d.existing(ctx, u)
		}
		if c.ConnectionID == d.conn.ID {
			return d.refuse(ctx, u, reasonOtherIdentity, "the account with this email is bound to another identifier at this connection")
		}
	}
	if !u.Active {
		return d.refuse(ctx, u, reasonDeactivated, "the account with this email is deactivated")
	}
	domain := emailDomain(d.id.Email)
	ok, err := s.store.DomainVerifiedFor(ctx, ws, d.conn.ID, domain)
	if err != nil {
		return nil, err
	}
	if !ok {
		return d.refuse(ctx, u, reasonDomainUnverified, "domain "+domain+" is not verified for this connection")
	}
	if err := s.linkIdentity(ctx, u, d.conn, d.id.Identifier); err != nil {
		return nil, err
	}
	return d.accept(ctx, u, SignInLinkedByEmail, "The account with this email address had no credential at this identity provider and the domain "+
		domain+" is verified for it, so "+d.said("the credential was created.", "the credential would be created."), nil)
}

func (d *decision) provision(ctx context.Context, cfg *models.IdentityProviderConfiguration) (*SignInResult, error) {
	s, ws, now := d.s, d.brand.WorkspaceID, d.s.now()
	if d.userNameTaken { // and no account has the email (step 2): not a concurrent sign-in's
		return d.refuse(ctx, nil, reasonUserNameTaken, "a new account's user name is its email, "+d.id.Email+
			", and another account has that user name with another email (a SCIM userName, say)")
	}
	pl, err := s.place(ctx, ws, cfg, d.id.Claims)
	if err != nil {
		return nil, err
	}
	account, newAccount := pl.Account, (*models.Account)(nil)
	if account == nil {
		account = &models.Account{ID: store.NewID(), WorkspaceID: ws, Name: individualAccountName(d.id),
			Type: models.AccountIndividual, CreatedAt: now, UpdatedAt: now}
		newAccount = account
	}
	u := &models.UserAccount{ID: store.NewID(), WorkspaceID: ws, UserName: d.id.Email, UserNameKey: models.Key(d.id.Email),
		FirstName: d.id.FirstName, LastName: d.id.LastName, Active: true, AccountID: &account.ID,
		Role: d.conn.DefaultRole, Version: 1, CreatedAt: now, UpdatedAt: now}
	if u.Role == "" {
		u.Role = models.DefaultRole
	}
	u.SetEmail(d.id.Email)
	// The account, the user account (its profile owned by the connection) and its credential:
	// one statement on PostgreSQL, or part of then's (deferRows).
	rows := &store.ProvisionedUser{Account: newAccount, User: u, Credential: s.newCredential(u, d.conn.ID, d.id.Identifier, ""), DerivedEmail: d.derived}
	if !d.deferRows {
		if err := s.store.CreateProvisionedUser(ctx, rows); err != nil {
			if store.IsAlreadyExists(err, "identity") {
				return nil, takenError(d.id.Identifier) // as bindIdentity
			}
			return nil, err
		}
	}
	pl.Account = account
	res, err := d.accept(ctx, u, SignInProvisioned, d.said("A new account was created automatically. ", "A new account would be created automatically. ")+pl.Explanation, &pl)
	if res != nil && d.deferRows {
		res.provisioned = rows
	}
	return res, err
}

func (d *decision) principal() *Principal {
	return &Principal{ClientID: d.conn.Slug + ":" + d.id.Identifier, WorkspaceID: d.brand.WorkspaceID, ActorType: "sign_in"}
}

func (d *decision) summary(reason string) map[string]any {
	return map[string]any{"brandId": d.brand.ID.String(), "connectionId": d.conn.ID.String(),
		"authModule": d.conn.Slug, "identifier": d.id.Identifier, "email": d.id.Email, "reason": reason}
}

// accept decides that u signs in; the audit event is written with what the decision leads to.
func (d *decision) accept(ctx context.Context, u *models.UserAccount, o SignInOutcome, reason string, pl *Placement) (*SignInResult, error) {
	sum := d.summary(reason)
	if pl != nil {
		sum["placementRule"], sum["accountId"], sum["role"] = pl.Rule, pl.Account.ID.String(), u.Role
	}
	return &SignInResult{Outcome: o, Reason: reason, UserAccount: u, Placement: pl, identifierKey: models.Key(d.id.Identifier),
		audit: d.s.auditEvent(d.principal(), "sign_in."+string(o), "user_account", u.ID.String(), sum)}, nil
}

// refuse decides a refusal. detail is for the audit log; reason is what the person sees.
func (d *decision) refuse(ctx context.Context, u *models.UserAccount, reason, detail string) (*SignInResult, error) {
	targetType, targetID := "connection", d.conn.ID.String()
	if u != nil {
		targetType, targetID = "user_account", u.ID.String()
	}
	if d.id.EmailLeftOut != "" {
		// What the identity provider sent and the engine did not see: an administrator
		// reading why the person was not linked or provisioned by their address needs it.
		detail += "; the identity provider's email " + d.id.EmailLeftOut + ", so it was not used"
	}
	sum := d.summary(reason)
	sum["detail"] = detail
	return &SignInResult{Outcome: SignInRefused, Reason: reason, refused: u, cause: detail,
		audit: d.s.auditEvent(d.principal(), "sign_in."+string(SignInRefused), targetType, targetID, sum)}, nil
}

// derivedEmail is the email of a JIT-provisioned account whose identity provider sent none:
// the identifier itself when it is an email address, else identifier@<the connection's primary
// domain>. "" when neither gives a valid address; taken when an account has it already (one
// steps 1 and 2 did not sign in).
func (s *Service) derivedEmail(ctx context.Context, ws, connectionID uuid.UUID, identifier string) (email string, taken bool, err error) {
	email = identifier
	if !models.ValidEmail(email) {
		ds, err := s.store.Domains(ctx, ws, connectionID)
		if err != nil {
			return "", false, err
		}
		email = ""
		for _, dm := range ds {
			if dm.IsPrimary {
				email = identifier + "@" + dm.Name
			}
		}
		if !models.ValidEmail(email) {
			return "", false, nil
		}
	}
	_, err = s.store.UserAccountByEmail(ctx, ws, models.Key(email))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return email, false, nil
	case err != nil:
		return "", false, err
	}
	return email, true, nil
}

// refreshProfile brings the names and email of an account the connection owns (created by JIT
// there) up to date with the identity provider's claims; claims it did not send keep their
// value. An account an admin created and bound keeps its names: the store's statement changes
// only owned profiles.
func (d *decision) refreshProfile(ctx context.Context, u *models.UserAccount) error {
	if !d.profileChanges(u) {
		return nil
	}
	first, last, email := d.claimedProfile(u)
	if email != u.Email {
		// Only an address on a domain verified for this connection: an IdP (or a person who
		// edits their own email there) must not move the account to any domain it likes.
		ok, err := d.s.store.DomainVerifiedFor(ctx, d.conn.WorkspaceID, d.conn.ID, emailDomain(email))
		if err != nil {
			return err
		}
		if !ok {
			email = u.Email
		}
	}
	if first == u.FirstName && last == u.LastName && email == u.Email {
		return nil
	}
	_, err := d.s.store.RefreshOwnedProfile(ctx, u, d.conn.ID, first, last, email)
	return err
}

// claimedProfile is u's names and email as the identity provider's claims have them; claims
// it did not send keep u's value.
func (d *decision) claimedProfile(u *models.UserAccount) (first, last, email string) {
	first, last, email = d.id.FirstName, d.id.LastName, d.id.Email
	if first == "" {
		first = u.FirstName
	}
	if last == "" {
		last = u.LastName
	}
	if email == "" {
		email = u.Email
	}
	return first, last, email
}

// profileChanges reports whether the claims differ from u's profile, so that refreshProfile
// may write.
func (d *decision) profileChanges(u *models.UserAccount) bool {
	first, last, email := d.claimedProfile(u)
	return first != u.FirstName || last != u.LastName || email != u.Email
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("provision: dry run")

// SignInDryRun decides exactly as SignIn does and returns the decision, writing nothing: the
// same decision runs in a transaction that is always rolled back (a test sign-in shows what
// would happen). A provisioned result's account and placement account do not exist. It must
// not be called inside another transaction (it would join it and could not roll back alone).
func (s *Service) SignInDryRun(ctx context.Context, brandID, connectionID uuid.UUID, id Identity) (*SignInResult, error) {
	var decided *SignInResult
	_, err := s.signIn(ctx, brandID, connectionID, id, func(_ context.Context, res *SignInResult) error {
		decided = res
		return errDryRun
	})
	if !errors.Is(err, errDryRun) {
		return nil, err
	}
	return decided, nil
}

// checkIdentity refuses an identity with unusable text or without a usable identifier.
func checkIdentity(id Identity) error {
	if errs := models.CheckTexts("identifier", id.Identifier, "email", id.Email, "firstName", id.FirstName,
		"lastName", id.LastName); len(errs) > 0 {
		return models.FieldError(models.EINVALID, errs[0].Field, "", "the identity provider sent a value that "+errs[0].Message)
	}
	if id.Identifier == "" || len(id.Identifier) > models.MaxIdentifierLength {
		return models.FieldError(models.EINVALID, "identifier", models.Clip(id.Identifier, 64), "the identity provider sent no usable identifier (1-255 characters)")
	}
	return nil
}
