package sso_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crewjam/saml"

	"gatehouse/sso/samltest"
)

// Each SAML connection is its own service provider: its entity ID is
// <public URL>/saml/metadata/<connection id>, the AuthnRequest's Issuer and the audience its
// responses must name. Connections from before (migration 20) keep the shared
// <public URL>/saml/metadata until an admin moves them.

// spMetadataAt fetches a metadata document without authentication, as an IdP does.
func spMetadataAt(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lastCause is the private cause of the latest failed sign-in event.
func (w *samlWorld) lastCause(t *testing.T) string {
	t.Helper()
	var causes []string
	if err := w.e.App.Store().RawScan(context.Background(), &causes, "SELECT cause FROM sign_in_events WHERE outcome = 'failed' ORDER BY created_at DESC"); err != nil {
		t.Fatal(err)
	}
	if len(causes) == 0 {
		t.Fatal("no failed sign-in event")
	}
	return causes[0]
}

// signsIn runs a whole sign-in through the world's application and checks that it ends in a
// code and an id_token for Ada.
func (w *samlWorld) signsIn(t *testing.T) {
	t.Helper()
	b := w.browser()
	page, verifier := w.toIdP(t, b)
	resp, body := w.post(t, b, w.e.URL, page)
	q := w.appResult(t, resp, body)
	if q.Get("code") == "" {
		t.Fatalf("no code: %v", q)
	}
	if claims := w.exchange(t, q.Get("code"), verifier); !strings.HasPrefix(claims["email"].(string), "ada@") {
		t.Fatalf("claims: %v", claims)
	}
}

// refused runs a sign-in through the world's application and checks that the IdP's answer is
// refused (access_denied, no code) for a cause naming cause.
func (w *samlWorld) refused(t *testing.T, cause string) {
	t.Helper()
	b := w.browser()
	page, _ := w.toIdP(t, b)
	resp, body := w.post(t, b, w.e.URL, page)
	q := w.appResult(t, resp, body)
	if q.Get("error") != "access_denied" || q.Get("code") != "" {
		t.Fatalf("not refused: %v", q)
	}
	if c := w.lastCause(t); !strings.Contains(c, cause) {
		t.Fatalf("cause %q, want one naming %q", c, cause)
	}
}

// samlConfigFields are the SP fields of a connection's samlConfig, from REST and GraphQL.
func (w *samlWorld) samlConfigFields(t *testing.T) (rest, gql map[string]any) {
	t.Helper()
	rest = get(w.e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200).Body, "connection", "samlConfig").(map[string]any)
	d := w.e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { samlConfig { ownEntityId spEntityId spMetadataUrl acsUrl } } }`,
		map[string]any{"id": w.conn})
	return rest, get(d, "connection", "samlConfig").(map[string]any)
}

// TestSAMLConnectionOwnEntityID: a SAML connection created with ownEntityId is its own service provider: REST and
// GraphQL show its entity ID, metadata URL and ACS, the public metadata at that URL names it
// (with the SP keys and the shared ACS), the AuthnRequest names it as Issuer, and the sign-in
// of an IdP that registered that metadata goes through. ownEntityId cannot be set false.
func TestSAMLConnectionOwnEntityID(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		own := e.URL + "/saml/metadata/" + w.conn
		if w.spEntityID != own {
			t.Fatalf("spEntityId %s, want %s", w.spEntityID, own)
		}
		rest, gql := w.samlConfigFields(t)
		for name, cfg := range map[string]map[string]any{"REST": rest, "GraphQL": gql} {
			if cfg["ownEntityId"] != true || cfg["spEntityId"] != own || cfg["spMetadataUrl"] != own || cfg["acsUrl"] != e.URL+"/saml/acs" {
				t.Fatalf("%s samlConfig: %v", name, cfg)
			}
		}

		status, md := spMetadataAt(t, own)
		var ed saml.EntityDescriptor
		if status != 200 || xml.Unmarshal([]byte(md), &ed) != nil || ed.EntityID != own ||
			ed.SPSSODescriptors[0].AssertionConsumerServices[0].Location != e.URL+"/saml/acs" {
			t.Fatalf("metadata at %s: %d %s", own, status, md)
		}
		// The same keys as the shared document: they are the installation's.
		signing, encryption := spMetadataCerts(t, e.URL)
		for _, want := range append(signing, encryption...) {
			if !strings.Contains(md, want) {
				t.Fatalf("the connection's metadata lacks a key of the shared one")
			}
		}
		_, shared := spMetadataAt(t, e.URL+"/saml/metadata")
		if !strings.Contains(shared, `entityID="`+e.URL+`/saml/metadata"`) {
			t.Fatalf("shared metadata: %s", shared)
		}

		w.signsIn(t)
		reqs := w.idp.Requests()
		if issuer := authnRequestIssuer(t, reqs[len(reqs)-1]); issuer != own {
			t.Fatalf("AuthnRequest Issuer %q, want %q", issuer, own)
		}

		// One way: false is refused on a connection with its own entity ID, true changes nothing.
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ownEntityId": false}}`).
			MustError(t, 400, "validation_error", "ownEntityId")
		d := e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, samlConfig: {ownEntityId: false}}) { errors { label code } } }`,
			map[string]any{"id": w.conn})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) != 1 || str(errs[0], "label") != "samlConfig.ownEntityId" || str(errs[0], "code") != "INVALID" {
			t.Fatalf("updateConnection ownEntityId false: %v", d)
		}
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ownEntityId": true}}`).Must(t, 200)
		if rest, _ := w.samlConfigFields(t); rest["spEntityId"] != own {
			t.Fatalf("after ownEntityId true: %v", rest)
		}
		// An OIDC connection has no samlConfig to set it in.
		oidc := e.CreateOIDCConnection(w.tok, "Some OIDC", "some-oidc")
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+oidc, `{"samlConfig": {"ownEntityId": true}}`).
			MustError(t, 400, "validation_error", "samlConfig")
	})
}

