// Package testenv runs a real Kubernetes API server for tests: etcd and
// kube-apiserver as child processes on loopback (random free ports, a
// temporary directory, certificates made on the fly), with patchlet's CRDs
// (config/crd) and RBAC (config/rbac) installed.
//
// One Env per test suite is the intended use:
//
//	var env *testenv.Env
//	BeforeSuite(func() {
//		var err error
//		env, err = testenv.Start(ctx, testenv.Options{Log: GinkgoWriter})
//		if errors.Is(err, testenv.ErrNoBinaries) {
//			Skip(err.Error())
//		}
//		Expect(err).NotTo(HaveOccurred())
//	})
//	AfterSuite(func() { env.Stop() })
//
// env.Admin is a system:masters client configuration; env.HostConfig(name)
// is the identity of one patchlet agent (user system:patchlet:host:<name>,
// group system:patchlet:hosts), subject to config/rbac like a real agent;
// env.ConfigFor(user, groups...) makes any other identity. Client
// identities are client certificates signed by the environment's CA, so a
// new identity needs no API server restart. env.ImpersonatedHostConfig(name)
// is the same identity through impersonation, sharing one TLS transport:
// the cheap way to run hundreds or thousands of simulated agents in one
// process. Options.ExtraAPIServerArgs tunes the server (e.g.
// --max-requests-inflight), Options.AuditLog records every request (to
// count requests per host), env.PIDs() gives the processes to measure.
//
// Identities and places config/rbac knows: Namespace (patchlet-system, the
// Leases), HostUserPrefix+name and HostsGroup (agents), LeadersGroup (may
// write PatchPolicy status). An agent may write only the Host of its own
// name and its status (config/rbac/host_pinning.yaml).
//
// The binaries come from `make kube-apiserver` (hack/kube/build-apiserver.sh),
// which caches them under ${PATCHLET_CACHE:-$HOME/.cache/patchlet}/kube/.
// Start returns ErrNoBinaries when they are absent.
package testenv
