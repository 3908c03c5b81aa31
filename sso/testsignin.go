package sso

import (
	"encoding/json"
	"html/template"
	"net/http"

	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/webpage"
)

// TestSignIn serves a connection test sign-in's public URL: opened while pending, it starts
// the real flow at the identity provider (the OIDC or SAML sign-in of this package); the flow
// ends back on the same URL, which then shows what happened.
type TestSignIn struct {
	rp   *SignIn
	saml *SAMLSignIn
}

// NewTestSignIn builds the test sign-in page over both upstream sign-ins.
func NewTestSignIn(rp *SignIn, saml *SAMLSignIn) *TestSignIn { return &TestSignIn{rp: rp, saml: saml} }

// Register mounts GET /sso/test-sign-in/{token}.
func (h *TestSignIn) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+provision.TestSignInPath+"{token}", h.open)
}

func (h *TestSignIn) open(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	browser := h.rp.svc.SignInBrowser(webpage.Cookies(r))
	t, st, err := h.rp.svc.OpenTestSignIn(ctx, r.PathValue("token"), browser, webpage.RequestID(w))
	switch {
	case err != nil:
		h.rp.refuse(w, r, err)
		return
	case t == nil:
		webpage.Write(w, http.StatusNotFound, "Test sign-in not found", "This test sign-in link is unknown. Start a new test from the connection.", webpage.RequestID(w))
		return
	case st == nil && !provision.ResultVisibleTo(t, browser):
		webpage.Write(w, http.StatusForbidden, "Test sign-in: "+t.Status,
			"The result of a test sign-in is shown only in the browser that ran it. Read it through the API (GET /api/v1/sso/connections/{id}/test-sign-in/{testId}).", webpage.RequestID(w))
		return
	case st == nil:
		writeTestPage(w, t)
		return
	}
	webpage.SetSignInCookie(w, st, h.rp.svc.SecureCookies())
	w.Header().Set("Cache-Control", "no-store")
	if st.Connection.Protocol == models.ProtocolSAML {
		h.saml.StartSignIn(w, r, st)
		return
	}
	h.rp.StartSignIn(w, r, st)
}

var testPage = template.Must(template.New("test").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test sign-in: {{.Status}}</title></head>
<body><main>
<h1>Test sign-in: {{.Status}}</h1>
<p>This was a test: nothing was written (no user, credential or account).</p>
{{if .Error}}{{if eq .Status "pending"}}<p role="status" id="notice">{{.Error}}</p>{{else}}<h2>What failed</h2><p role="alert" id="error">{{.Error}}</p>{{end}}{{end}}
{{with .Warnings}}<h2>Warnings</h2>
<ul id="warnings">{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{with .Result}}{{with .Identity}}<h2>Identity</h2>
<dl id="identity"><dt>Identifier</dt><dd>{{.Identifier}}</dd><dt>Email</dt><dd>{{.Email}}</dd>
<dt>First name</dt><dd>{{.FirstName}}</dd><dt>Last name</dt><dd>{{.LastName}}</dd></dl>{{end}}
{{if .Claims}}<h2>Claims</h2><pre id="claims">{{.Claims}}</pre>{{end}}
{{with .Decision}}<h2>What the engine would decide</h2>
<dl id="decision"><dt>Outcome</dt><dd id="outcome">{{.Outcome}}</dd><dt>Reason</dt><dd>{{.Reason}}</dd>
{{with .Placement}}<dt>Placement</dt><dd>{{.Rule}}: {{.Explanation}}</dd>{{end}}</dl>{{end}}{{end}}
{{if eq .Status "pending"}}<p>The identity provider has not answered yet.</p>{{end}}
</main></body></html>
`))

// writeTestPage shows a test sign-in: the identity, the claims, the decision, or what failed,
// and its warnings.
func writeTestPage(w http.ResponseWriter, t *models.TestSignIn) {
	data := struct {
		Status, Error string
		Warnings      []string
		Result        any
	}{Status: t.Status, Error: t.Error, Warnings: provision.WarningsOf(t)}
	if res := provision.ResultOf(t); res != nil {
		claims := ""
		if res.Identity != nil && len(res.Identity.Claims) > 0 {
			b, _ := json.MarshalIndent(res.Identity.Claims, "", "  ")
			claims = string(b)
		}
		data.Result = struct {
			Identity *provision.TestIdentity
			Claims   string
			Decision *provision.TestDecision
		}{res.Identity, claims, res.Decision}
	}
	webpage.Headers(w, "default-src 'none'; frame-ancestors 'none'")
	_ = testPage.Execute(w, data)
}
