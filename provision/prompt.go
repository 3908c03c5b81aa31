package provision

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
)

// What an application's authorization request asks of the person's interaction (OIDC Core
// §3.1.2.1): prompt, max_age, login_hint, id_token_hint and acr_values. Gatehouse keeps no
// session of its own (every sign-in goes to the identity provider), so it honours them by
// asking the identity provider, in the terms of its protocol:
//
//	prompt=login, max_age    OIDC: prompt and max_age as sent; SAML: ForceAuthn (SAML has no
//	                         maximum age, so any max_age asks for a fresh authentication)
//	prompt=none              OIDC: prompt=none; SAML: IsPassive. Gatehouse shows no page
//	                         either: a request its email page would answer gets login_required,
//	                         and so does an identity provider's refusal to sign in silently
//	                         (OIDC Core §3.1.2.6), instead of access_denied
//	prompt=select_account,   OIDC: sent on; SAML has no equivalent
//	prompt=consent
//	login_hint               OIDC: sent on (the person types the address once); SAML: not
//	                         sent (no portable form)
//	id_token_hint            an id_token Gatehouse issued to the application, expired or not:
//	                         without connection, login_hint or domain_hint it routes to the
//	                         connection the person signed in through, its email is the
//	                         login_hint, and the sign-in must end with its sub (else
//	                         login_required: another person is signed in at the IdP;
//	                         hintedElsewhere). This is what makes an application's silent
//	                         renewal (prompt=none with id_token_hint) work without asking.
//
// The id_token's auth_time is when the identity provider says the person authenticated
// (OIDC auth_time, SAML AuthnInstant), which must meet max_age and prompt=login
// (staleAuthentication); its acr and amr say how (OIDC acr and amr; SAML AuthnContextClassRef
// and Entra ID's authnmethodsreferences), for an application that requires a second factor.
// acr_values is sent on to an OIDC identity provider; a SAML one gets no
// RequestedAuthnContext (its class names are the IdP's own vocabulary, which an application
// that talks to every connection alike cannot know).

// interaction is what an authorization request asks of the person's interaction, parsed.
type interaction struct {
	prompt      string // parsePrompt's form
	maxAge      string // parseMaxAge's form
	loginHint   string // for the identity provider ("": none)
	hintSubject string // the id_token_hint's sub ("": none)
	acrValues   string // for an OIDC identity provider ("": none)
	// routedByHint: the request names no connection, email or domain; the id_token_hint's
	// connection routes it.
	routedByHint bool
}

// IDTokenHint is an id_token_hint as the OpenID Provider verified it: an id_token Gatehouse
// signed, with its issuer, which may have expired (OIDC Core §3.1.2.1).
type IDTokenHint struct {
	Subject, WorkspaceID, Connection, Email string
	Audience                                []string
	IssuedAt                                time.Time
}

// issuedTo reports whether the hint is an id_token of app: its audience and its workspace.
func (h *IDTokenHint) issuedTo(app *models.Application) bool {
	return h.WorkspaceID == app.WorkspaceID.String() && slices.Contains(h.Audience, app.ClientID)
}

// parseInteraction reads what req asks of the interaction for app; a non-empty code is the
// error to redirect with, desc its description. An id_token_hint without any other routing
// parameter routes req to the hinted connection (req.Connection).
func parseInteraction(app *models.Application, req *AuthorizeRequest) (in interaction, code, desc string) {
	var ok bool
	if in.prompt, ok = parsePrompt(req.Prompt); !ok {
		return in, "invalid_request", "prompt=none cannot be combined with another value"
	}
	if in.maxAge, ok = parseMaxAge(req.MaxAge); !ok {
		return in, "invalid_request", "max_age must be a whole number of seconds"
	}
	if len(req.ACRValues) > maxACR {
		return in, "invalid_request", "acr_values is too long"
	}
	in.acrValues = strings.Join(strings.Fields(req.ACRValues), " ")
	in.loginHint = strings.TrimSpace(req.LoginHint)
	h := req.IDTokenHint
	switch {
	case req.IDTokenHintInvalid || (h != nil && h.Subject == ""):
		return in, "invalid_request", "id_token_hint is not an id_token Gatehouse issued"
	case h == nil:
		return in, "", ""
	case !h.issuedTo(app):
		return in, "invalid_request", "id_token_hint was not issued to this application"
	}
	in.hintSubject = h.Subject
	if req.Connection == "" && req.LoginHint == "" && req.DomainHint == "" {
		req.Connection, in.routedByHint = h.Connection, true
	}
	if in.loginHint == "" {
		in.loginHint = h.Email
	}
	return in, "", ""
}

// hintedElsewhere reports whether a decision is about another person than subject, the
// id_token_hint's ("": no hint): the account that signs in, or the one a refusal is about.
// A refusal about nobody (no account for the identity, none can be made) is another person,
// for the hint's has one; one that is not about the person (the connection is not active)
// is not. who describes the other person for the sign-in event.
func hintedElsewhere(subject string, res *SignInResult) (who string, elsewhere bool) {
	if subject == "" || (res.Outcome == SignInRefused && res.Reason == reasonConnectionInactive) {
		return "", false
	}
	u := res.UserAccount
	if res.Outcome == SignInRefused {
		u = res.refused
	}
	switch {
	case u == nil:
		return "a person without an account here", true
	case u.ID.String() == subject:
		return "", false
	case res.Outcome == SignInProvisioned:
		return "a person without an account (not provisioned)", true
	}
	return "the person of user account " + u.ID.String(), true
}

// errHintMismatch: the identity provider signed in someone else than the id_token_hint names.
var errHintMismatch = errors.New("provision: the sign-in is not the id_token_hint's person")

// hintMismatch is what the application's error_description says then.
const hintMismatch = "Another person is signed in at the identity provider than the id_token_hint names."

