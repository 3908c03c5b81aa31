package resolvers

import (
	"regexp"
	"strings"

	"github.com/vektah/gqlparser/v2/gqlerror"
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
