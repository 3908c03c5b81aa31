package sso_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"gatehouse/app/apptest"
	"gatehouse/sso/samltest"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// tourSecret is one secret value the tour saw on the wire, and the columns (table.column)
// that hold it by design: the application's state and nonce, which the flow keeps to echo.
type tourSecret struct {
	what, value string
	storedIn    []string
}

// tourSecrets collects the tour's secrets; the IdP's recorder adds to it from its goroutines.
type tourSecrets struct {
	mu   sync.Mutex
	list []tourSecret
	seen map[string]bool
}

func (s *tourSecrets) add(what, value string, storedIn ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == "" || s.seen[value] {
		return
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	s.seen[value] = true
	s.list = append(s.list, tourSecret{what, value, storedIn})
}

func (s *tourSecrets) all() []tourSecret {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.list)
}

// randomText is a value no other part of the tour can produce by chance.
func randomText(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// recordIdP makes idp report every secret of its exchanges with Gatehouse: the upstream state,
// nonce and PKCE verifier Gatehouse sends, the client secret it authenticates with, and the
// codes and tokens the IdP answers.
func recordIdP(idp *testIdP, s *tourSecrets) {
	rec := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			for _, k := range []string{"state", "code", "code_verifier", "client_secret"} {
				s.add("upstream "+k+" (at the IdP's "+r.URL.Path+")", r.Form.Get(k))
			}
			// The flow keeps the nonce it sent to compare it with the id_token's.
			s.add("upstream nonce", r.Form.Get("nonce"), "sign_in_flows.upstream_nonce")
			if _, sec, ok := r.BasicAuth(); ok {
				sec, _ = url.QueryUnescape(sec)
				s.add("the IdP client secret (Basic)", sec)
			}
			rr := httptest.NewRecorder()
			next.ServeHTTP(rr, r)
			if u, err := url.Parse(rr.Header().Get("Location")); err == nil {
				s.add("the IdP's code", u.Query().Get("code"))
			}
			var body map[string]any
			if json.Unmarshal(rr.Body.Bytes(), &body) == nil {
				for _, k := range []string{"access_token", "id_token"} {
					v, _ := body[k].(string)
					s.add("the IdP's "+k, v)
				}
			}
			maps.Copy(w.Header(), rr.Header())
			w.WriteHeader(rr.Code)
			w.Write(rr.Body.Bytes())
		})
	}
	idp.set(func(p *testIdP) {
		p.hostile = map[string]func(http.Handler) http.Handler{"/authorize": rec, "/token": rec}
	})
}

var signatureValue = regexp.MustCompile(`SignatureValue[^>]*>([^<]+)<`)

