package oauth

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// TestAccessClaimsJSONIsEncodingJSON holds the hand-written encoding of access-token claims
// (appendJSON, the token endpoint's fast path) to encoding/json's, byte for byte.
func TestAccessClaimsJSONIsEncodingJSON(t *testing.T) {
	now := time.Unix(1764720000, 0)
	full := accessClaims{
		Claims: jwt.Claims{Issuer: "https://id.example.com", Subject: "ghc_hG4kYUwfA4tsI9xu-jbb",
			Audience: jwt.Audience{"https://id.example.com"}, IssuedAt: jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
			ID: "0193b5c2-7f1e-7cc4-9a4e-2f0c1d3e4b5a"},
		ClientID: "ghc_hG4kYUwfA4tsI9xu-jbb", Scope: "graphql graphql:read admin scim",
		WorkspaceID: "4771494f-5c77-4b3a-86dc-caafb8d80c45",
	}
	cases := map[string]accessClaims{
		"a client-credentials token": full,
		"nothing set":                {},
		"two audiences":              func() accessClaims { c := full; c.Audience = jwt.Audience{"a", "b"}; return c }(),
		"empty audience":             func() accessClaims { c := full; c.Audience = jwt.Audience{}; return c }(),
		"no dates, no id": func() accessClaims {
			c := full
			c.Expiry, c.NotBefore, c.IssuedAt, c.ID = nil, nil, nil, ""
			return c
		}(),
		"negative date": func() accessClaims { c := full; d := jwt.NumericDate(-5); c.IssuedAt = &d; return c }(),
		"strings to escape": func() accessClaims {
			c := full
			c.Issuer = `http://x/"quoted"\back`
			c.Subject = "<script>&amp;</script>"
			c.ClientID = "tab\there\nnewline\x00nul\x7fdel"
			c.Scope = "é ü 日本 \u2028 \u2029 \ufffd"
			c.WorkspaceID = string([]byte{0xff, 0xfe, 'a'}) // invalid UTF-8
			return c
		}(),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ { // random strings over an alphabet of every troublesome byte
		alphabet := []byte("aZ09-_.:/ \"\\<>&\x00\x1f\x7f\xc3\xa9\xe2\x80\xa8\xff")
		str := func() string {
			b := make([]byte, r.IntN(12))
			for j := range b {
				b[j] = alphabet[r.IntN(len(alphabet))]
			}
			return string(b)
		}
		c := full
		c.Issuer, c.Subject, c.ID, c.ClientID, c.Scope, c.WorkspaceID = str(), str(), str(), str(), str(), str()
		c.Audience = jwt.Audience{str()}
		cases["random "+string(rune('a'+i%26))+str()] = c
	}
	for name, c := range cases {
		want, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.appendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}
