// Command patchlet is the node agent: it keeps this host's packages in the
// state that PatchPolicy objects declare. See `patchlet --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/patchlet/patchlet/internal/agent"
	"github.com/patchlet/patchlet/internal/logging"
	"github.com/patchlet/patchlet/internal/options"
	"github.com/patchlet/patchlet/internal/version"
)

const longHelp = `patchlet keeps this host's packages in the state that PatchPolicy objects
declare, the way the kubelet keeps pods running.

Desired state comes from two places:
  * the API: POST/PUT YAML or JSON to /apis/patchlet.io/v1alpha1/patchpolicies
    (patchctl apply -f, kubectl apply -f, or curl --data-binary @policy.yaml);
  * the drop directory (--policy-dir): *.yaml, *.yml and *.json files, kept
    in sync by git-sync, Flux or configuration management. Removing a file
    removes its policies; objects from files are read-only over the API.

The agent observes the host's packages, plans the difference, and runs
idempotent, noninteractive package-manager steps detached from itself (a
restart re-attaches to a running step). Status, conditions and Operations
are served over the API; nothing is changed without a policy, and nothing
reboots unless a policy allows it inside its reboot window.

Every flag can also be set as a key of the configuration file (--config,
YAML, e.g. "state-dir: /var/lib/patchlet"); flags on the command line win,
unknown keys are an error.

Exit status: 0 after a clean shutdown (SIGTERM/SIGINT), 1 on a runtime
error, 2 on bad flags or configuration.`

const examples = `  # Serve on the default unix socket, policies from /etc/patchlet/policies.d
  patchlet

  # A test root and a loopback TCP listener without TLS
  patchlet --root /srv/image --state-dir /tmp/pl --listen 127.0.0.1:8443 --insecure

  # mTLS on all addresses
  patchlet --listen :8443 --tls-cert /etc/patchlet/tls.crt --tls-key /etc/patchlet/tls.key --client-ca /etc/patchlet/ca.crt`

type usageError struct{ error }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	var o options.Options
	root := &cobra.Command{
		Use:           "patchlet [flags]",
		Short:         "Keep this host's packages in the declared state",
		Long:          longHelp,
		Example:       examples,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			if err := options.LoadConfigFile(fs, o.ConfigFile, fs.Changed("config")); err != nil {
				return usageError{err}
			}
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			log, flush := logging.New(o.LogFormat, o.Verbosity)
			defer flush()
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			log.Info("starting patchlet", "version", version.Version, "listen", o.Listen, "stateDir", o.StateDir, "policyDir", o.PolicyDir, "root", o.Root)
			if err := agent.Run(ctx, o, log); err != nil {
				log.Error(err, "agent stopped")
				return err
			}
			log.Info("patchlet stopped")
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	o.Bind(root.Flags())

	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "patchlet %s\n", version.Version)
		},
	})
	root.AddCommand(&cobra.Command{
		Use:    "run-step DIR",
		Short:  "Run one recorded package-manager step (internal: the detached runner)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, a []string) error {
			os.Exit(agent.RunStep(a[0]))
			return nil
		},
	})

	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) || isCobraUsage(err) {
			return 2
		}
		return 1
	}
	return 0
}

// isCobraUsage recognises cobra's own argument errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires ", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
