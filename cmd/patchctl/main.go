// Command patchctl is the command-line client of one patchlet agent's API:
// apply, get, describe, wait for, delete PatchPolicies, Hosts and
// Operations, and read Operation logs. See `patchctl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, errOut: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