// TestNoSecretInLogsEventsOrRows tours every interface that carries a secret, the failures
// included (a wrong client secret or SCIM token, a replayed code, a wrong PKCE verifier, a
// tampered state or id_token), with the server logging at debug and tracing off; then no secret
// it saw on the wire, nor 16 characters of one (a truncated token), is in the log, the audit
// log, the sign-in events (with their private causes), the SCIM activity, a test sign-in's
// result, or any column of any table but those that keep it by design.
func TestNoSecretInLogsEventsOrRows(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "true")
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e0, logs := apptest.NewLoggedAt(t, dbURL, slog.LevelDebug)
		e := &testEnv{e0}
		s := &tourSecrets{}
		s.add("the encryption key", e.Config.EncryptionKey)
		s.add("the bootstrap client secret", apptest.AdminSecret)
		ctx := context.Background()

		// Integration clients and client credentials.
		admin := e.AdminToken()
		s.add("the admin's access token", admin)
		id, sec := e.CreateClient(admin, []string{"graphql", "admin"}, "")
		s.add("a created integration client secret", sec)
		s.add("an integration client's access token", e.Token(id, sec))
		d := e.MustGQL(admin, `mutation($id: String!) { rotateIntegrationClientSecret(input: {clientId: $id}) { clientSecret errors { message } } }`,
			map[string]any{"id": id})
		rotated := str(d, "rotateIntegrationClientSecret", "clientSecret")
		s.add("a rotated integration client secret", rotated)
		s.add("the rotated client's access token", e.Token(id, rotated))
		wrong := randomText("ghs_wrong_")
		s.add("a wrong client secret", wrong)
		if st, _ := postToken(t, e, id, wrong, url.Values{"grant_type": {"client_credentials"}}); st != 401 {
			t.Fatalf("wrong client secret: %d", st)
		}
		if st, _ := postToken(t, e, id, sec, url.Values{"grant_type": {"client_credentials"}}); st != 401 {
			t.Fatalf("the secret before rotation: %d", st)
		}
		badBearer := admin[:len(admin)-6] + "AAAAAA"
		s.add("a tampered access token", badBearer)
		if r := e.GQL(badBearer, "{ __typename }", nil); r.Status != 401 {
			t.Fatalf("graphql with a tampered token: %d", r.Status)
		}

		// An OIDC connection at the in-process IdP, its secret set at creation and updated.
		idp := newTestIdP(t)
		idp.secret = randomText("idp-secret-")
		s.add("an OIDC connection's clientSecret (create)", idp.secret)
		recordIdP(idp, s)
		w := newSignInWorld(t, e, idp)
		newIdPSecret := randomText("idp-secret-2-")
		s.add("an OIDC connection's clientSecret (update)", newIdPSecret)
		d = e.MustGQL(w.tok, `mutation($id: ID!, $sec: String!) { updateConnection(input: {id: $id, oidcConfig: {clientSecret: $sec}}) {
			errors { label message } } }`, map[string]any{"id": w.conn, "sec": newIdPSecret})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
			t.Fatalf("updateConnection: %v", errs)
		}
		idp.set(func(p *testIdP) { p.secret = newIdPSecret })

		// The application's secret, created and rotated.
		s.add("an application's client secret (create)", w.app.ClientSecret)
		d = e.MustGQL(w.tok, `mutation($id: ID!) { rotateApplicationSecret(input: {id: $id}) { clientSecret errors { message } } }`,
			map[string]any{"id": appID(t, e, w, w.app.ClientID)})
		w.app.ClientSecret = str(d, "rotateApplicationSecret", "clientSecret")
		s.add("an application's client secret (rotate)", w.app.ClientSecret)

		// A browser sign-in, stopped at the IdP's answer to see it.
		idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true})
		state, nonce := randomText("app-state-"), randomText("app-nonce-")
		s.add("the application's state", state, "sign_in_flows.state")
		s.add("the application's nonce", nonce, "sign_in_flows.nonce", "grants.nonce")
		signIn := func(b *browser) (result, string) {
			verifier := oauth2.GenerateVerifier()
			s.add("the application's PKCE verifier", verifier)
			return b.get(t, w.app.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("connection", w.slug))), verifier
		}
		stop := newBrowser(t, e.URL+"/sso/oidc/callback")
		r, verifier := signIn(stop)
		cb, err := url.Parse(r.location)
		if err != nil || cb.Query().Get("code") == "" {
			t.Fatalf("no IdP answer: %+v", r)
		}
		upstreamState := cb.Query().Get("state")
		fin := newBrowser(t, w.redirect)
		fin.c.Jar = stop.c.Jar
		res := fin.get(t, r.location)
		code := res.query.Get("code")
		s.add("an authorization code", code)
		if code == "" || res.query.Get("state") != state {
			t.Fatalf("sign-in: %+v", res)
		}
		// The IdP's answer replayed, and with a tampered state.
		fin.get(t, r.location)
		tampered := upstreamState[:len(upstreamState)-4] + "AAAA"
		s.add("a tampered upstream state", tampered)
		q := cb.Query()
		q.Set("state", tampered)
		fin.get(t, e.URL+"/sso/oidc/callback?"+q.Encode())
		// A wrong verifier voids the code; the right one then finds it used.
		s.add("a wrong PKCE verifier", verifier+"x")
		if st, _ := postToken(t, e, w.app.ClientID, w.app.ClientSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {code}, "redirect_uri": {w.redirect}, "code_verifier": {verifier + "x"}}); st != 400 {
			t.Fatalf("wrong verifier: %d", st)
		}
		if st, _ := postToken(t, e, w.app.ClientID, w.app.ClientSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {code}, "redirect_uri": {w.redirect}, "code_verifier": {verifier}}); st != 400 {
			t.Fatalf("voided code: %d", st)
		}
		// A sign-in whose code is redeemed, then replayed, and sent with a wrong secret.
		r2, verifier2 := signIn(newBrowser(t, w.redirect))
		code2 := r2.query.Get("code")
		s.add("an authorization code", code2)
		tok, err := w.app.Exchange(ctx, code2, oauth2.VerifierOption(verifier2))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		idToken, _ := tok.Extra("id_token").(string)
		s.add("an application's access token", tok.AccessToken)
		s.add("an application's id_token", idToken)
		if st := userinfoStatus(t, e, tok); st != 200 {
			t.Fatalf("userinfo: %d", st)
		}
		if st, _ := postToken(t, e, w.app.ClientID, w.app.ClientSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {code2}, "redirect_uri": {w.redirect}, "code_verifier": {verifier2}}); st != 400 {
			t.Fatalf("code replayed: %d", st)
		}
		wrongAppSecret := randomText("wrong-app-secret-")
		s.add("a wrong application secret", wrongAppSecret)
		if st, _ := postToken(t, e, w.app.ClientID, wrongAppSecret, url.Values{"grant_type": {"authorization_code"},
			"code": {code2}, "redirect_uri": {w.redirect}, "code_verifier": {verifier2}}); st != 401 {
			t.Fatalf("wrong application secret: %d", st)
		}
		if st := userinfoStatus(t, e, &oauth2.Token{AccessToken: tok.AccessToken}); st != 401 {
			t.Fatalf("userinfo after the replay revoked the token: %d", st)
		}
		// A tampered id_token as a hint, at authorize and at sign-out; then the real sign-out.
		badHint := idToken[:len(idToken)-6] + "AAAAAA"
		s.add("a tampered id_token_hint", badHint)
		newBrowser(t, w.redirect).get(t, w.app.AuthCodeURL(state, oauth2.SetAuthURLParam("id_token_hint", badHint),
			oauth2.SetAuthURLParam("prompt", "none")))
		for _, hint := range []string{badHint, idToken} {
			resp, err := http.Get(e.URL + "/oauth/logout?id_token_hint=" + url.QueryEscape(hint) + "&client_id=" + w.app.ClientID)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		u, _ := url.Parse(e.URL)
		for _, c := range stop.c.Jar.Cookies(u) {
			s.add("a sign-in cookie", c.Value)
		}

		// A test sign-in: its URL's token, and the upstream exchange the IdP recorder sees.
		idp.as(map[string]any{"sub": "okta-grace", "email": "grace@example.com"})
		testID, testURL := startTest(t, e, w.tok, w.conn, "")
		s.add("a test sign-in URL token", testURL[strings.LastIndex(testURL, "/")+1:])
		if r := newBrowser(t, w.redirect).get(t, testURL); !strings.Contains(r.body, "Test sign-in: succeeded") {
			t.Fatalf("test sign-in: %d %s", r.status, r.body)
		}
		testResult := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+testID, "").Must(t, 200).Raw

		// SCIM: tokens created over GraphQL and REST, requests with them and with a wrong one.
		d = e.MustGQL(w.tok, `mutation { createScimToken(input: {name: "okta"}) { plainValue errors { message } } }`, nil)
		scimGQL := str(d, "createScimToken", "plainValue")
		s.add("a SCIM token (GraphQL)", scimGQL)
		scimREST, _ := e.SCIMToken(w.tok, apptest.AllScopes("entra"))
		s.add("a SCIM token (REST)", scimREST)
		password := randomText("scim-password-")
		s.add("a password in a SCIM request", password)
		user := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "scim@example.com",
			"password": password}
		e.Call("POST", "/scim/v2/Users", scimREST, user).Must(t, 201)
		e.Call("POST", "/scim/v2/Users", scimREST, user).Must(t, 409)
		e.Call("GET", "/scim/v2/Users", scimGQL, nil).Must(t, 200)
		wrongSCIM := randomText("wrong-scim-token-")
		s.add("a wrong SCIM token", wrongSCIM)
		e.Call("GET", "/scim/v2/Users", wrongSCIM, nil).Must(t, 401)
		e.Call("POST", "/scim/v2/Users", wrongSCIM, user).Must(t, 401)

		// A SAML sign-in, in a workspace of its own, and its response posted again.
		samlAdmin := e.OtherWorkspaceAdmin(admin, "SAML workspace")
		s.add("another workspace's access token", samlAdmin)
		sw := newSAMLWorldAt(t, e, samlWorldOptions{tok: samlAdmin, domain: "saml.example.org"})
		s.add("a SAML application's client secret", sw.app.ClientSecret)
		sb := sw.browser()
		page, samlVerifier := sw.toIdP(t, sb)
		s.add("the application's PKCE verifier", samlVerifier)
		_, vals, err := samltest.Form(page)
		if err != nil {
			t.Fatal(err)
		}
		s.add("a SAMLResponse", vals.Get("SAMLResponse"))
		raw, _ := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
		sigs := signatureValue.FindAllStringSubmatch(string(raw), -1)
		if len(sigs) == 0 {
			t.Fatalf("no signature in the SAML response: %s", raw)
		}
		for _, m := range sigs {
			s.add("a SAML signature value", strings.Join(strings.Fields(m[1]), ""))
		}
		resp, body := sw.post(t, sb, e.URL, page)
		samlCode := sw.appResult(t, resp, body).Get("code")
		s.add("an authorization code (SAML)", samlCode)
		samlTok, err := sw.app.Exchange(ctx, samlCode, oauth2.VerifierOption(samlVerifier))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		s.add("an application's access token (SAML)", samlTok.AccessToken)
		samlIDToken, _ := samlTok.Extra("id_token").(string)
		s.add("an application's id_token (SAML)", samlIDToken)
		if resp, _ := sw.post(t, sw.browser(), e.URL, page); resp.StatusCode < 400 {
			t.Fatalf("the SAML response replayed: %d", resp.StatusCode)
		}
		// A response whose signature was tampered with.
		sb = sw.browser()
		page, _ = sw.toIdP(t, sb)
		_, vals, _ = samltest.Form(page)
		s.add("a SAMLResponse", vals.Get("SAMLResponse"))
		s.add("a SAML RelayState", vals.Get("RelayState"))
		resp, body = sw.postEdited(t, sb, e.URL, page, func(doc string) string {
			m := signatureValue.FindStringSubmatchIndex(doc)
			value := strings.Join(strings.Fields(doc[m[2]:m[3]]), "")
			s.add("a SAML signature value", value)
			bad := "AAAA" + value[4:]
			s.add("a tampered SAML signature value", bad)
			return doc[:m[2]] + bad + doc[m[3]:]
		})
		if loc := resp.Header.Get("Location"); !strings.Contains(loc, "error=") {
			t.Fatalf("a tampered SAML signature: %d %s %s", resp.StatusCode, loc, body)
		}

		// Introspection and revocation, refused and granted.
		for _, c := range []struct {
			path, id, secret, token string
			status                  int
		}{
			{"/oauth/introspect", id, rotated, samlTok.AccessToken, 200},
			{"/oauth/introspect", id, rotated, badBearer, 200},
			{"/oauth/introspect", id, wrong, samlTok.AccessToken, 401},
			{"/oauth/revoke", sw.app.ClientID, wrongAppSecret, samlTok.AccessToken, 401},
			{"/oauth/revoke", sw.app.ClientID, sw.app.ClientSecret, badHint, 200},
			{"/oauth/revoke", sw.app.ClientID, sw.app.ClientSecret, samlTok.AccessToken, 200},
		} {
			req, _ := http.NewRequest("POST", e.URL+c.path, strings.NewReader(url.Values{"token": {c.token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(c.id, c.secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("%s by %s: %d, want %d", c.path, c.id, resp.StatusCode, c.status)
			}
		}

		// HTTP Basic credentials are base64: the search for the secrets themselves would miss them.
		for _, pair := range [][2]string{{apptest.AdminID, apptest.AdminSecret}, {id, sec}, {id, rotated}, {id, wrong},
			{w.app.ClientID, w.app.ClientSecret}, {w.app.ClientID, wrongAppSecret}, {idp.client, newIdPSecret}} {
			s.add("the Basic credentials of "+pair[0], base64.StdEncoding.EncodeToString([]byte(pair[0]+":"+pair[1])))
		}

		// Where the secrets must not be.
		end, _ := http.NewRequest("GET", e.URL+"/healthz", nil)
		logs.Send(t, end, "tour-end")
		const eventsQuery = `{ auditEvents(first: 100) { id actorType actorId action targetType targetId summary createdAt }
			signInEvents(pageSize: 100) { total events { id time outcome reason cause identifier connection { id slug } application { clientId } test requestId } }
			scimActivities(pageSize: 100) { total activities { id operation resourceType resourceId status errorMessage details tokenId timestamp } } }`
		places := map[string]string{"the log": logs.String(), "a test sign-in's result": testResult}
		for _, tok := range []string{w.tok, samlAdmin} {
			r := e.GQL(tok, eventsQuery, nil)
			if r.Status != 200 || len(r.Errors) > 0 || len(get(r.Data, "auditEvents").([]any)) == 100 ||
				get(r.Data, "signInEvents", "total").(float64) > 100 || get(r.Data, "scimActivities", "total").(float64) > 100 {
				t.Fatalf("events (all of them on one page): %s", r.Raw)
			}
			places["the events (GraphQL)"] += r.Raw
			places["the SCIM activity (REST)"] += e.REST(tok, "GET", "/api/v1/scim/activities?pageSize=100", "").Must(t, 200).Raw
		}
		for _, want := range []string{"okta-jane", "scim@example.com", "00u-ada", "connection.update", "scim_token", "/sso/oidc/callback"} {
			if !strings.Contains(places["the events (GraphQL)"]+places["the log"], want) {
				t.Fatalf("%s is in neither the events nor the log: the tour went wrong", want)
			}
		}
		secrets := s.all()
		f := newFinder(t, secrets)
		for where, text := range places {
			f.find(text, nil, func(sec tourSecret, context string) {
				t.Errorf("%s (%.10s…) in %s: %q", sec.what, sec.value, where, context)
			})
		}
		// The finder and the scan at work: the flow keeps the application's state.
		kept := 0
		st := e.App.Store()
		for _, col := range storetest.Columns(t, st.DB(), st.Dialect() == store.Postgres) {
			if col.Name == "sign_in_flows.state" {
				f.find(strings.Join(col.Values, " "), nil, func(sec tourSecret, _ string) {
					kept += strings.Count(sec.what, "the application's state")
				})
			}
			kept := func(sec tourSecret) bool { return slices.Contains(sec.storedIn, col.Name) }
			for _, v := range col.Values {
				f.find(v, kept, func(sec tourSecret, context string) {
					t.Errorf("%s (%.10s…) stored in %s: %q", sec.what, sec.value, col.Name, context)
				})
			}
		}
		if kept != 1 {
			t.Fatal("the application's state was not found where the flow keeps it: the search does not work")
		}
		t.Logf("%d secrets, %d log bytes", len(secrets), len(places["the log"]))
	})
}

// finder finds secrets, whole or a piece of 16 characters of one (a token cut short), in text.
type finder struct {
	secrets []tourSecret
	pieces  map[string][]int // every 16-character piece of each secret → the secrets'indexes
}

const piece = 16

func newFinder(t *testing.T, secrets []tourSecret) *finder {
	f := &finder{secrets: secrets, pieces: map[string][]int{}}
	for i, s := range secrets {
		if len(s.value) < piece {
			t.Fatalf("%s is too short to be found reliably: %q", s.what, s.value)
		}
		for j := 0; j+piece <= len(s.value); j++ {
			p := s.value[j : j+piece]
			if !slices.Contains(f.pieces[p], i) {
				f.pieces[p] = append(f.pieces[p], i)
			}
		}
	}
	return f
}

// find reports each secret text holds (but those skip excludes) once, with its context.
func (f *finder) find(text string, skip func(tourSecret) bool, report func(s tourSecret, context string)) {
	found := map[int]bool{}
	for at := 0; at+piece <= len(text); at++ {
		for _, i := range f.pieces[text[at:at+piece]] {
			if found[i] || skip != nil && skip(f.secrets[i]) {
				continue
			}
			found[i] = true
			report(f.secrets[i], text[max(0, at-40):min(len(text), at+piece+40)])
		}
	}
}
