package provision

import (
	"context"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// passingRemote passes every connection test.
type passingRemote struct{ Remote }

func (passingRemote) TestOIDC(context.Context, OIDCTarget) TestReport {
	return TestReport{Success: true}
}
func (passingRemote) TestSAML(context.Context, SAMLTarget) TestReport {
	return TestReport{Success: true}
}

// TestConnectionTestWarnings: a connection test that passes still warns of what lets in more
// than an admin likely means: a Google connection without jitVerifiedDomainsOnly (personal
// Google accounts), a SAML connection that accepts SHA-1 signatures. A warning fails nothing,
// and goes once the setting is changed; another OIDC connection gets none. Both databases.
func TestConnectionTestWarnings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		box, err := secret.NewBox(secret.NewKey())
		if err != nil {
			t.Fatal(err)
		}
		e.s = New(e.st, box, Options{Remote: passingRemote{}})
		warnings := func(c *models.Connection) []string {
			t.Helper()
			rep := must(e.s.TestConnection(e.ctx, c.ID.String()))
			if !rep.Success || len(rep.Problems) != 0 || rep.Warnings == nil {
				t.Fatalf("test of %s: %+v", c.Slug, rep.TestReport)
			}
			return rep.Warnings
		}

		okta := e.connection("okta", true, "member", false)
		if w := warnings(okta); len(w) != 0 {
			t.Fatalf("an Okta connection: %v", w)
		}

		// A connection saved before the personal accounts' tenant was refused keeps it; its
		// test says what a new one would be told.
		okta = must(e.st.Connection(e.ctx, okta.WorkspaceID, okta.ID)) // as its test left it
		okta.OIDCIssuerURL = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
		if err := e.st.UpdateConnection(e.ctx, okta); err != nil {
			t.Fatal(err)
		}
		if w := warnings(okta); len(w) != 1 || !strings.Contains(w[0], "oidcConfig.issuerUrl is the tenant of Microsoft's personal accounts") {
			t.Fatalf("a connection to the personal accounts' tenant: %v", w)
		}

		google := e.connection("google", true, "member", false)
		google.OIDCIssuerURL = models.GoogleIssuer
		if err := e.st.UpdateConnection(e.ctx, google); err != nil {
			t.Fatal(err)
		}
		if w := warnings(google); len(w) != 1 || !strings.Contains(w[0], "set jitVerifiedDomainsOnly to true") {
			t.Fatalf("a Google connection without jitVerifiedDomainsOnly: %v", w)
		}
		google = must(e.s.UpdateConnection(e.ctx, google.ID.String(), ConnectionInput{JITVerifiedDomainsOnly: ptr(true)}))
		if w := warnings(google); len(w) != 0 {
			t.Fatalf("a Google connection with jitVerifiedDomainsOnly: %v", w)
		}

		saml := new(models.Connection)
		*saml = *google
		saml.ID, saml.Name, saml.NameKey, saml.Slug = store.NewID(), "ADFS", "adfs", "adfs"
		saml.Protocol, saml.OIDCIssuerURL, saml.SAMLEntityID, saml.SAMLSSOURL = models.ProtocolSAML, "", "https://adfs.example.com", "https://adfs.example.com/sso"
		saml.SAMLAcceptSHA1, saml.Version = true, 1
		if err := e.st.Create(e.ctx, saml); err != nil {
			t.Fatal(err)
		}
		if w := warnings(saml); len(w) != 1 || !strings.Contains(w[0], "signed with SHA-1") || !strings.Contains(w[0], "acceptSha1Signatures to false") {
			t.Fatalf("a SAML connection accepting SHA-1: %v", w)
		}
	})
}
