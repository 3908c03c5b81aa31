package provision

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// TestSignInVerifiedDomainsOnly: a connection that restricts automatic provisioning to its
// verified domains (jitVerifiedDomainsOnly) creates an account only for an email the identity
// provider sent on one of them, by its JIT provisioning and by a brand configuration's
// autoProvisionLearners alike; an email elsewhere, on a domain not yet verified, or none at all
// (where an address would be derived from the identifier) is refused, writing nothing. Linking
// and identities bound ahead of time are not its business. Turning it on and off is audited.
// On both databases.
func TestSignInVerifiedDomainsOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		ctx := e.ctx
		brand := must(e.s.CreateBrand(ctx, BrandInput{Name: ptr("Portal")}))
		google := e.connection("google", true, "member", true)
		now := time.Now().UTC()
		for _, d := range []*models.Domain{
			{Name: "corp.test", Status: models.DomainVerified, VerifiedAt: &now, IsPrimary: true},
			{Name: "pending.test", Status: models.DomainPending},
		} {
			d.ID, d.WorkspaceID, d.ConnectionID, d.VerificationMethod, d.VerificationToken = store.NewID(), e.ws, google.ID, models.VerifyDNSTXT, "t"
			d.CreatedAt, d.UpdatedAt = now, now
			if err := e.st.Create(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		signIn := func(conn *models.Connection, id Identity) (*SignInResult, error) {
			return e.s.SignIn(context.Background(), brand.ID, conn.ID, id)
		}
		// refusedFor: refused with reason, writing nothing, the audit detail saying cause.
		refusedFor := func(t *testing.T, conn *models.Connection, id Identity, reason, cause string) {
			t.Helper()
			users, creds := e.count("user_accounts"), e.count("credentials")
			res, err := signIn(conn, id)
			if models.ErrorCode(err) != models.EFORBIDDEN || res == nil || res.Outcome != SignInRefused || res.Reason != reason {
				t.Fatalf("SignIn = %+v, %v; want the refusal %q", res, err, reason)
			}
			if e.count("user_accounts") != users || e.count("credentials") != creds {
				t.Fatal("a refused sign-in wrote an account or a credential")
			}
			if _, sum := e.lastAudit(); !strings.Contains(sum["detail"].(string), cause) {
				t.Fatalf("the audit detail %q does not say %q", sum["detail"], cause)
			}
		}
		refused := func(t *testing.T, conn *models.Connection, id Identity, cause string) {
			t.Helper()
			refusedFor(t, conn, id, reasonOutsideVerifiedDomains, cause)
		}
		provisioned := func(t *testing.T, conn *models.Connection, id Identity) *models.UserAccount {
			t.Helper()
			res, err := signIn(conn, id)
			if err != nil || res.Outcome != SignInProvisioned {
				t.Fatalf("SignIn = %+v, %v; want provisioned", res, err)
			}
			return res.UserAccount
		}

		// Before the setting: anyone the identity provider vouches for gets an account, and an
		// identity without an email one on the primary domain.
		provisioned(t, google, Identity{Identifier: "g-1", Email: "first@gmail.test"})
		if u := provisioned(t, google, Identity{Identifier: "g-2"}); u.Email != "g-2@corp.test" {
			t.Fatalf("derived email %q", u.Email)
		}

		google = must(e.s.UpdateConnection(ctx, google.ID.String(), ConnectionInput{JITVerifiedDomainsOnly: ptr(true)}))
		if !google.JITVerifiedDomainsOnly || google.Status != models.StatusActive {
			t.Fatalf("after the update: verified domains only %v, status %s", google.JITVerifiedDomainsOnly, google.Status)
		}
		if ev, sum := e.lastAudit(); ev.Action != "connection.update" || fmt.Sprint(sum["jitVerifiedDomainsOnly"]) != "map[from:false to:true]" {
			t.Fatalf("audit %s %v", ev.Action, sum)
		}

		t.Run("an email on another domain is refused", func(t *testing.T) {
			refused(t, google, Identity{Identifier: "g-3", Email: "someone@gmail.test"}, "gmail.test is not verified for it")
		})
		t.Run("an email on a domain not yet verified is refused", func(t *testing.T) {
			refused(t, google, Identity{Identifier: "g-4", Email: "pat@pending.test"}, "pending.test is not verified for it")
		})
		t.Run("no email is refused, not given one on the primary domain", func(t *testing.T) {
			refused(t, google, Identity{Identifier: "g-5"}, "sent no email it vouches for")
		})
		t.Run("an email on a verified domain gets an account, the domain compared case-insensitively", func(t *testing.T) {
			if u := provisioned(t, google, Identity{Identifier: "g-6", Email: "Ann@CORP.test"}); !strings.EqualFold(u.Email, "ann@corp.test") {
				t.Fatalf("email %q", u.Email)
			}
		})
		t.Run("a subdomain is not its parent", func(t *testing.T) {
			refused(t, google, Identity{Identifier: "g-7", Email: "eve@eng.corp.test"}, "eng.corp.test is not verified for it")
		})
		t.Run("bound identities and linking by email are unaffected", func(t *testing.T) {
			// Bound before the setting, with an email elsewhere.
			if res, err := signIn(google, Identity{Identifier: "g-1", Email: "first@gmail.test"}); err != nil || res.Outcome != SignInExistingIdentity {
				t.Fatalf("bound identity: %+v %v", res, err)
			}
			must(e.s.CreateUserAccount(ctx, CreateUserAccountInput{Email: "bo@corp.test"}))
			if res, err := signIn(google, Identity{Identifier: "g-8", Email: "bo@corp.test"}); err != nil || res.Outcome != SignInLinkedByEmail {
				t.Fatalf("link by email: %+v %v", res, err)
			}
		})
		t.Run("a brand configuration's auto-provisioning is restricted too", func(t *testing.T) {
			google = must(e.s.UpdateConnection(ctx, google.ID.String(), ConnectionInput{JITProvisioning: ptr(false)}))
			must(nil2(e.s.CreateIdentityProviderConfiguration(ctx, IdentityProviderConfigurationInput{
				BrandID: brand.ID.String(), IdentityProviderID: google.ID.String(), AutoProvisionLearners: ptr(true)})))
			refused(t, google, Identity{Identifier: "g-9", Email: "learner@gmail.test"}, "gmail.test is not verified for it")
			provisioned(t, google, Identity{Identifier: "g-10", Email: "learner@corp.test"})
		})
		t.Run("a test sign-in's dry run says the same", func(t *testing.T) {
			res, err := e.s.SignInDryRun(ctx, brand.ID, google.ID, Identity{Identifier: "g-11", Email: "x@gmail.test"})
			if err != nil || res.Outcome != SignInRefused || res.Reason != reasonOutsideVerifiedDomains {
				t.Fatalf("dry run: %+v %v", res, err)
			}
		})
		t.Run("at Google, the Workspace domain (hd) must be verified too", func(t *testing.T) {
			google.OIDCIssuerURL = models.GoogleIssuer
			if err := e.st.UpdateConnection(ctx, google); err != nil {
				t.Fatal(err)
			}
			// The email is on a verified domain: the person reads that their Google account is
			// not one of the organisation's, not that the email is elsewhere.
			refusedFor(t, google, Identity{Identifier: "g-20", Email: "made@corp.test", Claims: map[string]any{}}, reasonNotWorkspaceAccount,
				"a personal Google account")
			// Its email left out (the sso layer: Google does not vouch for a personal account's
			// address), the person still reads why.
			refusedFor(t, google, Identity{Identifier: "g-24", Claims: map[string]any{"email": "made@corp.test"}}, reasonNotWorkspaceAccount,
				"a personal Google account")
			refusedFor(t, google, Identity{Identifier: "g-21", Email: "guest@corp.test", Claims: map[string]any{"hd": "gmail.test"}}, reasonNotWorkspaceAccount,
				"the Google Workspace organisation's domain (hd) gmail.test is not verified for it")
			refused(t, google, Identity{Identifier: "g-22", Email: "x@gmail.test", Claims: map[string]any{"hd": "corp.test"}}, "gmail.test is not verified for it")
			provisioned(t, google, Identity{Identifier: "g-23", Email: "ws@corp.test", Claims: map[string]any{"hd": "Corp.Test"}})
		})
		t.Run("turned off, anyone is provisioned again", func(t *testing.T) {
			google = must(e.s.UpdateConnection(ctx, google.ID.String(), ConnectionInput{JITVerifiedDomainsOnly: ptr(false)}))
			provisioned(t, google, Identity{Identifier: "g-12", Email: "late@gmail.test"})
		})
	})
}

