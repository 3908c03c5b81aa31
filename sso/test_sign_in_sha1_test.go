package sso_test

import (
	"html"
	"strings"
	"testing"

	dsig "github.com/russellhaering/goxmldsig"

	"gatehouse/sso/samltest"
)

// TestSAMLTestSignInSHA1Warning, on both databases with real signed responses: a test sign-in
// of a connection that accepts SHA-1, answered by an IdP signing with RSA-SHA1, succeeds and
// warns of it (REST and GraphQL warnings, the result page), naming the algorithm and the fix;
// answered with RSA-SHA256 it has no warning. A connection that refuses SHA-1 fails the test,
// and the error names the algorithm and both ways out. warnings is always present, empty
// when there is nothing to say.
func TestSAMLTestSignInSHA1Warning(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		w := newSAMLWorld(t, e)
		// run runs a test sign-in in a browser and returns its result over REST and GraphQL
		// and the page the browser ends on.
		run := func() (rest, gql map[string]any, page string) {
			t.Helper()
			id, u := startTest(t, e, w.tok, w.conn, "")
			b := w.browser()
			_, idp := samltest.Follow(t, b, u)
			_, page = w.post(t, b, e.URL, idp)
			rest = e.REST(w.tok, "GET", "/api/v1/sso/connections/"+w.conn+"/test-sign-in/"+id, "").Must(t, 200).Body
			d := e.MustGQL(w.tok, `query($c: ID!, $i: ID!) { testSignIn(connectionId: $c, id: $i) { status error warnings } }`,
				map[string]any{"c": w.conn, "i": id})
			gql = get(d, "testSignIn").(map[string]any)
			return rest, gql, html.UnescapeString(page)
		}
		warnings := func(rest, gql map[string]any) []string {
			t.Helper()
			r, ok := rest["warnings"].([]any)
			g, gok := gql["warnings"].([]any)
			if !ok || !gok || len(r) != len(g) {
				t.Fatalf("warnings: REST %#v, GraphQL %#v", rest["warnings"], gql["warnings"])
			}
			out := make([]string, len(r))
			for i := range r {
				if r[i] != g[i] {
					t.Fatalf("warning %d: REST %q, GraphQL %q", i, r[i], g[i])
				}
				out[i] = r[i].(string)
			}
			return out
		}

		// Refused: the test fails, saying what and how to fix it; nothing to warn of.
		w.idp.SignWith(dsig.RSASHA1SignatureMethod)
		rest, gql, page := run()
		msg := str(rest, "error")
		if str(rest, "status") != "failed" || str(gql, "status") != "FAILED" || str(gql, "error") != msg ||
			!strings.Contains(msg, "signed with RSA-SHA1 ("+dsig.RSASHA1SignatureMethod+"), which this connection refuses") ||
			!strings.Contains(msg, "set the IdP's signature algorithm to SHA-256") ||
			!strings.Contains(msg, "set the connection's samlConfig.acceptSha1Signatures to true") ||
			!strings.Contains(page, msg) || strings.Contains(page, `id="warnings"`) {
			t.Fatalf("refused: %v\n%v\n%s", rest, gql, page)
		}
		if ws := warnings(rest, gql); len(ws) != 0 {
			t.Fatalf("a refused test warns: %q", ws)
		}

		// Accepted: success, and the warning.
		e.MustGQL(w.tok, `mutation($id: ID!) { updateConnection(input: {id: $id, samlConfig: {acceptSha1Signatures: true}}) { errors { message } } }`,
			map[string]any{"id": w.conn})
		rest, gql, page = run()
		ws := warnings(rest, gql)
		if str(rest, "status") != "succeeded" || str(gql, "status") != "SUCCEEDED" || len(ws) != 1 {
			t.Fatalf("SHA-1 accepted: %v\n%v", rest, gql)
		}
		for _, want := range []string{"signed the response with RSA-SHA1 (" + dsig.RSASHA1SignatureMethod + ")",
			"samlConfig.acceptSha1Signatures is true", "set the IdP's signature algorithm to SHA-256 (RSA-SHA256), then set acceptSha1Signatures to false"} {
			if !strings.Contains(ws[0], want) {
				t.Fatalf("the warning %q lacks %q", ws[0], want)
			}
		}
		if !strings.Contains(page, "Test sign-in: succeeded") || !strings.Contains(page, `<ul id="warnings"><li>`+ws[0]+`</li></ul>`) {
			t.Fatalf("the result page does not show the warning:\n%s", page)
		}

		// SHA-256, the connection still accepting SHA-1: nothing to warn of.
		w.idp.SignWith(dsig.RSASHA256SignatureMethod)
		rest, gql, page = run()
		if ws := warnings(rest, gql); str(rest, "status") != "succeeded" || len(ws) != 0 || strings.Contains(page, `id="warnings"`) ||
			!strings.Contains(page, "Test sign-in: succeeded") {
			t.Fatalf("SHA-256: %v\n%v\n%s", rest, gql, page)
		}
	})
}
