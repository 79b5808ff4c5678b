//go:build !race

package engine_test

// raceEnabled reports whether the race detector is on; allocation counts
// are meaningless under it.
const raceEnabled = false
