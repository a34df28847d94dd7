package rollout

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Agent is the part of one agent's API a rollout uses: its PatchPolicies.
// client.Client's PatchPolicies() satisfies it.
type Agent interface {
	Get(ctx context.Context, name string) (*v1alpha1.PatchPolicy, error)
	Create(ctx context.Context, p *v1alpha1.PatchPolicy) (*v1alpha1.PatchPolicy, error)
	Update(ctx context.Context, p *v1alpha1.PatchPolicy) (*v1alpha1.PatchPolicy, error)
}

// Transition is a host changing phase.
type Transition struct {
	Time    time.Time
	Host    string
	Wave    int
	From    Phase
	To      Phase
	Reason  string
	Message string
}

// Progress is reported after every pass of the driver.
type Progress struct {
	// Transitions of this pass, in host order.
	Transitions []Transition
	// State is a copy of the rollout's state after the pass.
	State *State
	// Decision is the scheduler's decision of the pass.
	Decision Decision
	// NewlyHalted: the rollout halted in this pass.
	NewlyHalted bool
}

// Driver runs a rollout: it applies the policy to hosts as Next decides
// and polls the hosts that are applying until each succeeded or failed.
type Driver struct {
	// Policy is what every selected host receives.
	Policy *v1alpha1.PatchPolicy
	// Agents reaches each host by name.
	Agents map[string]Agent
	// Schedule holds the limits and each wave's soak time.
	Schedule Schedule
	// HostTimeout bounds how long a host may take to become Ready.
	HostTimeout time.Duration
	// Interval between polls of the applying hosts.
	Interval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Save persists the state; it is called before the policy is sent to a
	// host and after every change.
	Save func(*State) error
	// Report, when set, receives the progress after every pass.
	Report func(Progress)
	Log    logr.Logger
}

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Run drives the rollout recorded in st (whose hosts' Wave fields are
// already assigned) until it is finished or ctx ends. Hosts that st says
// succeeded are checked first: one whose copy is gone or differs is started
// again in its turn. It returns ctx's error when interrupted and an error
// when the state cannot be saved; a failed or halted rollout is not an
// error (see st).
func (d *Driver) Run(ctx context.Context, st *State) error {
	d.checkSucceeded(ctx, st)
	if err := d.Save(st); err != nil {
		return err
	}
	for {
		before := cloneHosts(st.Hosts)
		d.pollApplying(ctx, st)
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), d.Save(st))
		}
		now := d.now()
		dec := Next(d.Schedule, st.Hosts, st.Halted, now)
		newlyHalted := false
		if dec.Halted && !st.Halted {
			st.Halted, st.HaltedAt, newlyHalted = true, now, true
			st.HaltReason = fmt.Sprintf("%d host(s) failed, more than maxFailures %d", dec.Failed, d.Schedule.MaxFailures)
			d.Log.Info("rollout halted", "failed", dec.Failed, "maxFailures", d.Schedule.MaxFailures)
		}
		if len(dec.Start) > 0 {
			for _, i := range dec.Start {
				h := &st.Hosts[i]
				h.Phase, h.StartedAt, h.FinishedAt = Applying, now, time.Time{}
				h.Ready, h.Reason, h.Message = "", ReasonWaiting, "sending the policy"
			}
			// Recorded before anything is sent: a crash now resumes these
			// hosts as Applying, never forgets them.
			if err := d.Save(st); err != nil {
				return err
			}
			d.startHosts(ctx, st, dec.Start)
			dec = Next(d.Schedule, st.Hosts, st.Halted, d.now())
			if dec.Halted && !st.Halted {
				st.Halted, st.HaltedAt, newlyHalted = true, d.now(), true
				st.HaltReason = fmt.Sprintf("%d host(s) failed, more than maxFailures %d", dec.Failed, d.Schedule.MaxFailures)
			}
		}
		trans := transitions(before, st.Hosts, d.now())
		if len(trans) > 0 || newlyHalted {
			if err := d.Save(st); err != nil {
				return err
			}
		}
		if d.Report != nil {
			d.Report(Progress{Transitions: trans, State: st.copy(), Decision: dec, NewlyHalted: newlyHalted})
		}
		if dec.Finished {
			return nil
		}
		wait := d.Interval
		if !dec.SoakUntil.IsZero() && dec.Applying == 0 {
			wait = min(max(dec.SoakUntil.Sub(d.now()), time.Millisecond), max(d.Interval, time.Second))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), d.Save(st))
		case <-t.C:
		}
	}
}

// checkSucceeded reads the copy of every host recorded as succeeded: one
// that is gone or differs from the policy goes back to Pending, the others
// keep their phase and get their current Ready condition.
func (d *Driver) checkSucceeded(ctx context.Context, st *State) {
	d.each(ctx, st, func(_ int, h *HostProgress) bool { return h.Phase == Succeeded }, func(ctx context.Context, h *HostProgress, a Agent) {
		live, err := a.Get(ctx, d.Policy.Name)
		switch {
		case apierrors.IsNotFound(err) || (err == nil && !d.same(live)):
			d.Log.Info("succeeded host changed since, starting it again", "host", h.Name)
			*h = HostProgress{Name: h.Name, Wave: h.Wave, Phase: Pending, Reason: "Changed",
				Message: "the host's copy of the policy was deleted or changed since it succeeded"}
		case err != nil:
			h.Reason, h.Message = ReasonUnreachable, err.Error()
		default:
			v := Judge(live, h.StartedAt, d.now(), 0)
			h.Ready, h.Generation = v.Ready, live.Generation
			if v.Phase == Succeeded {
				h.Reason, h.Message = v.Reason, v.Message
			}
		}
	})
}

