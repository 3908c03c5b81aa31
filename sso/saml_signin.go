package sso

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"

	"github.com/crewjam/saml"

	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/webpage"
)

// The SAML service provider side of browser sign-in, in the flow of provision:
//
//	StartSignIn     the AuthnRequest (HTTP-Redirect, or a page posting it by HTTP-POST), ID and
//	                RelayState from the flow
//	POST /saml/acs  the IdP's cross-site POST: find the flow by RelayState, check the response
//	                once, accept it, and send the browser on with a 303 to a Gatehouse GET
//	GET /saml/continue  the cookie arrives: bind the flow, decide, redirect to the application
//
// An ACS POST that answers no flow of Gatehouse's (IdP-initiated) gets a page, never a redirect.

// SAML paths.
const (
	ACSPath          = provision.ACSPath
	SAMLContinuePath = "/saml/continue"
)

// SAMLSignIn is the SAML service provider of browser sign-in. It implements oauth.Upstream for
// SAML connections; it shares the OIDC relying party's service and refusal pages.
type SAMLSignIn struct {
	rp        *SignIn
	responses *SAMLResponses
	// sha1Warned holds the connections whose acceptance of a SHA-1 signature this process
	// has logged (warnSHA1).
	sha1Warned sync.Map
}

// NewSAMLSignIn builds the SAML sign-in beside the OIDC one.
func NewSAMLSignIn(rp *SignIn) *SAMLSignIn {
	return &SAMLSignIn{rp: rp, responses: NewSAMLResponses(rp.svc.Caches(), rp.svc.Clock())}
}

// Register mounts the ACS and the continuation.
func (s *SAMLSignIn) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+ACSPath, s.acs)
	mux.HandleFunc("GET "+SAMLContinuePath, s.cont)
}

// StartSignIn sends the browser to the IdP with the flow's AuthnRequest: a redirect, or by the
// HTTP-POST binding a page whose form posts it.
func (s *SAMLSignIn) StartSignIn(w http.ResponseWriter, r *http.Request, st *provision.FlowStart) {
	ctx := r.Context()
	sp, err := s.rp.svc.SAMLServiceProvider(ctx, st.Connection)
	if err != nil {
		s.rp.refuse(w, r, s.rp.svc.ServerFailure(ctx, &provision.ClaimedFlow{Flow: st.Flow, Connection: st.Connection}, err))
		return
	}
	var opts []SAMLRequestOption // what the application asked of the interaction (provision/prompt.go)
	if st.ForceAuthn {
		opts = append(opts, ForceAuthn())
	}
	if st.Passive {
		opts = append(opts, IsPassive())
	}
	req, err := NewSAMLRequest(sp, st.Connection, st.UpstreamRequestID, st.UpstreamState, opts...)
	if err != nil {
		s.rp.refuse(w, r, s.rp.svc.FailFlow(ctx, &provision.ClaimedFlow{Flow: st.Flow, Connection: st.Connection},
			"The identity provider is not configured correctly.", "saml request: "+err.Error()))
		return
	}
	if req.Form != nil {
		// HTTP-POST binding: the browser posts the request to the IdP from a page of
		// Gatehouse's, with the flow's cookie set as for a redirect (the authorize step's).
		webpage.FormPost(w, req.URL, req.Form)
		return
	}
	webpage.Redirect(w, r, req.URL)
}

