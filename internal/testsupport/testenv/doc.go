// Package testenv runs a real Kubernetes API server for tests: etcd and
// kube-apiserver as child processes on loopback (random free ports, a
// temporary directory, certificates made on the fly), with patchlet's CRDs
// (config/crd) and RBAC (config/rbac) installed. docs/testing.md shows how a
// suite uses it.
package testenv