// authnRequestIssuer reads the Issuer of the AuthnRequest an IdP received (HTTP-Redirect).
func authnRequestIssuer(t *testing.T, r *http.Request) string {
	t.Helper()
	req, err := samltest.AuthnRequestOf(r)
	if err != nil {
		t.Fatal(err)
	}
	if req.Issuer == nil {
		return ""
	}
	return req.Issuer.Value
}

// TestSAMLConnectionMetadataNotFound: GET /saml/metadata/{id} is a 404 without detail for
// an id that is no live SAML connection: unknown, not an id, an OIDC connection's, a deleted
// SAML connection's, or another path below it.
func TestSAMLConnectionMetadataNotFound(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		tok := w.tok
		oidc := e.CreateOIDCConnection(tok, "Some OIDC", "some-oidc")
		certJSON, _ := json.Marshal(w.idp.CertificatePEM)
		gone := str(e.REST(tok, "POST", "/api/v1/sso/connections", `{"name": "Gone SAML", "protocol": "saml", "samlConfig": {"entityId": "`+
			w.idp.EntityID+`", "ssoUrl": "`+w.idp.SSOURL+`", "certificate": `+string(certJSON)+`}}`).Must(t, 201).Body, "connection", "id")
		if status, _ := spMetadataAt(t, e.URL+"/saml/metadata/"+gone); status != 200 {
			t.Fatalf("metadata of a live connection: %d", status)
		}
		e.REST(tok, "DELETE", "/api/v1/sso/connections/"+gone, "").Must(t, 204)
		for name, id := range map[string]string{
			"unknown":        "0190f5d6-6c1b-7d0e-8a5e-2b1f3c4d5e6f",
			"not an id":      "not-a-uuid",
			"OIDC":           oidc,
			"deleted":        gone,
			"below it":       w.conn + "/x",
			"upper-case id":  strings.ToUpper(w.conn),
			"urn form":       "urn:uuid:" + w.conn,
			"an id and more": w.conn + "%20",
		} {
			status, body := spMetadataAt(t, e.URL+"/saml/metadata/"+id)
			if status != http.StatusNotFound || strings.Contains(body, "EntityDescriptor") || strings.Contains(strings.ToLower(body), "saml") ||
				strings.Contains(body, "connection") {
				t.Errorf("%s: %d %q", name, status, body)
			}
		}
		if status, _ := spMetadataAt(t, e.URL+"/saml/metadata/"+w.conn); status != 200 {
			t.Fatalf("metadata of the world's connection: %d", status)
		}
	})
}

