package sso

// MaxKeys is maxKeys, for the tests of package sso_test.
const MaxKeys = maxKeys
