// Package fleet owns patchlet's fleet mode: an agent given a Kubernetes API
// server (--kubeconfig) registers and keeps its Host object there, mirrors
// the cluster's PatchPolicy objects that select it into its local store
// (where the local reconcile loop enforces them exactly as in single-host
// mode), reports its Host status back, and takes part in rollouts.
// docs/fleet.md (How fleet mode works) describes its pieces.
package fleet
