package provision

import (
	"strings"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	for _, tc := range []struct{ in, want, problem string }{
		{"example.com", "example.com", ""},
		{"  Example.COM. ", "example.com", ""},
		{"Bücher.Example", "xn--bcher-kva.example", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"a-b.co.uk", "a-b.co.uk", ""},
		{"", "", "is required"},
		{"com", "", "at least two labels"},
		{"example..com", "", "not a valid domain"},
		{"-example.com", "", "not a valid domain"},
		{"exa_mple.com", "", "not a valid domain"},
		{"example.123", "", "not a valid domain"},
		{"192.168.0.1", "", "not an IP address"},
		{"[::1]", "", "not an IP address"},
		{"jane@example.com", "", "bare domain"},
		{"https://example.com/", "", "bare domain"},
		{strings.Repeat("a", 64) + ".com", "", "not a valid domain"},
		{"GMail.com", "", "public email provider"},
		{"outlook.com.", "", "public email provider"},
		{"co.uk", "", "public suffix"},
		{"CO.UK.", "", "public suffix"},
		{"github.io", "", "public suffix"},
		{"blogspot.com", "", "public suffix"},
		{"acme.github.io", "acme.github.io", ""},
		{"example.com\x00", "", "control characters"},
		{"exa\u202emple.com", "", "bidirectional"},
	} {
		got, err := NormalizeDomain("domain", tc.in)
		switch {
		case tc.problem == "" && (err != nil || got != tc.want):
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Message, tc.problem)):
			t.Errorf("NormalizeDomain(%q) = %q, %v; want a problem containing %q", tc.in, got, err, tc.problem)
		}
	}
}
