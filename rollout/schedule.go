package rollout

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/waves"
)

// Phase is where one host stands in a rollout.
type Phase string

const (
	// Pending: not started; the host has not been sent the policy.
	Pending Phase = "Pending"
	// Applying: the policy was sent; the host is converging.
	Applying Phase = "Applying"
	// Succeeded: the host's copy is Ready for the generation sent.
	Succeeded Phase = "Succeeded"
	// Failed: the host failed (see Judge); it counts against maxFailures.
	Failed Phase = "Failed"
)

// Limits are a rollout's bounds, resolved to host counts.
type Limits struct {
	// MaxConcurrent hosts are Applying at once (at least 1).
	MaxConcurrent int
	// MaxFailures failed hosts are tolerated; one more halts the rollout.
	MaxFailures int
}

// ResolveLimits turns a policy's spec.rollout into counts for selected
// hosts. maxConcurrent defaults to 1; a percentage is rounded down but is
// at least 1. maxFailures defaults to 0 (the first failure halts); a
// percentage is rounded down.
func ResolveLimits(r *v1alpha1.RolloutSpec, selected int) (Limits, error) {
	l := Limits{MaxConcurrent: 1}
	if r == nil {
		return l, nil
	}
	if r.MaxConcurrent != nil {
		n, err := intstr.GetScaledValueFromIntOrPercent(r.MaxConcurrent, selected, false)
		if err != nil {
			return l, fmt.Errorf("spec.rollout.maxConcurrent: %w", err)
		}
		l.MaxConcurrent = max(n, 1)
	}
	if r.MaxFailures != nil {
		n, err := intstr.GetScaledValueFromIntOrPercent(r.MaxFailures, selected, false)
		if err != nil {
			return l, fmt.Errorf("spec.rollout.maxFailures: %w", err)
		}
		l.MaxFailures = max(n, 0)
	}
	return l, nil
}

// WaveSpec is one wave as written: it ends once Upto hosts (a count or a
// percentage of the selected hosts, cumulative) have been started, and the
// next wave waits Soak after its last host finished.
type WaveSpec struct {
	Upto intstr.IntOrString
	Soak time.Duration
}

// ParseWaves parses "10%,50%,100%" (or counts, "1,10,100%"): cumulative
// ends of waves, strictly increasing, each soaked for soak.
func ParseWaves(s string, soak time.Duration) ([]WaveSpec, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []WaveSpec
	lastPct, lastCount := -1, -1
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		var v intstr.IntOrString
		if p, ok := strings.CutSuffix(part, "%"); ok {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 100 {
				return nil, fmt.Errorf("wave %q: want a percentage from 1%% to 100%%", part)
			}
			if n <= lastPct {
				return nil, fmt.Errorf("wave %q: waves are cumulative and must increase", part)
			}
			lastPct = n
			v = intstr.FromString(part)
		} else {
			n, err := strconv.Atoi(part)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("wave %q: want a host count (at least 1) or a percentage", part)
			}
			if n <= lastCount {
				return nil, fmt.Errorf("wave %q: waves are cumulative and must increase", part)
			}
			lastCount = n
			v = intstr.FromInt32(int32(min(n, math.MaxInt32)))
		}
		out = append(out, WaveSpec{Upto: v, Soak: soak})
	}
	return out, nil
}

// AssignWaves puts n hosts (in order) into waves: host i belongs to the
// first wave whose cumulative end exceeds i. Percentages are rounded up,
// so that a first wave of 10% holds at least one host. Waves that end up
// empty are dropped; hosts past the last wave's end form a final wave of
// their own. It returns each host's wave and each wave's soak time.
//
// The assignment is internal/waves' (each cumulative end becomes the size
// of its wave, the hosts past the last end its implicit wave); unlike the
// fleet leader's record, a rollout numbers only the waves that have hosts.
func AssignWaves(n int, specs []WaveSpec) ([]int, []time.Duration) {
	if len(specs) == 0 {
		return make([]int, n), []time.Duration{0}
	}
	sized := make([]v1alpha1.RolloutWave, len(specs))
	start := 0
	for i, w := range specs {
		end, _ := waves.Size(&w.Upto, n) // 0 on an error: ParseWaves rejects these
		end = min(end, n)
		size := intstr.FromInt32(int32(max(end-start, 0)))
		sized[i].Hosts = &size
		start = max(start, end)
	}
	a := waves.Assign(sized, make([]waves.Host, n))
	index := make([]int, len(a.Hosts))
	var soaks []time.Duration
	for i, count := range a.Hosts {
		switch {
		case i < len(specs) && count > 0:
			index[i] = len(soaks)
			soaks = append(soaks, specs[i].Soak)
		case i == len(specs) && (count > 0 || len(soaks) == 0):
			index[i] = len(soaks)
			soaks = append(soaks, 0)
		}
	}
	for j, w := range a.Wave {
		a.Wave[j] = index[w]
	}
	return a.Wave, soaks
}

