package fleet

import (
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/waves"
)

// Rollout waves in fleet mode.
//
// The elected leader assigns a policy's matched hosts to waves once per
// policy generation (by internal/waves' rule, hosts in name order) and
// records the assignment in status.waves, compactly enough for every agent
// to find its own wave without seeing other hosts:
//
//   - Written waves are taken in order; each takes hosts that no earlier
//     wave took. A wave with a selector takes the hosts its selector
//     matches. A wave sized by hosts (a count, or a percentage of the
//     matched hosts rounded up) takes that many of the remaining hosts in
//     name order and records the last name it took (lastHost).
//   - Hosts no written wave takes form a last, implicit wave.
//   - A host that joins later, or whose labels change, is placed by the
//     same rule against the recorded boundaries: the first selector wave
//     that matches it, or the first sized wave whose lastHost sorts at or
//     after its name; else the implicit wave.
//
// status.currentWave opens waves in order: hosts of the current wave and
// of the earlier ones may apply the policy; the others wait. A wave is
// finished once each of its hosts succeeded (Compliant at the policy's
// generation, which includes a passed health check) or failed within
// maxFailures; the next wave opens when the current one is finished and
// its soak has passed since. A wave without hosts needs no soak. While the
// rollout is halted no wave finishes and none opens. The current wave
// never moves back within a generation; a new generation (a spec change)
// assigns again and starts over at wave 0.

// ReasonWaitingForWave: the policy's hosts apply it wave by wave.
const ReasonWaitingForWave = "WaitingForWave"

// WaveOf returns the wave of the host name with labels host in pol, from
// the leader's assignment in pol's status. ok is false until the leader
// assigned the waves of pol's current generation.
func WaveOf(pol *v1alpha1.PatchPolicy, name string, host map[string]string) (wave int, ok bool) {
	if !HasWaves(pol) || pol.Status.WavesGeneration != pol.Generation || len(pol.Status.Waves) != len(pol.Spec.Rollout.Waves)+1 {
		return 0, false
	}
	return waveOf(pol.Spec.Rollout.Waves, pol.Status.Waves, name, host), true
}

// waveOf places a host against the boundaries recorded in rec.
func waveOf(spec []v1alpha1.RolloutWave, rec []v1alpha1.WaveStatus, name string, host map[string]string) int {
	return waves.Place(spec, lastHosts(rec), waves.Host{Name: name, Labels: host})
}

// lastHosts are the boundaries recorded in rec, by wave.
func lastHosts(rec []v1alpha1.WaveStatus) []string {
	out := make([]string, len(rec))
	for i, w := range rec {
		out[i] = w.LastHost
	}
	return out
}

// WaveState is a policy's waves as the leader computes them.
type WaveState struct {
	// Waves is the record for status.waves; nil when no host matches yet
	// (nothing is assigned before the first host).
	Waves []v1alpha1.WaveStatus
	// Current is the open wave.
	Current int
	// WakeAt is when the current wave's soak ends (zero: no soak running).
	WakeAt time.Time
}

