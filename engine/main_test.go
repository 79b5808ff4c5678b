package engine_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: a
// deadline timer, a cancelled call or a hostile script must not leak one.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
