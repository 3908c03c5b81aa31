package sso_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/app/apptest"
	"gatehouse/store/storetest"
)

// TestSAMLSignInSHA1Signatures, on both databases through the real interfaces: a new SAML
// connection refuses SHA-1 (REST and GraphQL say acceptSha1Signatures false); an IdP signing
// with RSA-SHA1 gets the application access_denied, no code and no account, and a failed event
// naming the algorithm and the fix. The admin turns acceptance on through GraphQL (the
// connection stays active): the same IdP signs the person in, and the server warns once for
// the connection, not at each sign-in. Turned off through REST, SHA-1 is refused again; an IdP
// on RSA-SHA256 signs in either way. Both changes are in the audit trail.
func TestSAMLSignInSHA1Signatures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ae, logs := apptest.NewLogged(t, dbURL)
		e := &testEnv{ae}
		w := newSAMLWorld(t, e)
		accepts := func() any {
			t.Helper()
			rest := e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn, "").Must(t, 200).Body
			gql := e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { samlConfig { acceptSha1Signatures } } }`, map[string]any{"id": w.conn})
			r, g := get(rest, "connection", "samlConfig", "acceptSha1Signatures"), get(gql, "connection", "samlConfig", "acceptSha1Signatures")
			if r != g {
				t.Fatalf("REST says %v, GraphQL %v", r, g)
			}
			return r
		}
		if got := accepts(); got != false {
			t.Fatalf("a new connection: acceptSha1Signatures %v, want false", got)
		}
		signIn := func() (code string, cause string) {
			t.Helper()
			failures := w.failures(t)
			b := w.browser()
			page, verifier := w.toIdP(t, b)
			resp, body := w.post(t, b, e.URL, page)
			q := w.appResult(t, resp, body)
			if q.Get("code") != "" {
				w.exchange(t, q.Get("code"), verifier)
				return q.Get("code"), ""
			}
			if q.Get("error") != "access_denied" || q.Get("error_description") != "The identity provider's response could not be accepted." {
				t.Fatalf("refusal: %v", q)
			}
			if n := w.failures(t); n != failures+1 {
				t.Fatalf("%d failed events, %d before", n, failures)
			}
			return "", w.lastCause(t)
		}
		warnings := func() int { return strings.Count(logs.String(), "a response signed with SHA-1 was accepted") }

		w.idp.SignWith(dsig.RSASHA1SignatureMethod)
		code, cause := signIn()
		if code != "" || !strings.Contains(cause, "signed with RSA-SHA1 ("+dsig.RSASHA1SignatureMethod+")") ||
			!strings.Contains(cause, "set the IdP's signature algorithm to SHA-256") {
			t.Fatalf("SHA-1 refused: code %q, cause %q", code, cause)
		}
		if n := w.count(t, "user_accounts"); n != 0 {
			t.Fatalf("%d accounts after a refused sign-in", n)
		}

		d := e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, samlConfig: {acceptSha1Signatures: true}}) {
			connection { status samlConfig { acceptSha1Signatures } } errors { label message } } }`, map[string]any{"id": w.conn})
		if str(d, "updateConnection", "connection", "status") != "ACTIVE" || get(d, "updateConnection", "connection", "samlConfig", "acceptSha1Signatures") != true {
			t.Fatalf("updateConnection: %v", d)
		}
		for i := 0; i < 2; i++ {
			if code, cause := signIn(); code == "" {
				t.Fatalf("sign-in %d with SHA-1 accepted: %s", i+1, cause)
			}
		}
		if n := warnings(); n != 1 {
			t.Fatalf("%d warnings of SHA-1 after two sign-ins, want 1:\n%s", n, logs.String())
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if strings.Contains(line, "signed with SHA-1 was accepted") && (json.Unmarshal([]byte(line), &m) != nil || m["level"] != "WARN" || m["connection_id"] != w.conn) {
				t.Fatalf("the warning: %s", line)
			}
		}

		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"samlConfig": {"acceptSha1Signatures": false}}`).Must(t, 200)
		if got := accepts(); got != false {
			t.Fatalf("after the update: acceptSha1Signatures %v", got)
		}
		// The audit trail has both changes.
		var summaries []string
		if err := e.App.Store().RawScan(context.Background(), &summaries,
			"SELECT summary FROM audit_events WHERE action = 'connection.update' AND target_id = ? ORDER BY created_at, id", w.conn); err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(summaries, "\n")
		for _, want := range []string{`"acceptSha1Signatures":{"from":false,"to":true}`, `"acceptSha1Signatures":{"from":true,"to":false}`} {
			if !strings.Contains(joined, want) {
				t.Fatalf("audit summaries lack %s:\n%s", want, joined)
			}
		}
		if code, cause := signIn(); code != "" || !strings.Contains(cause, "signed with RSA-SHA1") {
			t.Fatalf("SHA-1 turned off again: code %q, cause %q", code, cause)
		}
		// A connection created accepting SHA-1 is in the audit trail as such too.
		created := e.REST(w.tok, "POST", "/api/v1/sso/connections", `{"name": "Legacy SAML", "protocol": "saml", "samlConfig": {"entityId": "`+
			w.idp.EntityID+`", "ssoUrl": "`+w.idp.SSOURL+`", "certificate": `+jsonString(w.idp.CertificatePEM)+`, "acceptSha1Signatures": true}}`).Must(t, 201).Body
		if get(created, "connection", "samlConfig", "acceptSha1Signatures") != true {
			t.Fatalf("created: %v", created)
		}
		var createSummaries []string
		if err := e.App.Store().RawScan(context.Background(), &createSummaries,
			"SELECT summary FROM audit_events WHERE action = 'connection.create' AND target_id = ?", str(created, "connection", "id")); err != nil {
			t.Fatal(err)
		}
		if len(createSummaries) != 1 || !strings.Contains(createSummaries[0], `"acceptSha1Signatures":true`) {
			t.Fatalf("the creation's audit summary: %v", createSummaries)
		}
		w.idp.SignWith(dsig.RSASHA256SignatureMethod)
		if code, cause := signIn(); code == "" {
			t.Fatalf("RSA-SHA256: %s", cause)
		}
		if n := warnings(); n != 1 {
			t.Fatalf("%d warnings of SHA-1, want still 1", n)
		}
	})
}

// jsonString is s as a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
