package flow

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bearerhttp/bearer"
)

// ClientSource returns a [bearer.TokenSource] of the application's own
// tokens: each Token call is [Confidential.AcquireTokenForClient] for the
// request's scopes, with its Claims ([Claims]), TenantID ([Tenant]) and
// ForceRefresh ([ForceRefresh]). Its tokens are cached in the
// application's cache, so a [bearer.Transport] needs no
// [bearer.ReuseTokenSource] in front of it, and its cached path costs a
// cache lookup.
//
// A step-up challenge (a request whose Challenge asks for
// insufficient_user_authentication) needs a signed-in user, which an
// application's own token cannot have: Token returns an error wrapping
// [ErrInteractionRequired] without asking the authority.
//
// A request with ForceRefresh and an invalid_token Challenge, the way
// [bearer.Transport] recovers from a 401 invalid_token, asks the
// authority at most once every 30 seconds (on the [WithClock] clock) for
// one tenant and set of scopes: within 30 seconds of the previous such
// refresh, it waits for that refresh to end and is answered from the
// cache, as a plain request is. A resource that refuses every token
// thus costs one token request every 30 seconds, not one per HTTP
// request. A ForceRefresh without a Challenge (a caller's own, as the
// [ForceRefresh] call option is) always asks the authority.
func (c *Confidential) ClientSource() bearer.TokenSource {
	return c.sourceOf(&clientSource{c: c})
}

type clientSource struct {
	c    *Confidential
	last atomic.Pointer[servedToken] // the token last served from the cache
}

// servedToken is a token a source found in the application's cache, and
// what it may be served again for without looking in the cache: the
// same scopes and tenant, while the cache's generation is the one read
// before the lookup (so the token is still the one cached) and before
// until.
type servedToken struct {
	scopes []string // the request's scopes, a copy
	tenant string
	gen    uint64
	until  time.Time // the earlier of RefreshOn and ExpiresOn less the cache's largest margin
	tok    bearer.Token
}

// serves reports whether t may answer req at now for a cache of
// generation gen.
func (t *servedToken) serves(req bearer.TokenRequest, gen uint64, now time.Time) bool {
	return t.gen == gen && t.tenant == req.TenantID && slices.Equal(t.scopes, req.Scopes) && now.Before(t.until)
}

// servedUntil is when a cached token tok stops being served as it is:
// its RefreshOn (a refresh is then started by the cache's path), or 5
// minutes (the cache's largest margin, see cache.AccessToken.Usable)
// before it expires. Zero for a token with no expiry, which the cache
// does not serve.
func servedUntil(tok bearer.Token) time.Time {
	if tok.ExpiresOn.IsZero() {
		return time.Time{}
	}
	until := tok.ExpiresOn.Add(-5 * time.Minute)
	if !tok.RefreshOn.IsZero() && tok.RefreshOn.Before(until) {
		until = tok.RefreshOn
	}
	return until
}

func (s *clientSource) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	// A plain request the last cached token answers is served without a
	// cache lookup, unless the call must be traced or logged.
	plain := req.Claims == "" && !req.ForceRefresh && req.Challenge == nil && s.c.cfg.trace == nil && !s.c.log.enabled(ctx)
	var gen uint64
	if plain {
		gen = s.c.cache.Generation() // before the lookup: a later change is seen
		if t := s.last.Load(); t != nil && t.serves(req, gen, s.c.cfg.clock()) {
			return t.tok, nil
		}
	}
	if err := refuseStepUp(req, "an application's own token (client credentials)"); err != nil {
		return bearer.Token{}, err
	}
	if isInvalidTokenRecovery(req) {
		return s.c.forced.do(ctx, s.c.app, forcedKey("client", "", req), callConfigOf(req), func(cc callConfig) (Result, error) {
			return s.c.forClient(ctx, req.Scopes, cc)
		})
	}
	r, err := s.c.forClient(ctx, req.Scopes, callConfigOf(req))
	if err != nil {
		return bearer.Token{}, err
	}
	if plain && r.FromCache {
		s.remember(req, gen, r.Token)
	}
	return r.Token, nil
}

// remember keeps tok, found in the cache of generation gen for req, as
// the token to serve again, unless the one kept still serves (another
// set of scopes or tenant: requests alternating between two do not
// replace it on every call).
func (s *clientSource) remember(req bearer.TokenRequest, gen uint64, tok bearer.Token) {
	now := s.c.cfg.clock()
	old := s.last.Load()
	if old != nil && old.gen == gen && now.Before(old.until) {
		return
	}
	until := servedUntil(tok)
	if !now.Before(until) {
		return
	}
	t := &servedToken{tenant: req.TenantID, gen: gen, until: until, tok: tok}
	if old != nil && slices.Equal(old.scopes, req.Scopes) {
		t.scopes = old.scopes
	} else {
		t.scopes = slices.Clip(slices.Clone(req.Scopes))
	}
	// The token's scopes are its own: a request's slice is its caller's.
	if slices.Equal(tok.Scopes, t.scopes) {
		t.tok.Scopes = t.scopes
	} else {
		t.tok.Scopes = slices.Clip(slices.Clone(tok.Scopes))
	}
	s.last.CompareAndSwap(old, t)
}

