package rest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/goccy/go-yaml"

	"gatehouse/apidocs"
)

// openapiYAML is the OpenAPI 3.1 document of /api/v1, the one description of this API: it is
// served as JSON, rendered by /api/v1/docs and checked against every request the tests make.
//
//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the document as indented JSON.
var OpenAPI = sync.OnceValue(func() []byte {
	raw, err := yaml.YAMLToJSON(openapiYAML)
	if err != nil {
		panic("rest: openapi.yaml: " + err.Error())
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		panic("rest: openapi.yaml as JSON: " + err.Error())
	}
	return buf.Bytes()
})

// registerDocs mounts the document and its viewer; both are public, like any API reference.
func (h *Handler) registerDocs(mux *http.ServeMux) {
	doc := OpenAPI()
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*") // public and credential-free: client generators may fetch it cross-origin
		w.Write(doc)
	})
	mux.Handle("GET /api/v1/docs", apidocs.Page("/api/v1/openapi.json", "/api/v1/docs/"))
	mux.Handle("GET /api/v1/docs/{file}", apidocs.Assets())
}
