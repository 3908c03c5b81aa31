package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"gatehouse/models"
	"gatehouse/oauth"
	"gatehouse/provision"
	"gatehouse/sso"
	"gatehouse/telemetry"
)

// registerSignIn wires browser sign-in: the OpenID Provider (oauth) sends a routed flow to the
// upstream sign-in of the connection's protocol (sso), whose callbacks finish it.
func registerSignIn(mux *http.ServeMux, oa *oauth.Server, svc *provision.Service, remote *sso.Remote, log *slog.Logger) {
	oidc := sso.NewSignIn(svc, remote, log)
	oa.SetUpstream(models.ProtocolOIDC, oidc)
	oidc.Register(mux)
	saml := sso.NewSAMLSignIn(oidc)
	oa.SetUpstream(models.ProtocolSAML, saml)
	saml.Register(mux)
	sso.NewTestSignIn(oidc, saml).Register(mux)
}

// signInPruneInterval is how often expired sign-in flows and old grants are deleted (a flow
// nobody finished becomes its failed sign-in event then: docs/sign-in.md#sign-in-events).
const signInPruneInterval = 10 * time.Minute

// pruneSignInState deletes expired sign-in state (every signInPruneInterval).
func pruneSignInState(ctx context.Context, svc *provision.Service, m *telemetry.Metrics, log *slog.Logger) {
	if n, err := svc.PruneSignInState(ctx); jobDone(m, log, "sign_in_state_prune", "sign-in: prune state", err) && n > 0 {
		log.Info("sign-in: pruned expired state", "rows", n)
	}
}
