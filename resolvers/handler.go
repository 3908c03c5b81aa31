package resolvers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/graph"
	"gatehouse/graph/model"
	"gatehouse/models"
	"gatehouse/provision"
	"gatehouse/telemetry"
)

// Limits on one GraphQL request. The complexity limit leaves room for IdP scripts that send a
// few hundred aliased binding mutations in one request.
const (
	MaxComplexity  = 20000
	MaxDepth       = 15 // GraphiQL's introspection query is 13 deep
	MaxBodyBytes   = 4 << 20
	MaxParseTokens = 200000
)

// NewHandler returns the GraphQL API handler (POST only). Authentication happens before it: the
// request context must carry a provision.Principal. Operations are counted into m (nil: not
// counted).
func NewHandler(svc *provision.Service, log *slog.Logger, m *telemetry.Metrics) http.Handler {
	cfg := graph.Config{Resolvers: &Resolver{Svc: svc, Log: log}}
	// Lists cost their page size times their children, so that complexity tracks the rows a
	// query can return.
	cfg.Complexity.Query.UserAccounts = func(child int, _ *model.UserAccountFilter, first *int, _ *string) int {
		return 1 + pageSize(first)*child
	}
	cfg.Complexity.Query.AuditEvents = func(child int, first *int, _ *string) int {
		return 1 + pageSize(first)*child
	}
	// Every other paged list alike: a page of 100 brands costs what 100 user accounts do.
	cfg.Complexity.Query.Workspaces = func(child int, first *int, _ *string) int { return 1 + pageSize(first)*child }
	cfg.Complexity.Query.Brands = func(child int, first *int, _ *string) int { return 1 + pageSize(first)*child }
	cfg.Complexity.Query.Companies = func(child int, first *int, _ *string) int { return 1 + pageSize(first)*child }
	cfg.Complexity.Query.Accounts = func(child int, _ *string, _ *models.AccountType, first *int, _ *string) int {
		return 1 + pageSize(first)*child
	}
	cfg.Complexity.Query.SCIMTokens = func(child int, _ *model.SCIMTokenStatus, _ *string, _, size *int) int {
		return 1 + pageSize(size)*child
	}
	cfg.Complexity.Query.SCIMActivities = func(child int, _ *model.SCIMActivityFilter, _, size *int) int {
		return 1 + pageSize(size)*child
	}
	cfg.Complexity.Query.SignInEvents = func(child int, _, _ *string, _ *model.SignInOutcome, _, size *int) int {
		return 1 + pageSize(size)*child
	}
	srv := handler.New(graph.NewExecutableSchema(cfg))
	srv.AddTransport(transport.POST{})
	srv.SetParserTokenLimit(MaxParseTokens)
	srv.SetQueryCache(newShapeCache(svc.Caches(), queryCacheEntries, queryCacheBytes, queryCacheEntryBytes, MaxParseTokens))
	srv.Use(extension.Introspection{})
	srv.Use(extension.FixedComplexityLimit(MaxComplexity))
	srv.Use(depthLimit{max: MaxDepth})
	srv.Use(overlapLimit{max: MaxOverlapCost})
	srv.Use(operationMetrics{m})
	srv.SetErrorPresenter(presentError(log))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "graphql: panic", "panic", fmt.Sprint(v))
		return fmt.Errorf("internal error")
	})
	return boundedBody(srv, MaxBodyBytes)
}

// Bounds of the parsed-document cache (see shapeCache). Its memory is estimated from each
// document's tokens; one entry may hold a few hundred aliased mutations of the same shape.
const (
	queryCacheEntries    = 1000
	queryCacheBytes      = 16 << 20
	queryCacheEntryBytes = 2 << 20
)

// maxCachedQueryBytes bounds the queries cached by their exact text (those the shape cache
// can't normalise, such as documents with comments), as before.
const maxCachedQueryBytes = 4 << 10

// pageSize is the number of rows a list field returns for its first argument (provision
// clamps it the same way, with models.ListPage).
func pageSize(first *int) int {
	n := 0
	if first != nil {
		n = *first
	}
	_, n = models.ListPage(1, n)
	return n
}

// depthLimit refuses operations nested deeper than max selection levels.
type depthLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Operation.SelectionSet, 0); depth > d.max {
		err := gqlerror.Errorf("operation is nested %d levels deep; the limit is %d", depth, d.max)
		err.Extensions = map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"}
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, depth int) int {
	if depth > 64 { // fragments can't cycle after validation, but stay safe
		return depth
	}
	max := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				d = depth + 1
			} else {
				d = selectionDepth(s.SelectionSet, depth+1)
			}
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, depth)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				d = selectionDepth(s.Definition.SelectionSet, depth)
			}
		}
		if d > max {
			max = d
		}
	}
	return max
}

// Authenticator verifies a request's credentials. A refusal is a models.Error with code
// UNAUTHENTICATED; any other error is a server fault.
type Authenticator func(r *http.Request) (*provision.Principal, error)

// RequireAuth puts the authenticated caller in the request context, or answers 401 with a
// GraphQL-shaped error body.
func RequireAuth(auth Authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := auth(r)
		if err != nil {
			status, code, msg := http.StatusUnauthorized, models.EUNAUTHENTICATED, models.PublicMessage(err)
			switch models.ErrorCode(err) {
			case models.EUNAUTHENTICATED:
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
			case models.EUNAVAILABLE:
				log.WarnContext(r.Context(), "graphql: authenticate: database unavailable", "err", err)
				status, code = http.StatusServiceUnavailable, models.EUNAVAILABLE
			default:
				log.ErrorContext(r.Context(), "graphql: authenticate", "err", err)
				status, code, msg = http.StatusInternalServerError, models.EINTERNAL, "internal error"
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
				"message": msg, "extensions": map[string]any{"code": code}}}})
			return
		}
		next.ServeHTTP(w, r.WithContext(provision.WithPrincipal(r.Context(), p)))
	})
}
