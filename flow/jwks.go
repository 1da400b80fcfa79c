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

// Timings of the key set cache.
const (
	// jwksRefetchAfter is how soon after a fetch an unknown kid may make
	// the keys be fetched again: a token naming a key the authority does
	// not publish cannot make a web API hammer the authority.
	jwksRefetchAfter = time.Minute
	// jwksTTL is how long fetched keys are used before they are fetched
	// again.
	jwksTTL = 24 * time.Hour
	// jwksRetryAfterFailure is how long, after a failed fetch, a web API
	// that holds no keys answers at once that the keys are unavailable,
	// rather than asking the failing authority on every request.
	jwksRetryAfterFailure = 5 * time.Second
)

// errUnknownKey is the error for a kid that the authority's key set does
// not hold (after a refetch, or within a minute of the last fetch).
var errUnknownKey = errors.New("flow: the token's signing key is not one of the authority's published keys")

// errKeysUnavailable is wrapped by the error for a key set that could not
// be fetched: the token cannot be checked, which is not the caller's
// fault.
var errKeysUnavailable = errors.New("flow: the authority's signing keys could not be read")

// keySet is an authority's JSON Web Key Set, fetched once and kept: it is
// fetched again when it is a day old, or when a token names a key it does
// not hold, at most once a minute (on the application's clock).
// Concurrent fetches are shared. It is safe for concurrent use.
type keySet struct {
	app *app

	group singleflight.Group

	mu          sync.Mutex
	url         string    // where set came from
	set         jwk.Set   // nil until fetched
	fetchedAt   time.Time // when set was fetched
	attemptedAt time.Time // when a fetch was last tried, successful or not
	failedAt    time.Time // when the last fetch failed, zero after a success
	reads       int       // fetches ended, successful or not
	lastErr     error     // the error of the last fetch, nil after a success
}

// key returns the RSA key kid of the key set at jwksURL: from the kept
// set when it holds kid and is less than a day old; otherwise the set is
// fetched again, unless a fetch was tried less than a minute ago. A key
// set that cannot be fetched again keeps serving the keys it holds.
func (k *keySet) key(ctx context.Context, jwksURL, kid string) (jwk.Key, error) {
	now := k.app.cfg.clock()
	within := func(since time.Time, d time.Duration) bool {
		return !since.IsZero() && !now.Before(since) && now.Sub(since) < d
	}
	k.mu.Lock()
	same := k.url == jwksURL && k.set != nil
	set := k.set
	fresh := same && within(k.fetchedAt, jwksTTL)
	mayFetch := k.url != jwksURL || !within(k.attemptedAt, jwksRefetchAfter)
	failedLately := k.url == jwksURL && within(k.failedAt, jwksRetryAfterFailure)
	seen := k.reads
	k.mu.Unlock()
	if !same && failedLately {
		return nil, fmt.Errorf("%w: %s: the last read failed less than %s ago", errKeysUnavailable, jwksURL, jwksRetryAfterFailure)
	}
	var kept jwk.Key
	if same {
		key, ok := rsaKey(set, kid)
		switch {
		case ok && (fresh || !mayFetch):
			return key, nil
		case !ok && !mayFetch:
			return nil, errUnknownKey
		}
		kept = key
	}
	set, err := k.fetch(ctx, jwksURL, seen)
	if err != nil {
		if kept != nil {
			return kept, nil
		}
		return nil, err
	}
	if key, ok := rsaKey(set, kid); ok {
		return key, nil
	}
	return nil, errUnknownKey
}

// fetch reads the key set at jwksURL, sharing the read with concurrent
// callers. A caller whose ctx ends stops waiting; the read goes on for
// the others. seen is the number of fetches ended when the caller looked
// at the kept set: a caller whose flight starts after another read of
// jwksURL has ended takes that read's outcome instead of reading again.
func (k *keySet) fetch(ctx context.Context, jwksURL string, seen int) (jwk.Set, error) {
	ch := k.group.DoChan(jwksURL, func() (any, error) {
		ctx := context.WithoutCancel(ctx)
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
		k.url, k.attemptedAt = jwksURL, now
		k.mu.Unlock()
		failed := func(err error) (any, error) {
			k.mu.Lock()
			k.failedAt, k.lastErr = now, err
			k.reads++
			k.mu.Unlock()
			k.app.log.debug(ctx, "flow: web API: reading the signing keys failed", slog.String("error", err.Error()))
			return nil, err
		}
		body, err := k.app.wire.Get(ctx, jwksURL, nil, false)
		if err != nil {
			return failed(fmt.Errorf("%w: %s: %w", errKeysUnavailable, jwksURL, errorFromResponse(err)))
		}
		set, err := jwk.Parse(body)
		if err != nil {
			return failed(fmt.Errorf("%w: %s: not a JSON Web Key Set", errKeysUnavailable, jwksURL))
		}
		k.mu.Lock()
		k.set, k.fetchedAt, k.failedAt, k.lastErr = set, now, time.Time{}, nil
		k.reads++
		k.mu.Unlock()
		k.app.log.debug(ctx, "flow: web API: signing keys read",
			slog.String("jwks_uri", jwksURL), slog.Int("keys", set.Len()), slog.Duration("elapsed", time.Since(start)))
		return set, nil
	})
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