// promptValues are the prompt values Gatehouse understands, in the order a flow keeps them.
var promptValues = []string{"none", "login", "consent", "select_account"}

// parsePrompt returns the known values of a prompt parameter, space-separated in
// promptValues' order; unknown values are ignored, as OIDC Core allows. ok is false when none
// is combined with another value, which OIDC Core makes an error.
func parsePrompt(raw string) (prompt string, ok bool) {
	given := strings.Fields(raw)
	var out []string
	for _, v := range promptValues {
		if slices.Contains(given, v) {
			out = append(out, v)
		}
	}
	onlyNone := !slices.ContainsFunc(given, func(v string) bool { return v != "none" })
	return strings.Join(out, " "), !slices.Contains(given, "none") || onlyNone
}

// maxMaxAge bounds max_age: 68 years of seconds fit every database's integer and every IdP's.
const maxMaxAge = 1<<31 - 1

// parseMaxAge returns a max_age parameter as the decimal it is sent on as ("" when absent);
// ok is false when it is not a whole number of seconds in [0, maxMaxAge].
func parseMaxAge(raw string) (maxAge string, ok bool) {
	if raw == "" {
		return "", true
	}
	n, err := strconv.ParseUint(raw, 10, 31)
	if err != nil || n > maxMaxAge {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}

// silentErrors are the errors of OIDC Core §3.1.2.6: what an authorization server answers a
// prompt=none request it cannot complete without the person.
var silentErrors = map[string]bool{"login_required": true, "interaction_required": true,
	"consent_required": true, "account_selection_required": true}

// silentFailure is what the application's error_description says of a prompt=none sign-in the
// identity provider could not complete silently.
const silentFailure = "The identity provider cannot sign you in without showing you a page (prompt=none)."

// FailUpstreamError ends a claimed flow whose identity provider answered the error code
// upstream (OIDC error, or SAML NoPassive as login_required). When the application asked for
// prompt=none and the code is one of OIDC Core §3.1.2.6's, the application gets that code:
// it asked for no interaction and must learn that one is needed. Any other answer is
// access_denied with the public message (FailFlow).
func (s *Service) FailUpstreamError(ctx context.Context, f *ClaimedFlow, upstream, public, cause string) error {
	if hasToken(f.Flow.Prompt, "none") && silentErrors[upstream] {
		return s.failFlow(ctx, f, "", upstream, silentFailure, cause)
	}
	return s.FailFlow(ctx, f, public, cause)
}

// Bounds of what an identity provider says of the authentication; a value over them is
// treated as not sent (never truncated: a cut acr could name another one).
const (
	maxACR       = 256
	maxAMRValues = 16
	maxAMR       = 256 // Entra ID's are URIs of about 80 bytes
)

// upstreamAuthn is the id_token's acr and amr: the identity provider's, within the bounds.
func upstreamAuthn(acr string, amr []string) (string, []string) {
	if len(acr) > maxACR {
		acr = ""
	}
	var out []string
	for _, v := range amr {
		if v != "" && len(v) <= maxAMR && len(out) < maxAMRValues {
			out = append(out, v)
		}
	}
	return acr, out
}

// authTimeLeeway is the difference between the identity provider's clock and Gatehouse's that
// the checks of its authentication time allow.
const authTimeLeeway = 2 * time.Minute

// staleAuthentication checks that the identity provider honoured what the flow asked of the
// authentication's age, by the time it says the person authenticated (upstream; zero when it
// does not say). It returns the public message and the private cause of a refusal, "" when
// the answer is acceptable:
//   - max_age: the time is required (OIDC Core §2 makes auth_time REQUIRED then; SAML always
//     sends AuthnInstant) and must be within max_age;
//   - prompt=login: a time the IdP gives must be after the flow began; an IdP that gives
//     none is trusted to have honoured prompt=login (most send auth_time only on request);
//   - either: a time in the future (beyond the leeway) vouches for no age.
func staleAuthentication(f *models.SignInFlow, upstream, now time.Time) (public, cause string) {
	asked := f.MaxAge != "" || hasToken(f.Prompt, "login")
	if asked && upstream.After(now.Add(authTimeLeeway)) { // a clock that cannot vouch for an age
		return staleMessage, "the identity provider says the person authenticated at " + upstream.UTC().Format(time.RFC3339) + ", in the future"
	}
	if f.MaxAge != "" {
		maxAge, _ := strconv.Atoi(f.MaxAge)
		switch {
		case upstream.IsZero():
			return staleMessage, "max_age=" + f.MaxAge + " was asked and the identity provider did not say when the person authenticated"
		case now.Sub(upstream) > time.Duration(maxAge)*time.Second+authTimeLeeway:
			return staleMessage, "max_age=" + f.MaxAge + " was asked and the identity provider says the person authenticated at " + upstream.UTC().Format(time.RFC3339)
		}
	}
	if hasToken(f.Prompt, "login") && !upstream.IsZero() && upstream.Before(f.CreatedAt.Add(-authTimeLeeway)) {
		return staleMessage, "prompt=login was asked and the identity provider says the person authenticated at " +
			upstream.UTC().Format(time.RFC3339) + ", before the sign-in began"
	}
	return "", ""
}

// staleMessage is what the application's error_description says of an authentication older
// than it asked for.
const staleMessage = "The identity provider did not confirm a sign-in as recent as the application asked for."

// authTime is the id_token's auth_time: when the identity provider says the person
// authenticated, else now. A time after now (a skewed clock at the IdP) is now: auth_time
// never claims a fresher authentication than the sign-in itself.
func authTime(upstream, now time.Time) time.Time {
	if upstream.Unix() <= 0 || upstream.After(now) {
		return now
	}
	return upstream.UTC()
}
