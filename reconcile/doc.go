// Package reconcile owns patchlet's pure decisions: which policies select a
// host, what must change on the host for its policies to hold (the plan),
// when a maintenance or reboot window is open, whether to reboot, and the
// status conditions a pass reports. Nothing here does I/O: no files, no
// processes, no clock; time is always passed in. The controllers call these
// functions with what the backends observed and act on the result.
package reconcile
