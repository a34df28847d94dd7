// Package rollout owns the rollout of one PatchPolicy to a fleet of patchlet
// agents without Kubernetes, as `patchctl rollout` drives it: the HOSTS.yaml
// inventory and host selection, the pure scheduling decisions (which hosts to
// start next given their states, maxConcurrent, maxFailures, waves and soak
// times), the verdict on one host's copy of the policy, the resumable state
// file, and a driver that applies the policy to each agent's API and watches
// it converge.
//
// Everything but the driver and the state file's I/O is free of I/O and
// takes the time as an argument, so that it can be tested with a fake clock.
package rollout
