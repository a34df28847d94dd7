package dnf

// Caveat says, in the yum mode, what its tests are: no yum 3 runs on the
// machines patchlet is built and tested on (it needs Python 2), so that mode
// is checked against hand-written samples of yum 3.4's output only.
func (b *Backend) Caveat() string {
	if b.mode != ModeYum {
		return ""
	}
	return "the yum 3 mode is checked against hand-written samples of yum 3.4 output only, never a real yum 3"
}
