package bearer

import (
	"context"
	"errors"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bearerhttp/bearer/challenge"
)

// Timings of [ReuseTokenSource].
const (
	// maxMargin caps the time before expiry at which a token stops being
	// served: min(maxMargin, lifetime/10).
	maxMargin = 5 * time.Minute
	// halfLifeMin is the shortest lifetime for which, without RefreshOn, a
	// token is refreshed in the background after half its life.
	halfLifeMin = 2 * time.Hour
	// refreshTimeout caps a background refresh.
	refreshTimeout = 30 * time.Second
	// firstBackoff and maxBackoff bound the wait after a failed background
	// refresh: firstBackoff, doubled after each further failure, at most
	// maxBackoff.
	firstBackoff = 30 * time.Second
	maxBackoff   = 5 * time.Minute
	// linearMax is how many entries are searched one by one before the
	// index uses a hash map.
	linearMax = 8
	// forcedRefreshInterval is the least time between two calls to the
	// source that answer the transport's invalid_token recovery for one
	// key.
	forcedRefreshInterval = 30 * time.Second
)

// ReuseTokenSource returns a [TokenSource] that caches the tokens of src,
// one per set of scopes and tenant, and asks src only when it has no
// token to serve. If src is already such a source, it is returned as is.
//
// It is meant for a source of one identity: it cannot see identities
// carried in the request's context (such as an on-behalf-of user's
// assertion), so it must not wrap a source that serves several. The
// sources of package flow cache for themselves, per identity, and need no
// wrapping.
//
// Caching rules:
//   - The cache key is the request's scopes, matched exactly (the same
//     strings, in any order), and its TenantID.
//   - A request with Claims, ForceRefresh or a Challenge skips the cache;
//     its token replaces the cached one, so that later plain requests get
//     it.
//   - Concurrent identical requests share one call to src. A caller whose
//     context ends stops waiting at once, without cancelling the call for
//     the others; the call's context is cancelled only when no caller
//     waits any longer. The call's context keeps the first caller's values.
//   - A token is not served in the last min(5 min, lifetime/10) of its
//     life, where the lifetime runs from when src returned it to its
//     ExpiresOn. A token whose ExpiresOn is zero never expires.
//   - Past the token's RefreshOn (or, when RefreshOn is zero and the
//     lifetime is 2 hours or more, past half its lifetime), the first
//     request to find it starts a refresh in the background and the
//     current token keeps being served. A refresh runs with the values of
//     that request's context, without its cancellation, for at most 30
//     seconds; at most one runs at a time per key.
//   - A failed background refresh keeps the still-valid token in service
//     and is tried again by the first request after a backoff: 30 seconds,
//     doubled after each further failure, at most 5 minutes.
//   - A request with ForceRefresh whose Challenge is an invalid_token
//     challenge ([challenge.Challenge.IsInvalidToken]), the way [Transport]
//     recovers from a 401 invalid_token, asks src at most once every 30
//     seconds per key: within 30 seconds of the previous such call, it is
//     answered with the cached token, which that call fetched or which is
//     newer (a [Transport] then returns the 401 rather than resend a
//     token that was just refused). It joins a forced call to src in
//     flight. A resource that refuses every token thus costs one token
//     request per key every 30 seconds, not one per HTTP request. A
//     ForceRefresh without a Challenge (a caller's own) always asks src.
//
// Instants are compared on the wall clock, as expiry times are; to keep
// the cached path cheap, the wall clock is read at least once per second
// of running time and the monotonic clock in between, so after the
// machine wakes from sleep a token past its margin may be served for up to
// a second.
//
// Nothing needs closing: the only goroutines it starts are the calls to
// src, each of which ends when src returns.
func ReuseTokenSource(src TokenSource) TokenSource {
	if r, ok := src.(*reuseSource); ok {
		return r
	}
	return &reuseSource{src: src, seed: maphash.MakeSeed(), clock: newClock()}
}

type reuseSource struct {
	src   TokenSource
	seed  maphash.Seed
	clock *clock

	// Hooks for tests: nil or zero means the defaults above.
	backoff        func(failures int) time.Duration
	refreshTimeout time.Duration
	gotEntry       func() // run by fetch between getting its entry and locking it
	leaving        func() // run by a caller whose context ended, before it locks its entry

	mu    sync.Mutex // serialises index updates
	index atomic.Pointer[reuseIndex]
}