// OnBehalfOfSource returns a [bearer.TokenSource] of tokens for the users
// calling a web API: each Token call is
// [Confidential.AcquireTokenOnBehalfOf] with the user's assertion carried
// by the context ([ContextWithUserAssertion], which
// [Confidential.Middleware] sets), for the request's scopes, Claims,
// TenantID and ForceRefresh. A context without an assertion is an error
// wrapping [ErrNoUserAssertion]. One [bearer.Transport] with this source
// serves every user: the identity travels with each request's context,
// and tokens are cached per assertion.
//
// A step-up challenge must be satisfied by the user at the web API's own
// client: Token returns an error wrapping [ErrInteractionRequired]
// without asking the authority; the web API passes the challenge on.
//
// Forced refreshes answering [bearer.Transport]'s invalid_token recovery
// are limited as [Confidential.ClientSource]'s are, per user assertion,
// tenant and set of scopes.
func (c *Confidential) OnBehalfOfSource() bearer.TokenSource { return c.sourceOf(oboSource{c}) }

type oboSource struct{ c *Confidential }

func (s oboSource) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	ua := userAssertionOf(ctx)
	if ua == nil {
		return bearer.Token{}, fmt.Errorf("%w (use flow.ContextWithUserAssertion or Confidential.Middleware)", ErrNoUserAssertion)
	}
	if err := refuseStepUp(req, "an on-behalf-of token (the user must step up at the web API's client)"); err != nil {
		return bearer.Token{}, err
	}
	if isInvalidTokenRecovery(req) {
		return s.c.forced.do(ctx, s.c.app, forcedKey("obo", ua.hashed(), req), callConfigOf(req), func(cc callConfig) (Result, error) {
			return s.c.onBehalfOf(ctx, ua.token, ua.hashed(), req.Scopes, cc, false)
		})
	}
	r, err := s.c.onBehalfOf(ctx, ua.token, ua.hashed(), req.Scopes, callConfigOf(req), false)
	if err != nil {
		return bearer.Token{}, err
	}
	return r.Token, nil
}

// callConfigOf translates a source's request into call options.
func callConfigOf(req bearer.TokenRequest) callConfig {
	return callConfig{claims: req.Claims, tenant: req.TenantID, forceRefresh: req.ForceRefresh, source: true}
}

// refuseStepUp returns an error wrapping [ErrInteractionRequired] when req
// answers a step-up challenge, which what cannot satisfy.
func refuseStepUp(req bearer.TokenRequest, what string) error {
	if req.Challenge == nil || !req.Challenge.IsStepUp() {
		return nil
	}
	return fmt.Errorf("%w: the resource asks for a step-up (acr_values %q, max_age %q), which %s cannot satisfy",
		ErrInteractionRequired, req.Challenge.Param("acr_values"), req.Challenge.Param("max_age"), what)
}

// forcedRefreshInterval is the least time between two forced refreshes
// answering bearer.Transport's invalid_token recovery for one key.
const forcedRefreshInterval = 30 * time.Second

// isInvalidTokenRecovery reports whether req is how bearer.Transport
// recovers from a 401 invalid_token: ForceRefresh with the invalid_token
// challenge. A caller's own ForceRefresh has no Challenge.
func isInvalidTokenRecovery(req bearer.TokenRequest) bool {
	return req.ForceRefresh && req.Claims == "" && req.Challenge != nil && req.Challenge.IsInvalidToken()
}

// forcedKey identifies what a source's forced refresh replaces: the
// flow, the user's assertion hash (on-behalf-of), the tenant and the
// scopes.
func forcedKey(kind, hash string, req bearer.TokenRequest) string {
	return kind + "\x00" + hash + "\x00" + req.TenantID + "\x00" + strings.Join(req.Scopes, "\x00")
}

// forcedRefreshes limits the forced refreshes of bearer.Transport's
// invalid_token recovery to one per key every forcedRefreshInterval. It
// is safe for concurrent use; its zero value is ready.
type forcedRefreshes struct {
	mu sync.Mutex
	m  map[string]*forcedRefresh
}

// forcedRefresh is the latest forced refresh of a key.
type forcedRefresh struct {
	at   time.Time     // when it started, on the application's clock
	done chan struct{} // closed when it has ended (its token cached)
}

// do answers an invalid_token recovery of key: with a forced refresh
// (acquire with cc) when none of key started within the last
// forcedRefreshInterval on a's clock; else, once that refresh has ended,
// with a plain acquisition, which the cache answers with its token (or a
// newer one).
func (l *forcedRefreshes) do(ctx context.Context, a *app, key string, cc callConfig, acquire func(callConfig) (Result, error)) (bearer.Token, error) {
	r, err := l.result(ctx, a, key, cc, acquire)
	if err != nil {
		return bearer.Token{}, err
	}
	return r.Token, nil
}

// result is do, with the whole Result.
func (l *forcedRefreshes) result(ctx context.Context, a *app, key string, cc callConfig, acquire func(callConfig) (Result, error)) (Result, error) {
	now := a.cfg.clock()
	l.mu.Lock()
	if f := l.m[key]; f != nil {
		if d := now.Sub(f.at); d >= 0 && d < forcedRefreshInterval {
			l.mu.Unlock()
			a.log.debug(ctx, "flow: invalid_token: a forced refresh started less than 30 s ago; answering from the cache",
				slog.Duration("since", d))
			select {
			case <-f.done:
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
			cc.forceRefresh = false
			return acquire(cc)
		}
	}
	if l.m == nil {
		l.m = make(map[string]*forcedRefresh)
	}
	if len(l.m) >= maxBackoffEntries {
		// Forget the keys whose last forced refresh is over (users gone,
		// assertions expired), so that a web API serving many users does
		// not grow this map without bound.
		for k, old := range l.m {
			if d := now.Sub(old.at); d < 0 || d >= forcedRefreshInterval {
				delete(l.m, k)
			}
		}
	}
	f := &forcedRefresh{at: now, done: make(chan struct{})}
	l.m[key] = f
	l.mu.Unlock()
	defer close(f.done)
	return acquire(cc)
}