// TestSAMLAssertionForAnotherConnectionRefused is the cross-workspace confusion: two
// workspaces' connections trust the same IdP (entity ID and certificate). The IdP's
// registration for connection A answers a sign-in that connection B started (an attacker who
// controls A's registration, or one IdP org serving both): the assertion is signed with the
// certificate B trusts, answers B's request, is posted to the shared ACS, but its audience is
// A's entity ID, which B refuses. With one entity ID for every connection, B accepted it.
func TestSAMLAssertionForAnotherConnectionRefused(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp := samltest.New(t)
		a := newSAMLWorldAt(t, e, samlWorldOptions{idp: idp, domain: "a.example"})
		b := newSAMLWorldAt(t, e, samlWorldOptions{tok: e.OtherWorkspaceAdmin(e.AdminToken(), "Workspace B"), idp: idp, domain: "b.example"})
		if a.spEntityID == b.spEntityID {
			t.Fatalf("both connections are %s", a.spEntityID)
		}

		idp.AnswerAs(a.spEntityID)
		b.refused(t, "AudienceRestriction")
		if c := b.lastCause(t); !strings.Contains(c, b.spEntityID) {
			t.Fatalf("cause %q does not name B's entity ID", c)
		}
		if n := b.count(t, "user_accounts"); n != 0 {
			t.Fatalf("%d accounts after the refused sign-in", n)
		}
		// The same answer is A's own sign-in.
		a.signsIn(t)

		// B's own registration at the IdP signs B in.
		idp.AnswerAs("")
		b.signsIn(t)
	})
}

// TestSAMLLegacyConnectionMovesToOwnEntityID: a connection from before migration 20 keeps
// the shared entity ID and signs in with it; ownEntityId true moves it to its own (audited),
// after which an answer for the shared registration is refused and one for the new entity ID
// signs in; it cannot move back.
func TestSAMLLegacyConnectionMovesToOwnEntityID(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorldAt(t, e, samlWorldOptions{legacy: true})
		shared, own := e.URL+"/saml/metadata", e.URL+"/saml/metadata/"+w.conn
		if w.spEntityID != shared {
			t.Fatalf("legacy connection's spEntityId %s", w.spEntityID)
		}
		rest, gql := w.samlConfigFields(t)
		for name, cfg := range map[string]map[string]any{"REST": rest, "GraphQL": gql} {
			if cfg["ownEntityId"] != false || cfg["spEntityId"] != shared || cfg["spMetadataUrl"] != shared || cfg["acsUrl"] != e.URL+"/saml/acs" {
				t.Fatalf("%s samlConfig: %v", name, cfg)
			}
		}
		w.signsIn(t)
		reqs := w.idp.Requests()
		if issuer := authnRequestIssuer(t, reqs[len(reqs)-1]); issuer != shared {
			t.Fatalf("legacy AuthnRequest Issuer %q", issuer)
		}
		// Its own metadata is published already, so that the IdP can be given it before the move.
		if status, md := spMetadataAt(t, own); status != 200 || !strings.Contains(md, `entityID="`+own+`"`) {
			t.Fatalf("own metadata before the move: %d %s", status, md)
		}
		// false on a legacy connection changes nothing.
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ownEntityId": false}}`).Must(t, 200)

		d := e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, samlConfig: {ownEntityId: true}}) {
			connection { status samlConfig { ownEntityId spEntityId spMetadataUrl acsUrl } } errors { label message } } }`, map[string]any{"id": w.conn})
		if errs := payloadErrors(t, d, "updateConnection"); len(errs) > 0 {
			t.Fatalf("move: %v", errs)
		}
		cfg := get(d, "updateConnection", "connection", "samlConfig").(map[string]any)
		if cfg["ownEntityId"] != true || cfg["spEntityId"] != own || cfg["spMetadataUrl"] != own ||
			str(d, "updateConnection", "connection", "status") != "ACTIVE" {
			t.Fatalf("after the move: %v", d)
		}
		var summaries []string
		if err := e.App.Store().RawScan(context.Background(), &summaries, "SELECT summary FROM audit_events WHERE action = 'connection.update' ORDER BY created_at DESC"); err != nil {
			t.Fatal(err)
		}
		if len(summaries) == 0 || !strings.Contains(summaries[0], `"spEntityId"`) || !strings.Contains(summaries[0], own) {
			t.Fatalf("audit of the move: %v", summaries)
		}

		// The IdP still answers as the shared registration: refused.
		w.idp.AnswerAs(shared)
		w.refused(t, "AudienceRestriction")
		// The admin registers the connection's own metadata: signs in.
		w.idp.AnswerAs("")
		if got := trustSP(t, w.idp, e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200).Body); got != own {
			t.Fatalf("spEntityId after the move %s", got)
		}
		w.signsIn(t)
		reqs = w.idp.Requests()
		if issuer := authnRequestIssuer(t, reqs[len(reqs)-1]); issuer != own {
			t.Fatalf("AuthnRequest Issuer after the move %q", issuer)
		}

		// One way.
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"ownEntityId": false}}`).
			MustError(t, 400, "validation_error", "ownEntityId")
		if rest, _ := w.samlConfigFields(t); rest["ownEntityId"] != true {
			t.Fatalf("after false: %v", rest)
		}
	})
}

