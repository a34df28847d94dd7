// Package fleet owns patchlet's fleet mode: an agent given a Kubernetes API
// server (--kubeconfig) registers and keeps its Host object there, mirrors
// the cluster's PatchPolicy objects that select it into its local store
// (where the local reconcile loop enforces them exactly as in single-host
// mode), reports its Host status back, and takes part in rollouts.
//
// # Pieces
//
//   - Source watches cluster PatchPolicies with an informer (watch, never
//     polling) and keeps the local store's copies of those whose
//     hostSelector matches the host's labels. Copies carry the annotation
//     patchlet.io/source: cluster and patchlet.io/cluster-generation; they
//     are read-only over the agent's API like drop-directory objects.
//   - HostReporter creates or updates the cluster Host (labels from flags)
//     and copies the local Host status to the cluster Host status, at most
//     once per Options.StatusInterval and never when nothing changed.
//     Per-policy entries carry the cluster policy's generation.
//   - SlotGate is the rollout gate of the local loop (policy.Gate): a
//     policy with spec.rollout.maxConcurrent admits at most that many hosts
//     (a count, or a percentage of the matched hosts rounded up, at least 1)
//     through Lease objects <policy>-slot-<i> in one namespace
//     (patchlet-system). A host holds a slot from its first step until the
//     policy is done on it (after its reboot, when one is wanted), renewing
//     the Lease every third of its duration; a slot whose holder stopped
//     renewing expires after leaseDurationSeconds and is taken over by
//     another host. Taking a slot is a create, or an update conditioned on
//     the resourceVersion read, so two hosts never hold one slot.
//   - Aggregator, run by one leader-elected agent (Lease
//     patchlet-fleet-leader), writes each PatchPolicy's status: host counts
//     (matched, compliant, progressing, failed, rebootRequired) and the
//     conditions Ready, Progressing and Halted. Halted is True once more
//     hosts failed at the policy's current generation than
//     spec.rollout.maxFailures allows (a count, or a percentage of matched
//     hosts rounded down); its message names the failed hosts. While a
//     policy is Halted no new slot is granted; hosts holding a slot go on.
//     A halt stays until the spec changes. Resuming is an explicit act:
//     change the policy's spec (a new generation; failures of older
//     generations do not count), for example after excluding the package
//     that failed.
//   - Waves (spec.rollout.waves): the leader assigns the matched hosts to
//     waves once per generation and records compact boundaries in
//     status.waves; status.currentWave opens them one by one after each
//     finished and soaked. SlotGate holds a host back until its wave is
//     open (see waves.go for the rules).
//   - Patch sets: a policy with spec.rollout that applies Security or All
//     updates is resolved once per OS release ("<id>-<versionID>" from a
//     Host's status.os, e.g. debian-12) and policy generation into exact
//     versions. The leader writes them to the policy's status.patchSets
//     ({release, generation, packages: [{name, version}], resolvedBy,
//     resolvedAt}) from the first matched host of that release (by name)
//     that reported an observation: its status.upgradable (security ones
//     only for Security, minus spec.updates.exclude). A resolved set never
//     changes within a generation. An agent mirrors such a policy only once
//     its release's set exists, with the set as spec.updates.resolved, so
//     no host takes a step before the versions are fixed; every host then
//     installs exactly those versions (apt-get install name=version), even
//     when the repository has published newer ones meanwhile. A host
//     already at the resolved version is done. Rule for packages the first
//     host did not have (or had no pending update for): this rollout does
//     not upgrade them on any host of that release (plan item
//     Skip/NotInPatchSet, not blocking); change the policy's spec (a new
//     generation) to resolve again. A resolved version the host's index no
//     longer offers stalls the policy there (VersionNotAvailable). The set
//     is taken from status.upgradable, which lists at most 500 packages.
package fleet
