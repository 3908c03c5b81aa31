package app

import (
	"net/http"

	"gatehouse/models"
)

// graphQLTokenAlias serves a form posted to /graphql/v1 as the token endpoint: World Manager's
// AoT provisioning guide (the seed Gatehouse implements) says "The GraphQL API token endpoint
// for your platform is: <Your Platform URL>/graphql/v1", so an IdP script written from it
// posts its client-credentials form there. No GraphQL request is a form (the GraphQL endpoint
// takes application/json only), so the two never meet. The request goes on as POST
// /oauth/token, so that every rule of that endpoint applies to it (its rate limits and slots
// in the guard, client authentication, every grant, the answer); the access log keeps the path
// the client used, and the metrics count it under the token endpoint's route.
func graphQLTokenAlias(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/graphql/v1" ||
			models.MediaType(r.Header.Get("Content-Type")) != "application/x-www-form-urlencoded" {
			next.ServeHTTP(w, r)
			return
		}
		u := *r.URL
		u.Path, u.RawPath = "/oauth/token", ""
		token := r.WithContext(r.Context()) // a shallow copy, with its own URL
		token.URL = &u
		next.ServeHTTP(w, token)
		// The mux records the matched route on the request it was given; observe reads it
		// from this one.
		r.Pattern = token.Pattern
	})
}
