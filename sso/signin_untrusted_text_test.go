package sso_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

// failedCauses are the private causes of the failed sign-in events, oldest first.
func failedCauses(t *testing.T, e *testEnv) []string {
	t.Helper()
	var causes []string
	if err := e.App.Store().RawScan(context.Background(), &causes, "SELECT cause FROM sign_in_events WHERE outcome = 'failed' ORDER BY created_at, id"); err != nil {
		t.Fatal(err)
	}
	return causes
}

// saneCause fails t unless cause is valid UTF-8 without controls, at most max bytes.
func saneCause(t *testing.T, name, cause string, max int) {
	t.Helper()
	if !utf8.ValidString(cause) || strings.ContainsFunc(cause, func(r rune) bool { return r < 0x20 || r == 0x7f }) || len(cause) > max {
		t.Errorf("%s: cause of %d bytes is not sane: %q", name, len(cause), cause)
	}
}

// An identity provider's error_description is anyone's text (it arrives in the callback's
// query): invalid UTF-8, a NUL, or a long non-ASCII description cut by bytes once made
// PostgreSQL refuse the failed sign-in's event, so the attempt went unrecorded.
func TestUpstreamErrorDescriptionIsRecorded(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp := newTestIdP(t)
		w := newSignInWorld(t, e, idp)
		for _, c := range []struct{ name, desc, want string }{
			{"ascii", "plain", ": plain"},
			{"raw 0xff", "bad\xffbyte", ": bad\uFFFDbyte"},
			{"NUL", "a\x00b", ": ab"},
			{"line break", "a\nb", ": a b"},
			{"long non-ASCII", "a" + strings.Repeat("é", 200), "a" + strings.Repeat("é", 127) + "…"},
		} {
			idp.set(func(p *testIdP) { p.authorizeError, p.authorizeErrorDescription = "access_denied", c.desc })
			before := len(failedCauses(t, e))
			res, _ := w.signIn(t, newBrowser(t, w.redirect), w.app, "connection", w.slug)
			if res.query.Get("error") != "access_denied" {
				t.Errorf("%s: the application got %+v", c.name, res)
			}
			causes := failedCauses(t, e)
			if len(causes) != before+1 {
				t.Errorf("%s: the failed sign-in was not recorded (%d events, %d before)", c.name, len(causes), before)
				continue
			}
			cause := causes[len(causes)-1]
			if !strings.HasPrefix(cause, "the identity provider answered error=access_denied: ") || !strings.HasSuffix(cause, c.want) {
				t.Errorf("%s: cause %q, want it to end with %q", c.name, cause, c.want)
			}
			saneCause(t, c.name, cause, 400)
		}
	})
}

// go-oidc quotes the whole body of a JWKS that answers with an error (up to 1 MiB) in its
// error: the cause Gatehouse keeps of it is bounded.
func TestJWKSErrorBodyIsBounded(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		idp := newTestIdP(t)
		w := newSignInWorld(t, e, idp)
		idp.as(map[string]any{"sub": "j1", "email": "j1@" + signInDomain, "email_verified": true})
		idp.set(func(p *testIdP) {
			p.jwksError = []byte("<html>" + strings.Repeat("upstream failure \x00\xff ", 64<<10/20) + "</html>")
		})
		res := w.toCallback(t, w.app, "connection", w.slug)()
		if res.query.Get("error") != "access_denied" {
			t.Fatalf("the application got %+v", res)
		}
		causes := failedCauses(t, e)
		if len(causes) != 1 {
			t.Fatalf("failed events: %d", len(causes))
		}
		if !strings.HasPrefix(causes[0], "id_token: ") || !strings.Contains(causes[0], "500") {
			t.Errorf("cause %q", causes[0][:min(len(causes[0]), 200)])
		}
		saneCause(t, "jwks", causes[0], len("id_token: ")+300+len("…"))
	})
}
