package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/fsutil"
)

// StateVersion is the version of the state file format.
const StateVersion = 1

// HostProgress is one host's progress, as the state file records it.
type HostProgress struct {
	Name  string `json:"name"`
	Wave  int    `json:"wave"`
	Phase Phase  `json:"phase"`
	// StartedAt is when the policy was first sent; FinishedAt when the
	// host succeeded or failed.
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Generation of the host's copy of the policy when last seen.
	Generation int64 `json:"generation,omitempty"`
	// Ready, Reason and Message are the last verdict on the host.
	Ready   string `json:"ready,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// State is a rollout's progress, saved after every change so that an
// interrupted rollout resumes where it stood.
type State struct {
	Version int    `json:"version"`
	Policy  string `json:"policy"`
	// SpecHash identifies the policy content rolled out (labels,
	// annotations and spec); a different one starts a new rollout.
	SpecHash   string         `json:"specHash"`
	StartedAt  time.Time      `json:"startedAt"`
	Halted     bool           `json:"halted,omitempty"`
	HaltedAt   time.Time      `json:"haltedAt,omitzero"`
	HaltReason string         `json:"haltReason,omitempty"`
	Hosts      []HostProgress `json:"hosts"`
}

// SpecHash hashes what a rollout sends: the policy's name, labels,
// annotations and defaulted spec.
func SpecHash(p *v1alpha1.PatchPolicy) (string, error) {
	c := p.DeepCopy()
	c.SetDefaults()
	b, err := json.Marshal(struct {
		Name        string                   `json:"name"`
		Labels      map[string]string        `json:"labels,omitempty"`
		Annotations map[string]string        `json:"annotations,omitempty"`
		Spec        v1alpha1.PatchPolicySpec `json:"spec"`
	}{c.Name, c.Labels, c.Annotations, c.Spec})
	if err != nil {
		return "", fmt.Errorf("hashing policy: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// NewState starts the state of a rollout of the policy with hash to the
// selected hosts, all Pending.
func NewState(policy, hash string, hosts []Host, now time.Time) *State {
	st := &State{Version: StateVersion, Policy: policy, SpecHash: hash, StartedAt: now}
	for _, h := range hosts {
		st.Hosts = append(st.Hosts, HostProgress{Name: h.Name, Phase: Pending})
	}
	return st
}

// Reconcile lines the state up with the hosts selected now, in their
// order: hosts it knows keep their progress, new hosts are Pending, hosts
// no longer selected are dropped (and returned, so they can be named).
func (s *State) Reconcile(hosts []Host) (dropped []string) {
	known := map[string]HostProgress{}
	for _, h := range s.Hosts {
		known[h.Name] = h
	}
	out := make([]HostProgress, 0, len(hosts))
	for _, h := range hosts {
		hp, ok := known[h.Name]
		if !ok {
			hp = HostProgress{Name: h.Name, Phase: Pending}
		}
		delete(known, h.Name)
		out = append(out, hp)
	}
	for _, h := range s.Hosts {
		if _, gone := known[h.Name]; gone {
			dropped = append(dropped, h.Name)
		}
	}
	s.Hosts = out
	return dropped
}

// ResumeHalted clears a halt: failed hosts go back to Pending, so that they
// are tried again first (in their waves) and failures are counted afresh.
func (s *State) ResumeHalted() {
	s.Halted, s.HaltedAt, s.HaltReason = false, time.Time{}, ""
	for i := range s.Hosts {
		if s.Hosts[i].Phase == Failed {
			s.Hosts[i] = HostProgress{Name: s.Hosts[i].Name, Wave: s.Hosts[i].Wave, Phase: Pending}
		}
	}
}

// LoadState reads a state file; the error wraps os.ErrNotExist when there
// is none.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading state file: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decoding state file %s: %w", path, err)
	}
	if st.Version != StateVersion {
		return nil, fmt.Errorf("state file %s: version %d, want %d", path, st.Version, StateVersion)
	}
	return &st, nil
}

// SaveState writes the state atomically (fsutil.Write): a crash leaves the
// old state or the new one, never a torn one.
func SaveState(path string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	if err := fsutil.Write(path, append(b, '\n'), fsutil.Options{TempPattern: "." + filepath.Base(path) + ".tmp-*"}); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	return nil
}
