// Package executor runs package-manager steps detached from the agent, so
// that a step outlives an agent restart or crash, and lets a restarted agent
// re-attach to it. docs/steps.md describes the step directory, the runners
// and re-attaching.
package executor
