package resolvers

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/models"
)

// Validation errors come from gqlparser, which phrases variable coercion in Go's terms
// ("cannot use bool as String"). sentence rewrites those into sentences naming the variable,
// leaving every other (already readable) message as it is. (Bodies gqlgen cannot decode never
// reach it: boundedBody refuses them without echoing them.)

// goKind matches gqlparser's variable coercion message, which names Go kinds.
var goKind = regexp.MustCompile(`^cannot use (\w+) as (\S+)$`)

var jsonKinds = map[string]string{"bool": "a JSON boolean", "map": "a JSON object", "slice": "a JSON array",
	"string": "a JSON string", "float64": "a JSON number", "int": "a JSON number", "int64": "a JSON number",
	"Number": "a JSON number"}

func sentence(e *gqlerror.Error) *gqlerror.Error {
	switch {
	case goKind.MatchString(e.Message):
		m := goKind.FindStringSubmatch(e.Message)
		got, ok := jsonKinds[m[1]]
		if !ok {
			got = "a value of another type"
		}
		e.Message = variable(e) + "must be a " + m[2] + ", not " + got
	case e.Message == "unknown field" && strings.HasPrefix(e.Path.String(), "variable."):
		e.Message = variable(e) + "is not a field of its input type"
	}
	return e
}

// variable names the variable (and field) an error's path points at: "variable $in.name ".
func variable(e *gqlerror.Error) string {
	if p, ok := strings.CutPrefix(e.Path.String(), "variable."); ok {
		return "variable $" + p + " "
	}
	return ""
}

// operationChoice rewrites gqlgen's "operation X not found", which reads "operation  not
// found" when a document of several operations comes without "operationName" (GraphiQL asks
// which to run; curl does not), into a sentence that says what to send, naming the document's
// operations.
func operationChoice(ctx context.Context, e *gqlerror.Error) {
	if !strings.HasPrefix(e.Message, "operation ") || !strings.HasSuffix(e.Message, " not found") || !graphql.HasOperationContext(ctx) {
		return
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Doc == nil || oc.Operation != nil {
		return
	}
	var names []string
	for _, op := range oc.Doc.Operations {
		if len(names) == 5 {
			names = append(names, "…")
			break
		}
		if op.Name == "" {
			names = append(names, "an unnamed one")
		} else {
			names = append(names, op.Name)
		}
	}
	switch {
	case len(names) == 0:
		e.Message = "the document has no operation to run"
	case oc.OperationName == "":
		e.Message = fmt.Sprintf(`the document has %d operations (%s): name the one to run in the request's "operationName"`,
			len(oc.Doc.Operations), strings.Join(names, ", "))
	default:
		e.Message = fmt.Sprintf(`the document has no operation named %q (operationName): it has %s`,
			models.Clip(oc.OperationName, 128), strings.Join(names, ", "))
	}
}