// TestSAMLConnectionDefaultsToTheSharedEntityID: the WorldFlow document's flow — create the
// connection as it shows, then copy the entityId and acsUrl of GET /api/v1/sso/sp-metadata into
// the IdP — signs people in: a connection created without ownEntityId is on that shared
// entity ID (and can move to its own later).
func TestSAMLConnectionDefaultsToTheSharedEntityID(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp := samltest.New(t)
		tok := e.AdminToken()
		body, _ := json.Marshal(map[string]any{"name": "Azure AD SAML", "protocol": "saml",
			"samlConfig": map[string]any{"entityId": idp.EntityID, "ssoUrl": idp.SSOURL, "certificate": idp.CertificatePEM,
				"signRequests": true},
			"jitProvisioning": true, "defaultRole": "member"})
		created := e.REST(tok, "POST", "/api/v1/sso/connections", string(body)).Must(t, 201).Body
		sp := e.REST(tok, "GET", "/api/v1/sso/sp-metadata", "").Must(t, 200).Body
		if get(created, "connection", "samlConfig", "ownEntityId") != false ||
			str(created, "connection", "samlConfig", "spEntityId") != str(sp, "entityId") ||
			str(created, "connection", "samlConfig", "acsUrl") != str(sp, "acsUrl") || str(sp, "entityId") != e.URL+"/saml/metadata" {
			t.Fatalf("a connection created as the document shows: %v; sp-metadata %v", get(created, "connection", "samlConfig"), sp)
		}
		// The IdP imports the metadataXml of sp-metadata; a sign-in through the connection works.
		idp.TrustSP(t, []byte(str(sp, "metadataXml")))
		w := &samlWorld{signInWorld: &signInWorld{e: e, tok: tok, slug: samlSlug, redirect: "http://127.0.0.1:9/callback"}, idp: idp}
		e.REST(tok, "PUT", "/api/v1/sso/connections/"+str(created, "connection", "id"), `{"slug": "`+samlSlug+`"}`).Must(t, 200)
		w.conn = str(created, "connection", "id")
		w.activate(w.conn, "example.com")
		w.brand = e.CreateBrand(tok, "Acme Academy")
		w.app = w.createApp(t, "Portal", "CONFIDENTIAL")
		idp.SignIn(samltest.User{NameID: "00u-ada", Email: "ada@example.com", GivenName: "Ada", Surname: "Lovelace"})
		b := w.browser()
		page, _ := w.toIdP(t, b)
		resp, html := w.post(t, b, e.URL, page)
		if q := w.appResult(t, resp, html); q.Get("code") == "" {
			t.Fatalf("no code through the shared entity ID: %v", q)
		}
	})
}
