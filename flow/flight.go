package flow

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// refreshTimeout caps a background refresh.
const refreshTimeout = 30 * time.Second

// errPanicked is the error of a background refresh that panicked (the
// panic's value is not shown: it may hold anything).
var errPanicked = errors.New("flow: token acquisition panicked")

// flights coalesces identical token acquisitions: concurrent callers with
// the same key share one call to the authority. It is the package's
// singleflight, with two differences from x/sync's: a caller whose
// context ends stops waiting at once, and the call is cancelled only when
// no caller waits any longer; and a background flight (a proactive
// refresh) is never cancelled by its waiters, only bounded by
// refreshTimeout.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
	// traced, set before the first flight, makes each flight's context
	// carry the flight, where recordStatus puts the authority's status
	// for the application's Trace, and do hand it and whether the caller
	// joined a flight under way to the caller's traceState.
	traced bool
}

// flight is one call shared by its waiters.
type flight struct {
	done       chan struct{}
	res        Result
	err        error
	panicked   any
	waiters    int // guarded by flights.mu
	background bool
	cancel     context.CancelFunc
	status     atomic.Int32 // the authority's HTTP status, when traced (recordStatus)
}

// do returns the result of fn for key: of a flight already under way for
// key, or of a new one. fn runs in a goroutine of its own with ctx's
// values and without its cancellation; it is cancelled when every waiter
// has given up. A panic in fn is repeated in every waiter.
func (g *flights) do(ctx context.Context, key string, fn func(context.Context) (Result, error)) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	g.mu.Lock()
	f, ok := g.m[key]
	if !ok {
		f = g.startLocked(ctx, key, false, fn, nil)
	}
	f.waiters++
	g.mu.Unlock()
	var st *traceState
	if g.traced {
		if st = stateOf(ctx); st != nil {
			st.joined = ok
		}
	}

	select {
	case <-f.done:
	case <-ctx.Done():
		select {
		case <-f.done: // finished meanwhile: take the result
		default:
			g.mu.Lock()
			f.waiters--
			if f.waiters == 0 && !f.background {
				// Nobody waits any longer: stop the call, and let the next
				// caller start a fresh one rather than join it.
				f.cancel()
				if g.m[key] == f {
					delete(g.m, key)
				}
			}
			g.mu.Unlock()
			return Result{}, ctx.Err()
		}
	}
	if st != nil {
		st.status = int(f.status.Load())
	}
	if f.panicked != nil {
		panic(f.panicked)
	}
	res := f.res
	// Each waiter gets its own map and slice: a caller that changes its
	// result must not race with the others.
	res.IDTokenClaims = maps.Clone(res.IDTokenClaims)
	res.Scopes = slices.Clone(res.Scopes)
	return res, f.err
}

// background starts fn for key in the background, unless a flight for key
// is under way or skip (if not nil) says not to, and reports whether it
// started it. skip is called with g.mu held, after no flight was found:
// what the last flight of key recorded before it returned is seen there.
// fn runs with ctx's values, without its cancellation, for at most
// refreshTimeout; done, if not nil, is called with its outcome once the
// flight has ended.
func (g *flights) background(ctx context.Context, key string, skip func() bool, fn func(context.Context) (Result, error), done func(error)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.m[key]; ok {
		return false
	}
	if skip != nil && skip() {
		return false
	}
	g.startLocked(ctx, key, true, fn, done)
	return true
}

// startLocked starts a flight for key. g.mu is held.
func (g *flights) startLocked(ctx context.Context, key string, background bool, fn func(context.Context) (Result, error), done func(error)) *flight {
	f := &flight{done: make(chan struct{}), background: background}
	var fctx context.Context
	if background {
		fctx, f.cancel = context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	} else {
		fctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	if g.traced {
		fctx = context.WithValue(fctx, flightCtxKey{}, f)
	}
	if g.m == nil {
		g.m = make(map[string]*flight)
	}
	g.m[key] = f
	go g.run(fctx, key, f, fn, done)
	return f
}

// run calls fn and publishes its outcome.
func (g *flights) run(ctx context.Context, key string, f *flight, fn func(context.Context) (Result, error), done func(error)) {
	defer f.cancel()
	func() {
		defer func() {
			if p := recover(); p != nil {
				f.panicked = p
				f.err = errPanicked
			}
		}()
		f.res, f.err = fn(ctx)
	}()
	g.mu.Lock()
	if g.m[key] == f {
		delete(g.m, key)
	}
	g.mu.Unlock()
	if f.background {
		// Nobody may be waiting to repeat a panic: report it as an error.
		f.panicked = nil
	}
	close(f.done)
	if done != nil {
		done(f.err)
	}
}
