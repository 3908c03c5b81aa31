package sso

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
