package soak_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the soak leaves no goroutine behind: no
// background refresh, retry or connection outlives it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
