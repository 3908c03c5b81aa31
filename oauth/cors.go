package oauth

import "net/http"

// cors lets a PUBLIC application (a single-page app: PKCE, no secret) call the endpoints a
// browser client needs from JavaScript: discovery, the key set, the token endpoint, userinfo
// and revocation. Any origin, never credentials: these endpoints authenticate with what the request
// carries (a code and verifier, a bearer token, a client secret), not with cookies, so a
// foreign page learns nothing it did not send. A preflight (OPTIONS) is answered here.
func cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") == "" {
			h(w, r)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		// A script reads only the safelisted response headers unless told: the bearer
		// challenge (RFC 6750 §3) of a 401 at userinfo names why its token was refused.
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h(w, r)
	}
}
