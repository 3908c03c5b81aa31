package provision

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
)

func TestParsePrompt(t *testing.T) {
	for _, c := range []struct {
		raw, want string
		ok        bool
	}{
		{"", "", true},
		{"login", "login", true},
		{"  select_account   login ", "login select_account", true}, // the stored order, whatever the sent one
		{"consent login consent", "login consent", true},
		{"create", "", true}, // unknown values are ignored
		{"none", "none", true},
		{"none none", "none", true},
		{"none login", "none login", false},
		{"none create", "none", false}, // none with any other value is an error
	} {
		got, ok := parsePrompt(c.raw)
		if got != c.want || ok != c.ok {
			t.Errorf("parsePrompt(%q) = %q, %v; want %q, %v", c.raw, got, ok, c.want, c.ok)
		}
	}
}

func TestParseMaxAge(t *testing.T) {
	for _, c := range []struct {
		raw, want string
		ok        bool
	}{
		{"", "", true}, {"0", "0", true}, {"007", "7", true}, {"2147483647", "2147483647", true},
		{"2147483648", "", false}, {"-1", "", false}, {"+5", "", false}, {"1.5", "", false}, {" 5", "", false}, {"soon", "", false},
	} {
		got, ok := parseMaxAge(c.raw)
		if got != c.want || ok != c.ok {
			t.Errorf("parseMaxAge(%q) = %q, %v; want %q, %v", c.raw, got, ok, c.want, c.ok)
		}
	}
}

func TestAuthTime(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct{ upstream, want time.Time }{
		{time.Time{}, now},                         // the IdP did not say
		{time.Unix(0, 0), now},                     // nor did it with a zero
		{now.Add(time.Hour), now},                  // a skewed clock never claims a fresher authentication
		{now.Add(-time.Hour), now.Add(-time.Hour)}, // the IdP's
	} {
		if got := authTime(c.upstream, now); !got.Equal(c.want) {
			t.Errorf("authTime(%v) = %v, want %v", c.upstream, got, c.want)
		}
	}
}

func TestErrorDescription(t *testing.T) {
	for in, want := range map[string]string{
		"Single sign-on is not set up for exämple.org…": "Single sign-on is not set up for ex?mple.org.",
		`a "quoted" \ value` + "\n":                     `a 'quoted' ? value?`,
		"The identity provider's answer.":               "The identity provider's answer.",
	} {
		if got := ErrorDescription(in); got != want {
			t.Errorf("ErrorDescription(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHintedElsewhere(t *testing.T) {
	jane, bob := &models.UserAccount{ID: uuid.New()}, &models.UserAccount{ID: uuid.New()}
	hint := jane.ID.String()
	for name, c := range map[string]struct {
		res       *SignInResult
		elsewhere bool
	}{
		"jane signs in":                {&SignInResult{Outcome: SignInExistingIdentity, UserAccount: jane}, false},
		"bob signs in":                 {&SignInResult{Outcome: SignInExistingIdentity, UserAccount: bob}, true},
		"someone is provisioned":       {&SignInResult{Outcome: SignInProvisioned, UserAccount: bob}, true},
		"jane is refused":              {&SignInResult{Outcome: SignInRefused, Reason: reasonDeactivated, refused: jane}, false},
		"bob is refused":               {&SignInResult{Outcome: SignInRefused, Reason: reasonDeactivated, refused: bob}, true},
		"nobody's identity, refused":   {&SignInResult{Outcome: SignInRefused, Reason: reasonNoAutoProvisioning}, true},
		"the connection is not active": {&SignInResult{Outcome: SignInRefused, Reason: reasonConnectionInactive}, false},
	} {
		if _, got := hintedElsewhere(hint, c.res); got != c.elsewhere {
			t.Errorf("%s: elsewhere %v, want %v", name, got, c.elsewhere)
		}
		if _, got := hintedElsewhere("", c.res); got {
			t.Errorf("%s without a hint: elsewhere", name)
		}
	}
}
