package sso_test

import (
	"testing"

	"gatehouse/app"
	"gatehouse/app/apptest"
)

// testEnv is a running Gatehouse (apptest.Env); the tests of this package add methods to it.
type testEnv struct{ *apptest.Env }

// eachDB runs fn against a fresh server on every dialect under test; mods adjust its
// configuration first.
func eachDB(t *testing.T, fn func(t *testing.T, e *testEnv), mods ...func(*app.Config)) {
	t.Helper()
	apptest.Each(t, func(t *testing.T, e *apptest.Env) { fn(t, &testEnv{e}) }, mods...)
}

// newTestEnv starts a server; mods adjust its configuration first.
func newTestEnv(t *testing.T, dbURL string, mods ...func(*app.Config)) *testEnv {
	t.Helper()
	return &testEnv{apptest.New(t, dbURL, mods...)}
}

var (
	get           = apptest.Get
	str           = apptest.Str
	payloadErrors = apptest.PayloadErrors
)
