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
//
// Authentication and authorization (RoleAuthorizer, the agent's Authorizer):
//
//   - unix socket (0600), peer uid 0 or the agent's own: everything, status
//     included; any other uid: nothing (403).
//   - --insecure loopback HTTP: everything (a development mode).
//   - TLS, certificate with O=patchlet:operators: get, list, watch, logs;
//     create, update, patch and delete policies; not status (403: status is
//     the agent's own report).
//   - TLS, certificate with O=patchlet:viewers: get, list, watch, status,
//     logs; every write is 403.
//   - TLS, verified certificate with neither organization: nothing (403).
//   - TLS, no certificate, or one that does not verify: nothing (401).
//
// How:
//
//   - The identity of a TLS client is its certificate's subject: CN is the
//     user, each O a group. With --client-ca the handshake asks for a
//     certificate but does not require it; the server verifies it against
//     the client CA (chain, validity, client-auth key usage) on the first
//     request of the connection, so that a missing, expired or foreign
//     certificate is a 401 metav1.Status that says why instead of a TLS
//     alert. Requests on objects without a verified certificate are 401
//     whatever the Authorizer; discovery, /version and the health endpoints
//     stay public. A TLS listener without --client-ca has only anonymous
//     clients: RoleAuthorizer answers them 401.
//   - A refusal by the Authorizer is 403 Forbidden naming the user, the verb
//     and the role needed; an Authorizer may return an API status error (401)
//     to answer it as it is. Writes to hosts and operations stay 405 for
//     everyone.
//   - --allow-cidr (Options.AllowCIDRs): a TCP client from any other source
//     address gets 403 before anything else, health checks included. The
//     unix socket is not affected.
//   - The certificate, key and client CA are re-read on SIGHUP and when a
//     file in their directories changes (an atomic rename and a Kubernetes
//     secret's ..data swap included), without closing the listener: new
//     handshakes use them, open connections keep theirs; a broken file is
//     logged and the loaded ones stay. TLS session tickets are off, so a
//     client CA removed by a reload cannot be bypassed by resuming a session.
//
// Limits:
//
//   - Request bodies are at most 1 MiB (413) and must arrive within
//     BodyTimeout, 30s (408, and the connection is closed). The TLS handshake
//     and the request headers must arrive within HeaderTimeout, 10s, or the
//     connection is closed: a client that trickles its headers does not pin
//     a goroutine. Idle keep-alive connections close after 120s. There is no
//     overall read or write timeout: watches are long.
//   - At most MaxWatches (100) watches at once; beyond it 429 TooManyRequests
//     with Retry-After.
//   - RateLimit (50 requests/s, burst 100) per client — the certificate's CN
//     when verified, else the source address; the unix socket is not
//     limited — beyond it 429 with Retry-After, which client-go and kubectl
//     honour.
//
// Audit: every change accepted over the API (create, update, patch, delete,
// status writes) is handed to Options.Audit after it is stored, with the
// user, groups, remote address, verb, resource, name and the generation
// before and after; see package audit. A failure to record is logged.
package server