// reuseIndex is an immutable snapshot of the entries.
type reuseIndex struct {
	list   []*reuseEntry
	byHash map[uint64][]*reuseEntry // set when len(list) > linearMax
}

// reuseEntry holds the token of one key and the calls in flight for it.
type reuseEntry struct {
	scopes []string
	tenant string
	hash   uint64

	state      atomic.Pointer[cached]
	refreshing atomic.Bool // a background refresh is running

	mu       sync.Mutex
	seq      uint64   // calls started
	calls    []*fetch // calls in flight
	removed  bool     // dropped from the index: no call may start on it
	forced   bool     // forcedAt is set
	forcedAt int64    // when the last invalid_token recovery call started
}

// cached is an immutable view of an entry's token. Instants are on the
// source's clock.
type cached struct {
	tok       Token
	staleAt   int64  // not served from then on (never: always served)
	refreshAt int64  // refreshed in the background from then on (never: not)
	retryAt   int64  // after a failed background refresh, not before
	failures  int    // consecutive failed background refreshes
	seq       uint64 // the call that fetched tok
}

// fetch is one call to the source, shared by its waiters.
type fetch struct {
	req        TokenRequest
	seq        uint64
	background bool
	cancel     context.CancelFunc
	waiters    int // guarded by the entry's mu
	done       chan struct{}
	tok        Token
	err        error
	panicked   any
}

func (s *reuseSource) Token(ctx context.Context, req TokenRequest) (Token, error) {
	if req.Claims == "" && !req.ForceRefresh && req.Challenge == nil {
		if e := s.lookup(req.Scopes, req.TenantID); e != nil {
			if c := e.state.Load(); c != nil {
				now := s.clock.now()
				if now < c.staleAt {
					if now >= c.refreshAt && now >= c.retryAt {
						s.refreshInBackground(ctx, e, c)
					}
					return c.tok, nil
				}
			}
		}
	}
	return s.fetch(ctx, req)
}

// lookup finds the entry of (scopes, tenant) without allocating.
func (s *reuseSource) lookup(scopes []string, tenant string) *reuseEntry {
	ix := s.index.Load()
	if ix == nil {
		return nil
	}
	list := ix.list
	if ix.byHash != nil {
		list = ix.byHash[s.keyHash(scopes, tenant)]
	}
	for _, e := range list {
		if e.matches(scopes, tenant) {
			return e
		}
	}
	return nil
}

// keyHash hashes (scopes, tenant), independently of the scopes' order.
func (s *reuseSource) keyHash(scopes []string, tenant string) uint64 {
	h := maphash.String(s.seed, tenant)
	for _, sc := range scopes {
		h += maphash.String(s.seed, sc) * 0x9e3779b97f4a7c15
	}
	return h
}

func (e *reuseEntry) matches(scopes []string, tenant string) bool {
	if len(scopes) != len(e.scopes) || tenant != e.tenant {
		return false
	}
	if slices.Equal(scopes, e.scopes) {
		return true
	}
	// The same strings in another order.
	for _, a := range scopes {
		if !slices.Contains(e.scopes, a) {
			return false
		}
	}
	for _, b := range e.scopes {
		if !slices.Contains(scopes, b) {
			return false
		}
	}
	return true
}

// entry returns the entry of (scopes, tenant), creating it if needed.
func (s *reuseSource) entry(scopes []string, tenant string) *reuseEntry {
	if e := s.lookup(scopes, tenant); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.lookup(scopes, tenant); e != nil {
		return e
	}
	e := &reuseEntry{scopes: slices.Clone(scopes), tenant: tenant, hash: s.keyHash(scopes, tenant)}
	next := &reuseIndex{}
	now := s.clock.now()
	if old := s.index.Load(); old != nil {
		for _, o := range old.list {
			if o.removable(now) {
				continue
			}
			next.list = append(next.list, o)
		}
	}
	next.list = append(next.list, e)
	if len(next.list) > linearMax {
		next.byHash = make(map[uint64][]*reuseEntry, len(next.list))
		for _, o := range next.list {
			next.byHash[o.hash] = append(next.byHash[o.hash], o)
		}
	}
	s.index.Store(next)
	return e
}

