package sso

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/go-jose/go-jose/v4"
)

// maxKeys bounds the keys of an OIDC identity provider's key set (its JWKS), for a sign-in and
// the connection test alike. go-oidc verifies an id_token against every key of the set whose
// kid is the token's (every key, for a token without one), and when none verifies it fetches
// the set again and tries them all once more. A 1 MiB set holds some 4,000 P-521 keys, all
// with the token's kid if the IdP likes, at 1.6 ms a verification on the 2-core machine this
// was measured on: 7 s of CPU a pass, twice for a token no key verifies, for one sign-in, and
// outside the admission slots (the callback's calls to the IdP, the verification with them,
// run outside them). The IdPs we know publish a handful of keys, a few more while they
// rotate.
const maxKeys = 32

// keySetProblem says why a key set of n keys is refused, or "".
func keySetProblem(n int) string {
	if n > maxKeys {
		return fmt.Sprintf("holds %d keys; Gatehouse takes a key set of at most %d", n, maxKeys)
	}
	return ""
}

// boundKeySets wraps the transport of the client a provider is made with, which go-oidc
// fetches the provider's key set with and uses for nothing else: it refuses an answer with
// more than maxKeys keys before go-oidc reads it. Any other answer goes on as it came; go-oidc
// says what is wrong with it.
func boundKeySets(rt http.RoundTripper) http.RoundTripper { return keySetBound{rt: rt} }

type keySetBound struct{ rt http.RoundTripper }

func (t keySetBound) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body) // bounded by netguard.LimitBodies below
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(body, &set) == nil {
		if problem := keySetProblem(len(set.Keys)); problem != "" {
			return nil, fmt.Errorf("the key set %s", problem)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// signingAlgs are the key algorithms go-oidc verifies id_tokens with (its supportedJOSEAlgs).
var signingAlgs = map[string]bool{"RS256": true, "RS384": true, "RS512": true, "ES256": true, "ES384": true,
	"ES512": true, "PS256": true, "PS384": true, "PS512": true, "EdDSA": true}

// readKeySet reads a JSON Web Key Set as go-oidc does at sign-in: a key that names an algorithm
// go-oidc does not verify with (ES256K on secp256k1, a post-quantum one) is left out instead of
// failing the whole set, so that the connection test judges the set the sign-in will use. Any
// other key that does not parse fails the set, as it fails the sign-in. total counts every key
// of the set, left out or not, as maxKeys does.
func readKeySet(body []byte) (keys []jose.JSONWebKey, total int, err error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, 0, err
	}
	for _, k := range raw.Keys {
		var meta struct {
			Alg string `json:"alg"`
		}
		if err := json.Unmarshal(k, &meta); err != nil {
			return nil, 0, err
		}
		if meta.Alg != "" && !signingAlgs[meta.Alg] {
			continue
		}
		var key jose.JSONWebKey
		if err := json.Unmarshal(k, &key); err != nil {
			return nil, 0, err
		}
		keys = append(keys, key)
	}
	return keys, len(raw.Keys), nil
}
