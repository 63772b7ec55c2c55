//go:build tools

package main

// The registry command this module builds (go build
// github.com/distribution/distribution/v3/cmd/registry): importing it here
// keeps its dependencies in go.mod and go.sum.
import _ "github.com/distribution/distribution/v3/cmd/registry"
