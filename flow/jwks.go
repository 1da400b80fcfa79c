package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"golang.org/x/sync/singleflight"
)

// Timings of the key set cache, on the application's clock.
const (
	// jwksRefetchAfter is how soon after a fetch an unknown kid may make
	// the keys be fetched again: a token naming a key the authority does
	// not publish cannot make a web API hammer the authority.
	jwksRefetchAfter = time.Minute
	// jwksTTL is how long fetched keys are used before they are fetched
	// again. Older keys keep serving while they are fetched again in the
	// background, and for as long as fetching them fails.
	jwksTTL = 24 * time.Hour
	// jwksRetryAfterFailure is how long, after a failed fetch, a web API
	// that holds no keys answers at once that the keys are unavailable,
	// rather than asking the failing authority on every request; doubled
	// after each further failure in a row, at most jwksRefetchAfter.
	jwksRetryAfterFailure = 5 * time.Second
	// jwksMaxBackoff bounds the wait between fetches of a key set that
	// keeps serving while fetching it fails: jwksRefetchAfter, doubled
	// after each further failure in a row, at most jwksMaxBackoff.
	jwksMaxBackoff = 10 * time.Minute
)

// errUnknownKey is the error for a kid that the authority's key set does
// not hold (after a refetch, or within a minute of the last fetch).
var errUnknownKey = errors.New("flow: the token's signing key is not one of the authority's published keys")

// errKeysUnavailable is wrapped by the error for a key set that could not
// be fetched: the token cannot be checked, which is not the caller's
// fault.
var errKeysUnavailable = errors.New("flow: the authority's signing keys could not be read")

// keySet is an authority's JSON Web Key Set, fetched once and kept: it is
// fetched again when it is a day old (in the background: the keys it
// holds keep serving), or when a token names a key it does not hold, at
// most once a minute (on the application's clock). Fetches that fail are
// tried again after a backoff. Concurrent fetches are shared. It is safe
// for concurrent use.
type keySet struct {
	app *app

	group singleflight.Group

	mu          sync.Mutex
	url         string    // where set came from
	set         jwk.Set   // nil until fetched
	fetchedAt   time.Time // when set was fetched
	attemptedAt time.Time // when a fetch was last tried, successful or not
	failedAt    time.Time // when the last fetch failed, zero after a success
	failures    int       // fetches failed in a row
	reads       int       // fetches ended, successful or not
	lastErr     error     // the error of the last fetch, nil after a success
}

// key returns the RSA key kid of the key set at jwksURL: from the kept
// set when it holds kid (a set more than a day old is fetched again in
// the background meanwhile); otherwise the set is fetched again, unless a
// fetch was tried less than a minute ago, or failed less than its backoff
// ago. A key set that cannot be fetched again keeps serving the keys it
// holds.
func (k *keySet) key(ctx context.Context, jwksURL, kid string) (jwk.Key, error) {
	return k.keyFor(ctx, jwksURL, kid, rsaKey)
}

// keyFor is key with another choice of key than rsaKey's: pick returns
// the key of a set that kid (maybe empty) names, if the caller may use
// it.
func (k *keySet) keyFor(ctx context.Context, jwksURL, kid string, pick func(set jwk.Set, kid string) (jwk.Key, bool)) (jwk.Key, error) {
	now := k.app.cfg.clock()
	within := func(since time.Time, d time.Duration) bool {
		return !since.IsZero() && !now.Before(since) && now.Sub(since) < d
	}
	k.mu.Lock()
	same := k.url == jwksURL && k.set != nil
	set := k.set
	fresh := same && within(k.fetchedAt, jwksTTL)
	var backingOff bool
	if k.url == jwksURL && k.failures > 0 {
		if same {
			backingOff = within(k.failedAt, failureBackoff(k.failures, jwksRefetchAfter, jwksMaxBackoff))
		} else {
			backingOff = within(k.failedAt, failureBackoff(k.failures, jwksRetryAfterFailure, jwksRefetchAfter))
		}
	}
	mayFetch := k.url != jwksURL || !within(k.attemptedAt, jwksRefetchAfter) && !backingOff
	seen := k.reads
	k.mu.Unlock()
	if !same && backingOff {
		return nil, fmt.Errorf("%w: %s: the last read failed moments ago; not read again yet", errKeysUnavailable, jwksURL)
	}
	if same {
		key, ok := pick(set, kid)
		switch {
		case ok && !fresh && mayFetch:
			// Stale: the kept key serves while the set is read again in
			// the background.
			k.group.DoChan(jwksURL, func() (any, error) { return k.read(context.WithoutCancel(ctx), jwksURL, seen, false) })
			return key, nil
		case ok:
			return key, nil
		case !mayFetch:
			return nil, errUnknownKey
		}
	}
	set, err := k.fetch(ctx, jwksURL, seen)
	if err != nil {
		return nil, err
	}
	if key, ok := pick(set, kid); ok {
		return key, nil
	}
	return nil, errUnknownKey
}

