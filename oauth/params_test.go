package oauth

import (
	"slices"
	"testing"
)

// TestEmailPageCarriesWhatAuthorizeReads: the email page's form repeats every parameter of the
// authorization request that authorize acts on, so that a sign-in continued from the page is
// the request the application made. A parameter added to authorizeParams is classified here:
// carried, replaced by the page (the routing hints), or not acted on (refused or ignored).
func TestEmailPageCarriesWhatAuthorizeReads(t *testing.T) {
	notCarried := map[string]string{
		"connection": "routing", "login_hint": "routing", "domain_hint": "routing",
		"request": "refused", "request_uri": "refused", "registration": "ignored",
		"display": "ignored", "ui_locales": "ignored", "claims_locales": "ignored", "claims": "ignored",
	}
	for _, k := range authorizeParams {
		if _, ok := notCarried[k]; !ok && !slices.Contains(emailPageCarries, k) {
			t.Errorf("%s: authorize reads it but the email page drops it; add it to emailPageCarries, or classify it here", k)
		}
	}
	for _, k := range emailPageCarries {
		if !slices.Contains(authorizeParams, k) {
			t.Errorf("%s: the email page carries a parameter authorizeParams does not list", k)
		}
	}
}
