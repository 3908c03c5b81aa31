package store

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// Sign-in state expires, is used once, and is pruned; these rules are the store's statements.
func TestSignInStateExpiryAndSingleUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		s := openTestStore(t, dbURL, math.MaxInt)
		ctx := context.Background()
		now := time.Now().UTC()
		ws, app := NewID(), NewID()
		flow := func(state string, expires time.Time) {
			if err := s.CreateFlow(ctx, &models.SignInFlow{ID: NewID(), WorkspaceID: ws, ApplicationID: app, BrandID: NewID(), ConnectionID: NewID(),
				BrowserHash: "browser", ClientID: "c", RedirectURI: "https://app/cb", Scope: "openid", UpstreamStateHash: state,
				UpstreamVerifierEnc: []byte("sealed"), Test: true,
				ExpiresAt: expires, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}
		flow("live", now.Add(time.Minute))
		flow("expired", now.Add(-time.Second))
		if _, err := s.ClaimFlow(ctx, "live", []string{"another browser"}, now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another browser claims: %v", err)
		}
		f, err := s.ClaimFlow(ctx, "live", []string{"browser"}, now)
		if err != nil || f.UpstreamStateHash != "live" || f.ClaimedAt == nil || string(f.UpstreamVerifierEnc) != "sealed" || f.Test != true {
			t.Fatalf("claim: %+v %v", f, err)
		}
		if _, err := s.ClaimFlow(ctx, "live", []string{"browser"}, now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second claim: %v", err)
		}
		if _, err := s.ClaimFlow(ctx, "expired", []string{"browser"}, now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired claim: %v", err)
		}
		// A code is redeemed only for an account that exists and is active.
		person := &models.UserAccount{ID: NewID(), WorkspaceID: ws, Email: "p@example.com", EmailKey: "p@example.com",
			Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
		for _, row := range []any{&models.Workspace{ID: ws, Name: "W", CreatedAt: now}, person} {
			if err := s.Create(ctx, row); err != nil {
				t.Fatal(err)
			}
		}
		app = storedApplication(t, s, ws) // the grants' application: the flows' was not stored
		grant := func(code string, expires time.Time) {
			if err := s.CreateGrant(ctx, &models.Grant{ID: NewID(), WorkspaceID: ws, ApplicationID: app, ClientID: "c", CodeHash: code,
				RedirectURI: "https://app/cb", Scope: "openid", UserAccountID: person.ID, Claims: "{}", AuthTime: now,
				ExpiresAt: expires, CreatedAt: expires.Add(-time.Minute)}); err != nil { // a code lives a minute
				t.Fatal(err)
			}
		}
		grant("fresh", now.Add(time.Minute))
		grant("stale", now.Add(-time.Second))
		g, err := s.RedeemGrant(ctx, "fresh", "c", now)
		if err != nil || g.RedeemedAt == nil {
			t.Fatalf("redeem: %+v %v", g, err)
		}
		if _, err := s.RedeemGrant(ctx, "fresh", "c", now); !errors.Is(err, ErrStale) {
			t.Fatalf("replay: %v", err)
		}
		if g, err := s.BoundGrant(ctx, ws, g.ID); err != nil || g.RevokedAt == nil {
			t.Fatalf("a replay revokes the grant: %+v %v", g, err)
		}
		if _, err := s.RedeemGrant(ctx, "stale", "c", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired code: %v", err)
		}
		n, err := s.PruneSignInState(ctx, now, now, "reason", "cause")
		if err != nil || n != 2 { // the expired flow and the expired code
			t.Fatalf("prune: %d %v", n, err)
		}
	})
}

