package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// ErrNoScopes is wrapped by the error of an AcquireToken… call (or a
// source's Token) given no scope.
var ErrNoScopes = errors.New("flow: no scopes asked for")

// Backoff of failed background refreshes: firstRefreshBackoff, doubled
// after each further failure, at most maxRefreshBackoff.
const (
	firstRefreshBackoff = 30 * time.Second
	maxRefreshBackoff   = 5 * time.Minute
	// maxBackoffEntries is the size from which the backoffs of keys
	// nobody has asked for lately are forgotten.
	maxBackoffEntries = 1024
)

// app is what the applications share above the core: the token cache,
// the coalescing of identical acquisitions, the proactive refresh of
// tokens past their RefreshOn, the accounts, and the signing keys of the
// web API middleware. The user flows shared by Confidential and the
// coming Public (AcquireTokenSilent, AccountSource, the refresh token
// grant) belong here, beside accounts and removeAccount. It is safe for
// concurrent use.
type app struct {
	*core
	cache   *cache.Cache
	flights flights

	bgMu      sync.Mutex
	bgBackoff map[string]refreshBackoff // by flight key, after failures

	// keys are the authority's signing keys, for the web API middleware.
	keys keySet
	// keySets are the key sets of every jwks_uri the application reads
	// (keySetFor): the first one read is keys.
	keySets keySets

	// onRefreshed, when set (by tests), is called when a background
	// refresh has ended: its outcome recorded, its flight gone.
	onRefreshed func(key string, err error)
}

// refreshBackoff is the state of a key whose background refreshes failed.
type refreshBackoff struct {
	failures int
	retryAt  time.Time
}

func newApp(clientID string, cfg *config) (*app, error) {
	c, err := newCore(clientID, cfg)
	if err != nil {
		return nil, err
	}
	ch := cfg.cache
	if ch == nil {
		ch = cache.New()
	}
	a := &app{core: c, cache: ch, bgBackoff: make(map[string]refreshBackoff)}
	a.flights.traced = cfg.trace != nil
	a.keys.app = a
	return a, nil
}

// caseInsensitiveScopes reports whether scopes are matched case-insensitively
// for a: for Microsoft's authorities (Entra's rule), not for other OpenID
// Connect authorities (RFC 6749).
func (a authority) caseInsensitiveScopes() bool { return a.kind != kindOIDC }

// tokenFromCache is a cached access token as a bearer.Token.
func tokenFromCache(at cache.AccessToken) bearer.Token {
	return bearer.Token{
		AccessToken:   at.Secret,
		TokenType:     or(at.TokenType, "Bearer"),
		ExpiresOn:     at.ExpiresOn,
		RefreshOn:     at.RefreshOn,
		Scopes:        at.Scopes(),
		Authorization: at.Authorization, // built once, when it was cached
	}
}

// sourceTokenFromCache is tokenFromCache for a bearer.TokenSource asked
// for requested: when the token's scopes are requested exactly (the same
// strings in the same order, as a client-credentials token's are), its
// Scopes are requested itself, capacity trimmed, instead of a new slice.
// A source's request scopes do not change (a Transport's Scopes, or
// those of ContextWithScopes, which copies them), so the hot path
// allocates nothing for them.
func sourceTokenFromCache(at cache.AccessToken, requested []string) bearer.Token {
	if !targetIs(at.Target, requested) {
		return tokenFromCache(at)
	}
	return bearer.Token{
		AccessToken:   at.Secret,
		TokenType:     or(at.TokenType, "Bearer"),
		ExpiresOn:     at.ExpiresOn,
		RefreshOn:     at.RefreshOn,
		Scopes:        requested[:len(requested):len(requested)],
		Authorization: at.Authorization,
	}
}

// targetIs reports whether target, scopes separated by spaces, splits
// (as strings.Fields does) into scopes exactly. It allocates nothing.
func targetIs(target string, scopes []string) bool {
	for _, s := range scopes {
		target = strings.TrimLeft(target, " ")
		if !plainScope(s) || !strings.HasPrefix(target, s) {
			return false
		}
		target = target[len(s):]
		if target != "" && target[0] != ' ' {
			return false
		}
	}
	return len(scopes) > 0 && strings.TrimLeft(target, " ") == ""
}

// plainScope reports whether s is a non-empty scope of printable ASCII
// without spaces: one strings.Fields leaves whole. (Any other scope
// takes the slow path, which is right for every scope.)
func plainScope(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return s != ""
}

// tokenFromResponse is a token response as a bearer.Token, whose scopes
// are the granted ones, else the requested ones.
func tokenFromResponse(tok *oauth.TokenResponse, requested []string) bearer.Token {
	scopes := tok.Scopes()
	if len(scopes) == 0 {
		scopes = slices.Clone(requested)
	}
	return bearer.Token{
		AccessToken: tok.AccessToken,
		TokenType:   tok.TokenType,
		ExpiresOn:   tok.ExpiresOn,
		RefreshOn:   tok.RefreshOn,
		Scopes:      scopes,
	}
}

// cachedScopes are the scopes a response's access token is cached under:
// the granted ones (the requested ones when the authority listed none),
// plus every requested "…/.default" scope, which asks for whatever is
// granted for its resource and is answered with the resource's scopes
// themselves. So a later request for the same .default scope finds the
// token; no scope that was asked for and not granted is ever added.
func cachedScopes(granted, requested []string) []string {
	if len(granted) == 0 {
		return oauth.AppScopes(requested)
	}
	out := slices.Clone(granted)
	for _, s := range requested {
		if strings.HasSuffix(strings.ToLower(s), "/.default") && !slices.ContainsFunc(out, func(g string) bool { return strings.EqualFold(g, s) }) {
			out = append(out, s)
		}
	}
	return out
}

