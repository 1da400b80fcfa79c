package authtest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that closed servers leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
