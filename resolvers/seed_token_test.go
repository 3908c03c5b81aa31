package resolvers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The seed (000_*.txt) tells an IdP script "The GraphQL API token endpoint for your platform is:
// <Your Platform URL>/graphql/v1": a client-credentials form posted there gets a token, with
// the token endpoint's rules, and the seed's mutation then runs with it at the same URL.
func TestSeedTokenEndpointIsGraphQLURL(t *testing.T) {
	eachDB(t, func(t *testing.T, e *testEnv) {
		admin := e.AdminToken()
		e.CreateOIDCConnection(admin, "Microsoft", "microsoft")
		uuid := e.CreateUser(admin, "jane@contoso.com")
		id, sec := e.CreateClient(admin, []string{"graphql"}, "")
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			cc := clientcredentials.Config{ClientID: id, ClientSecret: sec, TokenURL: e.URL + "/graphql/v1", AuthStyle: style}
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatalf("auth style %v: token from /graphql/v1: %v", style, err)
			}
			if tok.TokenType != "Bearer" || tok.Extra("scope") != "graphql" {
				t.Fatalf("auth style %v: token %+v, scope %v", style, tok, tok.Extra("scope"))
			}
			d := e.MustGQL(tok.AccessToken, fmt.Sprintf(seedBindMutation, uuid, "jane@contoso.com"), nil)
			if errs := payloadErrors(t, d, "updateUserAccountCredentials"); len(errs) != 0 {
				t.Fatalf("auth style %v: the seed's mutation with that token: %v", style, errs)
			}
		}

		// The token endpoint's refusals, in its shape.
		cc := clientcredentials.Config{ClientID: id, ClientSecret: sec + "x", TokenURL: e.URL + "/graphql/v1"}
		var re *oauth2.RetrieveError
		if _, err := cc.Token(context.Background()); !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong secret at /graphql/v1: %v", err)
		}

		// GraphQL itself is unchanged: JSON without a token is refused, a form is never GraphQL.
		if r := e.GQL("", `{ __typename }`, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("GraphQL without a token: %d %s", r.Status, r.Raw)
		}
		resp, err := http.Post(e.URL+"/graphql/v1", "application/x-www-form-urlencoded", strings.NewReader("query=%7B__typename%7D"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error":"`) || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("a GraphQL query as a form: %d %q %v", resp.StatusCode, body, resp.Header)
		}
	})
}
