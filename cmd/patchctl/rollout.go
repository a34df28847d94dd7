package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
	"github.com/patchlet/patchlet/internal/version"
	"github.com/patchlet/patchlet/rollout"
)

const rolloutLong = `Roll one PatchPolicy out to a fleet of agents without Kubernetes: patchctl
applies the policy to each selected agent's API in turn, at most
maxConcurrent at once, and stops starting hosts once more than maxFailures
have failed.

HOSTS.yaml lists the agents (relative certificate paths are relative to the
file; the global --cert, --key and --ca are the defaults of the defaults):

  defaults: {cert: certs/me.crt, key: certs/me.key, ca: certs/ca.crt}
  hosts:
  - name: web-1
    server: https://web-1.example.net:8443
    labels: {role: web, zone: a}
  - name: web-2
    server: https://web-2.example.net:8443
    labels: {role: web, zone: b}
    ca: certs/other-ca.crt          # per-host cert, key or ca override
  - name: local
    server: unix:/run/patchlet/patchlet.sock
    labels: {role: db}

The policy's spec.hostSelector picks hosts by these labels (empty: all), in
file order. A host that is not selected, or not yet started, never receives
the policy: nothing changes there.

Semantics (spec.rollout, or --max-concurrent / --max-failures):
  maxConcurrent  hosts applying at once: a count or a percentage of the
                 selected hosts (rounded down, at least 1). Default 1.
  maxFailures    failed hosts tolerated: a count or a percentage (rounded
                 down). Default 0. Once more hosts than that have failed the
                 rollout is HALTED: no new host is started; hosts already
                 applying are still watched to the end.
  Applying a host creates the policy on its agent, or replaces the agent's
  copy when its labels, annotations or spec differ.
  A host SUCCEEDED when its copy is Ready=True for its current generation
  (condition and status observedGeneration equal to metadata.generation).
  A host FAILED when: the agent refuses the policy (4xx, e.g. Invalid); its
  copy is Ready=False and the agent is done with the generation (Stalled,
  Drifted in Audit mode, Suspended); Ready=False with reason StepFailed and a
  Degraded reason the agent does not retry (DiskFull, PackageNotFound,
  Failed, Timeout; LockHeld, StaleIndex, Interrupted and CacheRefreshFailed
  are retried by the agent and waited for); the agent says NotSelected
  (its own Host labels disagree with HOSTS.yaml); or it is not Ready within
  --host-timeout of being started (an unreachable agent included).

Waves: the policy's spec.rollout.waves (each wave's size and soak), or
--waves 10%,50%,100% (cumulative counts or percentages of the selected
hosts, rounded up) splits the hosts into waves in file order; hosts beyond
the last wave form a final wave. A wave starts only when every host of the
earlier waves has finished, the rollout is not halted, and the previous wave
has soaked for --soak since its last host finished (no soak after the last
wave). maxConcurrent and maxFailures count across the whole rollout.

Resuming: progress is saved in --state (default
.patchctl-rollout-POLICY.json in the current directory), written atomically
before the policy is sent to a host and after every change. Running the same
command again resumes: hosts that succeeded are checked (their copy read;
one that was deleted or changed is started again in its turn, the others are
left alone), hosts that were applying are watched again (their timeout
counts from when they were first started), failed hosts stay failed. If the
policy itself changed (labels, annotations or spec), a new rollout starts.
A HALTED rollout stays halted: re-running it only prints the summary.
--resume-halted is the explicit decision to continue: the failed hosts are
tried again first and failures are counted afresh.

Output: on a terminal, standard error shows a live view (a bar, the hosts
applying and the hosts failed), redrawn; otherwise one log line per change.
Standard output gets the final summary table (HOST, STATE, READY, REASON,
DURATION) and the names of the failed hosts.

Exit status: 0 when every selected host succeeded; 1 when a host failed, the
rollout halted or was interrupted (run again to resume), or an agent could
not be set up; 2 when the command line, the policy or HOSTS.yaml is wrong.`

const rolloutExamples = `  # Roll out to the web servers, 10% at a time, halting after 2 failures
  # (spec.rollout: {maxConcurrent: 10%, maxFailures: 2})
  patchctl rollout -f web-security.yaml --hosts hosts.yaml

  # Canary first: 1 host, then half, then everyone, soaking 30 minutes between
  patchctl rollout -f web-security.yaml --hosts hosts.yaml --waves 1,50%,100% --soak 30m

  # After fixing what made it halt
  patchctl rollout -f web-security.yaml --hosts hosts.yaml --resume-halted`

