// Package resolvers is the GraphQL transport: each resolver authenticates (through the context
// the HTTP layer filled), decodes its input, makes one provision call and encodes the result.
// No business rule lives here. NewHandler builds the HTTP handler with the limits and the error
// presenter.
package resolvers

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/graph/model"
	"gatehouse/guard"
	"gatehouse/models"
	"gatehouse/provision"
)

// Resolver is the root resolver.
type Resolver struct {
	Svc *provision.Service
	Log *slog.Logger
}

// payloadErrors splits a provision error: user-fixable problems become payload errors (and a
// nil error); anything else is returned for the top-level error presenter.
func payloadErrors(err error) ([]*model.UserError, error) {
	if err == nil {
		return []*model.UserError{}, nil
	}
	ues := models.UserErrors(err)
	if ues == nil {
		return nil, err
	}
	return toUserErrors(ues), nil
}

func toUserErrors(es models.Errors) []*model.UserError {
	out := make([]*model.UserError, 0, len(es))
	for _, e := range es {
		ue := &model.UserError{Message: e.Message, Value: e.Value, Code: model.UserErrorCode(e.Code)}
		if !ue.Code.IsValid() {
			ue.Code = model.UserErrorCodeInvalid
		}
		if e.Field != "" {
			f := e.Field
			ue.Label = &f
		}
		out = append(out, ue)
	}
	return out
}

// presentError maps errors to GraphQL errors with extensions.code, hiding internals.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			operationChoice(ctx, gqlErr)
			return sentence(gqlErr) // parse and validation errors: safe, and useful to the caller
		}
		ge := graphql.DefaultErrorPresenter(ctx, err)
		code := models.ErrorCode(err)
		switch code {
		case models.EUNAUTHENTICATED, models.EFORBIDDEN:
			ge.Message = models.PublicMessage(err)
		case models.EINTERNAL:
			if msg, ok := argumentError(ctx, err); ok { // the caller's value, not a server fault
				code, ge.Message = models.EINVALID, msg
				break
			}
			log.ErrorContext(ctx, "graphql: internal error", "err", err, "path", ge.Path.String())
			ge.Message = "internal error"
		case models.EUNAVAILABLE: // the whole answer becomes a retryable 503
			log.WarnContext(ctx, "graphql: unavailable (the database, or no admission slot after a call out)", "err", err, "path", ge.Path.String())
			ge.Message = models.PublicMessage(err)
			guard.MarkUnavailable(ctx)
		default: // a user error outside a payload (e.g. a query argument): show it, naming its field
			ge.Message = models.FieldMessage(err)
		}
		if ge.Extensions == nil {
			ge.Extensions = map[string]any{}
		}
		ge.Extensions["code"] = code
		return ge
	}
}

// argumentError recognises gqlgen's refusal of an argument value that validation let through
// but its scalar could not read (a JSON scalar given a list or a string: gqlparser checks no
// custom scalar's value), and returns a sentence naming the argument, or input field, it is
// about. Such an error is on a path below the field, starting with one of its arguments; a
// resolver's own errors are on the field's path.
func argumentError(ctx context.Context, err error) (string, bool) {
	var ge *gqlerror.Error
	fc := graphql.GetFieldContext(ctx)
	if !errors.As(err, &ge) || ge.Err == nil || fc == nil || fc.Field.Field == nil {
		return "", false
	}
	at := len(fc.Path())
	if len(ge.Path) <= at {
		return "", false
	}
	arg, ok := ge.Path[at].(ast.PathName)
	if !ok || fc.Field.Arguments.ForName(string(arg)) == nil {
		return "", false
	}
	var names []string
	for _, el := range ge.Path[at:] {
		switch el := el.(type) {
		case ast.PathName:
			names = append(names, string(el))
		case ast.PathIndex:
			names = append(names, strconv.Itoa(int(el)))
		}
	}
	problem := "is not a value of its type"
	if strings.HasSuffix(ge.Err.Error(), "is not a map") { // graphql.UnmarshalMap, the JSON scalar's
		problem = "must be a JSON object"
	}
	return strings.Join(names, ".") + " " + problem, true
}

func optional(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