// PlanWaves computes a policy's waves over hosts at now: the assignment
// (kept from status when it is for the current generation, else made from
// the matched hosts), each wave's counts, when it finished, and the open
// wave. halted stops waves from finishing and opening. It is pure.
func PlanWaves(pol *v1alpha1.PatchPolicy, hosts []*v1alpha1.Host, halted bool, now time.Time) WaveState {
	spec := pol.Spec.Rollout.Waves
	var matched []*v1alpha1.Host
	for _, h := range hosts {
		if sel, err := pol.Selects(h.Labels); err == nil && sel {
			matched = append(matched, h)
		}
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].Name < matched[j].Name })

	var ws WaveState
	st := &pol.Status
	if st.WavesGeneration == pol.Generation && len(st.Waves) == len(spec)+1 {
		ws.Waves = make([]v1alpha1.WaveStatus, len(st.Waves))
		for i, w := range st.Waves {
			ws.Waves[i] = v1alpha1.WaveStatus{Index: int32(i), LastHost: w.LastHost, FinishedAt: w.FinishedAt.DeepCopy()}
		}
		if st.CurrentWave != nil {
			ws.Current = min(max(int(*st.CurrentWave), 0), len(spec))
		}
	} else {
		if len(matched) == 0 {
			return WaveState{}
		}
		ws.Waves = assignWaves(spec, matched)
	}

	last := lastHosts(ws.Waves)
	for _, h := range matched {
		w := &ws.Waves[waves.Place(spec, last, waves.Host{Name: h.Name, Labels: h.Labels})]
		w.Hosts++
		switch hostState(pol, h) {
		case v1alpha1.PolicyCompliant:
			w.Succeeded++
		case v1alpha1.PolicyFailed, v1alpha1.PolicyStalled:
			w.Failed++
		}
	}
	if halted {
		return ws
	}
	// Status times are whole seconds: a finish is recorded rounded up, so
	// that a soak is never cut short.
	stamp := metav1.NewTime(now.Truncate(time.Second))
	if stamp.Before(&metav1.Time{Time: now}) {
		stamp = metav1.NewTime(stamp.Add(time.Second))
	}
	for {
		w := &ws.Waves[ws.Current]
		if w.FinishedAt == nil && w.Succeeded+w.Failed == w.Hosts {
			w.FinishedAt = stamp.DeepCopy()
		}
		if w.FinishedAt == nil || ws.Current == len(spec) {
			return ws
		}
		var soak time.Duration
		if w.Hosts > 0 && spec[ws.Current].Soak != nil {
			soak = spec[ws.Current].Soak.Get()
		}
		if end := w.FinishedAt.Add(soak); now.Before(end) {
			ws.WakeAt = end
			return ws
		}
		ws.Current++
	}
}

// assignWaves makes the record of a fresh assignment of matched (sorted by
// name): the last host of every sized wave.
func assignWaves(spec []v1alpha1.RolloutWave, matched []*v1alpha1.Host) []v1alpha1.WaveStatus {
	hosts := make([]waves.Host, len(matched))
	for i, h := range matched {
		hosts[i] = waves.Host{Name: h.Name, Labels: h.Labels}
	}
	last := waves.Assign(spec, hosts).LastHost
	out := make([]v1alpha1.WaveStatus, len(spec)+1)
	for i := range out {
		out[i].Index = int32(i)
		if i < len(last) {
			out[i].LastHost = last[i]
		}
	}
	return out
}

// hostState is the host's reported state of pol at pol's generation ("":
// none reported yet).
func hostState(pol *v1alpha1.PatchPolicy, h *v1alpha1.Host) v1alpha1.PolicyState {
	for i := range h.Status.Policies {
		e := &h.Status.Policies[i]
		if e.Name == pol.Name {
			if e.ObservedGeneration != pol.Generation {
				return ""
			}
			return e.State
		}
	}
	return ""
}

// ApplyWaves writes ws into st (a policy's status as ApplyAggregate made
// it) and says in the Progressing and Ready messages which wave is open.
// A policy without waves gets no wave fields. It is pure.
func ApplyWaves(pol *v1alpha1.PatchPolicy, st *v1alpha1.PatchPolicyStatus, ws WaveState) {
	if !HasWaves(pol) || ws.Waves == nil {
		st.Waves, st.CurrentWave, st.WavesGeneration = nil, nil, 0
		return
	}
	st.Waves = ws.Waves
	cur := int32(ws.Current)
	st.CurrentWave = &cur
	st.WavesGeneration = pol.Generation
	total := len(ws.Waves)
	if ws.Waves[total-1].Hosts == 0 && ws.Current < total-1 {
		total-- // the implicit wave is empty: do not count it
	}
	w := ws.Waves[ws.Current]
	note := fmt.Sprintf("; wave %d of %d open (%d of its %d hosts succeeded, %d failed)", ws.Current+1, total, w.Succeeded, w.Hosts, w.Failed)
	if !ws.WakeAt.IsZero() {
		note += "; soaking until " + ws.WakeAt.UTC().Format(time.RFC3339)
	}
	for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionProgressing} {
		if c := meta.FindStatusCondition(st.Conditions, typ); c != nil && c.Reason == ReasonHostsPending {
			c.Message += note
		}
	}
}
