//go:build !race

package protocol_test

// raceEnabled reports whether the race detector is on; allocation counts
// are not meaningful under it.
const raceEnabled = false
