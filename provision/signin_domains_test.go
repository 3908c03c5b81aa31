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
		refused := func(t *testing.T, conn *models.Connection, id Identity, cause string) {
			t.Helper()
			users, creds := e.count("user_accounts"), e.count("credentials")
			res, err := signIn(conn, id)
			if models.ErrorCode(err) != models.EFORBIDDEN || res == nil || res.Outcome != SignInRefused || res.Reason != reasonOutsideVerifiedDomains {
				t.Fatalf("SignIn = %+v, %v; want the refusal for an email outside the verified domains", res, err)
			}
			if e.count("user_accounts") != users || e.count("credentials") != creds {
				t.Fatal("a refused sign-in wrote an account or a credential")
			}
			if _, sum := e.lastAudit(); !strings.Contains(sum["detail"].(string), cause) {
				t.Fatalf("the audit detail %q does not say %q", sum["detail"], cause)
			}
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
		t.Run("turned off, anyone is provisioned again", func(t *testing.T) {
			google = must(e.s.UpdateConnection(ctx, google.ID.String(), ConnectionInput{JITVerifiedDomainsOnly: ptr(false)}))
			provisioned(t, google, Identity{Identifier: "g-12", Email: "late@gmail.test"})
		})
	})
}
