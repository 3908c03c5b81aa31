package resolvers

import (
	"net/http"
	"strings"

	"gatehouse/route"
)

// NotRouted answers, in GraphQL's error shape, a request under /graphql/v1 that no route of
// mux takes: 405 with Allow when the path is served with other methods (PUT /graphql/v1),
// else 404. fallback are the patterns it is mounted at. Without it the mux answers in plain
// text, or redirects to a subtree with an HTML body.
func NotRouted(mux *http.ServeMux, fallback ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow := route.Allowed(mux, r, fallback...); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeRequestError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
				r.Method+" is not allowed on "+r.URL.Path+": use "+strings.Join(allow, " or "))
			return
		}
		writeRequestError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
}
