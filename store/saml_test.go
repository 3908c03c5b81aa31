package store

import (
	"context"
	"errors"
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
		if fresh, err := a.PutSAMLAnswer(ctx, flow, []byte("enc"), now.Add(time.Minute)); err != nil || !fresh {
			t.Fatalf("answer: %v %v", fresh, err)
		}
		if fresh, err := b.PutSAMLAnswer(ctx, flow, []byte("other"), now.Add(time.Minute)); err != nil || fresh {
			t.Fatalf("second answer: %v %v", fresh, err)
		}
		if _, err := a.PutSAMLAnswer(ctx, old, []byte("old"), now.Add(-time.Minute)); err != nil {
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
		if err := s.Create(ctx, key(models.SPKeyNext, 3)); !IsUnique(err, "saml_sp_keys_pkey") {
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