// removable reports whether e holds nothing worth keeping at now: a token
// past its margin (or none) and no call in flight. An entry found
// removable is marked removed, as the index it is dropped from is stored
// next: a caller that got e before then must not start a call on it,
// which no later caller would find.
func (e *reuseEntry) removable(now int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.calls) > 0 {
		return false
	}
	if c := e.state.Load(); c != nil && now < c.staleAt {
		return false
	}
	e.removed = true
	return true
}

// fetch asks the source, joining an identical call in flight if there is
// one.
func (s *reuseSource) fetch(ctx context.Context, req TokenRequest) (Token, error) {
	if s.src == nil {
		return Token{}, errors.New("bearer: ReuseTokenSource of a nil source")
	}
	if err := ctx.Err(); err != nil {
		return Token{}, err
	}
	plain := req.Claims == "" && !req.ForceRefresh && req.Challenge == nil
	recovery := isInvalidTokenRecovery(req)
	e := s.entry(req.Scopes, req.TenantID)
	if s.gotEntry != nil {
		s.gotEntry()
	}
	e.mu.Lock()
	for e.removed {
		// Another key's new entry dropped e from the index since entry
		// returned it: take the entry the index holds now.
		e.mu.Unlock()
		e = s.entry(req.Scopes, req.TenantID)
		e.mu.Lock()
	}
	if plain {
		// A call may have finished since the lock-free read.
		if c := e.state.Load(); c != nil && s.clock.now() < c.staleAt {
			e.mu.Unlock()
			return c.tok, nil
		}
	}
	var f *fetch
	if recovery {
		f = e.findForced()
		if f == nil {
			now := s.clock.read()
			if c := e.state.Load(); c != nil && now < c.staleAt && e.forced && now-e.forcedAt < int64(forcedRefreshInterval) {
				// A recovery call started less than forcedRefreshInterval
				// ago: its token (or a newer one) is what there is.
				e.mu.Unlock()
				return c.tok, nil
			}
			e.forced, e.forcedAt = true, now
		}
	} else {
		f = e.find(req)
	}
	if f == nil {
		f = s.start(ctx, e, req, false)
	}
	f.waiters++
	e.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		if s.leaving != nil {
			s.leaving()
		}
		e.mu.Lock()
		select {
		case <-f.done:
			// Finished meanwhile (run closes done under e.mu, having
			// counted this caller as a waiter): take the result, a
			// panic included.
			e.mu.Unlock()
		default:
			f.waiters--
			if f.waiters == 0 && !f.background {
				// Nobody waits any longer: stop the call, and let the
				// next caller start a fresh one rather than join it.
				f.cancel()
				e.calls = slices.DeleteFunc(e.calls, func(g *fetch) bool { return g == f })
			}
			e.mu.Unlock()
			return Token{}, ctx.Err()
		}
	}
	if f.panicked != nil {
		panic(f.panicked)
	}
	return f.tok, f.err
}

// find returns the call in flight identical to req. e.mu is held.
func (e *reuseEntry) find(req TokenRequest) *fetch {
	for _, f := range e.calls {
		if sameRequest(f.req, req) {
			return f
		}
	}
	return nil
}

// findForced returns a forced call in flight that an invalid_token
// recovery may join: one with ForceRefresh and no claims, a caller's own
// or another recovery. e.mu is held.
func (e *reuseEntry) findForced() *fetch {
	for _, f := range e.calls {
		if f.req.ForceRefresh && f.req.Claims == "" && (f.req.Challenge == nil || f.req.Challenge.IsInvalidToken()) {
			return f
		}
	}
	return nil
}

// isInvalidTokenRecovery reports whether req is how [Transport] recovers
// from a 401 invalid_token: ForceRefresh with the invalid_token challenge.
func isInvalidTokenRecovery(req TokenRequest) bool {
	return req.ForceRefresh && req.Claims == "" && req.Challenge != nil && req.Challenge.IsInvalidToken()
}

// sameRequest reports whether a and b ask for the same token (their
// scopes and tenant are the entry's).
func sameRequest(a, b TokenRequest) bool {
	if a.Claims != b.Claims || a.ForceRefresh != b.ForceRefresh || (a.Challenge == nil) != (b.Challenge == nil) {
		return false
	}
	return a.Challenge == nil || sameChallenge(*a.Challenge, *b.Challenge)
}

