//go:build tools

// Package main's tools.go pins crane's main package so that go.mod and go.sum record exactly the module graph
// build.sh compiles for crane (the release workflow pushes with it).
package main

import (
	_ "github.com/google/go-containerregistry/cmd/crane"
)