// fetch reads the key set at jwksURL, sharing the read with concurrent
// callers. A caller whose ctx ends stops waiting; the read goes on for
// the others. seen is the number of fetches ended when the caller looked
// at the kept set (see read).
func (k *keySet) fetch(ctx context.Context, jwksURL string, seen int) (jwk.Set, error) {
	ch := k.group.DoChan(jwksURL, func() (any, error) { return k.read(context.WithoutCancel(ctx), jwksURL, seen, true) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(jwk.Set), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errKeysUnavailable, ctx.Err())
	}
}

// read is a flight of fetch, or a background read of a stale set: it
// reads the key set at jwksURL (with the wire client's retries when retry
// is set, else in one attempt) and keeps the outcome. A flight that
// starts after another read of jwksURL has ended (seen is the number of
// reads ended when its caller looked) takes that read's outcome instead
// of reading again. A failed read keeps the set held before.
func (k *keySet) read(ctx context.Context, jwksURL string, seen int, retry bool) (any, error) {
	start := time.Now()
	now := k.app.cfg.clock()
	k.mu.Lock()
	if k.reads != seen && k.url == jwksURL {
		set, err := k.set, k.lastErr
		k.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return set, nil
	}
	if k.url != jwksURL {
		k.set, k.failures = nil, 0
	}
	k.url, k.attemptedAt = jwksURL, now
	k.mu.Unlock()
	failed := func(err error) (any, error) {
		k.mu.Lock()
		k.failedAt, k.lastErr = now, err
		k.failures++
		k.reads++
		failures, kept := k.failures, k.set != nil
		k.mu.Unlock()
		k.app.log.debug(ctx, "flow: web API: reading the signing keys failed", slog.Int("failures", failures),
			slog.Bool("stale_keys_kept", kept), slog.String("error", err.Error()))
		return nil, err
	}
	body, err := get(ctx, k.app.wire, jwksURL, retry)
	if err != nil {
		return failed(fmt.Errorf("%w: %s: %w", errKeysUnavailable, jwksURL, errorFromResponse(err)))
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return failed(fmt.Errorf("%w: %s: not a JSON Web Key Set", errKeysUnavailable, jwksURL))
	}
	k.mu.Lock()
	k.set, k.fetchedAt, k.failedAt, k.lastErr, k.failures = set, now, time.Time{}, nil, 0
	k.reads++
	k.mu.Unlock()
	k.app.log.debug(ctx, "flow: web API: signing keys read",
		slog.String("jwks_uri", jwksURL), slog.Int("keys", set.Len()), slog.Duration("elapsed", time.Since(start)))
	return set, nil
}

// rsaKey returns the key kid of set when it is an RSA signing key that
// RS256 may use (no alg, or RS256; no use, or sig).
func rsaKey(set jwk.Set, kid string) (jwk.Key, bool) {
	if set == nil {
		return nil, false
	}
	key, ok := set.LookupKeyID(kid)
	if !ok || key.KeyType() != jwa.RSA {
		return nil, false
	}
	if alg := key.Algorithm(); alg != nil && alg.String() != "" && alg.String() != jwa.RS256.String() {
		return nil, false
	}
	if use, ok := key.Get(jwk.KeyUsageKey); ok {
		if s := fmt.Sprint(use); s != "" && s != string(jwk.ForSignature) {
			return nil, false
		}
	}
	return key, true
}