// FirstSignInReads (one query) answers what Connection, UserAccountByEmail and
// IdentityProviderConfiguration (the plain reads of a first sign-in) answer, for live,
// inactive, deleted and other workspaces' connections, brands with and without a
// configuration, and taken, free and other workspaces' emails.
func TestFirstSignInReadsOracle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, allMigrations)
		now := time.Now().UTC().Truncate(time.Millisecond)
		create := func(v any) {
			t.Helper()
			if err := s.Create(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		ws, other := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}, &models.Workspace{ID: NewID(), Name: "O", CreatedAt: now}
		create(ws)
		create(other)
		conn := func(w *models.Workspace, slug string, status models.ConnectionStatus) *models.Connection {
			c := &models.Connection{ID: NewID(), WorkspaceID: w.ID, Name: slug, NameKey: slug, Slug: slug, Protocol: models.ProtocolOIDC,
				Status: status, OIDCIssuerURL: "https://idp/" + slug, OIDCClientID: "gh", OIDCClientSecretEnc: []byte("sealed"),
				OIDCScopes: "openid email", JITProvisioning: slug == "live", DefaultRole: "member", Version: 2, CreatedAt: now, UpdatedAt: now}
			create(c)
			return c
		}
		live, inactive, deleted := conn(ws, "live", models.StatusActive), conn(ws, "inactive", models.StatusInactive), conn(ws, "deleted", models.StatusActive)
		elsewhere := conn(other, "elsewhere", models.StatusActive)
		if err := s.DeleteConnection(ctx, deleted); err != nil {
			t.Fatal(err)
		}
		brand := func(name string) *models.Brand {
			b := &models.Brand{ID: NewID(), WorkspaceID: ws.ID, Name: name, NameKey: name, Slug: name, Version: 1, CreatedAt: now, UpdatedAt: now}
			create(b)
			return b
		}
		configured, bare := brand("configured"), brand("bare")
		acc := &models.Account{ID: NewID(), WorkspaceID: ws.ID, Name: "Acme", Type: models.AccountIndividual, CreatedAt: now, UpdatedAt: now}
		create(acc)
		for _, c := range []*models.Connection{live, inactive} {
			create(&models.IdentityProviderConfiguration{ID: NewID(), WorkspaceID: ws.ID, BrandID: configured.ID, ConnectionID: c.ID,
				AutoProvisionLearners: c == live, DefaultAccountID: &acc.ID, CompanyClaim: "org", Version: 4, CreatedAt: now, UpdatedAt: now})
		}
		user := func(w *models.Workspace, email string) {
			u := &models.UserAccount{ID: NewID(), WorkspaceID: w.ID, UserName: "u-" + NewID().String(), Active: true, Version: 1, CreatedAt: now, UpdatedAt: now}
			u.UserNameKey = u.UserName
			u.SetEmail(email)
			create(u)
		}
		user(ws, "Taken@x.test")
		user(other, "elsewhere@x.test")
		user(ws, "") // no email: an empty key is never "taken"

		for _, b := range []*models.Brand{configured, bare} {
			for _, c := range []*models.Connection{live, inactive, deleted, elsewhere} {
				for _, email := range []string{"taken@x.test", "elsewhere@x.test", "free@x.test", ""} {
					name := b.Name + "/" + c.Slug + "/" + email
					got, err := s.FirstSignInReads(ctx, ws.ID, b.ID, c.ID, email)
					pc, perr := s.Connection(ctx, ws.ID, c.ID)
					if errors.Is(perr, ErrNotFound) {
						if !errors.Is(err, ErrNotFound) {
							t.Fatalf("%s: one query found %+v, the plain read nothing", name, got)
						}
						continue
					}
					if err != nil || perr != nil {
						t.Fatalf("%s: %v / plain %v", name, err, perr)
					}
					_, uerr := s.UserAccountByEmail(ctx, ws.ID, email)
					if uerr != nil && !errors.Is(uerr, ErrNotFound) {
						t.Fatal(uerr)
					}
					taken := uerr == nil && email != ""
					pcfg, cerr := s.IdentityProviderConfiguration(ctx, ws.ID, b.ID, c.ID)
					if errors.Is(cerr, ErrNotFound) {
						pcfg, cerr = nil, nil
					}
					if cerr != nil {
						t.Fatal(cerr)
					}
					if !reflect.DeepEqual(got.Connection, pc) || got.EmailTaken != taken || !reflect.DeepEqual(got.Configuration, pcfg) {
						t.Fatalf("%s:\n%+v %v %+v\nplain:\n%+v %v %+v", name, got.Connection, got.EmailTaken, got.Configuration, pc, taken, pcfg)
					}
				}
			}
		}
	})
}

