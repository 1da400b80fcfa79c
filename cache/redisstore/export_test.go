package redisstore

// WithClock sets the clock of the outage state, for tests.
var WithClock = withClock
