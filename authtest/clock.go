package authtest

import (
	"sync"
	"time"
)

// clock is the server's settable clock: a base clock (real time unless
// [WithClock] or [Server.SetNow] replaced it) plus an offset that
// [Server.Advance] grows.
type clock struct {
	mu     sync.Mutex
	base   func() time.Time
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	base, off := c.base, c.offset
	c.mu.Unlock()
	if base == nil {
		base = time.Now
	}
	return base().Add(off)
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = func() time.Time { return t }
	c.offset = 0
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Now returns the server's current time. Everything time-dependent on the
// server reads it: the iat, nbf and exp of the tokens it issues,
// expires_in, the expiry of authorization codes, device codes and refresh
// tokens, the exp/nbf checks of client assertions and the resource's
// token expiry check. A client configured with the same clock (for
// example flow.WithClock(srv.Now)) agrees with the server.
//
// The clock is real time unless [WithClock] gave another one; [Server.SetNow]
// stops it at a given instant and [Server.Advance] moves it forward.
func (s *Server) Now() time.Time { return s.clock.now() }

// SetNow stops the server's clock at t: [Server.Now] returns t until
// [Server.Advance] moves it on.
func (s *Server) SetNow(t time.Time) { s.clock.set(t) }

// Advance moves the server's clock forward by d (backward for a negative
// d). With a running clock (real time or [WithClock]) the offset stays on
// top of it; with a stopped one (after [Server.SetNow]) the clock jumps.
func (s *Server) Advance(d time.Duration) { s.clock.advance(d) }
