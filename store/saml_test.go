package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/store/storetest"
)

// An assertion ID is accepted once per connection, by whichever store (replica) sees it first;
// pruning removes only expired IDs.
func TestSAMLAssertionsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		a, b := openTestStore(t, dbURL, allMigrations), openTestStore(t, dbURL, allMigrations)
		conn, other := NewID(), NewID()
		now := time.Now().UTC()
		for i, step := range []struct {
			s     *Store
			conn  [16]byte
			id    string
			until time.Time
			fresh bool
		}{
			{a, conn, "id-1", now.Add(time.Minute), true},
			{b, conn, "id-1", now.Add(time.Minute), false}, // replay on the other replica
			{a, other, "id-1", now.Add(time.Minute), true}, // another IdP's ID space
			{a, conn, "id-old", now.Add(-time.Minute), true},
		} {
			fresh, err := step.s.UseSAMLAssertion(ctx, step.conn, step.id, step.until)
			if err != nil || fresh != step.fresh {
				t.Fatalf("step %d: fresh=%v %v", i, fresh, err)
			}
		}
		// Inside a transaction a replay does not abort it (PostgreSQL).
		err := a.InTx(ctx, func(ctx context.Context) error {
			if fresh, err := a.UseSAMLAssertion(ctx, conn, "id-1", now); err != nil || fresh {
				return errors.New("replay accepted in a transaction")
			}
			_, err := a.SAMLSPKeys(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// An answer is kept once per flow, taken once; an expired one is pruned.
		flow, old := NewID(), NewID()
		if fresh, err := a.PutSAMLAnswer(ctx, flow, []byte("enc"), now.Add(time.Minute), "id"); err != nil || !fresh {
			t.Fatalf("answer: %v %v", fresh, err)
		}
		if fresh, err := b.PutSAMLAnswer(ctx, flow, []byte("other"), now.Add(time.Minute), "id"); err != nil || fresh {
			t.Fatalf("second answer: %v %v", fresh, err)
		}
		if _, err := a.PutSAMLAnswer(ctx, old, []byte("old"), now.Add(-time.Minute), "id"); err != nil {
			t.Fatal(err)
		}
		if got, err := b.TakeSAMLAnswer(ctx, flow); err != nil || string(got) != "enc" {
			t.Fatalf("take: %q %v", got, err)
		}
		if _, err := a.TakeSAMLAnswer(ctx, flow); !errors.Is(err, ErrNotFound) {
			t.Fatalf("taken twice: %v", err)
		}
		if n, err := b.PruneSAMLAssertions(ctx, now); err != nil || n != 2 {
			t.Fatalf("pruned %d, %v", n, err)
		}
		if fresh, _ := a.UseSAMLAssertion(ctx, conn, "id-1", now); fresh {
			t.Fatal("pruning removed a live ID")
		}
	})
}

// AcceptSAMLAnswer is UseSAMLAssertion then, for a fresh ID only, PutSAMLAnswer, on any replica;
// its answer is taken once.
func TestAcceptSAMLAnswer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		a, b := openTestStore(t, dbURL, allMigrations), openTestStore(t, dbURL, allMigrations)
		conn, flow, flow2, flow3 := NewID(), NewID(), NewID(), NewID()
		until := time.Now().UTC().Add(time.Minute)
		answer := func(id string, flow [16]byte, enc string) SAMLAnswer {
			return SAMLAnswer{ConnectionID: conn, AssertionID: id, AssertionExpires: until, FlowID: flow,
				IdentityEnc: []byte(enc), AnswerExpires: until}
		}
		for i, step := range []struct {
			s                      *Store
			a                      SAMLAnswer
			assertionFresh, stored bool
		}{
			{a, answer("id-1", flow, "one"), true, true},
			{b, answer("id-1", flow2, "replay"), false, false}, // replayed assertion: no answer kept
			{b, answer("id-2", flow, "second"), true, false},   // a second answer to one flow
			{a, answer("id-3", flow3, "three"), true, true},
		} {
			fresh, stored, err := step.s.AcceptSAMLAnswer(ctx, step.a)
			if err != nil || fresh != step.assertionFresh || stored != step.stored {
				t.Fatalf("step %d: fresh=%v stored=%v %v", i, fresh, stored, err)
			}
		}
		for f, want := range map[[16]byte]string{flow: "one", flow3: "three"} {
			if got, err := b.TakeSAMLAnswer(ctx, f); err != nil || string(got) != want {
				t.Fatalf("take: %q %v, want %q", got, err, want)
			}
		}
		if _, err := a.TakeSAMLAnswer(ctx, flow2); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a replay's answer was kept: %v", err)
		}
		if fresh, _ := a.UseSAMLAssertion(ctx, conn, "id-2", until); fresh {
			t.Fatal("the assertion of a refused second answer was not recorded")
		}
	})
}

