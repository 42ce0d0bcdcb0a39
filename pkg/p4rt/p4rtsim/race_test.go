//go:build race

package p4rtsim_test

// raceEnabled reports whether the test binary has the race detector.
const raceEnabled = true
