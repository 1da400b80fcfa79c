package cache

import (
	"context"
	"errors"
	"time"
)

// A Leaser is a [Store] that grants short exclusive leases, so processes
// sharing the store can agree that one of them asks the authority for a
// token while the others wait for it to appear in the store. When the
// cache's store implements it, flow coalesces cache misses across
// processes (see flow.WithFleetCoalescing); the Redis store does.
//
// A lease is named by a partition and a key within it (flow uses a hash of
// what the token is asked for), so a store can keep the lease beside the
// partition (in the same Redis Cluster slot).
type Leaser interface {
	// Lease takes the lease named key in partition for ttl when no one
	// holds it, and returns it; it returns nil and no error when another
	// holder has it.
	Lease(ctx context.Context, partition, key string, ttl time.Duration) (Lease, error)
	// WaitLease returns nil once the lease named key in partition is not
	// held: released by its holder, expired, or never taken. It returns
	// early with an error when ctx ends or the store fails.
	WaitLease(ctx context.Context, partition, key string) error
}

// A Lease is held until it is released or it expires.
type Lease interface {
	// Renew extends the lease to ttl from now. It returns an error
	// wrapping [ErrLeaseLost] when the lease has expired (and perhaps
	// been taken by another holder).
	Renew(ctx context.Context, ttl time.Duration) error
	// Release gives up the lease, ending the wait of its waiters. A lease
	// already lost is left to its new holder.
	Release(ctx context.Context) error
}

// ErrLeaseLost is wrapped by the error of [Lease.Renew] when the lease
// has expired.
var ErrLeaseLost = errors.New("cache: lease lost")

// ErrStoreUnavailable is wrapped by the errors of a [Store] that cannot
// reach its backend (a Redis server down or unreachable). Such a store
// reports the outage itself, once; the cache then logs these errors at
// debug level only, and serves from memory.
var ErrStoreUnavailable = errors.New("cache: store unavailable")

// Leaser returns the cache's [Store] as a [Leaser], or nil when the cache
// has no store or its store grants no leases.
func (c *Cache) Leaser() Leaser {
	l, _ := c.store.(Leaser)
	return l
}