// Schedule is what the scheduler needs besides the hosts' progress.
type Schedule struct {
	Limits
	// Soaks holds each wave's soak time, by wave index.
	Soaks []time.Duration
}

// Decision is what to do now.
type Decision struct {
	// Start lists the indexes of the hosts to start now, in order.
	Start []int
	// Halted: failures crossed maxFailures (or the rollout was halted
	// before); no host is started.
	Halted bool
	// Failed and Applying count hosts in those phases.
	Failed, Applying int
	// Wave is the wave being rolled out (0-based); -1 when every host has
	// finished.
	Wave int
	// SoakUntil is set while the rollout waits for the previous wave to
	// soak: nothing starts before then.
	SoakUntil time.Time
	// Finished: no host is Applying and none will be started; the rollout
	// is over (succeeded, failed or halted).
	Finished bool
}

// Next decides which hosts to start at now, given every host's progress
// (Wave and Phase are read; FinishedAt for soaking) and whether the rollout
// was already halted. It never starts a host when that would make more than
// MaxConcurrent hosts Applying, never starts one once more than MaxFailures
// hosts failed, and starts a wave's hosts only when every host of the
// earlier waves has finished and the last wave that had hosts has soaked
// since its last host finished. Hosts are started in order.
func Next(s Schedule, hosts []HostProgress, halted bool, now time.Time) Decision {
	d := Decision{Wave: -1}
	for i, h := range hosts {
		switch h.Phase {
		case Failed:
			d.Failed++
		case Applying:
			d.Applying++
		}
		if h.Phase == Pending || h.Phase == Applying {
			if d.Wave < 0 || h.Wave < d.Wave {
				d.Wave = hosts[i].Wave
			}
		}
	}
	d.Halted = halted || d.Failed > s.MaxFailures
	if d.Halted || d.Wave < 0 {
		d.Finished = d.Applying == 0
		return d
	}
	// The previous wave (the highest earlier wave with hosts) must have soaked.
	prev := -1
	var prevEnd time.Time
	for _, h := range hosts {
		if h.Wave < d.Wave && h.Wave >= prev {
			if h.Wave > prev {
				prev, prevEnd = h.Wave, time.Time{}
			}
			if h.FinishedAt.After(prevEnd) {
				prevEnd = h.FinishedAt
			}
		}
	}
	if prev >= 0 && prev < len(s.Soaks) && s.Soaks[prev] > 0 {
		if until := prevEnd.Add(s.Soaks[prev]); now.Before(until) {
			d.SoakUntil = until
			return d
		}
	}
	slots := max(s.MaxConcurrent, 1) - d.Applying
	for i, h := range hosts {
		if slots <= 0 {
			break
		}
		if h.Wave == d.Wave && h.Phase == Pending {
			d.Start = append(d.Start, i)
			slots--
		}
	}
	return d
}

// WavesFromPolicy turns a policy's spec.rollout.waves (each wave's own
// size, a count or a percentage of the n selected hosts, rounded up, and
// its soak) into the cumulative WaveSpecs AssignWaves takes. Selector
// waves are not supported here (they are a fleet-mode feature): an error
// says so.
func WavesFromPolicy(n int, policyWaves []v1alpha1.RolloutWave) ([]WaveSpec, error) {
	var out []WaveSpec
	total := 0
	for i, w := range policyWaves {
		if w.Selector != nil || w.Hosts == nil {
			return nil, fmt.Errorf("spec.rollout.waves[%d]: patchctl rollout takes waves by size (hosts), not by selector; use --waves", i)
		}
		size, err := waves.Size(w.Hosts, n)
		if err != nil || size < 1 {
			return nil, fmt.Errorf("spec.rollout.waves[%d].hosts %s: want a count of at least 1 or a percentage from 1%% to 100%%", i, w.Hosts.String())
		}
		var soak time.Duration
		if w.Soak != nil {
			soak, err = w.Soak.Parse()
			if err != nil || soak < 0 {
				return nil, fmt.Errorf("spec.rollout.waves[%d].soak %q: want a duration such as 10m", i, string(*w.Soak))
			}
		}
		total += size
		out = append(out, WaveSpec{Upto: intstr.FromInt32(int32(min(total, math.MaxInt32))), Soak: soak})
	}
	return out, nil
}
