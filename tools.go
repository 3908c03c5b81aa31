//go:build tools

// This file pins the code generator's version in go.mod.
package main

import _ "github.com/99designs/gqlgen"
