package resolvers

import (
	"regexp"
	"strings"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Parse, validation and transport errors come from gqlgen and gqlparser, which phrase some of
// them in Go's terms or echo the request. sentence rewrites those few into sentences for the
// caller, leaving every other (already readable) message as it is.

// bodyNotDecoded begins gqlgen's message for a body that is not a JSON GraphQL request; the
// message goes on with Go's decoding error and the whole body, which must not be echoed.
const bodyNotDecoded = "json request body could not be decoded"

// goKind matches gqlparser's variable coercion message, which names Go kinds.
var goKind = regexp.MustCompile(`^cannot use (\w+) as (\S+)$`)

var jsonKinds = map[string]string{"bool": "a JSON boolean", "map": "a JSON object", "slice": "a JSON array",
	"string": "a JSON string", "float64": "a JSON number", "int": "a JSON number", "int64": "a JSON number",
	"Number": "a JSON number"}

func sentence(e *gqlerror.Error) *gqlerror.Error {
	switch {
	case strings.HasPrefix(e.Message, bodyNotDecoded):
		e.Message = "the request body is not a GraphQL request: send a JSON object with query (a string) and optionally variables (an object) and operationName (a string)"
		if e.Extensions == nil {
			e.Extensions = map[string]any{}
		}
		e.Extensions["code"] = "BAD_REQUEST"
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