// startHosts sends the policy to the hosts with the given indexes.
func (d *Driver) startHosts(ctx context.Context, st *State, idx []int) {
	want := map[int]bool{}
	for _, i := range idx {
		want[i] = true
	}
	d.each(ctx, st, func(i int, _ *HostProgress) bool { return want[i] }, d.step)
}

// pollApplying makes sure every applying host has the policy and judges it.
func (d *Driver) pollApplying(ctx context.Context, st *State) {
	d.each(ctx, st, func(_ int, h *HostProgress) bool { return h.Phase == Applying }, d.step)
}

// step applies the policy to one host if its copy is missing or differs,
// then judges the copy.
func (d *Driver) step(ctx context.Context, h *HostProgress, a Agent) {
	live, err := d.apply(ctx, a)
	now := d.now()
	if err != nil {
		if permanent(err) {
			h.Phase, h.FinishedAt, h.Reason, h.Message = Failed, now, ReasonApplyFailed, err.Error()
			d.Log.Error(err, "agent refused the policy", "host", h.Name)
			return
		}
		h.Reason, h.Message = ReasonUnreachable, err.Error()
		if d.HostTimeout > 0 && now.Sub(h.StartedAt) >= d.HostTimeout {
			h.Phase, h.FinishedAt, h.Reason = Failed, now, ReasonTimeout
			h.Message = fmt.Sprintf("not Ready within %s (last: %s)", d.HostTimeout, err)
		}
		return
	}
	v := Judge(live, h.StartedAt, now, d.HostTimeout)
	h.Generation, h.Ready, h.Reason, h.Message = live.Generation, v.Ready, v.Reason, v.Message
	if v.Phase != Applying {
		h.Phase, h.FinishedAt = v.Phase, now
	}
}

// apply creates the policy on the agent, or replaces the agent's copy when
// it differs (labels, annotations or spec), and returns the copy.
func (d *Driver) apply(ctx context.Context, a Agent) (*v1alpha1.PatchPolicy, error) {
	for attempt := 0; ; attempt++ {
		live, err := a.Get(ctx, d.Policy.Name)
		if apierrors.IsNotFound(err) {
			want := d.Policy.DeepCopy()
			want.ResourceVersion, want.UID, want.Generation = "", "", 0
			want.Status = v1alpha1.PatchPolicyStatus{}
			created, err := a.Create(ctx, want)
			if apierrors.IsAlreadyExists(err) && attempt == 0 {
				continue
			}
			return created, err
		}
		if err != nil {
			return nil, err
		}
		if d.same(live) {
			return live, nil
		}
		want := live.DeepCopy()
		want.Labels, want.Annotations = maps.Clone(d.Policy.Labels), maps.Clone(d.Policy.Annotations)
		want.Spec = *d.Policy.Spec.DeepCopy()
		updated, err := a.Update(ctx, want)
		if apierrors.IsConflict(err) && attempt == 0 {
			continue
		}
		return updated, err
	}
}

// same says whether the agent's copy already is the policy.
func (d *Driver) same(live *v1alpha1.PatchPolicy) bool {
	want, got := d.Policy.DeepCopy(), live.DeepCopy()
	want.SetDefaults()
	got.SetDefaults()
	return apiequality.Semantic.DeepEqual(want.Spec, got.Spec) &&
		maps.Equal(want.Labels, got.Labels) && maps.Equal(want.Annotations, got.Annotations)
}

// each runs fn for the hosts match selects, concurrently, and waits.
func (d *Driver) each(ctx context.Context, st *State, match func(int, *HostProgress) bool, fn func(context.Context, *HostProgress, Agent)) {
	var wg sync.WaitGroup
	for i := range st.Hosts {
		h := &st.Hosts[i]
		if !match(i, h) {
			continue
		}
		a, ok := d.Agents[h.Name]
		if !ok {
			h.Phase, h.FinishedAt, h.Reason, h.Message = Failed, d.now(), ReasonUnreachable, "no agent for this host"
			continue
		}
		wg.Go(func() { fn(ctx, h, a) })
	}
	wg.Wait()
}

// permanent says whether an error of the agent will not go away by retrying:
// a 4xx answer other than conflict and too-many-requests.
func permanent(err error) bool {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return false
	}
	code := se.Status().Code
	return code >= 400 && code < 500 && code != 409 && code != 429 && code != 408
}

func transitions(before, after []HostProgress, now time.Time) []Transition {
	var out []Transition
	for i := range after {
		if i < len(before) && before[i].Phase == after[i].Phase {
			continue
		}
		from := Pending
		if i < len(before) {
			from = before[i].Phase
		}
		h := after[i]
		out = append(out, Transition{Time: now, Host: h.Name, Wave: h.Wave, From: from, To: h.Phase, Reason: h.Reason, Message: h.Message})
	}
	return out
}

func cloneHosts(h []HostProgress) []HostProgress { return append([]HostProgress(nil), h...) }

func (s *State) copy() *State {
	c := *s
	c.Hosts = cloneHosts(s.Hosts)
	return &c
}