// acs is POST /saml/acs.
func (s *SAMLSignIn) acs(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, MaxSAMLResponse)
	if err := r.ParseForm(); err != nil {
		webpage.Write(w, http.StatusBadRequest, "Sign-in failed", "The identity provider's answer is not a readable form.", webpage.RequestID(w))
		return
	}
	relay, inResponseTo := r.PostForm.Get("RelayState"), ""
	if relay == "" { // an IdP that does not return the RelayState: the flow by the request's ID
		inResponseTo = responseInResponseTo(r.PostForm.Get("SAMLResponse"))
	}
	p, err := s.rp.svc.PendingSAMLFlow(ctx, relay, inResponseTo, webpage.RequestID(w))
	if err != nil {
		s.rp.refuse(w, r, err)
		return
	}
	if p == nil && inResponseTo == "" && relay != "" {
		inResponseTo = responseInResponseTo(r.PostForm.Get("SAMLResponse"))
	}
	if p == nil && inResponseTo != "" {
		// An answer to a request of Gatehouse's whose flow is gone: expired and pruned, or
		// lost with the sign-in state a crash did not commit. The person started at the
		// application; the unsolicited page would tell them they had not.
		s.rp.log.InfoContext(ctx, "saml: response to a request whose sign-in is gone (expired and pruned, or lost in a restart)",
			"request_id", webpage.RequestID(w))
		webpage.Write(w, http.StatusBadRequest, "Sign-in failed", provision.FlowGonePublic, webpage.RequestID(w))
		return
	}
	if p == nil {
		s.rp.log.WarnContext(ctx, "saml: unsolicited response refused", "request_id", webpage.RequestID(w))
		webpage.Write(w, http.StatusBadRequest, "Start signing in from the application",
			"Your identity provider sent a sign-in that Gatehouse did not ask for (an IdP-initiated sign-in, for example from an app tile). "+
				"For your security Gatehouse only accepts sign-ins that start at the application: open the application you want to use "+
				"and choose its single sign-on button; you will come back here through your identity provider.", webpage.RequestID(w))
		return
	}
	cf := &provision.ClaimedFlow{Flow: p.Flow, Connection: p.Connection}
	login, err := s.responses.Check(r, p.SP, p.Connection, p.Flow.UpstreamRequestID)
	if errors.As(err, new(signatureError)) {
		// Signed with a certificate the connection does not trust (yet): one that follows its
		// IdP's metadata reads it now, and the response is checked again if it changed.
		conn, changed, rerr := s.rp.svc.RefreshSAMLCertificatesAfterFailure(ctx, p.Connection)
		if rerr != nil {
			// Not judged yet: the reload page, whose form posted again goes on (as at
			// AcceptSAMLAnswer below).
			s.rp.refuse(w, r, rerr)
			return
		}
		if changed {
			p.Connection, cf.Connection = conn, conn
			login, err = s.responses.Check(r, p.SP, p.Connection, p.Flow.UpstreamRequestID)
		}
	}
	if err != nil {
		var le *LoginError
		public, cause := publicSAMLFailure, err.Error()
		if errors.As(err, &le) {
			public, cause = le.Public, "saml response: "+le.Private.Error()
			var bad saml.ErrBadStatus
			if errors.As(le.Private, &bad) {
				public = "The identity provider did not sign you in."
				if responseSecondStatus(r.PostForm.Get("SAMLResponse")) == statusNoPassive {
					cause += " (NoPassive)"
					s.rp.refuse(w, r, s.rp.svc.FailUpstreamError(ctx, cf, "login_required", public, cause))
					return
				}
			}
		}
		s.rp.refuse(w, r, s.rp.svc.FailFlow(ctx, cf, public, cause))
		return
	}
	if err := s.rp.svc.AcceptSAMLAnswer(ctx, p, login.AssertionID, login.KeepUntil, login.Identity, login.Warnings); err != nil {
		if models.ErrorCode(err) == models.EUNAVAILABLE {
			// The flow is not claimed and the answer was not kept (it and its assertion ID are
			// one statement): the 503 page saying to reload, whose form posted again once the
			// database answers goes on, as the callback's before its claim. (An answer kept
			// before a later statement failed, or whose commit was not acknowledged, makes that
			// post a replay, refused.)
			s.rp.refuse(w, r, err)
			return
		}
		s.rp.refuse(w, r, s.rp.svc.ServerFailure(ctx, cf, err))
		return
	}
	if login.SHA1 {
		s.warnSHA1(ctx, p.Connection)
	}
	// The browser's GET that follows carries the SameSite=Lax cookie.
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, SAMLContinuePath+"?"+url.Values{"state": {p.ContinueState}}.Encode(), http.StatusSeeOther)
}

// cont is GET /saml/continue: the flow is bound to the browser, then decided.
func (s *SAMLSignIn) cont(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := s.rp.svc.ClaimSAMLFlow(ctx, r.URL.Query().Get("state"), s.rp.svc.SignInBrowser(webpage.Cookies(r)), webpage.RequestID(w))
	if err != nil {
		s.rp.refuse(w, r, err)
		return
	}
	id, err := s.rp.svc.SAMLIdentity(ctx, f)
	if err != nil {
		s.rp.refuse(w, r, s.rp.svc.ServerFailure(ctx, f, err))
		return
	}
	ans, err := s.rp.svc.CompleteFlow(ctx, f, id)
	if err != nil {
		s.rp.refuse(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	webpage.Answer(w, r, ans)
}

// warnSHA1 logs, once per connection while the process runs, that the connection accepted a
// response signed with SHA-1: what tells the admin of a connection that accepts SHA-1 (every
// SAML connection from before Gatehouse refused it) whether its IdP still needs it.
func (s *SAMLSignIn) warnSHA1(ctx context.Context, conn *models.Connection) {
	if _, logged := s.sha1Warned.LoadOrStore(conn.ID, true); logged {
		return
	}
	s.rp.log.WarnContext(ctx, "saml: a response signed with SHA-1 was accepted, as the connection's samlConfig.acceptSha1Signatures allows; "+
		provision.SHA1Advice+" (logged once per connection after each start)",
		"workspace_id", conn.WorkspaceID, "connection_id", conn.ID)
}