// TestSignInVerifiedDomainsOnlyEmailForms: at a connection that restricts automatic
// provisioning to its verified domains, no spelling of an address gets an account on a domain
// that is not verified for this very connection. Letter case and surrounding space are the
// same address, and so are an IDN's Unicode and ASCII forms (domainKey); a look-alike domain
// (fullwidth or Cyrillic letters, a zero-width character, a suffix or prefix), an address the
// email rule refuses (two @, a quoted local part, a trailing dot: dropped, so no email), an IP
// literal, an email-shaped identifier without an email, and a
// domain verified only for another connection of the workspace, in another workspace, or
// failed, are not. On both databases.
func TestSignInVerifiedDomainsOnlyEmailForms(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		ctx := e.ctx
		brand := must(e.s.CreateBrand(ctx, BrandInput{Name: ptr("Portal")}))
		google := e.connection("google", true, "member", true)
		google = must(e.s.UpdateConnection(ctx, google.ID.String(), ConnectionInput{JITVerifiedDomainsOnly: ptr(true)}))
		e.verifyDomain(google, "corp.test")
		e.verifyDomain(google, "xn--bcher-kva.test") // bücher.test, as NormalizeDomain stores it
		okta := e.connection("okta", true, "member", true)
		e.verifyDomain(okta, "sister.test") // verified, but for another connection
		now := time.Now().UTC()
		failed := &models.Domain{ID: store.NewID(), WorkspaceID: e.ws, ConnectionID: google.ID, Name: "failed.test",
			Status: models.DomainFailed, VerificationMethod: models.VerifyDNSTXT, VerificationToken: "t", CreatedAt: now, UpdatedAt: now}
		if err := e.st.Create(ctx, failed); err != nil {
			t.Fatal(err)
		}
		// Another workspace's connection with its own verified domain.
		other := &models.Workspace{ID: store.NewID(), Name: "Other", CreatedAt: now}
		if err := e.st.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		octx := WithPrincipal(context.Background(), &Principal{ClientID: "other", WorkspaceID: other.ID, Scopes: models.AllScopes, ActorType: "client"})
		name, slug, proto, issuer, client, sec := "IdP other", "other", models.ProtocolOIDC, "https://idp.example.com/other", "client", "secret"
		oc := must(e.s.CreateConnection(octx, ConnectionInput{Name: &name, Slug: &slug, Protocol: &proto,
			OIDC: &OIDCConfigInput{IssuerURL: &issuer, ClientID: &client, ClientSecret: &sec}}))
		if err := e.st.Create(ctx, &models.Domain{ID: store.NewID(), WorkspaceID: other.ID, ConnectionID: oc.ID, Name: "elsewhere.test",
			Status: models.DomainVerified, VerificationMethod: models.VerifyDNSTXT, VerificationToken: "t", VerifiedAt: &now,
			CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}

		for i, c := range []struct {
			name, identifier, email string
			want                    string // the provisioned account's email; "" when refused
		}{
			{"upper case", "", "Ann@CORP.TEST", "Ann@CORP.TEST"},
			{"surrounding space", "", "  bob@corp.test ", "bob@corp.test"},
			{"an IDN in its ASCII form", "", "cat@xn--bcher-kva.test", "cat@xn--bcher-kva.test"},
			{"another domain", "", "eve@gmail.test", ""},
			{"the verified domain as a prefix", "", "eve@corp.test.evil.test", ""},
			{"the verified domain as a suffix", "", "eve@evilcorp.test", ""},
			{"fullwidth letters", "", "eve@ｃｏｒｐ.test", ""},
			{"a Cyrillic e", "", "eve@corp.tеst", ""},
			{"an IDN in its Unicode form", "", "dan@bücher.test", "dan@bücher.test"},
			{"an IDN in its Unicode form, upper case", "", "fay@BÜCHER.test", "fay@BÜCHER.test"},
			{"two @", "", "eve@gmail.test@corp.test", ""},
			{"a quoted local part", "", `"eve@gmail.test"@corp.test`, ""},
			{"a trailing dot", "", "eve@corp.test.", ""},
			{"an IP literal", "", "eve@[192.0.2.1]", ""},
			{"an email-shaped identifier and no email", "eve@corp.test", "", ""},
			{"a domain verified for another connection", "", "eve@sister.test", ""},
			{"a domain verified in another workspace", "", "eve@elsewhere.test", ""},
			{"a domain whose verification failed", "", "eve@failed.test", ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				id := Identity{Identifier: c.identifier, Email: c.email}
				if id.Identifier == "" {
					id.Identifier = fmt.Sprintf("g-%d", i)
				}
				users, creds := e.count("user_accounts"), e.count("credentials")
				res, err := e.s.SignIn(context.Background(), brand.ID, google.ID, id)
				if c.want == "" {
					if models.ErrorCode(err) != models.EFORBIDDEN || res == nil || res.Outcome != SignInRefused || res.Reason != reasonOutsideVerifiedDomains {
						t.Fatalf("SignIn(%q) = %+v, %v; want the refusal for an email outside the verified domains", c.email, res, err)
					}
					if e.count("user_accounts") != users || e.count("credentials") != creds {
						t.Fatal("a refused sign-in wrote an account or a credential")
					}
					return
				}
				if err != nil || res.Outcome != SignInProvisioned || res.UserAccount.Email != c.want {
					t.Fatalf("SignIn(%q) = %+v, %v; want provisioned with %q", c.email, res, err, c.want)
				}
			})
		}

		// Concurrent first sign-ins (the retry after a lost race decides again, rule and all):
		// outsiders all refused, writing nothing; identities sharing one address on the verified
		// domain make one account, whose email is that address, and no other.
		t.Run("at once", func(t *testing.T) {
			const n = 8
			users := e.count("user_accounts")
			results, errs := signInAtOnce(e, brand.ID, google.ID, n, func(i int) Identity {
				return Identity{Identifier: fmt.Sprintf("out-%d", i), Email: "mallory@gmail.test"}
			})
			for i := range n {
				if results[i] == nil || results[i].Outcome != SignInRefused || results[i].Reason != reasonOutsideVerifiedDomains {
					t.Fatalf("outsider %d: %+v, %v", i, results[i], errs[i])
				}
			}
			results, errs = signInAtOnce(e, brand.ID, google.ID, n, func(i int) Identity {
				return Identity{Identifier: fmt.Sprintf("in-%d", i), Email: "team@corp.test"}
			})
			outcomes := map[SignInOutcome]int{}
			for i := range n {
				if results[i] == nil {
					t.Fatalf("insider %d: %v", i, errs[i])
				}
				outcomes[results[i].Outcome]++
			}
			if outcomes[SignInProvisioned] != 1 || e.count("user_accounts") != users+1 {
				t.Fatalf("outcomes %v, %d new accounts; want one provisioned", outcomes, e.count("user_accounts")-users)
			}
		})
	})
}
