// Package server owns patchlet's HTTP API: routing, content negotiation,
// decoding and admission of request bodies, discovery, watch streams,
// server-side tables, health endpoints, authentication, limits and the
// listeners (unix socket, TLS, mutual TLS). It follows the Kubernetes API
// conventions closely enough that kubectl works against it, and keeps the
// objects in a store.Store. docs/api.md has the resources, every decision
// where patchlet departs from a Kubernetes API server, the roles and the
// limits.
package server
