package dnf

import "testing"

func TestCaveatOnlyInYumMode(t *testing.T) {
	if c := (&Backend{mode: ModeDNF}).Caveat(); c != "" {
		t.Errorf("dnf mode: Caveat() = %q, want none", c)
	}
	if c := (&Backend{mode: ModeYum}).Caveat(); c == "" {
		t.Error("yum mode: Caveat() is empty; the yum mode must say its tests are hand-written samples")
	}
}
