package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/patchlet/patchlet/client"
	"github.com/patchlet/patchlet/internal/version"
)

// streams are the standard input, output and error of a run.
type streams struct {
	in     io.Reader
	out    io.Writer
	errOut io.Writer
}

// usageError is a command line that cannot be run: exit status 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// reportedError has already been printed: exit status 1, nothing more said.
type reportedError struct{}

func (reportedError) Error() string { return "errors were reported" }

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// globalOptions are the flags every command shares: how to reach the agent.
type globalOptions struct {
	server         string
	cert, key, ca  string
	kubeconfig     string
	context        string
	requestTimeout time.Duration
	serverChanged  func() bool
	now            func() time.Time
}

const rootLong = `patchctl talks to one patchlet agent's API, the way kubectl talks to a
Kubernetes API server: it applies PatchPolicies, shows Hosts, PatchPolicies
and Operations, waits for conditions, deletes objects and prints the logs of
package-manager steps.

Reaching the agent:
  --server unix:/run/patchlet/patchlet.sock   the local agent (the default;
                                              also $PATCHLET_SERVER)
  --server https://HOST:PORT --cert C --key K --ca CA
                                              a remote agent over mutual TLS
  --server http://127.0.0.1:PORT              an agent started with --insecure
                                              on loopback
  --kubeconfig FILE [--context NAME]          server and credentials from a
                                              kubeconfig, loaded with client-go's
                                              clientcmd (certificates, tokens
                                              and exec plugins all work)

Resource types: patchpolicies (policies, policy, pp), hosts (host),
operations (operation, ops, op).

Exit status: 0 on success, 1 when the request failed (server error, not found,
timeout), 2 when the command line is wrong (unknown command or flag, missing
arguments). Errors go to standard error as "error: ..."; the server's own
messages are shown verbatim.`

const rootExamples = `  # Apply a policy and wait until the host complies
  patchctl apply -f web-security.yaml
  patchctl wait patchpolicy/web-security --for=condition=Ready --timeout=10m

  # What does this host have, and what is pending?
  patchctl get hosts
  patchctl describe host $(hostname)

  # What did the agent run, and what did it print?
  patchctl get operations
  patchctl logs op-7f3a

  # A remote agent over mutual TLS
  patchctl --server https://web-1:8443 --cert me.crt --key me.key --ca ca.crt get pp`

// newRootCommand builds the command tree.
func newRootCommand(s streams, getenv func(string) string) *cobra.Command {
	g := &globalOptions{now: time.Now}
	root := &cobra.Command{
		Use:           "patchctl",
		Short:         "Control a patchlet agent: apply, get, describe, wait, delete, logs",
		Long:          rootLong,
		Example:       rootExamples,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true

	def := client.DefaultServer
	if v := getenv("PATCHLET_SERVER"); v != "" {
		def = v
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&g.server, "server", "s", def, "agent address: unix:/path, https://HOST:PORT or http://127.0.0.1:PORT (env PATCHLET_SERVER)")
	pf.StringVar(&g.cert, "cert", "", "client certificate file (PEM) for https")
	pf.StringVar(&g.key, "key", "", "client key file (PEM) for https")
	pf.StringVar(&g.ca, "ca", "", "CA bundle (PEM) that signed the agent's certificate")
	pf.StringVar(&g.kubeconfig, "kubeconfig", "", "take server and credentials from this kubeconfig file")
	pf.StringVar(&g.context, "context", "", "kubeconfig context to use (default: its current context)")
	pf.Var((*timeoutValue)(&g.requestTimeout), "request-timeout", "give up on a single request after this long (e.g. 10s, or 10 for seconds); 0 means no limit")
	g.serverChanged = func() bool { return pf.Changed("server") }

	root.AddCommand(
		newApplyCommand(g, s),
		newGetCommand(g, s),
		newDescribeCommand(g, s),
		newWaitCommand(g, s),
		newDeleteCommand(g, s),
		newLogsCommand(g, s),
		newVersionCommand(g, s),
		newAuditCommand(s),
		newCertsCommand(s),
		newRolloutCommand(g, s),
	)
	return root
}

// run executes one command line and returns its exit status.
func run(ctx context.Context, args []string, s streams, getenv func(string) string) int {
	root := newRootCommand(s, getenv)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		code = exitUsage
	}
	if !errors.As(err, new(reportedError)) {
		printError(s.errOut, err)
	}
	if code == exitUsage {
		path := "patchctl"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(s.errOut, "See '%s --help' for usage.\n", path)
	}
	return code
}

