package rest_test

import (
	"gatehouse/app/apptest"
)

// testEnv is a running Gatehouse (apptest.Env); the tests of this package add methods to it.
type testEnv struct{ *apptest.Env }

var (
	get           = apptest.Get
	str           = apptest.Str
	payloadErrors = apptest.PayloadErrors
)
