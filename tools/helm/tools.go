//go:build tools

// Package tools pins helm's main package so that go.mod and go.sum record exactly the module graph build.sh
// compiles.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
