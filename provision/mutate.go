package provision

import (
	"context"
	"errors"
	"reflect"
	"slices"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// staleAttempts bounds how often transact runs a write that keeps losing a versioned update
// (store.ErrStale) to concurrent writers: the first run and two retries. A run loses only to
// another writer's commit, so k writers racing for one object all succeed when k <= staleAttempts.
const staleAttempts = 3

// mutation is one write as transact runs it: the access it needs, what its audit event
// records, and how its failures read to the caller.
type mutation struct {
	access access
	action string // the audit event's action, e.g. "brand.update"
	target string // the audit event's target type, e.g. "brand"
	op     string // names the change in internal errors (logs), e.g. "save brand"
	// stale is the caller's error when a versioned update lost a race (store.ErrStale) on
	// every attempt; nil leaves it internal. changedConcurrently builds the usual one.
	stale func() error
	// pinned: the write's version is the caller's own precondition (a version it tested, or
	// an If-Match version a client sent), so a lost race is answered at once, never retried.
	pinned bool
	// taken is the caller's error for a uniqueness violation on field (store.ErrAlreadyExists);
	// nil, or a nil result, leaves it internal.
	taken func(field string) error
	// fail, when set, maps every error instead of stale, taken and op: a surface with its own
	// error vocabulary (SCIM users, userWriteError).
	fail func(err error) error
	// again, when set, also runs the transaction again (within staleAttempts runs) for errors
	// it accepts: a write that decides from reads a concurrent writer can overtake (bulk
	// binding, on a unique index).
	again func(err error) bool
}

// changesRouting reports whether the mutation writes what browser sign-in routes by: a
// connection (status, slug, deletion) or a domain (verification, removal).
func (m mutation) changesRouting() bool { return m.target == "connection" || m.target == "domain" }

// audited is what a change's audit event records about its target.
type audited struct {
	id      string
	summary map[string]any
	// workspace, when set, is the workspace the event belongs to instead of the caller's (a
	// platform admin acting on another workspace).
	workspace uuid.UUID
	// unchanged: the write found nothing to change (e.g. a token revoked already), so there
	// is no event.
	unchanged bool
}

// edit applies change to row, a row a write has loaded (a models struct), and reports whether
// it changed a stored field. A write that changes nothing is answered with the row as it is,
// with no write and no audit event (audited.unchanged): a save would move the row's version
// (a SCIM ETag, the optimistic concurrency token a client holds) and updatedAt, and record a
// change that was none, e.g. an update to the values an object has already, or deactivating
// an inactive one. A change with an effect of its own (a new secret, a test re-run) changes a
// field, so it is saved and recorded as before.
//
// The row is copied deeply before change runs, so a change that writes through a slice, map
// or pointer field (appending in place, setting a map key) is seen as one, never taken for no
// change and lost.
//
// names are the API names of the settings that changed (changedFields), sorted: what the
// update's audit event lists as "changed".
func edit[T any](row *T, change func(*T) error) (changed bool, names []string, err error) {
	before := deepCopy(reflect.ValueOf(*row))
	if err := change(row); err != nil {
		return false, nil, err
	}
	after := reflect.ValueOf(*row)
	return !sameRow(before, after), changedFields(before, after), nil
}

// changedFields lists the API names of the stored fields that differ between two values of one
// models struct type, sorted and without repeats. A stored field's API name is its api tag, as
// GraphQL and REST spell the setting (e.g. api:"samlConfig.ssoUrl"); api:"-" marks a field
// that is no setting an admin changes (the ID, version, timestamps, a derived lookup key, a
// report the server writes). The tag is the one place the mapping is decided:
// TestEditedRowsNameEveryField fails for a stored field of an edited row type without one, and
// such a field, were it missed, is listed by its Go name rather than left out.
func changedFields(a, b reflect.Value) []string {
	names := []string{} // [] in an event, not null, when only internal fields changed
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Tag.Get("gorm") == "-" ||
			reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			continue
		}
		name, tagged := f.Tag.Lookup("api")
		switch {
		case name == "-":
			continue
		case !tagged || name == "":
			name = f.Name
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// deepCopy copies v with the values its pointers, slices and maps refer to, so that nothing
// written through the original shows in the copy. Unexported fields (time.Time's) are copied as
// they are: their types are values Gatehouse does not write through.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Elem().Type())
		out.Elem().Set(deepCopy(v.Elem()))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(deepCopy(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return out
	}
	return v
}

// sameRow compares two values of one models struct type by the fields the store writes:
// fields GORM does not store (gorm:"-", e.g. a connection's loaded domains) are not the row's.
func sameRow(a, b reflect.Value) bool {
	t := a.Type()
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && f.Tag.Get("gorm") != "-" &&
			!reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			return false
		}
	}
	return true
}

