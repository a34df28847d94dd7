//go:build !race

package apt_test

// raceEnabled: timing assertions do not hold under the race detector.
const raceEnabled = false
