package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
)

const describeLong = `Show one or more objects in detail, for people, like kubectl describe.

For a PatchPolicy: metadata, a summary of the spec (selector, updates,
packages, cache, windows, reboot, rollout), then status: observed generation,
pending changes, host counts, conditions (TYPE STATUS REASON MESSAGE
LAST-TRANSITION) and the plan of changes still to make.

For a Host: operating system, backend and why it was chosen, package index
freshness, package counts, the upgradable packages, whether a reboot is
required and since when, each policy's state on this host, and conditions.

For an Operation: the step, its policy and host, the exact command line,
phase, start and finish times, exit code, attempts and the tail of its
output (the full log: patchctl logs NAME).

Without a name, every object of the type is described.`

const describeExamples = `  # Why is this policy not Ready?
  patchctl describe policy web-security

  # What is pending on this host?
  patchctl describe host web-1

  # What did this step run, and how did it end?
  patchctl describe op op-7f3a`

func newDescribeCommand(g *globalOptions, s streams) *cobra.Command {
	cmd := newCommand(usage{"describe KIND [NAME...] | KIND/NAME...", "Show objects in detail, for people", describeLong, describeExamples},
		rangeArgs(1, -1, "resource type (one of "+kindList+")"), func(cmd *cobra.Command, args []string) error {
			kind, refs, err := parseRefs(args, false)
			if err != nil {
				return err
			}
			return g.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				return runDescribe(ctx, c, g, s, kind, refs)
			})
		})
	return cmd
}

