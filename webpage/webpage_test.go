package webpage

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse/provision"
)

// Every page of a sign-in, whoever writes it, carries the same protections: never stored,
// never framed (CSP and X-Frame-Options), never sniffed, no Referer, except the form_post
// answer, whose Referer and Origin must be Gatehouse's origin.
func TestPagesCarryTheirProtections(t *testing.T) {
	check := func(name string, h http.Header, referrer string) {
		t.Helper()
		want := map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "X-Frame-Options": "DENY",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": referrer}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", name, k, h.Get(k), v)
			}
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", name, csp)
		}
	}
	w := httptest.NewRecorder()
	Write(w, http.StatusBadRequest, "Sign-in failed", "Start again.", "req-1")
	check("an error page", w.Header(), "no-referrer")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "req-1") {
		t.Errorf("error page: %d %s", w.Code, w.Body)
	}

	w = httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/sso/oidc/callback", nil)
	Answer(w, r, &provision.Answer{RedirectURI: "https://app.example/cb", Params: map[string][]string{"code": {"c"}}, Mode: provision.ResponseModeFormPost})
	check("the form_post page", w.Header(), "origin")
}
