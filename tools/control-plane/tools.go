//go:build tools

// Package tools pins the upstream main packages that build.sh compiles, so that go.mod and go.sum record
// exactly the module graph they need.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
