package provision

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// TestSignInFastPathOracle is the oracle of the returning fast path (a browser sign-in that
// holds its connection already, deciding without a transaction): in every state a sign-in can meet, the fast path decides
// exactly as the plain path, with the same audit event. Both decide in dry runs (rolled back)
// over the same rows; the connection the fast path holds is the one read before the state
// changed, as a cached one would be.
func TestSignInFastPathOracle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		e := newTestEnv(t, dbURL)
		ctx := e.ctx
		brand := must(e.s.CreateBrand(ctx, BrandInput{Name: ptr("Portal")}))
		okta := e.connection("okta", true, "member", true)
		noJIT := e.connection("nojit", false, "viewer", true)
		e.verifyDomain(okta, "verified.test")
		jane := Identity{Identifier: "jane-sub", Email: "jane@verified.test", FirstName: "Jane", LastName: "Doe"}
		janeRes := must(e.s.SignIn(context.Background(), brand.ID, okta.ID, jane))
		must(e.s.CreateUserAccount(ctx, CreateUserAccountInput{Email: "bob@verified.test"}))

		// dryWith decides without writing; known nil is the plain path; lookup, when set, is
		// the fast path's lookup read in advance.
		dryWith := func(conn uuid.UUID, known *models.Connection, lookup *store.IdentityLookup, id Identity) (*SignInResult, error) {
			var decided *SignInResult
			_, err := e.s.decide(context.Background(), brand.ID, conn, id, decideOptions{known: known, lookup: lookup, then: func(_ context.Context, res *SignInResult) error {
				decided = res
				return errDryRun
			}})
			if errors.Is(err, errDryRun) {
				return decided, nil
			}
			return nil, err
		}
		dry := func(conn uuid.UUID, known *models.Connection, id Identity) (*SignInResult, error) {
			return dryWith(conn, known, nil, id)
		}
		// claimed is the lookup a SAML continuation's claim reads with the flow, as the ACS
		// stores the answer (store.ClaimSAMLFlow): on PostgreSQL it is never nil.
		claimed := func(t *testing.T, conn *models.Connection, id Identity) *store.IdentityLookup {
			t.Helper()
			now := e.s.now()
			f := &models.SignInFlow{ID: store.NewID(), WorkspaceID: e.ws, ApplicationID: store.NewID(), BrandID: brand.ID, ConnectionID: conn.ID,
				BrowserHash: "browser", ClientID: "c", RedirectURI: "https://app.test/cb", Scope: "openid", UpstreamStateHash: store.NewID().String(),
				UpstreamRequestID: "_" + store.NewID().String(), UpstreamVerifierEnc: []byte("sealed"), ExpiresAt: now.Add(time.Hour), CreatedAt: now}
			must(0, e.st.CreateFlow(ctx, f))
			must(e.st.PutSAMLAnswer(ctx, f.ID, []byte("sealed"), f.ExpiresAt, models.Key(id.Identifier)))
			_, _, lookup, err := e.st.ClaimSAMLFlow(ctx, f.UpstreamStateHash, []string{"browser"}, now)
			if err != nil || lookup == nil && e.st.Dialect() == store.Postgres {
				t.Fatalf("claim: %+v %v", lookup, err)
			}
			return lookup
		}
		// same checks that both paths decide alike, and the fast path alike with the lookup a
		// SAML flow's claim reads in advance; new rows' ids differ, nothing else may.
		same := func(t *testing.T, conn *models.Connection, id Identity, want SignInOutcome) {
			t.Helper()
			plain, perr := dry(conn.ID, nil, id)
			fast, ferr := dry(conn.ID, conn, id)
			alike(t, "fast", want, plain, perr, fast, ferr)
			prefetched, lerr := dryWith(conn.ID, conn, claimed(t, conn, id), id)
			alike(t, "fast with the claim's lookup", want, plain, perr, prefetched, lerr)
		}

		t.Run("returning", func(t *testing.T) { same(t, okta, jane, SignInExistingIdentity) })
		t.Run("returning with new names (profile refresh)", func(t *testing.T) {
			same(t, okta, Identity{Identifier: "JANE-SUB", Email: jane.Email, FirstName: "Janet", LastName: "Doe"}, SignInExistingIdentity)
		})
		t.Run("returning with the email a first sign-in derived", func(t *testing.T) {
			ida := Identity{Identifier: "ida@verified.test"} // no email claim: the identifier is the address
			if res := must(e.s.SignIn(context.Background(), brand.ID, okta.ID, ida)); !res.EmailDerived {
				t.Fatalf("first sign-in: %+v", res)
			}
			same(t, okta, ida, SignInExistingIdentity)
			if res, _ := dry(okta.ID, okta, ida); !res.EmailDerived {
				t.Fatalf("returning: %+v", res)
			}
			asserted := Identity{Identifier: "ida@verified.test", Email: "ida@verified.test"}
			same(t, okta, asserted, SignInExistingIdentity)
			if res, _ := dry(okta.ID, okta, asserted); res.EmailDerived {
				t.Fatalf("asserted by the IdP: %+v", res)
			}
		})
		t.Run("a lookup read for another identity is not used", func(t *testing.T) {
			// An answer stored before the identifier key was has none: its lookup found
			// nobody, or, whatever it found, it is not this identity's. The account such a
			// lookup names here reads as Jane's (a copy under another id), so the fast path
			// would take it for her if it trusted the lookup.
			impostor := *janeRes.UserAccount
			impostor.ID = store.NewID()
			for _, l := range []*store.IdentityLookup{
				{WorkspaceID: e.ws, ConnectionID: okta.ID, IdentifierKey: ""},
				{WorkspaceID: e.ws, ConnectionID: okta.ID, IdentifierKey: "", User: &impostor},
				{WorkspaceID: e.ws, ConnectionID: noJIT.ID, IdentifierKey: "jane-sub", User: &impostor},
				{WorkspaceID: store.NewID(), ConnectionID: okta.ID, IdentifierKey: "jane-sub", User: &impostor},
			} {
				res, err := dryWith(okta.ID, okta, l, jane)
				if err != nil || res.Outcome != SignInExistingIdentity || res.UserAccount.ID != janeRes.UserAccount.ID {
					t.Fatalf("lookup %+v: %+v %v", l, res, err)
				}
			}
		})
		t.Run("linked by email", func(t *testing.T) {
			same(t, okta, Identity{Identifier: "bob-sub", Email: "bob@verified.test"}, SignInLinkedByEmail)
		})
		t.Run("provisioned", func(t *testing.T) {
			same(t, okta, Identity{Identifier: "new-sub", Email: "new@verified.test", FirstName: "New"}, SignInProvisioned)
		})
		t.Run("refused: no provisioning", func(t *testing.T) {
			same(t, noJIT, Identity{Identifier: "nobody", Email: "nobody@elsewhere.test"}, SignInRefused)
		})
		t.Run("brand configurations (read with the connection on the fast path)", func(t *testing.T) {
			// noJIT provisions only through the brand's configuration; its default account
			// places the person, and another brand's configuration is not this brand's.
			other := must(e.s.CreateBrand(ctx, BrandInput{Name: ptr("Other portal")}))
			acme := must(e.s.CreateAccount(ctx, AccountInput{Name: ptr("Acme"), Type: ptr(models.AccountIndividual)}))
			must(nil2(e.s.CreateIdentityProviderConfiguration(ctx, IdentityProviderConfigurationInput{BrandID: other.ID.String(),
				IdentityProviderID: noJIT.ID.String(), AutoProvisionLearners: ptr(true)})))
			someone := Identity{Identifier: "someone", Email: "someone@elsewhere.test", FirstName: "Some"}
			same(t, noJIT, someone, SignInRefused)
			must(nil2(e.s.CreateIdentityProviderConfiguration(ctx, IdentityProviderConfigurationInput{BrandID: brand.ID.String(),
				IdentityProviderID: noJIT.ID.String(), AutoProvisionLearners: ptr(true), DefaultAccountID: ptr(acme.ID.String()), DefaultAccountIDSet: true})))
			same(t, noJIT, someone, SignInProvisioned)
			if res, _ := dry(noJIT.ID, noJIT, someone); res.Placement == nil || res.Placement.Account.ID != acme.ID {
				t.Fatalf("placement %+v", res.Placement)
			}
			same(t, noJIT, Identity{Identifier: "bob-at-nojit", Email: "BOB@verified.test"}, SignInRefused) // domain not verified for noJIT
		})
		t.Run("refused: another identity at the connection", func(t *testing.T) {
			same(t, okta, Identity{Identifier: "other-sub", Email: "jane@verified.test"}, SignInRefused)
		})
		t.Run("refused: deactivated account", func(t *testing.T) {
			must(e.s.DeactivateUserAccount(ctx, janeRes.UserAccount.ID.String()))
			same(t, okta, jane, SignInRefused)
			must(e.s.ReactivateUserAccount(ctx, janeRes.UserAccount.ID.String()))
		})
		t.Run("refused: the connection was deactivated after it was read", func(t *testing.T) {
			held := *okta // the fast path's copy says active
			must(e.s.DeactivateConnection(ctx, okta.ID.String()))
			same(t, &held, jane, SignInRefused)
			if res, _ := dry(okta.ID, &held, jane); res.Reason != reasonConnectionInactive {
				t.Fatalf("reason %q", res.Reason)
			}
			same(t, &held, Identity{Identifier: "new-sub", Email: "new@verified.test"}, SignInRefused)
		})
		t.Run("the connection was deleted after it was read", func(t *testing.T) {
			held := *noJIT
			must(e.s.DeleteConnection(ctx, noJIT.ID.String()))
			same(t, &held, Identity{Identifier: "nobody", Email: "nobody@elsewhere.test"}, "")
		})
	})
}

