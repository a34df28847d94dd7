// Package waves assigns a rollout's hosts to its waves (spec.rollout.waves),
// the one rule that fleet's leader (status.waves) and patchctl rollout
// (its state file) both apply. It is pure: hosts in, waves out.
//
// The rule: written waves are taken in order; each takes hosts no earlier
// wave took. A wave sized by hosts (a count, or a percentage of all the
// hosts rounded up, so that a 1% wave of a small fleet still holds one)
// takes that many of the remaining hosts in the order given; a wave with a
// selector takes the remaining hosts it matches. The hosts no written wave
// takes form the implicit wave, index len(waves), which may be empty.
//
// Place puts a host that was not there at assignment time (or whose
// labels changed) against the recorded boundaries; it agrees with Assign
// when the hosts were assigned in name order.
package waves

import (
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Host is one host to assign: Place compares names, selector waves match
// labels.
type Host struct {
	Name   string
	Labels map[string]string
}

// Assignment is the result of Assign.
type Assignment struct {
	// Wave is each host's wave, by the hosts' index: from 0 to len(waves),
	// the implicit wave.
	Wave []int
	// LastHost is, by written wave, the name of the last host a wave
	// sized by hosts took; "" for a selector wave and one that took none.
	LastHost []string
	// Hosts counts each wave's hosts, the implicit wave last
	// (len(waves)+1 entries).
	Hosts []int
}

// Assign puts hosts, in the order given, into waves by the package's rule.
func Assign(waves []v1alpha1.RolloutWave, hosts []Host) Assignment {
	a := Assignment{
		Wave:     make([]int, len(hosts)),
		LastHost: make([]string, len(waves)),
		Hosts:    make([]int, len(waves)+1),
	}
	taken := make([]bool, len(hosts))
	for i, w := range waves {
		n := -1 // a selector wave takes every remaining host it matches
		if w.Selector == nil {
			n, _ = Size(w.Hosts, len(hosts))
		}
		for j, h := range hosts {
			if n == 0 {
				break
			}
			if taken[j] || (w.Selector != nil && !matches(w, h)) {
				continue
			}
			taken[j], a.Wave[j] = true, i
			a.Hosts[i]++
			if w.Selector == nil {
				a.LastHost[i] = h.Name
				n--
			}
		}
	}
	for j := range hosts {
		if !taken[j] {
			a.Wave[j] = len(waves)
			a.Hosts[len(waves)]++
		}
	}
	return a
}

// Place returns the wave of h against the boundaries an assignment in
// name order recorded (lastHost, by written wave, as Assignment.LastHost):
// the first selector wave that matches h, or the first sized wave whose
// last host sorts at or after h's name; else the implicit wave.
func Place(waves []v1alpha1.RolloutWave, lastHost []string, h Host) int {
	for i, w := range waves {
		if w.Selector != nil {
			if matches(w, h) {
				return i
			}
			continue
		}
		if i < len(lastHost) && lastHost[i] != "" && h.Name <= lastHost[i] {
			return i
		}
	}
	return len(waves)
}

// Size is how many hosts a wave sized by v takes of total hosts: the
// count, or the percentage of total rounded up. Nil, a negative result
// or an error (validation refuses such a wave) is 0, with the error.
func Size(v *intstr.IntOrString, total int) (int, error) {
	if v == nil {
		return 0, nil
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, true)
	if err != nil {
		return 0, err
	}
	return max(n, 0), nil
}

// matches reports whether selector wave w matches h; an invalid selector
// (validation refuses it) matches nothing.
func matches(w v1alpha1.RolloutWave, h Host) bool {
	ok, err := v1alpha1.SelectorMatches(w.Selector, h.Labels)
	return err == nil && ok
}
