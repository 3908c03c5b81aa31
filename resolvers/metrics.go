package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"gatehouse/telemetry"
	"gatehouse/telemetry/reqinfo"
)

// operationMetrics counts every GraphQL response by operation name and outcome (a response
// with top-level errors is an error, whatever its HTTP status) and names the operation in the
// request's access-log record.
type operationMetrics struct{ m *telemetry.Metrics }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = operationMetrics{}

func (operationMetrics) ExtensionName() string                   { return "OperationMetrics" }
func (operationMetrics) Validate(graphql.ExecutableSchema) error { return nil }

func (o operationMetrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	// Only a parsed operation's name is used: the request's operationName field is any string
	// the client sent, even when it names nothing in the document.
	name := telemetry.OperationInvalid
	if graphql.HasOperationContext(ctx) {
		if op := graphql.GetOperationContext(ctx).Operation; op != nil {
			name = op.Name
			if name == "" {
				name = telemetry.OperationAnonymous
			}
		}
	}
	o.m.GraphQLOperation(name, len(resp.Errors) > 0)
	if len(name) > telemetry.MaxOperationNameBytes {
		name = name[:telemetry.MaxOperationNameBytes] // GraphQL names are ASCII
	}
	reqinfo.From(ctx).SetOperation(name)
	return resp
}
