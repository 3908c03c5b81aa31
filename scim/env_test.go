package scim_test

import (
	"net/url"
	"testing"

	"gatehouse/app/apptest"
)

// testEnv is a running Gatehouse (apptest.Env); the tests of this package add methods to it.
type testEnv struct{ *apptest.Env }

// eachDB runs fn against a fresh server on every dialect under test.
func eachDB(t *testing.T, fn func(t *testing.T, e *testEnv)) {
	t.Helper()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) { fn(t, &testEnv{e}) })
}

type apiResponse = apptest.Response

var (
	get           = apptest.Get
	str           = apptest.Str
	allScopes     = apptest.AllScopes
	payloadErrors = apptest.PayloadErrors
)

func urlq(s string) string { return url.QueryEscape(s) }
