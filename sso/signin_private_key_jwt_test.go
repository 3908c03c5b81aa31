package sso_test

import (
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestOIDCPrivateKeyJWT: an OIDC connection on private_key_jwt authenticates to its IdP's token
// endpoint with a JWT Gatehouse signs (RFC 7523), never a secret; the IdP verifies it, as Okta
// does, with the keys it reads from the connection's clientJwksUrl. Creating one needs no
// secret; switching back needs one. An SP key rotation rolls the assertion key over: the next
// key is published before it signs. The connection test says when the IdP does not take
// private_key_jwt. REST and GraphQL, both databases.
func TestOIDCPrivateKeyJWT(t *testing.T) {
	idp := newTestIdP(t)
	eachDB(t, func(t *testing.T, e *testEnv) {
		jwksURL := e.Config.PublicURL + "/sso/oidc/jwks.json"
		idp.set(func(p *testIdP) {
			p.clientJWKS, p.authMethods, p.assertionAlgs = e.URL+"/sso/oidc/jwks.json", []string{"private_key_jwt"}, nil
			p.assertionKids, p.tokenCalls, p.clientAuthRefused, p.secretWithAssertion = nil, 0, 0, 0
		})
		w := newSignInWorld(t, e, idp) // a connection on its client secret
		signIn := func(what string) {
			t.Helper()
			idp.as(map[string]any{"sub": "okta-jane", "email": "jane@example.com", "email_verified": true, "given_name": "Jane", "family_name": "Doe"})
			r, verifier := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("code") == "" {
				t.Fatalf("%s: sign-in refused: %+v (cause %q)", what, r, lastCause(t, e, w.tok))
			}
			if claims, _ := w.claimsOf(t, w.app, r.query.Get("code"), verifier); claims["email"] != "jane@example.com" {
				t.Fatalf("%s: id_token claims %v", what, claims)
			}
		}
		refused := func(what string) {
			t.Helper()
			r, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			if r.query.Get("error") != "access_denied" || r.query.Get("code") != "" {
				t.Fatalf("%s: %+v", what, r)
			}
		}
		// This IdP takes only assertions: the secret is refused (in the header, then in the
		// form: the discovery names neither), and nobody signs in.
		refused("a connection on its secret at an IdP that takes assertions only")
		if idp.clientAuthRefused != 2 || idp.lastAuthMethod != "client_secret_post" {
			t.Fatalf("%d refused client authentications, last %s", idp.clientAuthRefused, idp.lastAuthMethod)
		}

		// Switched to private_key_jwt (through REST), the same connection signs people in; the
		// status stays, as after a new secret.
		res := e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"oidcConfig": {"clientAuthMethod": "private_key_jwt"}}`).Must(t, 200)
		o := get(res.Body, "connection", "oidcConfig").(map[string]any)
		if o["clientAuthMethod"] != "private_key_jwt" || o["clientJwksUrl"] != jwksURL || o["hasClientSecret"] != true ||
			str(res.Body, "connection", "status") != "active" {
			t.Fatalf("switched to private_key_jwt: %s", res.Raw)
		}
		signIn("first sign-in on private_key_jwt")
		signIn("second sign-in (a new jti)")
		// An admin's test sign-in exchanges its code the same way.
		_, testURL := startTest(t, e, w.tok, w.conn, `{"brandId": "`+w.brand+`"}`)
		if r := newBrowser(t, w.redirect).get(t, testURL); r.status != http.StatusOK || !strings.Contains(r.body, "Test sign-in: succeeded") ||
			idp.lastAuthMethod != "private_key_jwt" {
			t.Fatalf("test sign-in on private_key_jwt (last token request by %s): %d %s", idp.lastAuthMethod, r.status, r.body)
		}
		if idp.lastAuthMethod != "private_key_jwt" || idp.secretWithAssertion != 0 || len(idp.assertionKids) != 3 {
			t.Fatalf("last token request by %s, %d with a secret beside the assertion, %d assertions taken (want 3)",
				idp.lastAuthMethod, idp.secretWithAssertion, len(idp.assertionKids))
		}

		// The JWKS: the current SP key, RS256, with its certificate and both thumbprints, the kid
		// the assertions named; the same certificate as the SAML SP metadata's.
		set := clientJWKSOf(t, e)
		if len(set.Keys) != 1 {
			t.Fatalf("JWKS: %d keys", len(set.Keys))
		}
		k := set.Keys[0]
		sha1Sum, sha256Sum := sha1.Sum(k.Certificates[0].Raw), sha256.Sum256(k.Certificates[0].Raw)
		if _, rsaKey := k.Key.(*rsa.PublicKey); !rsaKey || k.Algorithm != "RS256" || k.Use != "sig" || !k.Valid() ||
			string(k.CertificateThumbprintSHA1) != string(sha1Sum[:]) || string(k.CertificateThumbprintSHA256) != string(sha256Sum[:]) ||
			k.KeyID != base64.RawURLEncoding.EncodeToString(sha256Sum[:]) || idp.assertionKids[0] != k.KeyID {
			t.Fatalf("JWKS key %+v; assertions named %v", k, idp.assertionKids)
		}
		spKeys := e.REST(w.tok, "GET", "/api/v1/sso/sp-keys", "").Must(t, 200)
		current, _ := pem.Decode([]byte(str(get(spKeys.Body, "keys").([]any)[0], "certificate")))
		if current == nil || string(current.Bytes) != string(k.Certificates[0].Raw) {
			t.Fatalf("the JWKS certificate is not the current SP key's: %s", spKeys.Raw)
		}

		// An SP key rotation: the next key is published at once and signs only once promoted.
		e.REST(w.tok, "POST", "/api/v1/sso/sp-keys/rotate", "").Must(t, 201)
		if set := clientJWKSOf(t, e); len(set.Keys) != 2 || set.Keys[0].KeyID != k.KeyID {
			t.Fatalf("JWKS during a rotation: %+v", set.Keys)
		}
		signIn("sign-in during a rotation")
		if last := idp.assertionKids[len(idp.assertionKids)-1]; last != k.KeyID {
			t.Fatalf("signed with %s before the promotion", last)
		}
		e.REST(w.tok, "POST", "/api/v1/sso/sp-keys/promote", "").Must(t, 200)
		signIn("sign-in after the promotion")
		next := clientJWKSOf(t, e).Keys[0].KeyID
		if last := idp.assertionKids[len(idp.assertionKids)-1]; last != next || next == k.KeyID {
			t.Fatalf("after the promotion the assertion named %s, want the new current key %s", last, next)
		}
		// The previous key stays published until it is retired: other replicas sign with it for
		// a few seconds after the promotion.
		if set := clientJWKSOf(t, e); len(set.Keys) != 2 || set.Keys[1].KeyID != k.KeyID {
			t.Fatalf("JWKS after the promotion: %+v, want the current and the previous key", set.Keys)
		}
		e.REST(w.tok, "DELETE", "/api/v1/sso/sp-keys/previous", "").Must(t, 204)
		if set := clientJWKSOf(t, e); len(set.Keys) != 1 || set.Keys[0].KeyID != next {
			t.Fatalf("JWKS after the retirement: %+v", set.Keys)
		}
		signIn("sign-in after the retirement")

		// The connection test: an IdP that refuses the assertion fails it, with what its
		// discovery says: no private_key_jwt, no list (client_secret_basic alone), or no RS256.
		// An IdP that takes the assertion passes, whatever its discovery lists.
		for _, c := range []struct {
			takes     []string // nil: any method
			advertise any      // nil: takes
			algs      []string
			problem   string // "": passes
		}{
			{[]string{"client_secret_basic", "client_secret_post"}, nil, nil, "is [client_secret_basic, client_secret_post]"},
			{[]string{"client_secret_basic"}, "malformed", nil, "not given, meaning client_secret_basic"},
			{[]string{"client_secret_basic"}, []string{"private_key_jwt"}, []string{"ES256"}, "does not take RS256 client assertions"},
			{nil, []string{"client_secret_basic"}, []string{"ES256"}, ""},
		} {
			idp.set(func(p *testIdP) { p.authMethods, p.authMethodsJSON, p.assertionAlgs = c.takes, c.advertise, c.algs })
			res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200)
			valid := get(res.Body, "details", "clientAuthenticationValid")
			if c.problem == "" && (res.Body["success"] != true || valid != true) ||
				c.problem != "" && (res.Body["success"] != false || valid != false || !strings.Contains(res.Raw, c.problem) || !strings.Contains(res.Raw, "private_key_jwt")) {
				t.Fatalf("connection test, takes %v, advertises %v, algorithms %v: %s", c.takes, c.advertise, c.algs, res.Raw)
			}
		}
		idp.set(func(p *testIdP) { p.authMethodsJSON = nil })
		idp.set(func(p *testIdP) {
			p.authMethods, p.assertionAlgs = []string{"client_secret_basic", "private_key_jwt"}, []string{"RS256", "ES256"}
		})
		if res := e.REST(w.tok, "POST", "/api/v1/sso/connections/"+w.conn+"/test", "").Must(t, 200); res.Body["success"] != true {
			t.Fatalf("connection test at an IdP that takes private_key_jwt: %s", res.Raw)
		}
		w.activate(w.conn, "") // the failed tests set it to error

		// Back to the secret, which was kept: it is used again.
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+w.conn, `{"oidcConfig": {"clientAuthMethod": "client_secret"}}`).Must(t, 200)
		signIn("back on the client secret")
		if idp.lastAuthMethod != "client_secret_basic" {
			t.Fatalf("back on the secret, the IdP was authenticated by %s", idp.lastAuthMethod)
		}

		// A connection created on private_key_jwt needs no secret, and one on its secret needs one.
		created := e.REST(w.tok, "POST", "/api/v1/sso/connections", `{"name": "Keyed", "protocol": "oidc",
			"oidcConfig": {"issuerUrl": "`+idp.srv.URL+`", "clientId": "keyed", "clientAuthMethod": "private_key_jwt"}}`).Must(t, 201)
		keyed := str(created.Body, "connection", "id")
		if o := get(created.Body, "connection", "oidcConfig").(map[string]any); o["hasClientSecret"] != false || o["clientAuthMethod"] != "private_key_jwt" {
			t.Fatalf("created on private_key_jwt: %s", created.Raw)
		}
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"clientAuthMethod": "client_secret"}}`).
			MustError(t, 400, "validation_error", "oidcConfig.clientSecret is required, unless clientAuthMethod is private_key_jwt")
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"clientAuthMethod": "client_secret", "clientSecret": "s"}}`).Must(t, 200)
		e.REST(w.tok, "POST", "/api/v1/sso/connections", `{"name": "Secretless", "protocol": "oidc",
			"oidcConfig": {"issuerUrl": "`+idp.srv.URL+`", "clientId": "c"}}`).
			MustError(t, 400, "validation_error", "oidcConfig.clientSecret is required, unless clientAuthMethod is private_key_jwt")
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"clientAuthMethod": "tls_client_auth"}}`).
			MustError(t, 400, "validation_error", "oidcConfig.clientAuthMethod must be one of client_secret, private_key_jwt")

		// A secret is the IdP's: a new issuer drops it, and a connection on it needs it again;
		// one on private_key_jwt may clear it.
		// (The document read from the same URL, named explicitly, is the same IdP.)
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"discoveryUrl": "`+idp.srv.URL+`/.well-known/openid-configuration"}}`).Must(t, 200)
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"discoveryUrl": "`+idp.srv.URL+`/tenant-2/.well-known/openid-configuration"}}`).
			MustError(t, 400, "validation_error", "oidcConfig.clientSecret is required when the discovery document is read from another URL")
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"discoveryUrl": ""}}`).Must(t, 200)
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"issuerUrl": "`+idp.srv.URL+`/tenant-2"}}`).
			MustError(t, 400, "validation_error", "oidcConfig.clientSecret is required when the discovery document is read from another URL")
		res = e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"issuerUrl": "`+idp.srv.URL+`/tenant-2", "clientSecret": "s2"}}`).Must(t, 200)
		if get(res.Body, "connection", "oidcConfig", "hasClientSecret") != true {
			t.Fatalf("a new issuer with its secret: %s", res.Raw)
		}
		res = e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"clientAuthMethod": "private_key_jwt", "issuerUrl": "`+idp.srv.URL+`"}}`).Must(t, 200)
		if get(res.Body, "connection", "oidcConfig", "hasClientSecret") != false {
			t.Fatalf("on private_key_jwt, a new issuer kept the old one's secret: %s", res.Raw)
		}
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"clientSecret": "s3"}}`).Must(t, 200)
		res = e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"clientSecret": ""}}`).Must(t, 200)
		if get(res.Body, "connection", "oidcConfig", "hasClientSecret") != false {
			t.Fatalf("a secret cleared on private_key_jwt: %s", res.Raw)
		}
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"oidcConfig": {"clientAuthMethod": "client_secret", "clientSecret": ""}}`).
			MustError(t, 400, "validation_error", "oidcConfig.clientSecret is required (at most 1,024 bytes)")

		// The audit trail says how the connection authenticates, and when its secret was set or
		// removed, never the secret.
		var summaries []string
		if err := e.App.Store().RawScan(context.Background(), &summaries,
			"SELECT summary FROM audit_events WHERE action = 'connection.update' AND target_id = ? ORDER BY created_at, id", keyed); err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(summaries, "\n")
		for _, want := range []string{`"clientAuthMethod":{"from":"private_key_jwt","to":"client_secret"}`, `"clientSecret":"set"`,
			`"clientAuthMethod":{"from":"client_secret","to":"private_key_jwt"}`, `"clientSecret":"removed"`} {
			if !strings.Contains(joined, want) {
				t.Fatalf("audit summaries lack %s:\n%s", want, joined)
			}
		}
		if strings.Contains(joined, `"s2"`) || strings.Contains(joined, `"s3"`) || strings.Contains(joined, "upstream") {
			t.Fatalf("a secret in the audit trail:\n%s", joined)
		}
		// An update that does not touch the credentials says nothing of them.
		e.REST(w.tok, "PUT", "/api/v1/sso/connections/"+keyed, `{"name": "Keyed, renamed"}`).Must(t, 200)
		var last string
		if err := e.App.Store().RawScan(context.Background(), &last,
			"SELECT summary FROM audit_events WHERE action = 'connection.update' AND target_id = ? ORDER BY created_at DESC, id DESC LIMIT 1", keyed); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(last, "Keyed, renamed") || strings.Contains(last, "clientSecret") || strings.Contains(last, "clientAuthMethod") {
			t.Fatalf("a rename's audit summary: %s", last)
		}

		// GraphQL: the enum in and out, and the JWKS URL.
		d := e.MustGQL(w.tok, `mutation($i: String!) { createConnection(input: {name: "Keyed GraphQL", protocol: OIDC,
			oidcConfig: {issuerUrl: $i, clientId: "keyed-gql", clientAuthMethod: PRIVATE_KEY_JWT}}) {
			connection { oidcConfig { clientAuthMethod clientJwksUrl hasClientSecret } } errors { label message } } }`,
			map[string]any{"i": idp.srv.URL})
		if errs := payloadErrors(t, d, "createConnection"); len(errs) > 0 {
			t.Fatalf("createConnection: %v", errs)
		}
		if o := get(d, "createConnection", "connection", "oidcConfig").(map[string]any); o["clientAuthMethod"] != "PRIVATE_KEY_JWT" ||
			o["clientJwksUrl"] != jwksURL || o["hasClientSecret"] != false {
			t.Fatalf("GraphQL oidcConfig: %v", o)
		}
		d = e.MustGQL(w.tok, `query($id: ID!) { connection(id: $id) { oidcConfig { clientAuthMethod } } }`, map[string]any{"id": w.conn})
		if got := str(d, "connection", "oidcConfig", "clientAuthMethod"); got != "CLIENT_SECRET" {
			t.Fatalf("GraphQL clientAuthMethod of a connection on its secret: %q", got)
		}
	})
}

// clientJWKSOf reads Gatehouse's relying-party JWKS, unauthenticated, as an IdP does.
func clientJWKSOf(t *testing.T, e *testEnv) jose.JSONWebKeySet {
	t.Helper()
	res, err := http.Get(e.URL + "/sso/oidc/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil || res.StatusCode != 200 ||
		!slices.Contains([]string{"application/json"}, res.Header.Get("Content-Type")) {
		t.Fatalf("JWKS: %d %s %v", res.StatusCode, res.Header.Get("Content-Type"), err)
	}
	return set
}