// Rotation: next → current → previous, in one transaction each step.
func TestSAMLSPKeyRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, allMigrations)
		key := func(id string, cert byte) *models.SAMLSPKey {
			return &models.SAMLSPKey{ID: id, PrivateKeyEnc: []byte{1}, Certificate: []byte{cert}, CreatedAt: time.Now()}
		}
		roles := func() map[string]byte {
			ks, err := s.SAMLSPKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]byte{}
			for _, k := range ks {
				m[k.ID] = k.Certificate[0]
			}
			return m
		}
		if err := s.PromoteSAMLSPKey(ctx); !errors.Is(err, ErrNotFound) {
			t.Fatalf("promote without next: %v", err)
		}
		for _, k := range []*models.SAMLSPKey{key(models.SPKeyCurrent, 1), key(models.SPKeyNext, 2)} {
			if err := s.Create(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Create(ctx, key(models.SPKeyNext, 3)); !IsAlreadyExists(err, "id") {
			t.Fatalf("second next key: %v", err)
		}
		if err := s.PromoteSAMLSPKey(ctx); err != nil {
			t.Fatal(err)
		}
		if r := roles(); len(r) != 2 || r[models.SPKeyCurrent] != 2 || r[models.SPKeyPrevious] != 1 {
			t.Fatalf("after promotion: %v", r)
		}
		if err := s.DeleteSAMLSPKey(ctx, models.SPKeyPrevious); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSAMLSPKey(ctx, models.SPKeyPrevious); !errors.Is(err, ErrNotFound) {
			t.Fatalf("retire twice: %v", err)
		}
		if r := roles(); len(r) != 1 || r[models.SPKeyCurrent] != 2 {
			t.Fatalf("after retirement: %v", r)
		}
	})
}

// SAMLFlow (one query) answers what FlowByUpstreamState then Connection (the plain path)
// answer: the same rows; nothing when the flow is unknown or its connection deleted, or the
// connection is another workspace's.
func TestSAMLFlowIsThePlainReads(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dbURL string) {
		ctx := context.Background()
		s := openTestStore(t, dbURL, allMigrations)
		now := time.Now().UTC().Truncate(time.Millisecond)
		ws, other := &models.Workspace{ID: NewID(), Name: "W", CreatedAt: now}, &models.Workspace{ID: NewID(), Name: "O", CreatedAt: now}
		for _, w := range []*models.Workspace{ws, other} {
			if err := s.Create(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		conn := func(w *models.Workspace, slug string) *models.Connection {
			c := &models.Connection{ID: NewID(), WorkspaceID: w.ID, Name: slug, NameKey: slug, Slug: slug, Protocol: models.ProtocolSAML,
				Status: models.StatusActive, SAMLEntityID: "https://idp/" + slug, SAMLSSOURL: "https://idp/sso", SAMLCertificate: "PEM",
				SAMLSignRequests: true, SAMLAttributeMapping: `{"email":"mail"}`, JITProvisioning: true, Version: 3, CreatedAt: now, UpdatedAt: now}
			if err := s.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		live, deleted, elsewhere := conn(ws, "live"), conn(ws, "deleted"), conn(other, "elsewhere")
		if err := s.DeleteConnection(ctx, deleted); err != nil {
			t.Fatal(err)
		}
		claimed := now.Add(-time.Second)
		for i, c := range []struct {
			state   string
			conn    *models.Connection
			claimed *time.Time
		}{{"s-live", live, nil}, {"s-claimed", live, &claimed}, {"s-deleted", deleted, nil}, {"s-elsewhere", elsewhere, nil}} {
			f := &models.SignInFlow{ID: NewID(), WorkspaceID: ws.ID, ApplicationID: NewID(), BrandID: NewID(), ConnectionID: c.conn.ID,
				BrowserHash: "b", ClientID: "c", RedirectURI: "https://app/cb", Scope: "openid", State: "st", Nonce: "n",
				UpstreamStateHash: c.state, UpstreamNonce: "un", UpstreamVerifierEnc: []byte{byte(i)}, UpstreamRequestID: "_r",
				RequestID: "req", ClaimedAt: c.claimed, ExpiresAt: now.Add(time.Minute), CreatedAt: now}
			if err := s.CreateFlow(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		for _, state := range []string{"s-live", "s-claimed", "s-deleted", "s-elsewhere", "unknown"} {
			f, c, err := s.SAMLFlow(ctx, state)
			pf, perr := s.FlowByUpstreamState(ctx, state)
			var pc *models.Connection
			if perr == nil {
				pc, perr = s.Connection(ctx, pf.WorkspaceID, pf.ConnectionID)
			}
			if errors.Is(perr, ErrNotFound) {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s: one query found %v %v, the plain reads nothing", state, f, c)
				}
				continue
			}
			if err != nil || perr != nil {
				t.Fatalf("%s: %v / plain %v", state, err, perr)
			}
			if !reflect.DeepEqual(f, pf) || !reflect.DeepEqual(c, pc) {
				t.Fatalf("%s:\n%+v\n%+v\nplain:\n%+v\n%+v", state, f, c, pf, pc)
			}
		}
	})
}
