package flow

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/bearerhttp/bearer/cache"
)

// FleetCoalescing configures how an application coalesces its cache
// misses with the other processes sharing its cache's store (see
// [WithFleetCoalescing]).
type FleetCoalescing struct {
	// Disabled turns fleet-wide coalescing off: each process asks the
	// authority for what it misses (concurrent identical calls within a
	// process still share one request).
	Disabled bool
	// LeaseTTL is how long a lease lasts unless its holder renews it. The
	// holder renews it every LeaseTTL/3 for as long as its token request
	// runs, so a holder that stopped (a process killed) keeps the others
	// waiting for at most LeaseTTL. Default [DefaultLeaseTTL].
	LeaseTTL time.Duration
	// MaxWait bounds the wait for another process's lease; past it, the
	// waiter asks the authority itself. The call's context may end the
	// wait sooner. Default [DefaultLeaseMaxWait].
	MaxWait time.Duration
}

// Defaults of [FleetCoalescing].
const (
	DefaultLeaseTTL     = 10 * time.Second
	DefaultLeaseMaxWait = 30 * time.Second
)

// WithFleetCoalescing configures fleet-wide coalescing: when the cache's
// store implements [cache.Leaser] (the Redis store does), it is on by
// default. A plain call (no [Claims], no [ForceRefresh]) that misses the
// cache, and a background refresh, first take a short lease in the store
// for what they ask (the identity, the authority and the scopes); while
// another process holds it, the call waits for the lease to end (its
// release is published, so the wait ends at once), reads the identity's
// partition from the store again, and takes the token the holder stored.
// So a fleet starting together, or a token expiring everywhere at once,
// makes one request to the authority instead of one per process.
//
// A waiter asks the authority itself when the lease ends without a token
// in the store (the holder failed, or stopped and its lease expired),
// when the wait passes MaxWait, and when the store fails (Redis down): the
// lease only saves requests, it never fails a call.
func WithFleetCoalescing(f FleetCoalescing) Option {
	return func(c *config) { c.fleet = f }
}

// fleetLeaser returns the store's Leaser when fleet coalescing is on.
func (a *app) fleetLeaser() cache.Leaser {
	if a.cfg.fleet.Disabled {
		return nil
	}
	return a.cache.Leaser()
}

// leased runs fetch, the request of a plain call (or a background
// refresh) that missed the cache, under the fleet's lease named key in
// partition: when another process holds it, it waits, reads the partition
// again and returns what cached then finds. Without a leaser, it is fetch.
func (a *app) leased(ctx context.Context, partition, key string, cached func(context.Context) (Result, bool), fetch func(context.Context) (Result, error)) (Result, error) {
	l := a.fleetLeaser()
	if l == nil {
		return fetch(ctx)
	}
	ttl := or0(a.cfg.fleet.LeaseTTL, DefaultLeaseTTL)
	lease, err := l.Lease(ctx, partition, key, ttl)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		a.log.debug(ctx, "flow: fleet lease unavailable; asking the authority", slog.String("error", err.Error()))
		return fetch(ctx)
	}
	if lease != nil {
		// Another process may have stored the token and released its
		// lease since this one missed.
		if r, ok := a.reread(ctx, partition, cached); ok {
			a.release(ctx, lease)
			return r, nil
		}
		return a.holding(ctx, lease, ttl, fetch)
	}
	a.log.debug(ctx, "flow: another process is asking for this token; waiting for it")
	wctx, cancel := context.WithTimeout(ctx, or0(a.cfg.fleet.MaxWait, DefaultLeaseMaxWait))
	err = l.WaitLease(wctx, partition, key)
	cancel()
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	if r, ok := a.reread(ctx, partition, cached); ok {
		return r, nil
	}
	if err != nil {
		a.log.debug(ctx, "flow: the wait for another process's token ended without it; asking the authority", slog.String("error", err.Error()))
	} else {
		a.log.debug(ctx, "flow: another process's lease ended without a token; asking the authority")
	}
	return fetch(ctx)
}

// reread reads partition from the store again and looks for the token.
func (a *app) reread(ctx context.Context, partition string, cached func(context.Context) (Result, bool)) (Result, bool) {
	if err := a.cache.ReadPartition(ctx, partition, a.cfg.clock()); err != nil {
		return Result{}, false // logged by the cache
	}
	return cached(ctx)
}

// holding runs fetch while holding lease, renewing it every ttl/3 until
// fetch returns, then releases it (fetch has cached the token by then, so
// the waiters it wakes find it).
func (a *app) holding(ctx context.Context, lease cache.Lease, ttl time.Duration, fetch func(context.Context) (Result, error)) (Result, error) {
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(max(ttl/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
				err := lease.Renew(rctx, ttl)
				cancel()
				if err != nil {
					// Lost (expired under a stalled process) or the store
					// failed: the waiters will ask for themselves.
					a.log.debug(ctx, "flow: the fleet lease could not be renewed", slog.String("error", err.Error()))
					if errors.Is(err, cache.ErrLeaseLost) {
						return
					}
				}
			}
		}
	}()
	r, err := fetch(ctx)
	close(stop)
	<-renewed
	a.release(ctx, lease)
	return r, err
}

// releaseTimeout bounds the release of a lease.
const releaseTimeout = 5 * time.Second

func (a *app) release(ctx context.Context, lease cache.Lease) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := lease.Release(rctx); err != nil {
		a.log.debug(ctx, "flow: the fleet lease could not be released; it expires by itself", slog.String("error", err.Error()))
	}
}

func or0(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// partition returns the cache partition of g's tokens.
func (g *grant) partition(clientID string) string {
	q := g.query(clientID)
	if q.UserAssertionHash != "" {
		return q.UserAssertionHash
	}
	return cache.AppPartition(clientID, q.Realm)
}