// mutate is the script every administrative write follows: authorize the caller for m.access,
// then mutateAs.
func (s *Service) mutate(ctx context.Context, m mutation, write func(ctx context.Context, p *Principal) (audited, error)) error {
	p, err := s.authorize(ctx, m.access)
	if err != nil {
		return err
	}
	return s.mutateAs(ctx, p, m, write)
}

// mutateAs is mutate for a caller p authorized already (e.g. a create that validates its
// input before the transaction, so that invalid input takes no write lock): transact with the
// audit event as the record step. write loads, validates, saves, and says what to audit; the
// event is written in its transaction.
func (s *Service) mutateAs(ctx context.Context, p *Principal, m mutation, write func(ctx context.Context, p *Principal) (audited, error)) error {
	if m.changesRouting() {
		// Browser sign-in routes through a short-lived cache of connections (routeConnection).
		// This replica forgets it once the change is committed, so that a connection an admin
		// deactivated, deleted or moved off a domain stops routing here at once; other
		// replicas follow within the cache's TTL, and the decision re-reads the connection
		// anyway.
		defer s.connections.clear()
	}
	return s.transact(ctx, m, func(ctx context.Context) error {
		a, err := write(ctx, p)
		if err != nil || a.unchanged {
			return err
		}
		actor := p
		if a.workspace != uuid.Nil && a.workspace != p.WorkspaceID {
			other := *p
			other.WorkspaceID = a.workspace
			actor = &other
		}
		return s.audit(ctx, actor, m.action, m.target, a.id, a.summary)
	})
}

// transact is the core every write shares, whatever it records (mutateAs: an audit event;
// scimWrite: a SCIM activity row; none: bulk binding, which writes its items' audit events
// with its rows, and a sign-in dry run): run write in one transaction, and map the
// transaction's error to the caller's (m.failure). Errors write returns that are the
// caller's already (models errors) pass through unchanged.
//
// A transaction that lost a versioned update (store.ErrStale: the object changed between
// write's read and its save) is run again from the start, up to staleAttempts runs in all:
// write reads fresh state each time, so its checks and its record see what it saves, and
// everything it captured is set again by the last run. Only then is the loss the caller's
// (m.stale). A pinned mutation is never run again: its version is the caller's precondition,
// which a retry could only turn into a success the caller did not ask for. A transaction
// PostgreSQL aborted as a deadlock's victim (store.Aborted) is run again too, pinned or not:
// nothing of it was kept, and its rerun checks the precondition again.
//
// transact is called outside any transaction (a retry inside an outer one would repeat the
// writes of its failed run).
func (s *Service) transact(ctx context.Context, m mutation, write func(ctx context.Context) error) error {
	err := s.store.InTx(ctx, write)
	for attempt := 1; attempt < staleAttempts && m.retries(err); attempt++ {
		err = s.store.InTx(ctx, write)
	}
	return m.failure(err)
}

// retries reports whether a transaction that failed with err runs again (see transact).
func (m *mutation) retries(err error) bool {
	switch {
	case err == nil:
		return false
	case m.again != nil && m.again(err):
		return true
	case store.Aborted(err):
		// PostgreSQL chose this transaction as a deadlock's victim and rolled it back: run
		// it again, pinned or not (its precondition is checked again with the rest).
		return true
	}
	return !m.pinned && errors.Is(err, store.ErrStale)
}

// scimWrite is transact for a SCIM write: its record step is the activity row write returns,
// written in its transaction (SCIM writes record no audit event; the SCIM activity log is
// theirs). The caller authorized the SCIM token (authorizeSCIM) already.
func (s *Service) scimWrite(ctx context.Context, m mutation, write func(ctx context.Context) (*models.SCIMActivity, error)) error {
	return s.transact(ctx, m, func(ctx context.Context) error {
		act, err := write(ctx)
		if err != nil {
			return err
		}
		return s.store.Create(ctx, act)
	})
}

// failure maps the error of a mutation's transaction to the caller's.
func (m *mutation) failure(err error) error {
	var exists *store.ErrAlreadyExists
	switch {
	case err == nil:
		return nil
	case m.fail != nil:
		return m.fail(err)
	case m.stale != nil && errors.Is(err, store.ErrStale):
		return m.stale()
	case m.taken != nil && errors.As(err, &exists):
		if e := m.taken(exists.Field); e != nil {
			return e
		}
	}
	return internal(m.op, err)
}

// changedConcurrently is the usual stale error: the object was changed by someone else since
// it was read (on every attempt).
func changedConcurrently(object string) func() error {
	return func() error {
		return models.Errorf(models.ECONFLICT, "the %s was changed concurrently; retry", object)
	}
}