// alike fails t unless the decision of path decides as the plain path: the same error, or the
// same outcome, reason, derived email, account (new rows' ids and times aside) and audit event.
func alike(t *testing.T, path string, want SignInOutcome, plain *SignInResult, perr error, got *SignInResult, err error) {
	t.Helper()
	if models.ErrorCode(perr) != models.ErrorCode(err) || (perr == nil) != (err == nil) {
		t.Fatalf("errors differ: plain %v, %s %v", perr, path, err)
	}
	if perr != nil {
		if want != "" {
			t.Fatalf("error %v; want %s", perr, want)
		}
		return
	}
	if plain.Outcome != want || got.Outcome != want || plain.Reason != got.Reason || plain.EmailDerived != got.EmailDerived {
		t.Fatalf("plain %s %q (email derived %v), %s %s %q (%v); want %s", plain.Outcome, plain.Reason, plain.EmailDerived,
			path, got.Outcome, got.Reason, got.EmailDerived, want)
	}
	pu, fu := plain.UserAccount, got.UserAccount
	if (pu == nil) != (fu == nil) {
		t.Fatalf("accounts: plain %+v, %s %+v", pu, path, fu)
	}
	if pu != nil {
		fc := *fu
		fc.UpdatedAt = pu.UpdatedAt    // a refreshed profile's is the decision's clock
		if want == SignInProvisioned { // new rows: fresh ids and times
			fc.ID, fc.AccountID, fc.CreatedAt = pu.ID, pu.AccountID, pu.CreatedAt
		}
		fu = &fc
		if !reflect.DeepEqual(pu, fu) {
			t.Fatalf("accounts differ:\nplain %+v\n%s %+v", pu, path, fu)
		}
	}
	pa, fa := plain.audit, got.audit
	var ps, fs map[string]any
	_ = json.Unmarshal([]byte(pa.Summary), &ps)
	_ = json.Unmarshal([]byte(fa.Summary), &fs)
	if want == SignInProvisioned {
		delete(ps, "accountId")
		delete(fs, "accountId")
		fa.TargetID = pa.TargetID
	}
	if pa.Action != fa.Action || pa.ActorID != fa.ActorID || pa.ActorType != fa.ActorType ||
		pa.TargetType != fa.TargetType || pa.TargetID != fa.TargetID || !reflect.DeepEqual(ps, fs) {
		t.Fatalf("audit events differ:\nplain %+v %v\n%s %+v %v", pa, ps, path, fa, fs)
	}
}