// flightKey identifies an acquisition for coalescing and background
// refresh: what it is for (kind and identity), the authority's
// environment and realm, the scopes (sorted, folded to lower case when
// matched case-insensitively), and the claims and force-refresh of the
// call.
func flightKey(kind, identity, environment, realm string, scopes []string, fold bool, claims string, force bool) string {
	s := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		if fold {
			sc = strings.ToLower(sc)
		}
		s = append(s, sc)
	}
	slices.Sort(s)
	s = slices.Compact(s)
	var b strings.Builder
	for _, p := range []string{kind, identity, environment, realm, strings.Join(s, " "), claims} {
		b.WriteString(p)
		b.WriteByte(0)
	}
	if force {
		b.WriteString("force")
	}
	return b.String()
}

// store caches a response. A store failure is logged by the cache and
// never fails the acquisition; an invalid response is logged here.
func (a *app) store(ctx context.Context, r cache.Response, now time.Time) {
	if r.TokenType == tokenTypeDPoP {
		r.KeyID = a.dpop.keyID() // bound to the application's DPoP key
	}
	if err := a.cache.StoreResponse(ctx, r, now); err != nil {
		a.log.debug(ctx, "flow: token not cached", slog.String("error", err.Error()))
	}
}

// refreshDue reports whether a cached token whose RefreshOn is refreshOn
// is due for a background refresh at now.
func refreshDue(refreshOn, now time.Time) bool {
	return !refreshOn.IsZero() && !now.Before(refreshOn)
}

// refreshInBackground starts a background refresh of the token of key,
// due since refreshOn (see refreshDue), unless one runs for key or a
// failed one's backoff has not passed. fetch gets and caches the new
// token.
//
// The backoff is checked when no refresh of key is under way, and a
// refresh records its outcome before it ends: a caller that found the
// token due while a refresh was failing cannot start another one within
// the backoff.
func (a *app) refreshInBackground(ctx context.Context, key string, refreshOn, now time.Time, fetch func(context.Context) (Result, error)) {
	a.refreshInBackgroundOf(ctx, RefreshInfo{}, key, refreshOn, now, fetch)
}

// refreshInBackgroundOf is refreshInBackground of the token info
// describes to the application's Trace.
func (a *app) refreshInBackgroundOf(ctx context.Context, info RefreshInfo, key string, refreshOn, now time.Time, fetch func(context.Context) (Result, error)) {
	var failures int
	backingOff := func() bool {
		a.bgMu.Lock()
		defer a.bgMu.Unlock()
		b, failed := a.bgBackoff[key]
		failures = b.failures
		return failed && now.Before(b.retryAt)
	}
	record := func(fctx context.Context) (r Result, err error) {
		err = errPanicked // what is recorded if fetch panics
		var rt refreshTrace
		if t := a.cfg.trace; t != nil {
			info.RefreshOn = refreshOn
			fctx = rt.begin(fctx, t, info)
		}
		defer func() {
			a.refreshed(ctx, key, err)
			rt.end(fctx, r, err)
		}()
		return fetch(fctx)
	}
	started := a.flights.background(ctx, key, backingOff, record, func(err error) {
		if a.onRefreshed != nil {
			a.onRefreshed(key, err)
		}
	})
	if started {
		a.log.debug(ctx, "flow: refreshing a token in the background",
			slog.Time("refresh_on", refreshOn), slog.Int("failures", failures))
	}
}

// refreshed records the outcome of a background refresh of key.
func (a *app) refreshed(ctx context.Context, key string, err error) {
	a.bgMu.Lock()
	defer a.bgMu.Unlock()
	if err == nil {
		delete(a.bgBackoff, key)
		return
	}
	b := a.bgBackoff[key]
	b.failures++
	wait := firstRefreshBackoff << min(b.failures-1, 10)
	wait = min(wait, maxRefreshBackoff)
	now := a.cfg.clock()
	b.retryAt = now.Add(wait)
	if len(a.bgBackoff) >= maxBackoffEntries {
		// Forget the keys nobody has asked for since their backoff
		// ended (users gone, assertions expired), so that a web API
		// serving many users does not grow this map without bound.
		for k, old := range a.bgBackoff {
			if now.Sub(old.retryAt) > maxRefreshBackoff {
				delete(a.bgBackoff, k)
			}
		}
	}
	a.bgBackoff[key] = b
	a.log.debug(ctx, "flow: background refresh failed; the cached token keeps serving",
		slog.Int("failures", b.failures), slog.Duration("retry_after", wait), slog.String("error", err.Error()))
}

// checkScopes fails for no scope at all.
func checkScopes(scopes []string) error {
	for _, s := range scopes {
		if strings.TrimSpace(s) != "" {
			return nil
		}
	}
	return fmt.Errorf("%w: give at least one scope, such as https://graph.microsoft.com/.default", ErrNoScopes)
}

// logHit logs a cache hit, when debug logging is on.
func (a *app) logHit(ctx context.Context, what string, scopes []string, at cache.AccessToken) {
	if !a.log.enabled(ctx) {
		return
	}
	a.log.debug(ctx, "flow: "+what+": token from the cache",
		slog.Any("scopes", scopes), slog.String("environment", at.Environment), slog.String("realm", at.Realm),
		slog.Time("expires_on", at.ExpiresOn), slog.Time("refresh_on", at.RefreshOn))
}