func runDescribe(ctx context.Context, c *client.Client, g *globalOptions, s streams, kind kindInfo, refs []ref) error {
	var objs []v1alpha1.Object
	if len(refs) == 0 {
		_, all, err := listKind(ctx, c, kind, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(all) == 0 {
			fmt.Fprintln(s.errOut, "No resources found")
		}
		objs = all
	}
	failed := eachRef(s, refs, func(r ref) error {
		obj, err := getRef(ctx, c, r)
		if err == nil {
			objs = append(objs, obj)
		}
		return err
	})
	now := g.now()
	for i, obj := range objs {
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		describeObject(s.out, obj, now)
	}
	return reported(failed)
}

// section is a block of "Key:  value" lines with aligned values, written
// at an indentation level.
type section struct {
	w      io.Writer
	indent string
	rows   [][2]string
}

func newSection(w io.Writer, level int) *section {
	return &section{w: w, indent: strings.Repeat("  ", level)}
}

func (s *section) add(key, value string) { s.rows = append(s.rows, [2]string{key, value}) }

// flush writes the block: every value starts in the same column.
func (s *section) flush() {
	width := 0
	for _, r := range s.rows {
		width = max(width, len(r[0]))
	}
	for _, r := range s.rows {
		if r[1] == "" {
			fmt.Fprintf(s.w, "%s%s:\n", s.indent, r[0])
			continue
		}
		fmt.Fprintf(s.w, "%s%-*s  %s\n", s.indent, width+1, r[0]+":", r[1])
	}
	s.rows = nil
}

// heading writes "Key:" on its own line.
func heading(w io.Writer, level int, key string) {
	fmt.Fprintf(w, "%s%s:\n", strings.Repeat("  ", level), key)
}

// table writes rows under headers, indented.
func table(w io.Writer, level int, headers []string, rows [][]string) {
	ind := strings.Repeat("  ", level)
	tw := newTabWriter(w)
	fmt.Fprintln(tw, ind+strings.Join(headers, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, ind+strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// timeAgo is an absolute time and how long ago it was.
func timeAgo(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return none
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), age(*t, now))
}

func mapString(m map[string]string) string {
	if len(m) == 0 {
		return none
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func describeObject(w io.Writer, obj v1alpha1.Object, now time.Time) {
	meta := newSection(w, 0)
	meta.add("Name", obj.GetName())
	meta.add("Kind", obj.GetObjectKind().GroupVersionKind().Kind)
	meta.add("Labels", mapString(obj.GetLabels()))
	meta.add("Annotations", mapString(obj.GetAnnotations()))
	ct := obj.GetCreationTimestamp()
	meta.add("Created", timeAgo(&ct, now))
	meta.add("Generation", strconv.FormatInt(obj.GetGeneration(), 10))
	meta.add("Resource Version", orNone(obj.GetResourceVersion()))
	meta.flush()
	switch o := obj.(type) {
	case *v1alpha1.PatchPolicy:
		describePolicy(w, o, now)
	case *v1alpha1.Host:
		describeHost(w, o, now)
	case *v1alpha1.Operation:
		describeOperation(w, o, now)
	}
}

func selectorString(sel *metav1.LabelSelector) string {
	s, err := v1alpha1.AsSelector(sel)
	if err != nil {
		return fmt.Sprintf("<invalid: %v>", err)
	}
	if s.Empty() {
		return "<all hosts>"
	}
	return s.String()
}

func windowString(w *v1alpha1.TimeWindow) string {
	if w == nil {
		return "<always>"
	}
	days := "every day"
	if len(w.Days) > 0 {
		ds := make([]string, len(w.Days))
		for i, d := range w.Days {
			ds[i] = string(d)
		}
		days = strings.Join(ds, ",")
	}
	tz := w.TimeZone
	if tz == "" {
		tz = v1alpha1.DefaultTimeZone
	}
	return fmt.Sprintf("%s %s for %s (%s)", days, w.Start, w.Duration, tz)
}

func intOrString(v *intstr.IntOrString) string {
	if v == nil {
		return none
	}
	return v.String()
}

func describePolicy(w io.Writer, p *v1alpha1.PatchPolicy, now time.Time) {
	sp := p.Spec
	heading(w, 0, "Spec")
	s := newSection(w, 1)
	mode := sp.Mode
	if mode == "" {
		mode = v1alpha1.ModeEnforce
	}
	s.add("Mode", string(mode))
	s.add("Suspend", strconv.FormatBool(sp.Suspend))
	s.add("Host Selector", selectorString(sp.HostSelector))
	updates := string(v1alpha1.UpdatesNone)
	if sp.Updates != nil {
		if sp.Updates.Apply != "" {
			updates = string(sp.Updates.Apply)
		}
		if len(sp.Updates.Exclude) > 0 {
			updates += " (exclude " + strings.Join(sp.Updates.Exclude, ", ") + ")"
		}
	}
	s.add("Updates", updates)
	maxAge := v1alpha1.DefaultCacheMaxAge.String()
	if sp.Cache != nil && sp.Cache.MaxAge != nil {
		maxAge = string(*sp.Cache.MaxAge)
	}
	s.add("Cache Max Age", maxAge)
	s.add("Maintenance Window", windowString(sp.MaintenanceWindow))
	reboot := string(v1alpha1.RebootNever)
	if sp.Reboot != nil {
		if sp.Reboot.Policy != "" {
			reboot = string(sp.Reboot.Policy)
		}
		if sp.Reboot.Window != nil {
			reboot += ", in window " + windowString(sp.Reboot.Window)
		}
	}
	s.add("Reboot", reboot)
	if hc := sp.HealthCheck; hc != nil {
		s.add("Health Check", healthCheckSpecString(hc))
	}
	if sp.Rollout != nil {
		s.add("Rollout", fmt.Sprintf("maxConcurrent %s, maxFailures %s", intOrString(sp.Rollout.MaxConcurrent), intOrString(sp.Rollout.MaxFailures)))
		for i, wv := range sp.Rollout.Waves {
			s.add(fmt.Sprintf("Wave %d", i+1), waveSpecString(wv))
		}
	}
	if len(sp.Packages) == 0 {
		s.add("Packages", none)
		s.flush()
	} else {
		s.add("Packages", "")
		s.flush()
		rows := make([][]string, len(sp.Packages))
		for i, pk := range sp.Packages {
			state := pk.State
			if state == "" {
				state = v1alpha1.PackagePresent
			}
			rows[i] = []string{pk.Name, string(state), orNone(pk.Version)}
		}
		table(w, 2, []string{"NAME", "STATE", "VERSION"}, rows)
	}

	st := p.Status
	heading(w, 0, "Status")
	s = newSection(w, 1)
	og := strconv.FormatInt(st.ObservedGeneration, 10)
	if st.ObservedGeneration < p.Generation {
		og += fmt.Sprintf(" (generation %d not yet observed)", p.Generation)
	}
	s.add("Observed Generation", og)
	s.add("Pending", strconv.Itoa(int(st.Pending)))
	h := st.Hosts
	s.add("Hosts", fmt.Sprintf("%d matched, %d compliant, %d progressing, %d failed, %d reboot required",
		h.Matched, h.Compliant, h.Progressing, h.Failed, h.RebootRequired))
	s.add("Last Operation", orNone(st.LastOperation))
	if st.NextRetry != nil {
		s.add("Next Retry", timeAgo(st.NextRetry, now))
	}
	if hc := st.HealthCheck; hc != nil {
		s.add("Health Check", healthCheckStatusString(hc, now))
	}
	if st.CurrentWave != nil {
		s.add("Current Wave", fmt.Sprintf("%d of %d (waves assigned at generation %d)", *st.CurrentWave+1, len(st.Waves), st.WavesGeneration))
	}
	s.flush()
	if len(st.Waves) > 0 {
		heading(w, 1, "Waves")
		rows := make([][]string, len(st.Waves))
		for i, wv := range st.Waves {
			finished := none
			if wv.FinishedAt != nil {
				finished = timeAgo(wv.FinishedAt, now)
			}
			rows[i] = []string{strconv.Itoa(i + 1), strconv.Itoa(int(wv.Hosts)), strconv.Itoa(int(wv.Succeeded)), strconv.Itoa(int(wv.Failed)),
				orNone(wv.LastHost), finished}
		}
		table(w, 2, []string{"WAVE", "HOSTS", "SUCCEEDED", "FAILED", "LAST-HOST", "FINISHED"}, rows)
	}
	describeConditions(w, st.Conditions, now)
	if len(st.Plan) == 0 {
		newSectionLine(w, 1, "Plan", none)
		return
	}
	heading(w, 1, "Plan")
	rows := make([][]string, len(st.Plan))
	for i, it := range st.Plan {
		rows[i] = []string{it.Package, string(it.Action), orNone(it.From), orNone(it.To), string(it.Reason), orNone(oneLine(it.Message))}
	}
	table(w, 2, []string{"PACKAGE", "ACTION", "FROM", "TO", "REASON", "MESSAGE"}, rows)
}

func newSectionLine(w io.Writer, level int, key, value string) {
	s := newSection(w, level)
	s.add(key, value)
	s.flush()
}

func describeConditions(w io.Writer, conds []metav1.Condition, now time.Time) {
	if len(conds) == 0 {
		newSectionLine(w, 1, "Conditions", none)
		return
	}
	heading(w, 1, "Conditions")
	rows := make([][]string, len(conds))
	for i, c := range conds {
		rows[i] = []string{c.Type, string(c.Status), orNone(c.Reason), orNone(oneLine(c.Message)), timeAgo(&c.LastTransitionTime, now)}
	}
	table(w, 2, []string{"TYPE", "STATUS", "REASON", "MESSAGE", "LAST-TRANSITION"}, rows)
}

func describeHost(w io.Writer, hst *v1alpha1.Host, now time.Time) {
	st := hst.Status
	heading(w, 0, "Status")
	s := newSection(w, 1)
	osLine := st.OS.PrettyName
	if osLine == "" {
		osLine = strings.TrimSpace(st.OS.ID + " " + st.OS.VersionID)
	}
	if st.OS.IDLike != "" {
		osLine += " (like " + st.OS.IDLike + ")"
	}
	s.add("OS", orNone(osLine))
	s.add("Kernel", orNone(st.OS.Kernel))
	backend := none
	if st.Backend != nil {
		backend = st.Backend.Name
		if st.Backend.Reason != "" {
			backend += " (" + st.Backend.Reason + ")"
		}
	}
	s.add("Backend", backend)
	cache := orNone(string(st.Cache.State))
	if st.Cache.LastRefresh != nil {
		cache += ", last refresh " + timeAgo(st.Cache.LastRefresh, now)
	}
	if st.Cache.Message != "" {
		cache += ": " + oneLine(st.Cache.Message)
	}
	s.add("Cache", cache)
	s.add("Packages", fmt.Sprintf("%d installed, %d upgradable, %d security", st.Packages.Installed, st.Packages.Upgradable, st.Packages.Security))
	rr := st.RebootRequired
	reboot := "False"
	if rr.Required {
		reboot = "True"
		if rr.Since != nil {
			reboot += ", since " + timeAgo(rr.Since, now)
		}
		if len(rr.Packages) > 0 {
			reboot += ", for " + strings.Join(rr.Packages, ", ")
		}
	}
	s.add("Reboot Required", reboot)
	s.flush()

	if len(st.Upgradable) == 0 {
		newSectionLine(w, 1, "Upgradable", none)
	} else {
		heading(w, 1, "Upgradable")
		rows := make([][]string, len(st.Upgradable))
		for i, u := range st.Upgradable {
			sec := ""
			if u.Security {
				sec = "yes"
			}
			rows[i] = []string{u.Name, orNone(u.From), u.To, orNone(sec), orNone(u.Source)}
		}
		table(w, 2, []string{"NAME", "FROM", "TO", "SECURITY", "SOURCE"}, rows)
	}
	if len(st.Policies) == 0 {
		newSectionLine(w, 1, "Policies", none)
	} else {
		heading(w, 1, "Policies")
		rows := make([][]string, len(st.Policies))
		for i, p := range st.Policies {
			rows[i] = []string{p.Name, string(p.State), strconv.Itoa(int(p.Pending)), strconv.FormatInt(p.ObservedGeneration, 10), orNone(p.LastOperation), orNone(oneLine(p.Message))}
		}
		table(w, 2, []string{"NAME", "STATE", "PENDING", "GENERATION", "LAST-OPERATION", "MESSAGE"}, rows)
	}
	describeConditions(w, st.Conditions, now)
}

func describeOperation(w io.Writer, op *v1alpha1.Operation, now time.Time) {
	sp := op.Spec
	heading(w, 0, "Spec")
	s := newSection(w, 1)
	s.add("Step", orNone(string(sp.Step)))
	s.add("Policy", orNone(sp.Policy))
	s.add("Host", orNone(sp.Host))
	s.add("Backend", orNone(sp.Backend))
	s.add("Packages", orNone(strings.Join(sp.Packages, ", ")))
	s.add("Argv", orNone(shellJoin(sp.Argv)))
	s.flush()

	st := op.Status
	heading(w, 0, "Status")
	s = newSection(w, 1)
	phase := string(st.Phase)
	if phase == "" {
		phase = string(v1alpha1.OperationPending)
	}
	s.add("Phase", phase)
	if st.Reason != "" {
		s.add("Reason", st.Reason)
	}
	if st.Message != "" {
		s.add("Message", oneLine(st.Message))
	}
	s.add("Started", timeAgo(st.StartedAt, now))
	s.add("Finished", timeAgo(st.FinishedAt, now))
	s.add("Duration", operationDuration(op, now))
	exit := none
	if st.ExitCode != nil {
		exit = strconv.Itoa(int(*st.ExitCode))
	}
	s.add("Exit Code", exit)
	s.add("Attempts", strconv.Itoa(int(st.Attempts)))
	if st.PID != 0 {
		s.add("PID", strconv.Itoa(int(st.PID)))
	}
	if st.OutputTail == "" {
		s.add("Output Tail", none)
		s.flush()
		return
	}
	s.add("Output Tail", "")
	s.flush()
	for _, line := range strings.Split(strings.TrimRight(st.OutputTail, "\n"), "\n") {
		fmt.Fprintf(w, "    %s\n", line)
	}
}

// shellJoin quotes argv so that it can be pasted into a shell.
func shellJoin(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && a[0] != '~' && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%~", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// healthCheckSpecString is a policy's health check on one line, e.g.
// "exec web (timeout 10s, every 10s while failing, failed after 3)".
// waveSpecString is one written wave: its hosts or selector, and its soak.
func waveSpecString(wv v1alpha1.RolloutWave) string {
	who := "hosts " + intOrString(wv.Hosts)
	if wv.Selector != nil {
		who = "selector " + metav1.FormatLabelSelector(wv.Selector)
	}
	if wv.Soak != nil {
		who += ", soak " + string(*wv.Soak)
	}
	return who
}

func healthCheckSpecString(hc *v1alpha1.HealthCheckSpec) string {
	what := none
	switch {
	case hc.Exec != nil:
		what = "exec " + hc.Exec.Name
	case hc.HTTPGet != nil:
		what = "httpGet " + hc.HTTPGet.URL
		if hc.HTTPGet.InsecureSkipTLSVerify {
			what += " (certificate not verified)"
		}
	}
	timeout, interval := v1alpha1.NewDuration(v1alpha1.DefaultHealthTimeout), v1alpha1.NewDuration(v1alpha1.DefaultHealthInterval)
	if hc.Timeout != nil {
		timeout = *hc.Timeout
	}
	if hc.Interval != nil {
		interval = *hc.Interval
	}
	threshold := hc.FailureThreshold
	if threshold == 0 {
		threshold = v1alpha1.DefaultHealthFailureThreshold
	}
	return fmt.Sprintf("%s (timeout %s, every %s while failing, failed after %d)", what, timeout, interval, threshold)
}

// healthCheckStatusString is the last health check on one line, e.g.
// "Failed, 3 in a row, at 2026-11-22T04:00:00Z (2m ago): exec check … exit status 3".
func healthCheckStatusString(hc *v1alpha1.HealthCheckStatus, now time.Time) string {
	s := string(hc.Result)
	if hc.ConsecutiveFailures > 0 {
		s += fmt.Sprintf(", %d in a row", hc.ConsecutiveFailures)
	}
	if hc.LastChecked != nil {
		s += ", at " + timeAgo(hc.LastChecked, now)
	}
	if hc.Message != "" {
		s += ": " + oneLine(hc.Message)
	}
	return s
}
