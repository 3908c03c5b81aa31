package main

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
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"gatehouse/rest"
)

// The REST contract: every test server (newTestEnv, replica) wraps its handler in
// checkContract, so every /api/v1 request any test makes, and the answer, is checked against
// rest/openapi.yaml with kin-openapi. A route missing from the document, a status it does not
// list, a body that does not match its schema, or a success answered to a request the
// document calls invalid fails the test that made the request.

// contract is the loaded document and its router.
type contract struct {
	doc    *openapi3.T
	router routers.Router
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
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &contract{doc: doc, router: router}, nil
})

// reporter receives contract violations: a *testing.T, or a recorder in the checker's own test.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// checkContract wraps h so that /api/v1 traffic is checked against the document. It buffers
// each answer, checks it, then writes it on.
func checkContract(rep reporter, h http.Handler) http.Handler {
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
		body, err := io.ReadAll(r.Body)
		if err != nil {
			rep.Errorf("openapi: reading the request body of %s %s: %v", r.Method, r.URL.Path, err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		check := r.Clone(context.WithoutCancel(r.Context()))
		check.Body = io.NopCloser(bytes.NewReader(body))

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
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, AuthenticationFunc: bearerPresent}}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	if reqErr != nil && (res.Code < 400 || res.Code >= 500) {
		return fmt.Sprintf("the document refuses this request (%v) but the server did not answer 4xx", reqErr)
	}
	ct, _, _ := mime.ParseMediaType(res.Header().Get("Content-Type"))
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.Code, Header: res.Header(),
		Options: &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true,
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

// violations records what checkContract reports.
type violations struct {
	mu   sync.Mutex
	msgs []string
}

func (v *violations) Helper() {}
func (v *violations) Errorf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.msgs = append(v.msgs, fmt.Sprintf(format, args...))
}

// TestContractCheckerCatchesDrift proves the checker fails a test for each kind of drift, and
// stays quiet for an exchange that matches the document.
func TestContractCheckerCatchesDrift(t *testing.T) {
	token := `{"id":"t1","name":"Okta","maskedValue":"scim_abc...****","status":"active","scopes":["users:read"],` +
		`"connectionId":null,"expiresAt":null,"revokedAt":null,"createdAt":"2026-01-02T03:04:05Z"}`
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		answer                     string
		want                       string // fragment of the violation, "" for none
	}{
		{"matching answer", "GET", "/api/v1/scim/tokens/t1", "", 200, `{"token":` + token + `}`, ""},
		{"document's error shape", "GET", "/api/v1/scim/tokens/t2", "", 404, `{"error":{"type":"not_found","message":"no such token"}}`, ""},
		{"undocumented route", "GET", "/api/v1/scim/secrets", "", 200, `{}`, "not in the document"},
		{"undocumented method", "PATCH", "/api/v1/scim/tokens/t1", `{}`, 200, `{"token":` + token + `}`, "not in the document"},
		{"unknown route refused", "GET", "/api/v1/nothing", "", 404, `{"error":{"type":"not_found","message":"no such endpoint"}}`, ""},
		{"undocumented status", "GET", "/api/v1/scim/tokens/t1", "", 202, `{"token":` + token + `}`, "status is not supported"},
		{"undocumented field", "GET", "/api/v1/scim/tokens/t1", "", 200, `{"token":` + token[:len(token)-1] + `,"secret":"x"}}`, `"secret" is unsupported`},
		{"missing field", "GET", "/api/v1/scim/tokens/t1", "", 200, `{"token":{"id":"t1"}}`, "doesn't match schema"},
		{"wrong error type", "GET", "/api/v1/scim/tokens/t1", "", 404, `{"error":{"type":"gone","message":"x"}}`, "doesn't match schema"},
		{"invalid request accepted", "GET", "/api/v1/scim/tokens?pageSize=101", "", 200, `{"tokens":[],"page":1,"pageSize":101,"total":0}`, "did not answer 4xx"},
		{"invalid request refused", "GET", "/api/v1/scim/tokens?pageSize=101", "", 400, `{"error":{"type":"validation_error","message":"pageSize"}}`, ""},
		{"unknown body field accepted", "POST", "/api/v1/scim/tokens", `{"name":"x","colour":"red"}`, 201, `{"token":` + token + `,"plainValue":"scim_x"}`, "did not answer 4xx"},
		{"no token accepted", "GET", "/api/v1/scim/statistics", "-", 200, `{}`, "did not answer 4xx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.answer)
			})
			var v violations
			srv := httptest.NewServer(checkContract(&v, fake))
			defer srv.Close()
			var body io.Reader
			if tc.body != "" && tc.body != "-" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, srv.URL+tc.target, body)
			if tc.body != "-" {
				req.Header.Set("Authorization", "Bearer x")
			}
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(got) != tc.answer {
				t.Errorf("the checker changed the answer: %d %s", resp.StatusCode, got)
			}
			switch {
			case tc.want == "" && len(v.msgs) > 0:
				t.Errorf("reported a matching exchange: %v", v.msgs)
			case tc.want != "" && (len(v.msgs) != 1 || !strings.Contains(v.msgs[0], tc.want)):
				t.Errorf("want one violation containing %q, got %q", tc.want, v.msgs)
			}
		})
	}
}
