package provision

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"gatehouse/models"
	"gatehouse/store"
)

// mutation is one administrative change as mutate runs it: the access it needs, what its audit
// event records, and how its failures read to the caller.
type mutation struct {
	access access
	action string // the audit event's action, e.g. "brand.update"
	target string // the audit event's target type, e.g. "brand"
	op     string // names the change in internal errors (logs), e.g. "save brand"
	// stale is the caller's error when a versioned update lost a race (store.ErrStale); nil
	// leaves it internal. changedConcurrently builds the usual one.
	stale func() error
	// taken is the caller's error for a uniqueness violation on field (store.ErrAlreadyExists);
	// nil, or a nil result, leaves it internal.
	taken func(field string) error
}

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

// mutate is the script every administrative write follows: authorize the caller for m.access;
// in one transaction, write (which loads, validates, saves, and says what to audit) and record
// the audit event; then map store errors to the caller's. Errors write returns that are the
// caller's already (models errors) pass through unchanged.
func (s *Service) mutate(ctx context.Context, m mutation, write func(ctx context.Context, p *Principal) (audited, error)) error {
	p, err := s.authorize(ctx, m.access)
	if err != nil {
		return err
	}
	return s.mutateAs(ctx, p, m, write)
}

// mutateAs is mutate for a caller p authorized already: a create that validates its input
// before the transaction, so that invalid input takes no write lock.
func (s *Service) mutateAs(ctx context.Context, p *Principal, m mutation, write func(ctx context.Context, p *Principal) (audited, error)) error {
	err := s.store.InTx(ctx, func(ctx context.Context) error {
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
	return m.failure(err)
}

// failure maps the error of a mutation's transaction to the caller's.
func (m *mutation) failure(err error) error {
	var exists *store.ErrAlreadyExists
	switch {
	case err == nil:
		return nil
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
// it was read.
func changedConcurrently(object string) func() error {
	return func() error {
		return models.Errorf(models.ECONFLICT, "the %s was changed concurrently; retry", object)
	}
}
