package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
)

const logsLong = `Print the full log of an Operation: the combined output of the
package-manager step it ran, as the agent recorded it (describe shows only
the tail).

With -f, keep printing what the step writes, as the agent streams it,
until it has finished; exit 0 when it Succeeded and 1 when it Failed.`

const logsExamples = `  # The log of one step
  patchctl logs op-7f3a

  # The log of a policy's last step (describe shows its name)
  patchctl describe pp web-security | grep 'Last Operation'

  # Follow a running step
  patchctl logs -f op-7f3a`

// followInterval is how long -f waits before following again a stream
// that ended before the step did (an agent restart, or an agent that
// answers the whole log at once instead of following).
const followInterval = time.Second

func newLogsCommand(g *globalOptions, s streams) *cobra.Command {
	var follow bool
	cmd := newCommand(usage{"logs OPERATION", "Print the full log of an Operation", logsLong, logsExamples},
		rangeArgs(1, 2, "the name of the operation"), func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if len(args) == 2 || len(args) == 1 && containsSlash(name) {
				k, refs, err := parseRefs(args, true)
				if err != nil {
					return err
				}
				if k.Resource != client.Operations || len(refs) != 1 {
					return usagef("logs: only operations have logs")
				}
				name = refs[0].name
			}
			return g.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				return runLogs(ctx, c, s.out, name, follow)
			})
		})
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the step has finished")
	return cmd
}

func containsSlash(s string) bool {
	for _, r := range s {
		if r == '/' {
			return true
		}
	}
	return false
}

func runLogs(ctx context.Context, c *client.Client, out io.Writer, name string, follow bool) error {
	if !follow {
		rc, err := c.Logs(ctx, name)
		if err != nil {
			return err
		}
		defer rc.Close()
		if _, err := io.Copy(out, rc); err != nil && ctx.Err() == nil {
			return fmt.Errorf("reading the log of operation %q: %w", name, err)
		}
		return nil
	}
	var offset int64
	for {
		rc, err := c.FollowLogs(ctx, name, offset)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		n, err := io.Copy(out, rc)
		rc.Close()
		offset += n
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the log of operation %q: %w", name, err)
		}
		op, err := c.Operations().Get(ctx, name)
		if err != nil {
			return err
		}
		switch op.Status.Phase {
		case v1alpha1.OperationSucceeded:
			return nil
		case v1alpha1.OperationFailed:
			return fmt.Errorf("operation %q failed: %s", name, failure(op))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followInterval):
		}
	}
}

// failure says why a failed Operation failed, from its status.
func failure(op *v1alpha1.Operation) string {
	msg := op.Status.Reason
	if op.Status.ExitCode != nil {
		msg += fmt.Sprintf(" (exit code %d)", *op.Status.ExitCode)
	}
	if op.Status.Message != "" {
		msg += ": " + op.Status.Message
	}
	return strings.TrimSpace(msg)
}
