package apptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"gatehouse/rest"
)

// The REST contract: every test server (New, Replica) wraps its handler in
// CheckContract, so every /api/v1 request any test makes, and the answer, is checked against
// rest/openapi.yaml with kin-openapi. A route missing from the document, a status it does not
// list, a body that does not match its schema, or a success answered to a request the
// document calls invalid fails the test that made the request.

// contract is the loaded document and its router.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	seen   sync.Map // "METHOD /path/{template}" → *sync.Map of the statuses answered
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(rest.OpenAPI())
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	// kin-openapi checks date-time by itself; the ids are UUIDs (v7, RFC 9562).
	doc.SetStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &contract{doc: doc, router: router}, nil
})

// Reporter receives contract violations: a *testing.T, or a recorder in the checker's own test.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// CheckedBodyBytes bounds the request body the checker copies; a longer one is not checked.
const CheckedBodyBytes = 4 << 20

// CheckContract wraps h so that /api/v1 traffic is checked against the document. It buffers
// each answer, checks it, then writes it on.
func CheckContract(rep Reporter, h http.Handler) http.Handler {
	c, err := loadContract()
	if err != nil {
		rep.Errorf("openapi: %v", err)
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/v1/") {
			h.ServeHTTP(w, r)
			return
		}
		// Keep a copy of the body to check, up to a bound: a test of the server's own body limit
		// may send more, which the server must be left to refuse while reading.
		body, err := io.ReadAll(io.LimitReader(r.Body, CheckedBodyBytes+1))
		if err != nil {
			rep.Errorf("openapi: reading the request body of %s %s: %v", r.Method, r.URL.Path, err)
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		check := r.Clone(context.WithoutCancel(r.Context()))
		check.Body = io.NopCloser(bytes.NewReader(body))
		if len(body) > CheckedBodyBytes {
			check.Body = nil
		}

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())

		if msg := c.violation(check, rec); msg != "" {
			rep.Errorf("openapi: %s %s → %d: %s\nanswer: %.600s", r.Method, r.URL.RequestURI(), rec.Code, msg, rec.Body.String())
		}
	})
}

// violation checks one exchange and says what breaks the contract, or "".
func (c *contract) violation(req *http.Request, res *httptest.ResponseRecorder) string {
	ctx := req.Context()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// The server's own refusal of an unknown route (404 not_found) or method (405) is
		// what the document implies; anything else is a route the document lacks.
		if res.Code == http.StatusNotFound || res.Code == http.StatusMethodNotAllowed {
			return ""
		}
		return "the route is not in the document (" + err.Error() + ")"
	}
	statuses, _ := c.seen.LoadOrStore(route.Method+" "+route.Path, &sync.Map{})
	statuses.(*sync.Map).Store(res.Code, true)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, AuthenticationFunc: bearerPresent,
			ExcludeRequestBody: req.Body == nil, SchemaValidationOptions: c.doc.GetSchemaValidationOptions()}}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && (res.Code < 400 || res.Code >= 500) {
		return fmt.Sprintf("the document refuses this request (%v) but the server did not answer 4xx", reqErr)
	}
	ct, _, _ := mime.ParseMediaType(res.Header().Get("Content-Type"))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.Code, Header: res.Header(),
		Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true, SchemaValidationOptions: c.doc.GetSchemaValidationOptions(),
			// Only JSON bodies have schemas worth checking; the viewer's HTML and scripts do not.
			ExcludeResponseBody: ct != "application/json" && res.Body.Len() > 0}}
	out.SetBodyBytes(res.Body.Bytes())
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return "the answer does not match the document: " + err.Error()
	}
	return ""
}

// bearerPresent is the document's bearerAuth as far as a document can tell: a bearer token is
// sent. Whether it is valid is the server's business (a 401 is in every operation's answers).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
		return errors.New("no bearer token")
	}
	return nil
}

// Unexercised lists the documented operations ("METHOD /path/{template}") that no exchange
// checked so far in this test binary has reached.
func Unexercised() ([]string, error) {
	c, err := loadContract()
	if err != nil {
		return nil, err
	}
	var out []string
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			key := method + " " + path
			if _, ok := c.seen.Load(key); !ok {
				out = append(out, key)
			}
		}
	}
	return out, nil
}