// isCobraUsageError recognises the command-line errors cobra makes itself.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command ", "unknown flag: ", "unknown shorthand flag: ", "required flag(s) ", "invalid argument "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// printError writes err as "error: …". An Invalid error from the server
// names each offending field on a line of its own.
func printError(w io.Writer, err error) {
	var se *apierrors.StatusError
	if errors.As(err, &se) && se.ErrStatus.Details != nil && len(se.ErrStatus.Details.Causes) > 0 && apierrors.IsInvalid(err) {
		prefix := strings.TrimSuffix(err.Error(), se.ErrStatus.Message)
		head := se.ErrStatus.Message
		if i := strings.Index(head, " is invalid"); i >= 0 {
			head = head[:i+len(" is invalid")]
		}
		fmt.Fprintf(w, "error: %s%s:\n", prefix, head)
		for _, c := range se.ErrStatus.Details.Causes {
			if c.Field != "" {
				fmt.Fprintf(w, "  %s: %s\n", c.Field, c.Message)
			} else {
				fmt.Fprintf(w, "  %s\n", c.Message)
			}
		}
		return
	}
	fmt.Fprintf(w, "error: %s\n", err)
}

// client returns a client for the agent the global flags name.
func (g *globalOptions) client() (*client.Client, error) {
	ua := "patchctl/" + version.Version
	if g.kubeconfig != "" {
		cfg, err := client.LoadKubeconfig(g.kubeconfig, g.context)
		if err != nil {
			return nil, err
		}
		if g.serverChanged() {
			cfg.Host = g.server
		}
		return client.NewForConfig(cfg, g.requestTimeout, ua)
	}
	if g.context != "" {
		return nil, usagef("--context needs --kubeconfig")
	}
	return client.New(client.Options{
		Server: g.server, CertFile: g.cert, KeyFile: g.key, CAFile: g.ca,
		RequestTimeout: g.requestTimeout, UserAgent: ua,
	})
}

// Argument validators that report usage errors (exit status 2).

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

func rangeArgs(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min {
			return usagef("%s: missing %s", cmd.CommandPath(), what)
		}
		if max >= 0 && len(args) > max {
			return usagef("%s: too many arguments (%s)", cmd.CommandPath(), strings.Join(args[max:], " "))
		}
		return nil
	}
}

// addOutputFlag adds -o/--output with the allowed formats listed.
func addOutputFlag(fs *pflag.FlagSet, p *string, formats string) {
	fs.StringVarP(p, "output", "o", "", "output format: "+formats)
}

// timeoutValue is a duration flag that, like kubectl's --request-timeout,
// also takes a bare number of seconds.
type timeoutValue time.Duration

func (t *timeoutValue) String() string { return time.Duration(*t).String() }

func (t *timeoutValue) Type() string { return "duration" }

func (t *timeoutValue) Set(s string) error {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		*t = timeoutValue(time.Duration(n) * time.Second)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a duration such as 10s or a number of seconds, not %q", s)
	}
	*t = timeoutValue(d)
	return nil
}

// usage is a command's help: its synopsis, one-line summary, manual text
// and examples.
type usage struct{ use, short, long, example string }

// newCommand builds a subcommand from its usage, the rule for its
// positional arguments and what it runs.
func newCommand(u usage, args cobra.PositionalArgs, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	return &cobra.Command{Use: u.use, Short: u.short, Long: u.long, Example: u.example, Args: args, RunE: run}
}