func sameChallenge(a, b challenge.Challenge) bool {
	return a.Scheme == b.Scheme && a.Token68 == b.Token68 && maps.Equal(a.Params, b.Params)
}

// start begins a call to the source for e. e.mu is held.
func (s *reuseSource) start(ctx context.Context, e *reuseEntry, req TokenRequest, background bool) *fetch {
	e.seq++
	req.Scopes = e.scopes // the entry's own copy, which no caller changes
	req.TenantID = e.tenant
	f := &fetch{req: req, seq: e.seq, background: background, done: make(chan struct{})}
	var fctx context.Context
	if background {
		d := s.refreshTimeout
		if d <= 0 {
			d = refreshTimeout
		}
		fctx, f.cancel = context.WithTimeout(context.WithoutCancel(ctx), d)
	} else {
		fctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	e.calls = append(e.calls, f)
	go s.run(fctx, e, f)
	return f
}

// refreshInBackground starts a background refresh of e, whose state c
// asked for one, unless one runs.
func (s *reuseSource) refreshInBackground(ctx context.Context, e *reuseEntry, c *cached) {
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Load() != c || e.removed || e.find(TokenRequest{}) != nil {
		// A call (another refresh, say) has replaced c since the caller
		// read it; or e was dropped from the index (its token is past its
		// margin: the next request fetches one); or a plain call is
		// already on its way.
		e.refreshing.Store(false)
		return
	}
	s.start(ctx, e, TokenRequest{}, true)
}

// run calls the source and publishes the result.
func (s *reuseSource) run(ctx context.Context, e *reuseEntry, f *fetch) {
	defer f.cancel()
	var (
		tok      Token
		err      error
		panicked any
	)
	func() {
		defer func() {
			if r := recover(); r != nil {
				panicked = r
			}
		}()
		tok, err = s.src.Token(ctx, f.req)
	}()
	if panicked != nil && err == nil {
		err = errors.New("bearer: token source panicked")
	}
	now := s.clock.read()

	e.mu.Lock()
	e.calls = slices.DeleteFunc(e.calls, func(g *fetch) bool { return g == f })
	cur := e.state.Load()
	switch {
	case err == nil:
		tok = tok.withAuthorization() // built once, for every request it serves
		if next := s.newCached(tok, now, f.seq); next != nil && (cur == nil || cur.seq < f.seq) {
			e.state.Store(next)
		}
	case f.background && cur != nil:
		// Keep serving the current token; try again after a backoff.
		next := *cur
		next.failures++
		next.retryAt = now + int64(s.backoffFor(next.failures))
		e.state.Store(&next)
	}
	f.tok, f.err, f.panicked = tok, err, panicked
	close(f.done)
	if f.background {
		e.refreshing.Store(false)
	}
	orphan := f.waiters == 0
	e.mu.Unlock()

	if panicked != nil && orphan {
		panic(panicked) // no caller to hand it to
	}
}

func (s *reuseSource) backoffFor(failures int) time.Duration {
	if s.backoff != nil {
		return s.backoff(failures)
	}
	return defaultBackoff(failures)
}

// defaultBackoff is 30 s after the first failure, doubled after each
// further one, at most 5 min.
func defaultBackoff(failures int) time.Duration {
	d := firstBackoff
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// newCached computes when tok, obtained at now, stops being served and
// when it is refreshed. It returns nil for a token that is already past
// its margin.
func (s *reuseSource) newCached(tok Token, now int64, seq uint64) *cached {
	c := &cached{tok: tok, seq: seq, staleAt: never, refreshAt: never}
	refreshOn := s.clock.at(tok.RefreshOn)
	useRefreshOn := refreshOn != never && refreshOn > now // a past RefreshOn is ignored
	if !tok.ExpiresOn.IsZero() {
		expires := s.clock.at(tok.ExpiresOn)
		life := time.Duration(expires - now)
		margin := max(0, min(maxMargin, life/10))
		c.staleAt = expires - int64(margin)
		if now >= c.staleAt {
			return nil
		}
		if !useRefreshOn && life >= halfLifeMin {
			c.refreshAt = now + int64(life/2)
		}
	}
	if useRefreshOn {
		c.refreshAt = refreshOn
	}
	return c
}