type rolloutOptions struct {
	file          string
	hosts         string
	state         string
	resumeHalted  bool
	waves         string
	soak          time.Duration
	maxConcurrent string
	maxFailures   string
	hostTimeout   time.Duration
	interval      time.Duration
	progress      string
}

func newRolloutCommand(g *globalOptions, s streams) *cobra.Command {
	o := &rolloutOptions{}
	cmd := newCommand(usage{"rollout -f POLICY --hosts HOSTS.yaml", "Roll a policy out to many agents in bounded waves, halting on failures", rolloutLong, rolloutExamples},
		noArgs, func(cmd *cobra.Command, args []string) error {
			if o.file == "" {
				return usagef("rollout: missing -f POLICY")
			}
			if o.hosts == "" {
				return usagef("rollout: missing --hosts HOSTS.yaml")
			}
			if o.interval <= 0 {
				return usagef("rollout: --interval must be positive")
			}
			switch o.progress {
			case "auto", "live", "plain":
			default:
				return usagef("rollout: --progress %q: want auto, live or plain", o.progress)
			}
			return runRollout(cmd.Context(), g, s, o)
		})
	f := cmd.Flags()
	f.StringVarP(&o.file, "filename", "f", "", "the PatchPolicy to roll out (a file with one document, or - for standard input)")
	f.StringVar(&o.hosts, "hosts", "", "the agents to roll out to (see above for the format)")
	f.StringVar(&o.state, "state", "", "state file that makes the rollout resumable (default .patchctl-rollout-POLICY.json)")
	f.BoolVar(&o.resumeHalted, "resume-halted", false, "continue a halted rollout: retry its failed hosts and count failures afresh")
	f.StringVar(&o.waves, "waves", "", "cumulative wave ends, counts or percentages of the selected hosts (e.g. 1,10%,100%)")
	f.DurationVar(&o.soak, "soak", 0, "how long a wave must have finished before the next one starts (e.g. 10m)")
	f.StringVar(&o.maxConcurrent, "max-concurrent", "", "override spec.rollout.maxConcurrent (a count or a percentage)")
	f.StringVar(&o.maxFailures, "max-failures", "", "override spec.rollout.maxFailures (a count or a percentage)")
	f.DurationVar(&o.hostTimeout, "host-timeout", 30*time.Minute, "a host not Ready this long after it was started has failed")
	f.DurationVar(&o.interval, "interval", 2*time.Second, "how often the hosts that are applying are polled")
	f.StringVar(&o.progress, "progress", "auto", "progress on standard error: auto (live on a terminal), live or plain (log lines)")
	return cmd
}

// rolloutPlan is everything a rollout run needs, worked out before any
// agent is contacted.
type rolloutPlan struct {
	policy    *v1alpha1.PatchPolicy
	hash      string
	selected  []rollout.Host
	waves     []int
	schedule  rollout.Schedule
	statePath string
}

