package provision

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"gatehouse/models"
	"gatehouse/store"
	"gatehouse/store/storetest"
)

// A mutation's failure reads to the caller as its stale and taken errors say; a models error
// passes through; anything else is internal, with the cause kept for the log.
func TestMutationFailure(t *testing.T) {
	m := mutation{op: "save thing", stale: changedConcurrently("thing"),
		taken: func(field string) error {
			if field == "name" {
				return models.FieldError(models.ETAKEN, "name", "x", "taken")
			}
			return nil
		}}
	stale := fmt.Errorf("wrapped: %w", store.ErrStale)
	invalid := models.FieldError(models.EINVALID, "name", "", "is required")
	other := errors.New("boom")
	for _, tc := range []struct {
		err  error
		code string
		msg  string
	}{
		{stale, models.ECONFLICT, "the thing was changed concurrently; retry"},
		{&store.ErrAlreadyExists{Field: "name"}, models.ETAKEN, "taken"},
		{&store.ErrAlreadyExists{Field: "slug"}, models.EINTERNAL, ""},
		{invalid, models.EINVALID, "is required"},
		{other, models.EINTERNAL, ""},
	} {
		got := m.failure(tc.err)
		if models.ErrorCode(got) != tc.code {
			t.Errorf("%v: code %s, want %s", tc.err, models.ErrorCode(got), tc.code)
		}
		var me *models.Error
		if tc.msg != "" && (!errors.As(got, &me) || me.Message != tc.msg) {
			t.Errorf("%v: %v, want message %q", tc.err, got, tc.msg)
		}
		if tc.code == models.EINTERNAL && !errors.Is(got, tc.err) {
			t.Errorf("%v: cause lost: %v", tc.err, got)
		}
	}
	if m.failure(nil) != nil {
		t.Error("no error became one")
	}
	if got := (&mutation{stale: m.stale, fail: func(err error) error { return other }}).failure(stale); got != other {
		t.Errorf("fail did not map the error: %v", got)
	}
	if (&mutation{}).failure(stale) == nil || models.ErrorCode((&mutation{}).failure(stale)) != models.EINTERNAL {
		t.Error("ErrStale without a stale error is not internal")
	}
}

// transact runs a write that lost a versioned update again, from the start, up to
// staleAttempts runs in all; a failed run leaves nothing (its audit event included); a
// pinned mutation is never run again.
func TestTransactRetriesStale(t *testing.T) {
	e := newTestEnv(t, storetest.URL(t, "sqlite"))
	m := mutation{access: accessWrite, action: "thing.update", target: "thing", op: "save thing", stale: changedConcurrently("thing")}
	// write fails stale on its first failures runs, after writing an audit event of its own
	// (which the rollback must take back).
	run := func(m mutation, failures int) (runs int, events int, err error) {
		before := e.count("audit_events")
		err = e.s.mutate(e.ctx, m, func(ctx context.Context, p *Principal) (audited, error) {
			runs++
			if runs <= failures {
				if err := e.s.audit(ctx, p, "thing.lost", "thing", "t1", nil); err != nil {
					return audited{}, err
				}
				return audited{}, fmt.Errorf("save thing: %w", store.ErrStale)
			}
			return audited{id: "t1"}, nil
		})
		return runs, e.count("audit_events") - before, err
	}
	conflict := func(t *testing.T, err error) {
		t.Helper()
		if models.ErrorCode(err) != models.ECONFLICT || models.PublicMessage(err) != "the thing was changed concurrently; retry" {
			t.Fatalf("error %v, want the stale error", err)
		}
	}

	t.Run("stale once", func(t *testing.T) {
		runs, events, err := run(m, 1)
		if err != nil || runs != 2 || events != 1 {
			t.Fatalf("runs %d, events %d, err %v; want 2 runs, 1 event, success", runs, events, err)
		}
		if ev, _ := e.lastAudit(); ev.Action != "thing.update" {
			t.Fatalf("event %q, want thing.update", ev.Action)
		}
	})
	t.Run("stale on the last attempt", func(t *testing.T) {
		if runs, events, err := run(m, staleAttempts-1); err != nil || runs != staleAttempts || events != 1 {
			t.Fatalf("runs %d, events %d, err %v; want %d runs, 1 event, success", runs, events, err, staleAttempts)
		}
	})
	t.Run("stale always", func(t *testing.T) {
		runs, events, err := run(m, 1000)
		conflict(t, err)
		if runs != staleAttempts || events != 0 {
			t.Fatalf("runs %d, events %d; want %d runs, no event", runs, events, staleAttempts)
		}
	})
	t.Run("pinned", func(t *testing.T) {
		pinned := m
		pinned.pinned = true
		runs, events, err := run(pinned, 1)
		conflict(t, err)
		if runs != 1 || events != 0 {
			t.Fatalf("runs %d, events %d; want 1 run, no event", runs, events)
		}
	})
	t.Run("other errors", func(t *testing.T) {
		runs := 0
		err := e.s.mutate(e.ctx, m, func(ctx context.Context, p *Principal) (audited, error) {
			runs++
			return audited{}, &store.ErrAlreadyExists{Field: "name"}
		})
		if runs != 1 || models.ErrorCode(err) != models.EINTERNAL {
			t.Fatalf("runs %d, err %v; want 1 run, internal", runs, err)
		}
	})
	t.Run("again", func(t *testing.T) {
		again := mutation{op: "bind", again: func(err error) bool { return store.IsAlreadyExists(err, "identity") }}
		runs := 0
		err := e.s.transact(e.ctx, again, func(ctx context.Context) error {
			if runs++; runs < staleAttempts+1 {
				return &store.ErrAlreadyExists{Field: "identity"}
			}
			return nil
		})
		if runs != staleAttempts || !store.IsAlreadyExists(err, "identity") {
			t.Fatalf("runs %d, err %v; want %d runs and the clash", runs, err, staleAttempts)
		}
	})
}
