package oauth

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: no retry,
// discovery or region detection outlives its call.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
