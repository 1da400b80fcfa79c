package bearer

import (
	"math"
	"sync/atomic"
	"time"
)

// wallCheckEvery is how much monotonic time may pass between two readings
// of the wall clock by a [clock].
const wallCheckEvery = time.Second

// never is an instant no clock reaches.
const never = math.MaxInt64

// clock tells the wall time, as nanoseconds since its creation, at the
// price of the monotonic clock alone on most calls (time.Now reads both
// clocks, which costs twice as much).
//
// Token lifetimes are wall-clock instants (an authority's expires_on), and
// a machine that sleeps stops its monotonic clock while the wall clock
// runs on. So the clock reads the wall clock at least once per
// wallCheckEvery of monotonic time and keeps the difference: after a
// sleep (or any wall clock change), instants are seen right again within
// a second of running time.
type clock struct {
	base     time.Time // creation, with a monotonic reading
	baseWall time.Time // base without it

	checked atomic.Int64 // monotonic ns since base of the last wall reading
	skew    atomic.Int64 // wall minus monotonic ns since base, at that reading

	wallNow func() time.Time // tests only: the wall clock; nil means time.Now
}

func newClock() *clock {
	now := time.Now()
	return &clock{base: now, baseWall: now.Round(0)}
}

// now returns the wall time in nanoseconds since the clock's creation.
func (c *clock) now() int64 {
	mono := int64(time.Since(c.base))
	if mono-c.checked.Load() < int64(wallCheckEvery) {
		return mono + c.skew.Load()
	}
	return c.read()
}

// read reads the wall clock and returns what now returns.
func (c *clock) read() int64 {
	t := time.Now()
	mono := int64(t.Sub(c.base))
	w := t
	if c.wallNow != nil {
		w = c.wallNow()
	}
	wall := int64(w.Round(0).Sub(c.baseWall))
	c.skew.Store(wall - mono)
	c.checked.Store(mono)
	return wall
}

// at converts t to the clock's scale; the zero time is never.
func (c *clock) at(t time.Time) int64 {
	if t.IsZero() {
		return never
	}
	return int64(t.Round(0).Sub(c.baseWall))
}
