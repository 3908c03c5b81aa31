package rest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/app/apptest"
)

// kidOf reads the kid of a JWT's header.
func kidOf(t *testing.T, token string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	_ = json.Unmarshal(raw, &h)
	return h.Kid
}

// jwksAt fetches the JWKS a relying party sees at base.
func jwksAt(t *testing.T, base string) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// statusAt is the status of an authenticated API call at base with token.
func statusAt(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/sso/connections", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// eventually polls cond for up to 10 s (a replica reloads the keys within 5 s).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
	}
}

// TestSigningKeyRotation: the token signing key rotates in two steps without a token
// failing: a next key is published on every replica before it signs; after the promotion new
// tokens carry its kid and verify against the JWKS, while tokens of the replaced key go on
// working until that key is unpublished — then they fail everywhere, even one verified before.
func TestSigningKeyRotation(t *testing.T) {
	apptest.Each(t, func(t *testing.T, env *apptest.Env) {
		e := &testEnv{env}
		replica := e.Replica()
		admin := e.AdminToken()
		const base = "/api/v1/oauth/signing-keys"

		res := e.REST(admin, "GET", base, "").Must(t, 200)
		keys := get(res.Body, "keys").([]any)
		if len(keys) != 1 || str(keys[0], "role") != "current" || str(keys[0], "kid") != kidOf(t, admin) || str(keys[0], "algorithm") != "ES256" {
			t.Fatalf("keys before a rotation: %s", res.Raw)
		}
		first := str(keys[0], "kid")

		// Only the platform admin client manages the keys.
		other := e.OtherWorkspaceAdmin(admin, "Tenant")
		e.REST(other, "POST", base+"/rotate", "").MustError(t, 403, "permission_error", "only the platform admin client")
		e.REST(other, "GET", base, "").MustError(t, 403, "permission_error", "only the platform admin client")

		// Step 1: a next key, published here at once and on the replica within seconds, not
		// signing yet.
		res = e.REST(admin, "POST", base+"/rotate", "").Must(t, 201)
		next := str(res.Body, "key", "kid")
		if str(res.Body, "key", "role") != "next" || next == "" || next == first {
			t.Fatalf("rotate: %s", res.Raw)
		}
		if got := kids(jwksAt(t, e.URL)); len(got) != 2 {
			t.Fatalf("JWKS after rotate: %v", got)
		}
		eventually(t, "the replica publishes the next key", func() bool { return len(jwksAt(t, replica).Keys) == 2 })
		if kid := kidOf(t, e.AdminToken()); kid != first {
			t.Fatalf("a token signed with %s before the promotion", kid)
		}
		e.REST(admin, "POST", base+"/rotate", "").MustError(t, 409, "invalid_state", "a next signing key exists already")

		// Step 2: the next key signs, here at once and on the replica within seconds; the
		// replaced key's tokens still work on both.
		res = e.REST(admin, "POST", base+"/promote", "").Must(t, 200)
		keys = get(res.Body, "keys").([]any)
		if len(keys) != 2 || str(keys[0], "role") != "current" || str(keys[0], "kid") != next ||
			str(keys[1], "role") != "previous" || str(keys[1], "kid") != first || str(keys[1], "retiredAt") == "" {
			t.Fatalf("promote: %s", res.Raw)
		}
		fresh := e.AdminToken()
		if kidOf(t, fresh) != next {
			t.Fatalf("signed with %s after the promotion, want %s", kidOf(t, fresh), next)
		}
		eventually(t, "the replica signs with the promoted key", func() bool {
			saved := e.URL
			e.URL = replica
			defer func() { e.URL = saved }()
			return kidOf(t, e.AdminToken()) == next
		})
		// A relying party verifies the new token against the published JWKS.
		parsed, err := jwt.ParseSigned(fresh, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		var claims jwt.Claims
		if err := parsed.Claims(jwksAt(t, e.URL), &claims); err != nil {
			t.Fatalf("the new token does not verify against the JWKS: %v", err)
		}
		for _, b := range []string{e.URL, replica} {
			if s := statusAt(t, b, admin); s != 200 {
				t.Fatalf("a token of the replaced key at %s: %d", b, s)
			}
		}
		e.REST(admin, "POST", base+"/promote", "").MustError(t, 409, "invalid_state", "no next signing key")

		// Step 3: the previous key is unpublished; its tokens fail here at once (the one
		// verified above included) and on the replica within seconds. New tokens work.
		e.REST(fresh, "DELETE", base+"/previous", "").Must(t, 204)
		if got := kids(jwksAt(t, e.URL)); len(got) != 1 || got[0] != next {
			t.Fatalf("JWKS after the retirement: %v", got)
		}
		if s := statusAt(t, e.URL, admin); s != 401 {
			t.Fatalf("a token of the unpublished key: %d", s)
		}
		eventually(t, "the replica refuses the unpublished key's tokens", func() bool { return statusAt(t, replica, admin) == 401 })
		if s := statusAt(t, replica, fresh); s != 200 {
			t.Fatalf("a token of the current key on the replica: %d", s)
		}
		e.REST(fresh, "DELETE", base+"/previous", "").MustError(t, 409, "invalid_state", "no previous signing key")

		// Each step is in the audit log.
		d := e.MustGQL(fresh, `{ auditEvents(first: 50) { action targetId } }`, nil)
		seen := map[string]bool{}
		for _, ev := range get(d, "auditEvents").([]any) {
			seen[str(ev, "action")] = true
		}
		for _, a := range []string{"signing_key.rotation_started", "signing_key.promoted", "signing_key.retired"} {
			if !seen[a] {
				t.Errorf("no audit event %s (have %v)", a, seen)
			}
		}
	})
}

// TestSigningKeyRotationGraphQL: the same three steps through GraphQL, with the refusals as
// payload errors, and the platform admin alone allowed.
func TestSigningKeyRotationGraphQL(t *testing.T) {
	apptest.Each(t, func(t *testing.T, env *apptest.Env) {
		e := &testEnv{env}
		tok := e.AdminToken()
		const keysQ = `keys { kid role algorithm fingerprintSha256 createdAt retiredAt } errors { code message }`
		d := e.MustGQL(tok, `{ signingKeys { kid role retiredAt } }`, nil)
		first := str(d, "signingKeys", 0, "kid")
		if len(get(d, "signingKeys").([]any)) != 1 || str(d, "signingKeys", 0, "role") != "CURRENT" || first != kidOf(t, tok) {
			t.Fatalf("signingKeys: %v", d)
		}
		d = e.MustGQL(tok, `mutation { promoteSigningKey { `+keysQ+` } }`, nil)
		if str(d, "promoteSigningKey", "errors", 0, "code") != "INVALID_STATE" {
			t.Fatalf("promote without a rotation: %v", d)
		}
		d = e.MustGQL(tok, `mutation { startSigningKeyRotation { `+keysQ+` } }`, nil)
		next := str(d, "startSigningKeyRotation", "keys", 1, "kid")
		if str(d, "startSigningKeyRotation", "keys", 0, "kid") != first || str(d, "startSigningKeyRotation", "keys", 1, "role") != "NEXT" ||
			next == "" || str(d, "startSigningKeyRotation", "keys", 1, "algorithm") != "ES256" ||
			len(str(d, "startSigningKeyRotation", "keys", 1, "fingerprintSha256")) != 64 {
			t.Fatalf("startSigningKeyRotation: %v", d)
		}
		d = e.MustGQL(tok, `mutation { startSigningKeyRotation { `+keysQ+` } }`, nil)
		if str(d, "startSigningKeyRotation", "errors", 0, "code") != "INVALID_STATE" {
			t.Fatalf("a second rotation: %v", d)
		}
		d = e.MustGQL(tok, `mutation { promoteSigningKey { `+keysQ+` } }`, nil)
		if str(d, "promoteSigningKey", "keys", 0, "kid") != next || str(d, "promoteSigningKey", "keys", 1, "role") != "PREVIOUS" ||
			str(d, "promoteSigningKey", "keys", 1, "retiredAt") == "" {
			t.Fatalf("promoteSigningKey: %v", d)
		}
		fresh := e.AdminToken()
		d = e.MustGQL(fresh, `mutation { retireSigningKey { `+keysQ+` } }`, nil)
		if keys := get(d, "retireSigningKey", "keys").([]any); len(keys) != 1 || str(keys[0], "kid") != next {
			t.Fatalf("retireSigningKey: %v", d)
		}
		if r := e.GQL(tok, `{ signingKeys { kid } }`, nil); r.Status != 401 {
			t.Fatalf("a token of the unpublished key: %d", r.Status)
		}

		other := e.OtherWorkspaceAdmin(fresh, "Tenant")
		for _, q := range []string{`mutation { startSigningKeyRotation { ` + keysQ + ` } }`, `{ signingKeys { kid } }`} {
			if r := e.GQL(other, q, nil); len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "FORBIDDEN" {
				t.Fatalf("a workspace admin: %s", r.Raw)
			}
		}
	})
}
