// Package reqinfo is the per-request record that the access log reads and the inner layers
// fill in. It depends on nothing but the standard library and uuid, so that every layer,
// the service layer included, can write to it.
package reqinfo

import (
	"context"

	"github.com/google/uuid"
)

// Record is what the access log says about one request beyond its HTTP line. Authentication
// and GraphQL parsing happen inside the handlers, after the logging middleware has passed the
// request on, so the middleware puts an empty Record in the context and the inner code fills
// it in. Only the request's own goroutine writes it, before the handler returns.
type Record struct {
	// ClientID is the authenticated caller: an integration client's id, or a SCIM token's id.
	ClientID    string
	WorkspaceID uuid.UUID
	// Operation is the GraphQL operation name ("(anonymous)" when it has none).
	Operation string
}

type recordKey struct{}

// With returns a context carrying rec.
func With(ctx context.Context, rec *Record) context.Context {
	return context.WithValue(ctx, recordKey{}, rec)
}

// From returns the record carried by ctx, or nil (outside an HTTP request).
func From(ctx context.Context) *Record {
	rec, _ := ctx.Value(recordKey{}).(*Record)
	return rec
}

// SetCaller records the authenticated caller. It is a no-op on a nil record.
func (r *Record) SetCaller(clientID string, workspace uuid.UUID) {
	if r != nil {
		r.ClientID, r.WorkspaceID = clientID, workspace
	}
}

// SetOperation records the GraphQL operation name. It is a no-op on a nil record.
func (r *Record) SetOperation(name string) {
	if r != nil {
		r.Operation = name
	}
}