func planRollout(g *globalOptions, s streams, o *rolloutOptions) (*rolloutPlan, error) {
	docs, problems, err := readDocuments([]string{o.file}, false, s.in, true)
	if err != nil {
		return nil, usageError{err}
	}
	if len(problems) > 0 {
		return nil, usagef("%s", strings.Join(problems, "\n"))
	}
	if len(docs) != 1 {
		return nil, usagef("rollout: %s holds %d objects, want one PatchPolicy", o.file, len(docs))
	}
	policy, ok := docs[0].obj.(*v1alpha1.PatchPolicy)
	if !ok {
		return nil, usagef("rollout: %s is a %s, want a PatchPolicy", o.file, docs[0].obj.GetObjectKind().GroupVersionKind().Kind)
	}
	hash, err := rollout.SpecHash(policy)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(o.hosts)
	if err != nil {
		return nil, usagef("reading hosts file: %w", err)
	}
	hosts, err := rollout.ParseHosts(data, filepath.Dir(o.hosts))
	if err != nil {
		return nil, usagef("%s: %w", o.hosts, err)
	}
	for i := range hosts {
		h := &hosts[i]
		if strings.HasPrefix(h.Server, "https://") {
			h.Cert, h.Key, h.CA = firstNonEmpty(h.Cert, g.cert), firstNonEmpty(h.Key, g.key), firstNonEmpty(h.CA, g.ca)
		}
	}
	selected, err := rollout.Select(hosts, policy.Spec.HostSelector)
	if err != nil {
		return nil, usageError{err}
	}
	if len(selected) == 0 {
		return nil, usagef("rollout: no host in %s matches the policy's spec.hostSelector", o.hosts)
	}
	spec := policy.Spec.Rollout.DeepCopy()
	if spec == nil {
		spec = &v1alpha1.RolloutSpec{}
	}
	if o.maxConcurrent != "" {
		v := intstr.Parse(o.maxConcurrent)
		spec.MaxConcurrent = &v
	}
	if o.maxFailures != "" {
		v := intstr.Parse(o.maxFailures)
		spec.MaxFailures = &v
	}
	probe := policy.DeepCopy()
	probe.Spec.Rollout = spec
	probe.SetDefaults()
	for _, e := range probe.Validate() {
		if strings.HasPrefix(e.Field, "spec.rollout") {
			return nil, usagef("rollout: %s", e.Error())
		}
	}
	limits, err := rollout.ResolveLimits(spec, len(selected))
	if err != nil {
		return nil, usageError{err}
	}
	waveSpecs, err := rollout.ParseWaves(o.waves, o.soak)
	if err != nil {
		return nil, usagef("--waves: %w", err)
	}
	if o.waves == "" && spec != nil && len(spec.Waves) > 0 {
		// The policy's own waves, unless --waves overrides them.
		if waveSpecs, err = rollout.WavesFromPolicy(len(selected), spec.Waves); err != nil {
			return nil, usageError{err}
		}
	}
	if o.soak < 0 {
		return nil, usagef("--soak must not be negative")
	}
	waves, soaks := rollout.AssignWaves(len(selected), waveSpecs)
	statePath := o.state
	if statePath == "" {
		statePath = ".patchctl-rollout-" + policy.Name + ".json"
	}
	return &rolloutPlan{
		policy: policy, hash: hash, selected: selected, waves: waves,
		schedule:  rollout.Schedule{Limits: limits, Soaks: soaks},
		statePath: statePath,
	}, nil
}

