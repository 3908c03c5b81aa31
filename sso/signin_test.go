package sso

import (
	"strings"
	"testing"
)

// A discovery document cannot make Gatehouse accept unsigned or HMAC-signed id_tokens.
func TestAsymmetricAlgorithms(t *testing.T) {
	got := asymmetricAlgorithms([]string{"none", "HS256", "RS256", "ES256", "HS512", "EdDSA"})
	if strings.Join(got, ",") != "RS256,ES256,EdDSA" {
		t.Fatalf("algorithms: %v", got)
	}
	if got := asymmetricAlgorithms([]string{"none"}); len(got) != 0 {
		t.Fatalf("only none: %v", got)
	}
}
