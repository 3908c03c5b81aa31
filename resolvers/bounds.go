package resolvers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"

	"gatehouse/models"
)

// MaxOverlapCost bounds the work of validating that same-named fields can be merged, which
// compares every pair of fields sharing a response name at one place in the result: the
// cost is the sum over those places of the count squared. 50,000 `__typename` in one
// selection cost 2.5e9 and took 81 s to validate; 500 cost 250,000 and take about 60 ms; the
// limit (316 repeats) keeps validation to about 20 ms. 500 aliased binding mutations cost 4,000.
const MaxOverlapCost = 100_000

// codeTooComplex is the error code of a document refused by overlapLimit; like a validation
// failure, it answers 422.
const codeTooComplex = "DOCUMENT_TOO_COMPLEX"

func init() { errcode.RegisterErrorType(codeTooComplex, errcode.KindProtocol) }

// boundedBody reads the request body before gqlgen does: over max bytes answers 413, a body
// gqlgen could not decode answers 400; neither echoes the body back (gqlgen's message would).
func boundedBody(next http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := bodyBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		defer func() {
			if buf.Cap() <= 64<<10 { // keep small buffers only
				bodyBuffers.Put(buf)
			}
		}()
		_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, max))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeRequestError(w, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE",
				fmt.Sprintf("the request body is larger than the limit of %d KiB", max>>10))
			return
		case err != nil:
			writeRequestError(w, http.StatusBadRequest, "BAD_REQUEST", "the request body could not be read")
			return
		case !wellShaped(buf.Bytes()):
			writeRequestError(w, http.StatusBadRequest, "BAD_REQUEST",
				`the request body must be a JSON object with a string "query" and optional "operationName" (string), "variables" and "extensions" (objects)`)
			return
		}
		if err := bodyText(buf.Bytes()); err != nil {
			writeRequestError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
		next.ServeHTTP(w, r)
	})
}

// bodyText is models.CheckBodyText for a GraphQL request: the body, then the query's own
// string literals, whose escapes ("\uD800" in GraphQL) the body's JSON escapes once more
// ("\\uD800"), so that the body's check skips them as text. gqlparser decodes an unpaired
// surrogate to U+FFFD as encoding/json does. (A block string, whose escapes are text, is
// judged as a string: a literal "\uD800" in one is refused too.)
func bodyText(body []byte) error {
	if err := models.CheckBodyText(body); err != nil {
		return err
	}
	if !bytes.Contains(body, []byte(`\\u`)) { // no escape in the query (or anywhere)
		return nil
	}
	var p struct{ Query string }
	if json.Unmarshal(body, &p) == nil && models.UnpairedSurrogateEscape([]byte(p.Query)) {
		return models.ErrBodyUnpairedSurrogate
	}
	return nil
}

// wellShaped reports whether body is a JSON object that gqlgen's transport decodes without
// error: gqlgen's own error message would quote the whole body back.
func wellShaped(body []byte) bool {
	var p struct {
		Query, OperationName, Variables, Extensions json.RawMessage
	}
	if json.Unmarshal(body, &p) != nil {
		return false
	}
	return is(p.Query, '"') && is(p.OperationName, '"') && is(p.Variables, '{') && is(p.Extensions, '{')
}

// is reports whether a JSON value is absent, null, or starts with c.
func is(v json.RawMessage, c byte) bool {
	return len(v) == 0 || v[0] == c || string(v) == "null"
}

var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func writeRequestError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
		"message": msg, "extensions": map[string]any{"code": code}}}})
}

// overlapLimit refuses, before parsing and validation, documents whose overlap cost (see
// MaxOverlapCost) exceeds max. It reads tokens only: a few milliseconds for the largest body.
type overlapLimit struct{ max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = overlapLimit{}

func (overlapLimit) ExtensionName() string                   { return "OverlapLimit" }
func (overlapLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (o overlapLimit) MutateOperationParameters(_ context.Context, p *graphql.RawParams) *gqlerror.Error {
	// A document of n bytes has fewer than n/2 fields, so its cost is below n²/4: short
	// documents (nearly all) skip the scan.
	if n := len(p.Query); n*n/4 <= o.max {
		return nil
	}
	if overlapCost(p.Query, o.max) > o.max {
		err := gqlerror.Errorf("the document repeats the same fields too often to be validated (limit %d); "+
			"give repeated fields distinct aliases or send fewer of them", o.max)
		errcode.Set(err, codeTooComplex)
		return err
	}
	return nil
}

// overlapCost estimates the pairwise comparisons validation makes: fields are keyed by the
// path of response names from their operation (inline fragments are transparent; fields of
// all fragment definitions share one root, since any fragment may be spread anywhere), and
// the cost is the sum of each key's count squared. It stops counting past limit. Lexing
// errors count nothing: the parser reports them.
func overlapCost(query string, limit int) int {
	type frame struct {
		path   uint64
		inline bool
	}
	const (
		normal = iota
		afterAlias
		afterSpread
		afterOn
		afterAt
		afterFragment
	)
	var (
		lx       = lexer.New(&ast.Source{Input: query})
		counts   = make(map[uint64]int32)
		stack    []frame
		cost     int
		parens   int
		state    = normal
		last     uint64 // key of the last field, the path of a selection set that follows
		inline   bool   // the next { opens an inline fragment
		fragment bool   // the next top-level { opens a fragment definition
	)
	for cost <= limit {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			break
		}
		if parens > 0 { // arguments, variable definitions: values, not selections
			switch tok.Kind {
			case lexer.ParenL:
				parens++
			case lexer.ParenR:
				parens--
			}
			continue
		}
		switch tok.Kind {
		case lexer.ParenL:
			parens++
		case lexer.BraceL:
			switch {
			case len(stack) == 0 && fragment:
				stack = append(stack, frame{path: 1})
			case len(stack) == 0:
				stack = append(stack, frame{path: 2})
			case inline:
				stack = append(stack, frame{path: stack[len(stack)-1].path, inline: true})
			default:
				stack = append(stack, frame{path: last})
			}
			inline, fragment, state = false, false, normal
		case lexer.BraceR:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			state = normal
		case lexer.Spread:
			state, inline = afterSpread, true // an inline fragment unless a name follows
		case lexer.At:
			state = afterAt
		case lexer.Colon:
			if state == normal {
				state = afterAlias // the name just counted was an alias: skip the field name
			}
		case lexer.Name:
			switch {
			case len(stack) == 0:
				if tok.Value == "fragment" {
					fragment = true
				}
			case state == afterAt, state == afterOn:
				state = normal
			case state == afterSpread && tok.Value == "on":
				state = afterOn
			case state == afterSpread: // a fragment spread: counted like a field of its name
				inline = false
				last = key(stack[len(stack)-1].path, "..."+tok.Value)
				cost += 2*int(counts[last]) + 1
				counts[last]++
				state = normal
			case state == afterAlias:
				state = normal
			default:
				last = key(stack[len(stack)-1].path, tok.Value)
				cost += 2*int(counts[last]) + 1
				counts[last]++
			}
		default:
			state = normal
		}
	}
	return cost
}

func key(parent uint64, name string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(parent >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(name))
	return h.Sum64()
}