func firstNonEmpty(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func runRollout(ctx context.Context, g *globalOptions, s streams, o *rolloutOptions) error {
	p, err := planRollout(g, s, o)
	if err != nil {
		return err
	}
	now := g.now()
	st, err := rollout.LoadState(p.statePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		st = rollout.NewState(p.policy.Name, p.hash, p.selected, now)
	case err != nil:
		return err
	case st.Policy != p.policy.Name:
		return usagef("rollout: state file %s belongs to policy %q, not %q (pass --state)", p.statePath, st.Policy, p.policy.Name)
	case st.SpecHash != p.hash:
		fmt.Fprintf(s.errOut, "the policy changed since %s was written: starting a new rollout\n", p.statePath)
		st = rollout.NewState(p.policy.Name, p.hash, p.selected, now)
	default:
		if dropped := st.Reconcile(p.selected); len(dropped) > 0 {
			fmt.Fprintf(s.errOut, "no longer selected, left as they are: %s\n", strings.Join(dropped, ", "))
		}
		if st.Halted {
			if !o.resumeHalted {
				printRolloutSummary(s.out, st, now)
				fmt.Fprintf(s.errOut, "error: rollout of %s is halted since %s: %s; re-run with --resume-halted to retry the failed hosts and continue\n",
					st.Policy, st.HaltedAt.Local().Format(time.DateTime), st.HaltReason)
				return reportedError{}
			}
			st.ResumeHalted()
			fmt.Fprintf(s.errOut, "resuming the halted rollout of %s: failed hosts are retried first\n", st.Policy)
		}
	}
	for i := range st.Hosts {
		st.Hosts[i].Wave = p.waves[i]
	}

	agents := map[string]rollout.Agent{}
	for _, h := range p.selected {
		c, err := client.New(client.Options{
			Server: h.Server, CertFile: h.Cert, KeyFile: h.Key, CAFile: h.CA,
			RequestTimeout: positiveOr(g.requestTimeout, 30*time.Second), UserAgent: "patchctl/" + version.Version,
		})
		if err != nil {
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
		agents[h.Name] = c.PatchPolicies()
	}

	view := newRolloutView(s.errOut, o.progress, p)
	d := &rollout.Driver{
		Policy:      p.policy,
		Agents:      agents,
		Schedule:    p.schedule,
		HostTimeout: o.hostTimeout,
		Interval:    o.interval,
		Now:         g.now,
		Save:        func(st *rollout.State) error { return rollout.SaveState(p.statePath, st) },
		Report:      view.report,
		Log:         logr.Discard(),
	}
	runErr := d.Run(ctx, st)
	view.close()
	printRolloutSummary(s.out, st, g.now())
	switch {
	case runErr != nil && ctx.Err() != nil:
		fmt.Fprintf(s.errOut, "error: interrupted; progress is saved in %s: run the same command again to resume\n", p.statePath)
		return reportedError{}
	case runErr != nil:
		return runErr
	case st.Halted:
		fmt.Fprintf(s.errOut, "error: rollout halted: %s; re-run with --resume-halted to retry the failed hosts and continue\n", st.HaltReason)
		return reportedError{}
	}
	for _, h := range st.Hosts {
		if h.Phase != rollout.Succeeded {
			fmt.Fprintf(s.errOut, "error: not every host succeeded\n")
			return reportedError{}
		}
	}
	return nil
}

func positiveOr(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// hostDuration is how long a host took, or has been applying.
func hostDuration(h rollout.HostProgress, now time.Time) string {
	switch {
	case h.StartedAt.IsZero():
		return "-"
	case h.FinishedAt.IsZero():
		return duration.HumanDuration(now.Sub(h.StartedAt))
	default:
		return duration.HumanDuration(h.FinishedAt.Sub(h.StartedAt))
	}
}

// printRolloutSummary prints the table of every host and the failed hosts.
func printRolloutSummary(w io.Writer, st *rollout.State, now time.Time) {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "HOST\tSTATE\tREADY\tREASON\tDURATION")
	counts := map[rollout.Phase]int{}
	var failed []string
	for _, h := range st.Hosts {
		counts[h.Phase]++
		if h.Phase == rollout.Failed {
			failed = append(failed, h.Name)
		}
		state := string(h.Phase)
		if h.Phase == rollout.Pending {
			state = "NotStarted"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, state, orNone(h.Ready), orNone(h.Reason), hostDuration(h, now))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%s: %d succeeded, %d failed, %d applying, %d not started",
		st.Policy, counts[rollout.Succeeded], counts[rollout.Failed], counts[rollout.Applying], counts[rollout.Pending])
	if st.Halted {
		fmt.Fprintf(w, "; HALTED: %s", st.HaltReason)
	}
	fmt.Fprintln(w)
	if len(failed) > 0 {
		fmt.Fprintf(w, "failed hosts: %s\n", strings.Join(failed, ", "))
	}
}

// rolloutView shows progress on standard error: a live view redrawn on a
// terminal, log lines otherwise.
type rolloutView struct {
	w        io.Writer
	live     bool
	width    int
	drawn    int
	waves    int
	limits   rollout.Limits
	lastSoak time.Time
	now      func() time.Time
}

func newRolloutView(w io.Writer, mode string, p *rolloutPlan) *rolloutView {
	v := &rolloutView{w: w, waves: len(p.schedule.Soaks), limits: p.schedule.Limits, width: 100, now: time.Now}
	f, isFile := w.(*os.File)
	tty := isFile && term.IsTerminal(int(f.Fd()))
	v.live = mode == "live" || (mode == "auto" && tty)
	if tty {
		if wd, _, err := term.GetSize(int(f.Fd())); err == nil && wd > 20 {
			v.width = wd
		}
	}
	if !v.live {
		fmt.Fprintf(w, "rolling out %s to %d host(s) in %d wave(s): at most %d at once, halting after more than %d failure(s)\n",
			p.policy.Name, len(p.selected), v.waves, v.limits.MaxConcurrent, v.limits.MaxFailures)
	}
	return v
}

func (v *rolloutView) report(p rollout.Progress) {
	if v.live {
		v.redraw(renderLiveView(p, v.waves, v.limits, v.now()))
		return
	}
	for _, t := range p.Transitions {
		fmt.Fprintln(v.w, transitionLine(t, p.State, v.waves))
	}
	if p.NewlyHalted {
		fmt.Fprintf(v.w, "%s HALTED: %s; no new host is started\n", p.State.HaltedAt.Local().Format(time.TimeOnly), p.State.HaltReason)
	}
	if s := p.Decision.SoakUntil; !s.IsZero() && !s.Equal(v.lastSoak) {
		v.lastSoak = s
		fmt.Fprintf(v.w, "wave %d/%d waits for the previous wave to soak until %s\n", p.Decision.Wave+1, v.waves, s.Local().Format(time.TimeOnly))
	}
}

func (v *rolloutView) redraw(lines []string) {
	var b strings.Builder
	if v.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF\x1b[J", v.drawn)
	}
	for _, l := range lines {
		if r := []rune(l); len(r) > v.width-1 {
			l = string(r[:v.width-2]) + "…"
		}
		b.WriteString(l + "\n")
	}
	v.drawn = len(lines)
	_, _ = io.WriteString(v.w, b.String())
}

func (v *rolloutView) close() {}

// transitionLine is the log line of one host's change of phase.
func transitionLine(t rollout.Transition, st *rollout.State, waves int) string {
	at := t.Time.Local().Format(time.TimeOnly)
	var h rollout.HostProgress
	for _, x := range st.Hosts {
		if x.Name == t.Host {
			h = x
		}
	}
	wave := ""
	if waves > 1 {
		wave = fmt.Sprintf(" (wave %d/%d)", t.Wave+1, waves)
	}
	switch t.To {
	case rollout.Applying:
		return fmt.Sprintf("%s %s: started%s", at, t.Host, wave)
	case rollout.Succeeded:
		return fmt.Sprintf("%s %s: succeeded after %s (%s)", at, t.Host, hostDuration(h, t.Time), t.Reason)
	case rollout.Failed:
		return fmt.Sprintf("%s %s: FAILED after %s: %s: %s", at, t.Host, hostDuration(h, t.Time), t.Reason, oneLine(t.Message))
	default:
		return fmt.Sprintf("%s %s: %s (%s)", at, t.Host, t.To, t.Reason)
	}
}

// maxLiveHosts bounds the host lines of the live view.
const maxLiveHosts = 20

// renderLiveView draws the live view: a bar with counts, then the hosts
// applying and the failed hosts.
func renderLiveView(p rollout.Progress, waves int, limits rollout.Limits, now time.Time) []string {
	st := p.State
	counts := map[rollout.Phase]int{}
	for _, h := range st.Hosts {
		counts[h.Phase]++
	}
	n := len(st.Hosts)
	done := counts[rollout.Succeeded] + counts[rollout.Failed]
	const barWidth = 30
	filled := 0
	if n > 0 {
		filled = done * barWidth / n
	}
	bar := strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled)
	head := fmt.Sprintf("%s [%s] %d/%d done: %d succeeded, %d failed, %d applying (max %d)",
		st.Policy, bar, done, n, counts[rollout.Succeeded], counts[rollout.Failed], counts[rollout.Applying], limits.MaxConcurrent)
	if waves > 1 && p.Decision.Wave >= 0 {
		head += fmt.Sprintf(", wave %d/%d", p.Decision.Wave+1, waves)
	}
	lines := []string{head}
	switch {
	case st.Halted:
		lines = append(lines, "HALTED: "+st.HaltReason+"; no new host is started")
	case !p.Decision.SoakUntil.IsZero():
		lines = append(lines, "soaking the previous wave until "+p.Decision.SoakUntil.Local().Format(time.TimeOnly))
	}
	shown := 0
	for _, phase := range []rollout.Phase{rollout.Applying, rollout.Failed} {
		for _, h := range st.Hosts {
			if h.Phase != phase {
				continue
			}
			if shown == maxLiveHosts {
				lines = append(lines, "  …")
				return lines
			}
			shown++
			lines = append(lines, fmt.Sprintf("  %-20s %-9s %-6s %s: %s", h.Name, h.Phase, hostDuration(h, now), orNone(h.Reason), oneLine(h.Message)))
		}
	}
	return lines
}