// A first sign-in's transaction moves the users counter; on PostgreSQL RecordSignIn, the
// decision's last statement, writes it (no statement of its own at commit), once. Given the
// provisioned rows, RecordSignIn moves it with them: alone, and as the only write of an
// InTxFromFirstWrite.
func TestRecordSignInWritesTheCounters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, allMigrations)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ws := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}
		c := &models.Connection{ID: NewID(), WorkspaceID: ws.ID, Name: "c", NameKey: "c", Slug: "c", Protocol: models.ProtocolOIDC,
			Status: models.StatusActive, OIDCIssuerURL: "https://idp/c", Version: 1, CreatedAt: now, UpdatedAt: now}
		for _, v := range []any{ws, c} {
			if err := s.Create(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		users := func(ctx context.Context) int64 {
			t.Helper()
			n, err := s.count(ctx, ws.ID, counterUsers)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		// rows returns a first sign-in's rows for identifier p: what it provisions and records.
		rows := func(p string) (*ProvisionedUser, *models.AuditEvent, *models.SignInEvent) {
			u := &models.UserAccount{ID: NewID(), WorkspaceID: ws.ID, UserName: p + "@x.test", UserNameKey: p + "@x.test", Active: true,
				Version: 1, CreatedAt: now, UpdatedAt: now}
			u.SetEmail(p + "@x.test")
			cred := &models.Credential{ID: NewID(), WorkspaceID: ws.ID, UserAccountID: u.ID, ConnectionID: c.ID, Identifier: p,
				IdentifierKey: p, CreatedAt: now, UpdatedAt: now}
			a := &models.AuditEvent{ID: NewID(), WorkspaceID: ws.ID, ActorType: "sign_in", ActorID: "c:" + p, Action: "sign_in.provisioned",
				TargetType: "user_account", TargetID: u.ID.String(), Summary: "{}", CreatedAt: now}
			e := &models.SignInEvent{ID: NewID(), WorkspaceID: ws.ID, Identifier: p, Outcome: "provisioned", CreatedAt: now}
			return &ProvisionedUser{User: u, Credential: cred}, a, e
		}
		err := s.InTx(ctx, func(ctx context.Context) error {
			p, a, e := rows("p")
			if err := s.CreateProvisionedUser(ctx, p); err != nil {
				return err
			}
			if n := users(ctx); n != 0 {
				t.Fatalf("users counter %d before the records", n)
			}
			if err := s.RecordSignIn(ctx, nil, a, nil, e); err != nil {
				return err
			}
			if n := users(ctx); s.dialect == Postgres && n != 1 {
				t.Fatalf("users counter %d after RecordSignIn, in the transaction", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := users(ctx); n != 1 {
			t.Fatalf("users counter %d after commit", n)
		}
		if p, a, e := rows("q"); s.RecordSignIn(ctx, p, a, nil, e) != nil {
			t.Fatal("RecordSignIn with the rows, alone, failed")
		}
		if n := users(ctx); n != 2 {
			t.Fatalf("users counter %d after RecordSignIn with the rows, alone", n)
		}
		err = s.InTxFromFirstWrite(ctx, func(ctx context.Context) error {
			users(ctx) // a read before the write
			p, a, e := rows("r")
			return s.RecordSignIn(ctx, p, a, nil, e)
		})
		if n := users(ctx); err != nil || n != 3 {
			t.Fatalf("users counter %d after RecordSignIn with the rows, in InTxFromFirstWrite: %v", n, err)
		}
	})
}
