package provision

import "testing"

// The answer's parameters are appended to the registered redirect URI; its own query is kept
// as registered (RFC 6749 §3.1.2), in its order.
func TestErrorAnswerKeepsTheRegisteredQuery(t *testing.T) {
	for _, c := range []struct{ uri, want string }{
		{"https://app.example.com/cb", "https://app.example.com/cb?error=access_denied&error_description=no+way&iss=https%3A%2F%2Fgh.example.com&state=s+1"},
		{"https://app.example.com/cb?b=2&a=1", "https://app.example.com/cb?b=2&a=1&error=access_denied&error_description=no+way&iss=https%3A%2F%2Fgh.example.com&state=s+1"},
		{"https://app.example.com/cb?x=%2F", "https://app.example.com/cb?x=%2F&error=access_denied&error_description=no+way&iss=https%3A%2F%2Fgh.example.com&state=s+1"},
	} {
		s := &Service{sso: ssoOptions{publicURL: "https://gh.example.com"}}
		if got := s.errorAnswer(c.uri, "", "s 1", "access_denied", "no way").Location(); got != c.want {
			t.Errorf("errorAnswer(%q).Location() = %q, want %q", c.uri, got, c.want)
		}
	}
}
