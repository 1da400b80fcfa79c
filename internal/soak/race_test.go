//go:build race

package soak_test

// raceEnabled reports whether the race detector is on: it slows every
// request about tenfold, so the bounded soak sends fewer.
const raceEnabled = true
