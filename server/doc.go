// Package server owns patchlet's HTTP API: routing, content negotiation,
// decoding and admission of request bodies, discovery, watch streams,
// server-side table printing, health endpoints and the listeners (unix
// socket, TLS, mutual TLS). It follows the Kubernetes API conventions closely
// enough that kubectl 1.27–1.33 works against it (get, get -w, apply,
// delete, wait), and keeps the objects in a store.Store.
//
// Resources (all cluster-scoped, group patchlet.io, version v1alpha1):
//
//	patchpolicies (pp)   read-write; /status read-write
//	hosts                read-only: the agent writes them from what it observes
//	operations (op)      read-only: the agent writes and garbage-collects them;
//	                     /log streams the full output of the step
//
// Decisions (each a place where Kubernetes leaves room or where patchlet is
// not a Kubernetes API server):
//
//   - Writes to hosts and operations, deleting included, answer 405
//     MethodNotAllowed with a message saying who writes them. Deleting an
//     operation would lose the record of a step that may still run detached,
//     or that a restarted agent re-attaches to; the agent prunes them.
//   - Objects that came from the drop directory carry the annotation
//     patchlet.io/source-file. Every write over the API to such an object
//     (update, patch, status, delete) answers 403 Forbidden naming the file:
//     the file is the source of truth and a change over the API would be
//     overwritten by the next read of the directory. 403, not 409, because
//     kubectl retries a patch that fails with 409 Conflict. A client may not
//     set that annotation itself (422 Invalid).
//   - Request bodies must say what they are: Content-Type application/json or
//     application/yaml (also application/x-yaml, text/yaml) for create and
//     update; application/merge-patch+json or application/json-patch+json for
//     a patch. application/strategic-merge-patch+json is accepted and applied
//     as a merge patch: no list of patchlet's types has a merge key, so the two
//     agree except for $patch directives, which fail strict decoding. Anything
//     else is 415, application/x-www-form-urlencoded (curl's default for
//     --data-binary) included: a web page can send that cross-origin without a
//     CORS preflight, and patchlet installs packages. Use
//     curl -H 'Content-Type: application/yaml' --data-binary @policy.yaml.
//     Server-side apply (application/apply-patch+yaml) is 415: use
//     client-side kubectl apply.
//   - Decoding is always strict, whatever fieldValidation asks: an unknown or
//     duplicate field is 422 Invalid with one cause per field.
//   - An update without metadata.resourceVersion is allowed (unconditional),
//     unlike custom resources in Kubernetes; with one, a stale version is 409.
//     Patches are applied to the newest version and retried on a conflict
//     unless they carry their own resourceVersion.
//   - dryRun is not supported (400), nor server-side apply.
//   - Lists honour labelSelector, fieldSelector (metadata.name and
//     metadata.namespace, with =, == and !=), limit and continue, and always
//     serve the newest state whatever resourceVersion asks.
//   - Watches start from resourceVersion (empty or 0: one ADDED event per
//     object first), apply the selectors to every event (an object that stops
//     matching is sent as DELETED), send a BOOKMARK every 30 seconds when
//     allowWatchBookmarks=true, end after timeoutSeconds, support
//     sendInitialEvents=true (the current state, then a BOOKMARK annotated
//     k8s.io/initial-events-end, as client-go's watch-list expects), and answer a
//     resourceVersion older than the store's history with an ERROR event
//     holding a 410 Expired Status, as the Kubernetes API server does.
//   - GET /openapi/v2 answers 200 with an empty body (an empty protobuf
//     document): kubectl apply needs a document to exist; a JSON one breaks it.
//   - On a plain-HTTP listener (--insecure, loopback only) a request whose
//     Host header is not a loopback name or address is 403: a web page could
//     otherwise reach the agent through DNS rebinding.
//   - Discovery, /version, /healthz, /livez and /readyz are served without
//     asking the Authorizer; every request on an object goes through it.
package server
