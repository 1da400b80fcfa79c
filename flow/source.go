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
	last servedSlot // the token last served from the cache
}

// servedSlot keeps a token a source found in the application's cache, to
// serve it again without looking in the cache: for the same owner (the
// source, when the slot is not the source's own), scopes and tenant,
// while the cache's generation is the one read before the lookup (so the
// token is still the one cached) and the clock is before its until.
type servedSlot struct{ p atomic.Pointer[servedToken] }

// servedToken is what a servedSlot keeps.
type servedToken struct {
	owner  any      // who kept it, for a slot that is not a source's own
	scopes []string // the request's scopes, a copy
	tenant string
	gen    uint64
	until  time.Time // see servedUntil
	tok    bearer.Token
}

// get returns the token kept for owner and req, if it serves with the
// cache at generation gen and the clock at now.
func (sl *servedSlot) get(owner any, req bearer.TokenRequest, gen uint64, now time.Time) (bearer.Token, bool) {
	t := sl.p.Load()
	if t == nil || t.gen != gen || t.owner != owner || t.tenant != req.TenantID || !slices.Equal(t.scopes, req.Scopes) || !now.Before(t.until) {
		return bearer.Token{}, false
	}
	return t.tok, true
}

// remember keeps tok, found in the cache of generation gen for owner and
// req, unless the token kept still serves (another owner, set of scopes
// or tenant: requests alternating between two do not replace it on every
// call, nor allocate).
func (sl *servedSlot) remember(owner any, req bearer.TokenRequest, gen uint64, now time.Time, tok bearer.Token) {
	old := sl.p.Load()
	if old != nil && old.gen == gen && now.Before(old.until) {
		return
	}
	until := servedUntil(tok)
	if !now.Before(until) {
		return
	}
	t := &servedToken{owner: owner, tenant: req.TenantID, gen: gen, until: until, tok: tok}
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
	sl.p.CompareAndSwap(old, t)
}

// servedUntil is when a cached token tok stops being served as it is:
// its RefreshOn (the cache's path then starts a refresh), or 5 minutes
// (the cache's largest margin, see cache.AccessToken.Usable) before it
// expires. Zero for a token with no expiry, which the cache does not
// serve.
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

// servesAgain reports whether a source of c may answer req with a token
// it kept: a plain request (no claims, force refresh or challenge) of a
// call that is neither traced nor logged.
func (c *Confidential) servesAgain(ctx context.Context, req bearer.TokenRequest) bool {
	return req.Claims == "" && !req.ForceRefresh && req.Challenge == nil && c.cfg.trace == nil && !c.log.enabled(ctx)
}

func (s *clientSource) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	again := s.c.servesAgain(ctx, req)
	var gen uint64
	if again {
		gen = s.c.cache.Generation() // before the lookup: a later change is seen
		if tok, ok := s.last.get(nil, req, gen, s.c.cfg.clock()); ok {
			return tok, nil
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
	if again && r.FromCache {
		s.last.remember(nil, req, gen, s.c.cfg.clock(), r.Token)
	}
	return r.Token, nil
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
func (c *Confidential) OnBehalfOfSource() bearer.TokenSource {
	return c.sourceOf(&oboSource{c: c})
}

type oboSource struct{ c *Confidential }

func (s *oboSource) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	ua := userAssertionOf(ctx)
	if ua == nil {
		return bearer.Token{}, fmt.Errorf("%w (use flow.ContextWithUserAssertion or Confidential.Middleware)", ErrNoUserAssertion)
	}
	// The context keeps the user's token once it has been served from
	// the cache twice (a request making several downstream calls): one
	// downstream call per request costs nothing for keeping it.
	again := s.c.servesAgain(ctx, req)
	var gen uint64
	if again {
		gen = s.c.cache.Generation() // before the lookup: a later change is seen
		if tok, ok := ua.served.get(s, req, gen, s.c.cfg.clock()); ok {
			return tok, nil
		}
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
	if err == nil && again && r.FromCache && ua.hits.Add(1) > 1 {
		ua.served.remember(s, req, gen, s.c.cfg.clock(), r.Token)
	}
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
